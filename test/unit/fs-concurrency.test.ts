// Concurrency in PosixFs: many operations in flight at once on one gateway (interleaved at every
// backend call by a jittered backend), and two gateways sharing one volume, with and without the
// inode cache.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { errno } from '../../src/fs/errors.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { errOf, expectConsistent, jittered, ls, mkdir, mkfile, readAll, root, S_IFDIR, S_IFREG, writeStr } from './fs-helpers.js';

const CS = 16 * 1024;

function volume(seed = 1, cache = true) {
  const be = new MemoryBackend({ chunkSize: CS });
  return { be, fs: new PosixFs(jittered(be, seed), { cache }) };
}

describe.each([true, false])('one gateway (cache %s)', (cache) => {
  test('100 concurrent creates in one directory all land, each with its own inode', async () => {
    const { fs, be } = volume(3, cache);
    const d = await mkdir(fs, 1, 'd');
    const names = Array.from({ length: 100 }, (_, i) => `f${i}`);
    const attrs = await Promise.all(names.map((n) => fs.newInode(root, d.ino, n, { mode: S_IFREG | 0o644 })));
    expect(new Set(attrs.map((a) => a.ino)).size).toBe(100);
    await expectConsistent(be);
    expect(await ls(fs, d.ino)).toEqual([...names].sort());
    for (const n of names.slice(0, 10)) expect((await fs.lookup(root, d.ino, n)).nlink).toBe(1);
  });

  test('concurrent mkdirs keep the parent link count exact', async () => {
    const { fs, be } = volume(4, cache);
    const d = await mkdir(fs, 1, 'd');
    await Promise.all(Array.from({ length: 40 }, (_, i) => fs.newInode(root, d.ino, `s${i}`, { mode: S_IFDIR | 0o755 })));
    expect((await fs.getattr(d.ino)).nlink).toBe(42);
    await Promise.all(Array.from({ length: 40 }, (_, i) => fs.removeDentry(root, d.ino, `s${i}`, true)));
    expect((await fs.getattr(d.ino)).nlink).toBe(2);
    await expectConsistent(be);
  });

  test('racing creates of one name: exactly one wins, the rest get EEXIST', async () => {
    const { fs } = volume(5, cache);
    const results = await Promise.all(Array.from({ length: 20 }, () => errOf(mkfile(fs, 1, 'same'))));
    expect(results.filter((r) => r === 0).length).toBe(1);
    expect(results.filter((r) => r === errno.EEXIST).length).toBe(19);
    expect(await ls(fs, 1)).toEqual(['same']);
  });

  test('concurrent writes to different offsets of one file all persist; size is the furthest end', async () => {
    const { fs } = volume(6, cache);
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    const piece = 5000; // not chunk aligned: pieces share chunks
    const n = 64;
    const order = Array.from({ length: n }, (_, i) => (i * 37) % n);
    await Promise.all(order.map((i) => fs.write(f.ino, fh, i * piece, Buffer.alloc(piece, i + 1))));
    expect((await fs.getattr(f.ino)).size).toBe(n * piece);
    const all = await readAll(fs, f.ino);
    for (let i = 0; i < n; i++) expect(all.subarray(i * piece, (i + 1) * piece).equals(Buffer.alloc(piece, i + 1))).toBe(true);
  });

  test('writes racing with truncates never leave stale bytes past the final size', async () => {
    const { fs } = volume(7, cache);
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      ops.push(fs.write(f.ino, fh, i * 3000, Buffer.alloc(3000, 0xaa)));
      ops.push(fs.setattr(root, f.ino, { size: i * 1000 }));
    }
    await Promise.all(ops);
    await fs.setattr(root, f.ino, { size: 0 });
    await fs.setattr(root, f.ino, { size: 100_000 });
    expect((await readAll(fs, f.ino)).equals(Buffer.alloc(100_000))).toBe(true);
  });

  test('concurrent renames and unlinks keep the namespace consistent', async () => {
    const { fs, be } = volume(8, cache);
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, 1, 'b');
    for (let i = 0; i < 30; i++) await mkfile(fs, a.ino, `x${i}`);
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 30; i++) {
      ops.push(errOf(fs.rename(root, a.ino, `x${i}`, b.ino, `y${i % 10}`, 0)));
      if (i % 3 === 0) ops.push(errOf(fs.removeDentry(root, a.ino, `x${i}`, false)));
    }
    const res = await Promise.all(ops);
    expect(res.every((r) => r === 0 || r === errno.ENOENT)).toBe(true);
    const inA = await ls(fs, a.ino);
    const inB = await ls(fs, b.ino);
    expect(inB.length).toBeLessThanOrEqual(10);
    await expectConsistent(be);
    // Every surviving name resolves to a live inode with one link.
    for (const n of inA) expect((await fs.lookup(root, a.ino, n)).nlink).toBe(1);
    for (const n of inB) expect((await fs.lookup(root, b.ino, n)).nlink).toBe(1);
  });

  test('two directories renamed into each other at once: one wins, no cycle', async () => {
    const { fs } = volume(9, cache);
    const p = await mkdir(fs, 1, 'p');
    const q = await mkdir(fs, 1, 'q');
    const r = await Promise.all([
      errOf(fs.rename(root, 1, 'p', q.ino, 'p', 0)),
      errOf(fs.rename(root, 1, 'q', p.ino, 'q', 0)),
    ]);
    expect(r.sort()).toEqual([0, errno.EINVAL].sort());
    // Walking up from either reaches the root.
    for (const d of [p.ino, q.ino]) {
      let cur = d;
      for (let i = 0; i < 5 && cur !== 1; i++) cur = (await fs.lookup(root, cur, '..')).ino;
      expect(cur).toBe(1);
    }
  });
});

