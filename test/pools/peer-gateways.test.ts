// Two gateways, each with its own t1/t2 tiers (PosixFs over TieredBackend), on one shared store:
// what one changes and closes, the other serves after its next open — never bytes it cached
// before — with or without a change feed (here a hand-driven one, so a test decides whether a
// notice arrives). And the rule for this gateway's unflushed writes when a peer changed the file:
// ours win where we wrote, the rest is the peer's, and the cache equals the store after the flush.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changesOf } from '../../src/backends/changes.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import type { Backend, MetaChange } from '../../src/backends/types.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { openTiers } from '../../src/pools/format.js';
import { type TieredBackend, tieredBackend, TieredChunkStore } from '../../src/pools/tiered-chunk-store.js';
import { counted, MiB, type TierDirs, tierDirs } from './helpers.js';

const CS = 64 * 1024;
const caller = { uid: 0, gid: 0, pid: 1, umask: 0 };
const O_RDWR = 2;

/** A change feed between the gateways of one test: a commit queues its changes for every other
 * gateway; deliver() hands them over (a test that never calls it has no feed at all). */
class Feed {
  private readonly queued: { to: number; c: MetaChange }[] = [];
  private readonly watchers = new Map<number, Set<(c: MetaChange) => void>>();
  private gateways = 0;
  backend(mem: MemoryBackend): Backend {
    const me = this.gateways++;
    const b = counted(mem);
    const m = mem.meta;
    return {
      ...b,
      meta: {
        getInode: (ino) => m.getInode(ino),
        lookup: (p, n) => m.lookup(p, n),
        readdir: (p, a, l) => m.readdir(p, a, l),
        getXattr: (i, n) => m.getXattr(i, n),
        listXattrs: (i) => m.listXattrs(i),
        allocIds: (n) => m.allocIds(n),
        stats: () => m.stats(),
        commit: async (txn) => {
          const ok = await m.commit(txn);
          if (ok) {
            for (let to = 0; to < this.gateways; to++) {
              if (to === me) continue;
              for (const [ino, name] of changesOf(txn.ops)) this.queued.push({ to, c: name === undefined ? { kind: 'inode', ino } : { kind: 'dir', ino, name } });
            }
          }
          return ok;
        },
        watch: (fn) => {
          let set = this.watchers.get(me);
          if (!set) this.watchers.set(me, (set = new Set()));
          set.add(fn);
          return () => set.delete(fn);
        },
      },
    };
  }
  deliver(): void {
    for (const { to, c } of this.queued.splice(0)) for (const fn of this.watchers.get(to) ?? []) fn(c);
  }
}

interface Gateway {
  fs: PosixFs;
  tb: TieredBackend;
  dirs: TierDirs;
  /** What the filesystem heard from the feed, and when: after the chunks were dropped. */
  heard: { ino: number; bytes: string }[];
}

let mem: MemoryBackend;
let feed: Feed;
const gws: Gateway[] = [];

beforeEach(() => {
  mem = new MemoryBackend({ chunkSize: CS });
  feed = new Feed();
});
afterEach(async () => {
  for (const g of gws.splice(0)) {
    await g.fs.destroy().catch(() => undefined);
    g.dirs.cleanup();
  }
});

async function gateway(writeback: boolean): Promise<Gateway> {
  const dirs = tierDirs();
  const tb = await tieredBackend(feed.backend(mem), { t1: dirs.t1, t2: dirs.t2, t1_size: 8 * MiB, t2_size: 4 * MiB, writeback }, { storeKey: 'peers', flushDelayMs: 60_000 });
  const fs = new PosixFs(tb);
  const g: Gateway = { fs, tb, dirs, heard: [] };
  fs.onInvalidate = async (inv) => {
    if (!('ino' in inv)) return;
    // what a read right after the kernel's invalidation would get
    const b = await tb.chunks.read(inv.ino, 0, 0, 16);
    g.heard.push({ ino: inv.ino, bytes: b.toString() });
  };
  gws.push(g);
  return g;
}

async function create(g: Gateway, name: string, data: Buffer): Promise<number> {
  const ino = (await g.fs.newInode(caller, 1, name, { mode: 0o100644 })).ino;
  const fh = await g.fs.open(caller, ino, O_RDWR);
  await g.fs.write(ino, fh, 0, data);
  await close(g, ino, fh);
  return ino;
}

async function close(g: Gateway, ino: number, fh: number): Promise<void> {
  await g.fs.flush(ino, fh);
  await g.fs.release(ino, fh);
}

/** open, read all, close — as `cat` does. */
async function cat(g: Gateway, ino: number): Promise<Buffer> {
  const fh = await g.fs.open(caller, ino, 0);
  const attr = await g.fs.getattr(ino);
  const b = await g.fs.read(ino, fh, 0, attr.size + 1);
  await close(g, ino, fh);
  return b;
}

