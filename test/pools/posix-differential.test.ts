// PosixFs over a write-back tiered backend (t1 and t2 small enough to evict and spill, a store slow
// enough to keep uploads in flight) against PosixFs over the bare store: the same random file
// operations must give the same bytes, sizes, errnos and SEEK_DATA/SEEK_HOLE answers.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { toErrno } from '../../src/fs/errors.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SEEK_DATA, SEEK_HOLE } from '../../src/fs/operations.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { type TieredBackend, tieredBackend } from '../../src/pools/tiered-chunk-store.js';
import { counted, MiB, type TierDirs, tierDirs } from './helpers.js';

const CS = 64 * 1024;
const caller = { uid: 0, gid: 0, pid: 1, umask: 0 };
let d: TierDirs;
let tb: TieredBackend;

beforeEach(() => {
  d = tierDirs();
});
afterEach(async () => {
  await tb?.close().catch(() => undefined);
  d.cleanup();
});

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const digest = (v: unknown): unknown => (Buffer.isBuffer(v) ? `${v.length}:${createHash('sha1').update(v).digest('hex')}` : v);

async function outcome<T>(p: Promise<T>): Promise<T | string> {
  try {
    return await p;
  } catch (e) {
    return `errno ${toErrno(e)}`;
  }
}

describe('PosixFs over tiers vs the bare store', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`random writes, truncates, fallocates and seeks agree (seed ${seed})`, async () => {
      const plain = new PosixFs(new MemoryBackend({ chunkSize: CS }));
      const store = counted(new MemoryBackend({ chunkSize: CS }), true);
      store.chunks.delayMs = 1;
      tb = await tieredBackend(store, { t1: d.t1, t2: d.t2, t1_size: 6 * MiB, t2_size: 4 * MiB, writeback: true }, { storeKey: 'diff', flushDelayMs: 5, dirtyMaxBytes: 16 * CS });
      const tiered = new PosixFs(tb);
      const fss = [plain, tiered];
      const inos = await Promise.all(fss.map(async (fs) => (await fs.newInode(caller, 1, 'f', { mode: 0o100644 })).ino));
      const fhs = await Promise.all(fss.map((fs, i) => fs.open(caller, inos[i]!, 2)));
      const r = rng(seed);
      const span = 12 * MiB; // > t1 + t2 data areas (2 MiB each): evictions, spills and t2 drops all happen
      const both = async <T>(f: (fs: PosixFs, ino: number, fh: number) => Promise<T>): Promise<void> => {
        const [a, b] = await Promise.all(fss.map((fs, i) => outcome(f(fs, inos[i]!, fhs[i]!))));
        // Buffers compared by digest: toEqual on big Buffers is slow.
        expect(digest(b)).toEqual(digest(a));
      };
      for (let step = 0; step < 600; step++) {
        const x = r();
        const off = Math.floor(r() * span);
        const len = 1 + Math.floor(r() * (r() < 0.2 ? 3 * CS : 5000));
        if (x < 0.45) {
          const data = Buffer.alloc(len, 1 + (step % 250));
          await both((fs, ino, fh) => fs.write(ino, fh, off, data));
        } else if (x < 0.6) {
          await both((fs, ino, fh) => fs.read(ino, fh, off, len));
        } else if (x < 0.68) {
          const size = Math.floor(r() * span);
          await both(async (fs, ino, fh) => (await fs.setattr(caller, ino, { size, fh })).size);
        } else if (x < 0.76) {
          const mode = [FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE, 0][Math.floor(r() * 3)]!;
          await both((fs, ino, fh) => fs.fallocate(ino, fh, mode, off, len * 4));
        } else if (x < 0.84) {
          const whence = r() < 0.5 ? SEEK_DATA : SEEK_HOLE;
          await both((fs, ino, fh) => fs.llseek(ino, fh, off, whence));
        } else if (x < 0.9) {
          await both((fs, ino, fh) => fs.sync(ino, fh, false));
        } else {
          // Several reads at once on the tiered side only (the mutexes), checked against plain.
          const offs = Array.from({ length: 6 }, () => Math.floor(r() * span));
          const want = await Promise.all(offs.map((o) => plain.read(inos[0]!, fhs[0]!, o, CS)));
          const got = await Promise.all(offs.map((o) => tiered.read(inos[1]!, fhs[1]!, o, CS)));
          expect(got.map(digest)).toEqual(want.map(digest));
        }
      }
      const size = (await plain.getattr(inos[0]!)).size;
      expect((await tiered.getattr(inos[1]!)).size).toBe(size);
      for (let o = 0; o < size; o += MiB) {
        const a = await plain.read(inos[0]!, fhs[0]!, o, MiB);
        expect((await tiered.read(inos[1]!, fhs[1]!, o, MiB)).equals(a)).toBe(true);
      }
      const st = tb.stats();
      expect(st.t1.evictions).toBeGreaterThan(0);
      expect(st.t2!.spills).toBeGreaterThan(0);
      // And after draining, the store itself holds the same bytes.
      await tb.chunks.flush();
      const direct = new PosixFs(store);
      for (let o = 0; o < size; o += MiB) {
        const a = await plain.read(inos[0]!, fhs[0]!, o, MiB);
        expect((await direct.read(inos[1]!, 0, o, MiB)).equals(a)).toBe(true);
      }
    }, 60_000);
  }
});
