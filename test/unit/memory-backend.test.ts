// MemoryBackend on its own: conditional commits are all-or-nothing, readdir is ordered by cookie,
// stored records are copies, and chunks behave as the ChunkStore contract says (holes, gaps,
// truncate, remove, byte accounting).
import { describe, expect, test } from 'vitest';
import { DEFAULT_MEMORY_CHUNK_SIZE, MemoryBackend } from '../../src/backends/memory.js';
import type { InodeRecord } from '../../src/backends/types.js';

const rec = (ino: number): InodeRecord => ({
  ino,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  nlink: 1,
  size: 0,
  rdev: 0,
  atimeNs: 1n,
  mtimeNs: 2n,
  ctimeNs: 3n,
  btimeNs: 4n,
  flags: 0,
  generation: 0,
});

describe('MemoryBackend meta', () => {
  test('a commit whose check fails changes nothing', async () => {
    const { meta } = new MemoryBackend();
    expect(await meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'a', ino: 5, cookie: 10 }] })).toBe(true);
    const ok = await meta.commit({
      checks: [
        { parent: 1, name: 'b', ino: null },
        { parent: 1, name: 'a', ino: 6 },
      ],
      ops: [
        { op: 'putInode', inode: rec(7) },
        { op: 'putDentry', parent: 1, name: 'b', ino: 7, cookie: 11 },
      ],
    });
    expect(ok).toBe(false);
    expect(await meta.getInode(7)).toBeUndefined();
    expect(await meta.lookup(1, 'b')).toBeUndefined();
    expect(
      await meta.commit({ checks: [{ parent: 1, name: 'a', ino: 5 }], ops: [{ op: 'delDentry', parent: 1, name: 'a' }] }),
    ).toBe(true);
    expect(await meta.lookup(1, 'a')).toBeUndefined();
  });

  test('readdir is ascending by cookie whatever the insertion order, and pages after a cookie', async () => {
    const { meta } = new MemoryBackend();
    for (const [name, cookie] of [
      ['c', 30],
      ['a', 10],
      ['b', 20],
      ['d', 25],
    ] as const) {
      await meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name, ino: cookie, cookie }] });
    }
    expect((await meta.readdir(1, 0, 10)).map((e) => e.name)).toEqual(['a', 'b', 'd', 'c']);
    expect((await meta.readdir(1, 20, 2)).map((e) => e.name)).toEqual(['d', 'c']);
    expect((await meta.readdir(1, 22, 10)).map((e) => e.name)).toEqual(['d', 'c']);
    // Re-putting a name moves it to its new cookie.
    await meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'a', ino: 10, cookie: 40 }] });
    expect((await meta.readdir(1, 0, 10)).map((e) => e.name)).toEqual(['b', 'd', 'c', 'a']);
  });

  test('records and xattr values are copies: mutating them later does not change the store', async () => {
    const { meta } = new MemoryBackend();
    const r = rec(9);
    const v = Buffer.from('abc');
    await meta.commit({ checks: [], ops: [{ op: 'putInode', inode: r }, { op: 'setXattr', ino: 9, name: 'user.x', value: v }] });
    r.size = 999;
    v.fill(0);
    const got = (await meta.getInode(9))!;
    expect(got.size).toBe(0);
    got.nlink = 5;
    expect((await meta.getInode(9))!.nlink).toBe(1);
    expect((await meta.getXattr(9, 'user.x'))!.toString()).toBe('abc');
    await meta.commit({ checks: [], ops: [{ op: 'delInode', ino: 9 }] });
    expect(await meta.listXattrs(9)).toEqual([]);
  });

  test('allocIds hands out fresh ranges starting at 2', async () => {
    const { meta } = new MemoryBackend();
    expect(await meta.allocIds(10)).toBe(2);
    expect(await meta.allocIds(1)).toBe(12);
    await expect(meta.allocIds(0)).rejects.toThrow();
  });
});

describe('MemoryBackend chunks', () => {
  test('default chunk size is 1 MiB', () => {
    expect(new MemoryBackend().chunks.chunkSize).toBe(DEFAULT_MEMORY_CHUNK_SIZE);
    expect(DEFAULT_MEMORY_CHUNK_SIZE).toBe(1 << 20);
  });

  test('writes zero-fill gaps; reads stop at the stored length; missing chunks read empty', async () => {
    const be = new MemoryBackend({ chunkSize: 1 << 16 });
    const c = be.chunks;
    await c.write(1, 0, 100, Buffer.from('xy'));
    expect((await c.read(1, 0, 0, 1000)).equals(Buffer.concat([Buffer.alloc(100), Buffer.from('xy')]))).toBe(true);
    expect((await c.read(1, 0, 102, 10)).length).toBe(0);
    expect((await c.read(1, 5, 0, 10)).length).toBe(0);
    await expect(c.write(1, 0, (1 << 16) - 1, Buffer.from('ab'))).rejects.toThrow(RangeError);
  });

  test('many small appends and a full-chunk write read back exactly', async () => {
    const be = new MemoryBackend({ chunkSize: 1 << 16 });
    const c = be.chunks;
    for (let i = 0; i < 64; i++) await c.write(2, 0, i * 1024, Buffer.alloc(1024, i));
    const all = await c.read(2, 0, 0, 1 << 16);
    for (let i = 0; i < 64; i++) expect(all[i * 1024 + 7]).toBe(i);
    expect((await be.meta.stats()).bytes).toBe(1 << 16);
  });

  test('truncate shortens (zeroing what it cut), 0 removes; remove drops a range; list is sorted', async () => {
    const be = new MemoryBackend({ chunkSize: 1000 });
    const c = be.chunks;
    for (const idx of [5, 1, 3, 0]) await c.write(3, idx, 0, Buffer.alloc(1000, 9));
    expect(await c.list(3)).toEqual([0, 1, 3, 5]);
    await c.truncate(3, 0, 10);
    await c.write(3, 0, 20, Buffer.from('z'));
    const b = await c.read(3, 0, 0, 1000);
    expect(b.length).toBe(21);
    expect(b.subarray(10, 20).equals(Buffer.alloc(10))).toBe(true);
    await c.truncate(3, 1, 0);
    expect(await c.list(3)).toEqual([0, 3, 5]);
    await c.remove(3, 3, 5);
    expect(await c.list(3)).toEqual([0, 5]);
    await c.remove(3, 0);
    expect(await c.list(3)).toEqual([]);
    expect((await be.meta.stats()).bytes).toBe(0);
  });
});