async function edit(g: Gateway, ino: number, f: (fh: number) => Promise<unknown>): Promise<void> {
  const fh = await g.fs.open(caller, ino, O_RDWR);
  await f(fh);
  await close(g, ino, fh);
}

const fill = (ch: string, n: number): Buffer => Buffer.alloc(n, ch);
/** Bytes as text, for comparing (vitest's deep equality walks a Buffer byte by byte: seconds). */
const str = (b: Buffer): string => b.toString('latin1');

for (const writeback of [true, false]) {
  describe(`two tiered gateways on one store (${writeback ? 'write-back' : 'write-through'}), no change feed`, () => {
    it('an overwrite of part of a cached file on B is read on A after its next open', async () => {
      const A = await gateway(writeback);
      const B = await gateway(writeback);
      const ino = await create(A, 'f', fill('a', 3 * CS));
      expect(str(await cat(A, ino))).toBe(str(fill('a', 3 * CS)));
      expect(str(await cat(A, ino))).toBe(str(fill('a', 3 * CS))); // now from A's t1
      const before = A.tb.stats();
      await edit(B, ino, (fh) => B.fs.write(ino, fh, CS + 100, fill('b', 10)));
      const want = fill('a', 3 * CS);
      fill('b', 10).copy(want, CS + 100);
      expect(str(await cat(A, ino))).toBe(str(want));
      const after = A.tb.stats();
      expect(after.invalidations.inodes - before.invalidations.inodes).toBe(1);
      expect(after.invalidations.chunks - before.invalidations.chunks).toBe(3);
      expect(after.storeReads - before.storeReads).toBe(3);
    });

    it('a truncate, a whole rewrite, and an unlink + create of the name on B are all seen on A', async () => {
      const A = await gateway(writeback);
      const B = await gateway(writeback);
      const ino = await create(A, 'f', fill('a', 2 * CS + 5));
      expect((await cat(A, ino)).length).toBe(2 * CS + 5);
      await B.fs.setattr(caller, ino, { size: 100 });
      expect(str(await cat(A, ino))).toBe(str(fill('a', 100)));
      await B.fs.setattr(caller, ino, { size: 2 * CS }); // grows: a hole past 100
      const grown = Buffer.alloc(2 * CS);
      fill('a', 100).copy(grown);
      expect(str(await cat(A, ino))).toBe(str(grown));
      await edit(B, ino, (fh) => B.fs.write(ino, fh, 0, fill('c', 2 * CS)));
      expect(str(await cat(A, ino))).toBe(str(fill('c', 2 * CS)));
      await B.fs.removeDentry(caller, 1, 'f', false);
      await B.fs.evict(ino);
      const ino2 = await create(B, 'f', fill('d', 7));
      expect(ino2).not.toBe(ino);
      expect((await A.fs.lookup(caller, 1, 'f')).ino).toBe(ino2);
      expect(str(await cat(A, ino2))).toBe(str(fill('d', 7)));
      expect(A.tb.stats().invalidations.inodes).toBeGreaterThanOrEqual(3);
    });
  });
}

