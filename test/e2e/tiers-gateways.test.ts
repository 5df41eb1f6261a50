// Two zusd gateways, each with its own t1/t2 tiers (write-back), on one posix volume (redis; and
// mongodb when a server is available): A reads a file, which fills its tiers; B changes it and
// closes; A, reopening at once (no sleep: close-to-open, not the change feed's timing), reads B's
// bytes exactly — a partial overwrite, a truncate, a whole rewrite, an unlink and a new file under
// the name — and A's tier counters show the invalidations. Then B reads what A wrote back.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBuilt, shOk, startMount, tierCounters, tmpDir } from '../helpers/mount.js';
import { redisUnavailable, startRedis } from '../helpers/redis-server.js';
import { startServer, uniqueName, unavailable } from '../servers/servers.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => `${b.length}:${createHash('sha1').update(b).digest('hex')}`;

/** Bytes that differ at every 4 KiB, so a stale block anywhere changes the digest. */
function pattern(tag: number, len: number): Buffer {
  const b = Buffer.alloc(Math.ceil(len / 4) * 4);
  for (let i = 0; i < len; i += 4) b.writeUInt32LE((tag * 2654435761 + i) >>> 0, i);
  return b.subarray(0, len);
}

/** A gateway's view of a file: open, read to EOF, close (what `cat` does). */
const read = (file: string): string => sha(readFileSync(file));

type Volume = { url: string; stop(): Promise<void> } | { skip: string };

const VOLUMES: { name: string; open(): Promise<Volume> }[] = [
  {
    name: 'redis',
    async open() {
      if (redisUnavailable) return { skip: redisUnavailable };
      const r = await startRedis();
      return { url: `${r.url}?volume=${uniqueName('tg')}`, stop: () => r.stop() };
    },
  },
  {
    name: 'mongodb',
    async open() {
      const why = unavailable('mongo');
      if (why) return { skip: why };
      const s = await startServer('mongo');
      const u = new URL(s.url);
      u.pathname = `/${uniqueName('tg').replace(/-/g, '_')}`;
      return { url: u.toString(), stop: () => s.stop() };
    },
  },
];

for (const vol of VOLUMES) {
  describe.skipIf(!cliBuilt())(`two tiered gateways on one ${vol.name} volume`, () => {
    it('A, reopening right after B closes, reads B’s bytes, never the blocks it cached', async (ctx) => {
      const v = await vol.open();
      if ('skip' in v) return ctx.skip(v.skip);
      const dir = tmpDir(`zufs-tg-${vol.name}-`);
      const shm = `/dev/shm/${path.basename(dir)}`;
      const config = (gw: string): string => {
        const cfg = path.join(dir, `${gw}.yaml`);
        // 1 MiB chunks; attr_timeout longer than the test, so the kernel's sizes come from pushes
        writeFileSync(
          cfg,
          'mounts:\n  - name: tg\n' +
            `    url: ${JSON.stringify(v.url)}\n    chunk_size: 1MiB\n    attr_timeout: 30s\n` +
            `    tiers: { t1: ${shm}.${gw}.t1, t2: ${dir}/${gw}.t2, t1_size: 16MiB, t2_size: 32MiB, writeback: true }\n`,
        );
        return cfg;
      };
      const A = path.join(dir, 'a');
      const B = path.join(dir, 'b');
      mkdirSync(A);
      mkdirSync(B);
      const a = await startMount(config('a'), A);
      const b = await startMount(config('b'), B).catch(async (e: unknown) => {
        await a.stop();
        throw e;
      });
      try {
        const fa = path.join(A, 'f');
        const fb = path.join(B, 'f');
        let want = pattern(1, 3 * MiB + 1000);
        writeFileSync(fa, want);
        expect(read(fa)).toBe(sha(want));
        expect(read(fa)).toBe(sha(want)); // from A's t1 now
        expect(read(fb)).toBe(sha(want));
        let t = tierCounters(A);
        expect(t.invalidations.conflicts).toBe(0);

        // A caches the current bytes, then waits until no change notice is still arriving for the
        // previous step (MongoDB's feed is polled: a late notice would drop these blocks before
        // B's change and leave nothing for the step to drop)
        const settle = async (): Promise<void> => {
          read(fa);
          let last = tierCounters(A).invalidations.inodes;
          for (let quiet = 0, i = 0; quiet < 3 && i < 50; i++) {
            await new Promise((r) => setTimeout(r, 100));
            const now = tierCounters(A).invalidations.inodes;
            quiet = now === last ? quiet + 1 : 0;
            last = now;
          }
          read(fa);
        };
        const step = async (what: string, change: () => void, expectDrop = true): Promise<void> => {
          await settle();
          const before = tierCounters(A);
          change();
          // Names are the change feed's (the kernel may cache them for attr_timeout): wait for A
          // to resolve the name to B's inode. Bytes are not waited for.
          const ino = statSync(fb).ino;
          for (let i = 0; statSync(fa).ino !== ino; i++) {
            if (i > 200) throw new Error(`${what}: A never saw B's new name`);
            await new Promise((r) => setTimeout(r, 10));
          }
          expect(read(fa), what).toBe(sha(want));
          const after = tierCounters(A);
          if (expectDrop) expect(after.invalidations.inodes, `${what}: A dropped its blocks`).toBeGreaterThan(before.invalidations.inodes);
          t = after;
        };

        // B overwrites 100 bytes inside chunk 1 (in place: dd conv=notrunc)
        await step('partial overwrite', () => {
          shOk(`printf 'BBBBBBBBBB%.0s' $(seq 10) | dd of=${fb} bs=1 seek=${MiB + 4096} conv=notrunc status=none`);
          Buffer.from('BBBBBBBBBB'.repeat(10)).copy(want, MiB + 4096);
        });
        expect(read(fa)).toBe(sha(want)); // and again, from A's tiers
        // B truncates into chunk 1
        await step('truncate', () => {
          shOk(`truncate -s ${MiB + 5000} ${fb}`);
          want = want.subarray(0, MiB + 5000);
        });
        // B rewrites the whole file, longer than before
        await step('whole rewrite', () => {
          want = pattern(2, 2 * MiB + 7);
          writeFileSync(fb, want);
        });
        // B unlinks the file and creates another under the name
        await step(
          'unlink + create',
          () => {
            unlinkSync(fb);
            want = pattern(3, MiB / 2);
            writeFileSync(fb, want);
          },
          false, // a new inode: nothing of it was cached on A
        );
        const end = tierCounters(A);
        expect(end.invalidations.chunks).toBeGreaterThan(0);
        expect(end.invalidations.conflicts).toBe(0);

        // and the other way round: A writes, closes; B reads A's bytes
        const before = tierCounters(B);
        expect(read(fb)).toBe(sha(want));
        want = pattern(4, MiB + 3);
        writeFileSync(fa, want);
        expect(read(fb)).toBe(sha(want));
        expect(tierCounters(B).invalidations.inodes).toBeGreaterThan(before.invalidations.inodes);
      } finally {
        expect(await b.stop()).toBe(0);
        expect(await a.stop()).toBe(0);
        await v.stop();
        rmSync(`${shm}.a.t1`, { force: true });
        rmSync(`${shm}.b.t1`, { force: true });
      }
    }, 180_000);
  });
}