describe('two gateways on one volume', () => {
  test('racing creates of one name across gateways: one wins, the other gets EEXIST', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(jittered(be, 11));
    const g2 = new PosixFs(jittered(be, 12));
    await g1.getattr(1);
    for (let i = 0; i < 20; i++) {
      const r = await Promise.all([errOf(mkfile(g1, 1, `n${i}`)), errOf(mkfile(g2, 1, `n${i}`))]);
      expect(r.sort()).toEqual([0, errno.EEXIST]);
    }
    expect((await ls(g1, 1)).length).toBe(20);
  });

  test('a cached gateway sees another gateway’s write after invalidate(); an uncached one at once', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(be);
    const cached = new PosixFs(be);
    const uncached = new PosixFs(be, { cache: false });
    const f = await mkfile(g1, 1, 'f');
    expect((await cached.getattr(f.ino)).size).toBe(0);
    const fh = await g1.open(root, f.ino, 2);
    await g1.write(f.ino, fh, 0, Buffer.from('from g1'));
    expect((await uncached.getattr(f.ino)).size).toBe(7);
    expect((await cached.getattr(f.ino)).size).toBe(0);
    cached.invalidate(f.ino);
    expect((await cached.getattr(f.ino)).size).toBe(7);
    expect((await cached.read(f.ino, 0, 0, 100)).toString()).toBe('from g1');
  });

  test('close-to-open: opening a file shows what another gateway wrote, without invalidate()', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(be);
    const g2 = new PosixFs(be);
    const f = await mkfile(g1, 1, 'f');
    expect((await g2.getattr(f.ino)).size).toBe(0);
    const w = await g1.open(root, f.ino, 2);
    await g1.write(f.ino, w, 0, Buffer.from('written by g1'));
    await g1.release(f.ino, w);
    const r = await g2.open(root, f.ino, 0);
    expect((await g2.getattr(f.ino)).size).toBe(13);
    expect((await g2.read(f.ino, r, 0, 100)).toString()).toBe('written by g1');
  });

  test('unlinking a name on a gateway that missed a new hard link does not free the inode', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(be);
    const g2 = new PosixFs(be);
    const f = await mkfile(g1, 1, 'f');
    await writeStr(g1, f.ino, 0, 'keep me');
    await g2.addDentry(root, 1, 'g', f.ino); // g1 still caches nlink 1
    await g1.removeDentry(root, 1, 'f', false);
    await g1.evict(f.ino);
    expect((await be.meta.getInode(f.ino))?.nlink).toBe(1);
    expect((await readAll(g2, (await g2.lookup(root, 1, 'g')).ino)).toString()).toBe('keep me');
    await expectConsistent(be);
  });

  test('an entry whose inode is missing can still be removed', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const fs = new PosixFs(be);
    const f = await mkfile(fs, 1, 'f');
    await be.meta.commit({ checks: [], ops: [{ op: 'delInode', ino: f.ino }] });
    fs.invalidate(f.ino);
    await fs.removeDentry(root, 1, 'f', false);
    expect(await ls(fs, 1)).toEqual([]);
  });

  test('directory link counts stay right when two caching gateways take turns', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(be);
    const g2 = new PosixFs(be);
    const d = await mkdir(g1, 1, 'd');
    await g2.getattr(d.ino); // g2 caches d with nlink 2
    for (let i = 0; i < 6; i++) await mkdir(i % 2 ? g2 : g1, d.ino, `s${i}`);
    await g2.rename(root, d.ino, 's0', 1, 's0', 0);
    await g1.removeDentry(root, d.ino, 's1', true);
    await expectConsistent(be);
    expect((await be.meta.getInode(d.ino))!.nlink).toBe(2 + 4);
  });

  test('two gateways moving two directories into each other cannot cut a cycle loose', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(be);
    const g2 = new PosixFs(be);
    const p = await mkdir(g1, 1, 'p');
    const q = await mkdir(g1, 1, 'q');
    await g2.lookup(root, p.ino, '..');
    await g2.lookup(root, q.ino, '..'); // g2 caches both parents as the root
    await g1.rename(root, 1, 'p', q.ino, 'p', 0);
    expect(await errOf(g2.rename(root, 1, 'q', p.ino, 'q', 0))).toBe(errno.EINVAL);
    await expectConsistent(be);
    // And a legitimate move on the stale gateway still works.
    const r = await mkdir(g1, 1, 'r');
    await g2.rename(root, q.ino, 'p', r.ino, 'p', 0);
    expect(await be.meta.lookup(p.ino, '..')).toBe(r.ino);
    await expectConsistent(be);
  });

  test('a gateway that missed an rmdir cannot add entries to the removed directory', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(be);
    const g2 = new PosixFs(be);
    const d = await mkdir(g1, 1, 'd');
    const f = await mkfile(g1, 1, 'f');
    await mkfile(g2, d.ino, 'warm'); // g2 caches d as alive
    await g2.removeDentry(root, d.ino, 'warm', false);
    await g1.removeDentry(root, 1, 'd', true);
    expect(await errOf(mkfile(g2, d.ino, 'x'))).toBe(errno.ENOENT);
    expect(await errOf(g2.addDentry(root, d.ino, 'y', f.ino))).toBe(errno.ENOENT);
    expect(await errOf(g2.rename(root, 1, 'f', d.ino, 'f', 0))).toBe(errno.ENOENT);
    expect(await be.meta.readdir(d.ino, 0, 10)).toEqual([]);
    await expectConsistent(be);
  });

  test('renames from two gateways onto the same names re-plan instead of corrupting links', async () => {
    const be = new MemoryBackend({ chunkSize: CS });
    const g1 = new PosixFs(jittered(be, 21));
    const g2 = new PosixFs(jittered(be, 22));
    const d = await mkdir(g1, 1, 'd');
    for (let i = 0; i < 20; i++) {
      await mkfile(g1, d.ino, `a${i}`);
      await mkfile(g1, d.ino, `b${i}`);
    }
    const res = await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        errOf(g1.rename(root, d.ino, `a${i}`, d.ino, `t${i % 4}`, 0)),
        errOf(g2.rename(root, d.ino, `b${i}`, d.ino, `t${i % 4}`, 0)),
      ]).flat(),
    );
    expect(res.every((r) => r === 0)).toBe(true);
    expect(await ls(g1, d.ino)).toEqual(['t0', 't1', 't2', 't3']);
    await expectConsistent(be);
  });
});