describe('two tiered gateways: write-back specifics', () => {
  it('A reading between B’s write and B’s upload does not keep the old bytes past B’s close', async () => {
    const A = await gateway(true);
    const B = await gateway(true);
    const ino = await create(A, 'f', fill('a', CS));
    expect(str(await cat(A, ino))).toBe(str(fill('a', CS)));
    const fh = await B.fs.open(caller, ino, O_RDWR);
    await B.fs.write(ino, fh, 0, fill('b', 10)); // record committed, bytes still in B's t1
    // A opens now: the record changed, its chunks go, and it caches the store's (old) bytes again
    const early = await cat(A, ino);
    expect(str(early.subarray(0, 10))).toBe(str(fill('a', 10)));
    await close(B, ino, fh); // uploads, then a new ctime: the record changes after the bytes
    const want = fill('a', CS);
    fill('b', 10).copy(want);
    expect(str(await cat(A, ino))).toBe(str(want));
  });

  it('a close with nothing uploaded since the last commit commits nothing', async () => {
    const A = await gateway(true);
    const ino = await create(A, 'f', fill('a', 10));
    const c0 = (await A.fs.getattr(ino)).ctimeNs;
    expect(str(await cat(A, ino))).toBe(str(fill('a', 10)));
    expect((await A.fs.getattr(ino)).ctimeNs).toBe(c0);
    expect(A.tb.stats().dirtyChunks).toBe(0); // the create's close uploaded
  });

  it('unflushed writes on A and a change on B to the same chunk: A’s bytes win where A wrote, B’s elsewhere, logged as a conflict', async () => {
    const A = await gateway(true);
    const B = await gateway(true);
    const ino = await create(A, 'f', fill('a', 100));
    expect(str(await cat(A, ino))).toBe(str(fill('a', 100)));
    const fhA = await A.fs.open(caller, ino, O_RDWR);
    await A.fs.write(ino, fhA, 10, fill('x', 10)); // dirty in A's t1, not uploaded (delay 60 s)
    await edit(B, ino, (fh) => B.fs.write(ino, fh, 0, fill('b', 100)));
    // A revalidates (as its next open would), with its own write still unflushed
    const rec = await A.tb.meta.getInode(ino);
    expect(rec!.ctimeNs).toBe((await B.fs.getattr(ino)).ctimeNs);
    const merged = fill('b', 100);
    fill('x', 10).copy(merged, 10);
    expect(str(await A.fs.read(ino, fhA, 0, 100))).toBe(str(merged));
    expect(A.tb.stats().invalidations.conflicts).toBe(1);
    expect(A.tb.stats().dirtyChunks).toBe(1);
    await close(A, ino, fhA); // A's upload: the store now holds exactly A's cached copy
    expect(A.tb.stats().dirtyChunks).toBe(0);
    expect(str(await mem.chunks.read(ino, 0, 0, CS))).toBe(str(merged));
    expect(str(await cat(B, ino))).toBe(str(merged));
    expect(str(await cat(A, ino))).toBe(str(merged));
  });

  it('a peer truncate under unflushed writes: the cut bytes stay cut, ours are kept at their offsets', async () => {
    const A = await gateway(true);
    const B = await gateway(true);
    const ino = await create(A, 'f', fill('a', 200));
    expect((await cat(A, ino)).length).toBe(200);
    const fhA = await A.fs.open(caller, ino, O_RDWR);
    await A.fs.write(ino, fhA, 150, fill('x', 10));
    await B.fs.setattr(caller, ino, { size: 50 });
    await A.tb.meta.getInode(ino);
    // the store will hold 50 'a', zeros, then A's 10 bytes at 150 once A uploads
    const want = Buffer.alloc(160);
    fill('a', 50).copy(want);
    fill('x', 10).copy(want, 150);
    expect(str(await A.tb.chunks.read(ino, 0, 0, CS))).toBe(str(want));
    await close(A, ino, fhA);
    expect(str(await mem.chunks.read(ino, 0, 0, CS))).toBe(str(want));
  });
});

describe('two tiered gateways with a change feed', () => {
  it('a notice drops A’s chunks before the filesystem (and the kernel) hears of it', async () => {
    const A = await gateway(false);
    const B = await gateway(false);
    const ino = await create(A, 'f', fill('a', 16));
    const fhA = await A.fs.open(caller, ino, 0);
    expect(str(await A.fs.read(ino, fhA, 0, 16))).toBe(str(fill('a', 16)));
    await edit(B, ino, (fh) => B.fs.write(ino, fh, 0, fill('b', 16)));
    feed.deliver();
    await new Promise((r) => setTimeout(r, 50));
    const told = A.heard.filter((h) => h.ino === ino);
    expect(told.length).toBeGreaterThan(0);
    for (const h of told) expect(h.bytes).toBe('b'.repeat(16));
    expect(A.tb.stats().invalidations.inodes).toBeGreaterThanOrEqual(1);
    await close(A, ino, fhA);
  });
});

describe('journal replay and peers', () => {
  it('a replay commits a new ctime for each replayed file, so peers drop what they cached', async () => {
    const d = tierDirs();
    try {
      const A = await gateway(true);
      const ino = await create(A, 'f', fill('a', 10));
      const c0 = (await mem.meta.getInode(ino))!.ctimeNs;
      // a gateway that synced a write to its journal and died before uploading it
      const shared = counted(mem);
      const tiers = await openTiers({ t1: d.t1, t1_size: 8 * MiB }, { storeKey: 'peers', chunkSize: CS });
      const dead = await TieredChunkStore.open(shared, tiers, { writeback: true, flushDelayMs: 60_000 });
      await dead.write(ino, 0, 0, fill('z', 4));
      await dead.sync();
      await tiers.close();
      const again = await openTiers({ t1: d.t1, t1_size: 8 * MiB }, { storeKey: 'peers', chunkSize: CS });
      const back = await TieredChunkStore.open(shared, again, { writeback: true });
      expect(back.stats().journal.replayed).toBe(1);
      expect((await mem.meta.getInode(ino))!.ctimeNs).toBeGreaterThan(c0);
      expect(str(await cat(A, ino))).toBe(str(Buffer.concat([fill('z', 4), fill('a', 6)])));
      await back.close();
      await again.close();
    } finally {
      d.cleanup();
    }
  });
});