describe('random concurrent namespace storm', () => {
  const NAMES = ['a', 'b', 'c', 'd'];
  const LEGAL = new Set([
    0,
    errno.ENOENT,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOTEMPTY,
    errno.EINVAL,
    errno.EPERM,
  ]);

  test.each([
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 2],
  ])('seed %i, %i gateway(s): 600 operations, 24 at a time, leave a consistent tree', async (seed, gateways) => {
    let s = seed * 2654435761;
    const rnd = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    };
    const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const be = new MemoryBackend({ chunkSize: 4096 });
    const g1 = new PosixFs(jittered(be, seed));
    const g2 = new PosixFs(jittered(be, seed + 100));
    const dirs = [1];
    for (const n of NAMES) dirs.push((await mkdir(g1, 1, n)).ino);
    const errs = new Map<number, number>();
    for (let round = 0; round < 25; round++) {
      const ops: Promise<number>[] = [];
      for (let i = 0; i < 24; i++) {
        const g = gateways === 2 && rnd() < 0.3 ? g2 : g1;
        const d1 = pick(dirs);
        const d2 = pick(dirs);
        const n1 = pick(NAMES);
        const n2 = pick(NAMES);
        const k = Math.floor(rnd() * 7);
        const run = async (): Promise<void> => {
          switch (k) {
            case 0:
              await mkfile(g, d1, n1);
              return;
            case 1: {
              const a = await mkdir(g, d1, n1);
              dirs.push(a.ino);
              return;
            }
            case 2:
              await g.removeDentry(root, d1, n1, false);
              return;
            case 3:
              await g.removeDentry(root, d1, n1, true);
              return;
            case 4:
              await g.rename(root, d1, n1, d2, n2, 0);
              return;
            case 5:
              await g.addDentry(root, d2, n2, (await g.lookup(root, d1, n1)).ino);
              return;
            default: {
              const ino = (await g.lookup(root, d1, n1)).ino;
              const fh = await g.open(root, ino, 2);
              await g.write(ino, fh, Math.floor(rnd() * 9000), Buffer.alloc(100, 7));
              await g.release(ino, fh);
            }
          }
        };
        ops.push(errOf(run()));
      }
      for (const e of await Promise.all(ops)) errs.set(e, (errs.get(e) ?? 0) + 1);
    }
    for (const e of errs.keys()) expect(LEGAL.has(e), `unexpected errno ${e}`).toBe(true);
    expect(errs.get(0) ?? 0).toBeGreaterThan(100);
    await expectConsistent(be, { linkCounts: gateways === 1 });
  });
});
