// The backend contract: one suite that every posix-layout backend (memory, local, redis, ...) must
// pass. Each backend's *.test.ts calls defineBackendContract() with a factory for fresh, empty stores.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend, InodeRecord, LockRecord, MetaTxn } from '../../src/backends/types.js';

export interface BackendFixture {
  backend: Backend;
  /** Opens the same volume again after backend.close(); absent when the store does not persist. */
  reopen?: () => Promise<Backend>;
  /** Closes the last backend opened by fresh() or reopen() (if still open) and removes what the
   * fixture created. */
  destroy: () => Promise<void>;
}

export interface ContractTarget {
  name: string;
  /** A fresh, empty store. */
  fresh: () => Promise<BackendFixture>;
  /** When set, the suite is skipped and the reason shows in the test report. */
  skip?: string | undefined;
  /** Per-test timeout for slow stores (vitest's default otherwise). */
  timeoutMs?: number | undefined;
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export function inode(ino: number, over: Partial<InodeRecord> = {}): InodeRecord {
  return {
    ino,
    mode: S_IFREG | 0o644,
    uid: 1000,
    gid: 1000,
    nlink: 1,
    size: 0,
    rdev: 0,
    atimeNs: 1_700_000_000_123_456_789n,
    mtimeNs: 1_700_000_001_000_000_001n,
    ctimeNs: 1_700_000_002_999_999_999n,
    btimeNs: 1_600_000_000_000_000_000n,
    flags: 0,
    generation: 1,
    ...over,
  };
}

const put = (i: InodeRecord): MetaTxn => ({ checks: [], ops: [{ op: 'putInode', inode: i }] });

/** Creates (parent, name) -> ino only if the name is absent: the core of create/mkdir/link. */
function createIfAbsent(parent: number, name: string, ino: number, cookie: number): MetaTxn {
  return {
    checks: [{ parent, name, ino: null }],
    ops: [
      { op: 'putInode', inode: inode(ino) },
      { op: 'putDentry', parent, name, ino, cookie },
    ],
  };
}

async function readAll(b: Backend, ino: number, idx: number): Promise<Buffer> {
  return b.chunks.read(ino, idx, 0, b.chunks.chunkSize);
}

async function listDir(b: Backend, parent: number, page: number): Promise<Array<[string, number, number]>> {
  const out: Array<[string, number, number]> = [];
  let after = 0;
  for (;;) {
    const ents = await b.meta.readdir(parent, after, page);
    expect(ents.length).toBeLessThanOrEqual(page);
    for (const e of ents) out.push([e.name, e.ino, e.cookie]);
    if (ents.length < page) return out;
    after = ents[ents.length - 1]!.cookie;
  }
}

export function defineBackendContract(target: ContractTarget): void {
  const title = `backend contract: ${target.name}${target.skip ? ` (skipped: ${target.skip})` : ''}`;
  describe.skipIf(target.skip !== undefined)(title, target.timeoutMs ? { timeout: target.timeoutMs } : {}, () => {
    let fx: BackendFixture;
    let b: Backend;
    beforeEach(async () => {
      fx = await target.fresh();
      b = fx.backend;
    });
    afterEach(async () => {
      await fx.destroy();
    });

    describe('inodes', () => {
      it('round-trips every field exactly, bigint times included', async () => {
        const rec = inode(42, {
          mode: S_IFREG | 0o4755,
          uid: 4_294_967_294,
          gid: 65_534,
          nlink: 3,
          size: Number.MAX_SAFE_INTEGER,
          rdev: 0x0801,
          atimeNs: 9_223_372_036_854_775_807n, // i64 max: far beyond 2^53
          mtimeNs: -1_000_000_001n, // before the epoch
          ctimeNs: 0n,
          btimeNs: 1_234_567_890_123_456_789n,
          flags: 0x10 | 0x20,
          generation: 0xfffffffe,
        });
        expect(await b.meta.commit(put(rec))).toBe(true);
        const got = await b.meta.getInode(42);
        expect(got).toEqual(rec);
        expect(typeof got!.atimeNs).toBe('bigint');
        expect(got!.target).toBeUndefined();
      });

      it('keeps a symlink target, unicode and long ones too', async () => {
        const target = `../ü/${'x'.repeat(4000)}/ 🙂 \n end`;
        const rec = inode(7, { mode: S_IFLNK | 0o777, size: Buffer.byteLength(target), target });
        await b.meta.commit(put(rec));
        expect(await b.meta.getInode(7)).toEqual(rec);
      });

      it('overwrites a whole record, dropping fields no longer present', async () => {
        await b.meta.commit(put(inode(9, { mode: S_IFLNK | 0o777, target: 'a' })));
        const second = inode(9, { mode: S_IFREG | 0o600, size: 5, nlink: 2 });
        await b.meta.commit(put(second));
        const got = await b.meta.getInode(9);
        expect(got).toEqual(second);
        expect(got && 'target' in got && got.target !== undefined).toBe(false);
      });

      it('returns undefined for a missing inode and after delInode', async () => {
        expect(await b.meta.getInode(12345)).toBeUndefined();
        await b.meta.commit(put(inode(5)));
        await b.meta.commit({ checks: [], ops: [{ op: 'delInode', ino: 5 }] });
        expect(await b.meta.getInode(5)).toBeUndefined();
      });

      it('hands out copies: mutating a returned record changes nothing stored', async () => {
        const rec = inode(11);
        await b.meta.commit(put(rec));
        rec.size = 999; // the caller's object after commit
        const got = (await b.meta.getInode(11))!;
        expect(got.size).toBe(0);
        got.nlink = 77;
        expect((await b.meta.getInode(11))!.nlink).toBe(1);
      });

      it('keeps many inodes apart', async () => {
        const ops = Array.from({ length: 200 }, (_, i) => ({ op: 'putInode' as const, inode: inode(100 + i, { size: i * 3 }) }));
        expect(await b.meta.commit({ checks: [], ops })).toBe(true);
        const got = await Promise.all(ops.map((o) => b.meta.getInode(o.inode.ino)));
        expect(got.map((g) => g!.size)).toEqual(ops.map((o) => o.inode.size));
      });
    });

    describe('lookup', () => {
      it('finds names per parent and misses absent ones', async () => {
        expect(await b.meta.lookup(1, 'nope')).toBeUndefined();
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'putDentry', parent: 1, name: 'a', ino: 10, cookie: 2 },
            { op: 'putDentry', parent: 2, name: 'a', ino: 20, cookie: 3 },
          ],
        });
        expect(await b.meta.lookup(1, 'a')).toBe(10);
        expect(await b.meta.lookup(2, 'a')).toBe(20);
        expect(await b.meta.lookup(3, 'a')).toBeUndefined();
        expect(await b.meta.lookup(1, 'A')).toBeUndefined();
      });

      it('handles awkward names: unicode, spaces, separators, 255 bytes', async () => {
        const names = ['ü ber', 'with\nnewline', 'colon:and;semi', '%s%n', '{tag}', '*', 'x'.repeat(255), '日本語.txt', '0', '-1'];
        await b.meta.commit({
          checks: [],
          ops: names.map((name, i) => ({ op: 'putDentry' as const, parent: 1, name, ino: 100 + i, cookie: 10 + i })),
        });
        for (const [i, name] of names.entries()) expect(await b.meta.lookup(1, name)).toBe(100 + i);
        expect((await listDir(b, 1, 100)).map((e) => e[0])).toEqual(names);
      });

      it('putDentry on an existing name replaces its inode', async () => {
        await b.meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'f', ino: 10, cookie: 2 }] });
        await b.meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'f', ino: 11, cookie: 2 }] });
        expect(await b.meta.lookup(1, 'f')).toBe(11);
        expect(await b.meta.readdir(1, 0, 10)).toEqual([{ name: 'f', ino: 11, cookie: 2 }]);
      });
    });

    describe('readdir', () => {
      it('is empty for an unknown directory', async () => {
        expect(await b.meta.readdir(77, 0, 100)).toEqual([]);
      });

      it('orders by cookie, not by name or insertion order', async () => {
        const cookies = [50, 3, 1000, 7, 999_999_999_999, 12];
        await b.meta.commit({
          checks: [],
          ops: cookies.map((cookie, i) => ({ op: 'putDentry' as const, parent: 1, name: `n${String.fromCharCode(122 - i)}`, ino: 10 + i, cookie })),
        });
        const ents = await b.meta.readdir(1, 0, 100);
        expect(ents.map((e) => e.cookie)).toEqual([...cookies].sort((x, y) => x - y));
        for (const e of ents) expect(e.ino).toBe(10 + cookies.indexOf(e.cookie));
      });

      it('resumes strictly after a cookie and honours the limit', async () => {
        await b.meta.commit({
          checks: [],
          ops: Array.from({ length: 10 }, (_, i) => ({ op: 'putDentry' as const, parent: 1, name: `e${i}`, ino: 100 + i, cookie: 10 * (i + 1) })),
        });
        expect((await b.meta.readdir(1, 30, 3)).map((e) => e.cookie)).toEqual([40, 50, 60]);
        expect((await b.meta.readdir(1, 35, 2)).map((e) => e.cookie)).toEqual([40, 50]);
        expect(await b.meta.readdir(1, 100, 5)).toEqual([]);
        expect((await b.meta.readdir(1, 0, 1)).map((e) => e.name)).toEqual(['e0']);
        expect(await b.meta.readdir(1, 95, 100)).toEqual([{ name: 'e9', ino: 109, cookie: 100 }]);
      });

      it('pages through a large directory exactly once each', async () => {
        const n = 1000;
        const ops = Array.from({ length: n }, (_, i) => ({ op: 'putDentry' as const, parent: 5, name: `f-${i}`, ino: 1000 + i, cookie: 2 + i }));
        for (let i = 0; i < n; i += 250) await b.meta.commit({ checks: [], ops: ops.slice(i, i + 250) });
        const all = await listDir(b, 5, 7);
        expect(all.length).toBe(n);
        expect(all.map((e) => e[0])).toEqual(ops.map((o) => o.name));
        expect(new Set(all.map((e) => e[2])).size).toBe(n);
      });

      it('keeps a paged readdir stable while entries are added and removed', async () => {
        await b.meta.commit({
          checks: [],
          ops: Array.from({ length: 6 }, (_, i) => ({ op: 'putDentry' as const, parent: 1, name: `a${i}`, ino: 10 + i, cookie: 2 + i })),
        });
        const first = await b.meta.readdir(1, 0, 3); // cookies 2, 3, 4
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'delDentry', parent: 1, name: 'a0' },
            { op: 'delDentry', parent: 1, name: 'a4' },
            { op: 'putDentry', parent: 1, name: 'late', ino: 99, cookie: 50 },
          ],
        });
        const rest = await b.meta.readdir(1, first[2]!.cookie, 100);
        expect(rest.map((e) => e.name)).toEqual(['a3', 'a5', 'late']);
      });

      it('moves an entry re-put with a newer cookie, without duplicates', async () => {
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'putDentry', parent: 1, name: 'x', ino: 10, cookie: 2 },
            { op: 'putDentry', parent: 1, name: 'y', ino: 11, cookie: 3 },
          ],
        });
        await b.meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'x', ino: 12, cookie: 4 }] });
        expect(await b.meta.readdir(1, 0, 10)).toEqual([
          { name: 'y', ino: 11, cookie: 3 },
          { name: 'x', ino: 12, cookie: 4 },
        ]);
        expect(await b.meta.readdir(1, 3, 10)).toEqual([{ name: 'x', ino: 12, cookie: 4 }]);
      });
    });

    describe('commit', () => {
      it('accepts an empty transaction', async () => {
        expect(await b.meta.commit({ checks: [], ops: [] })).toBe(true);
      });

      it('applies every op of a successful transaction', async () => {
        const ok = await b.meta.commit({
          checks: [
            { parent: 1, name: 'new', ino: null },
            { parent: 1, name: 'other', ino: null },
          ],
          ops: [
            { op: 'putInode', inode: inode(10) },
            { op: 'putInode', inode: inode(11, { mode: S_IFDIR | 0o755, nlink: 2 }) },
            { op: 'putDentry', parent: 1, name: 'new', ino: 10, cookie: 2 },
            { op: 'putDentry', parent: 1, name: 'dir', ino: 11, cookie: 3 },
            { op: 'setXattr', ino: 10, name: 'user.k', value: Buffer.from('v') },
          ],
        });
        expect(ok).toBe(true);
        expect(await b.meta.getInode(10)).toEqual(inode(10));
        expect((await b.meta.getInode(11))!.nlink).toBe(2);
        expect(await b.meta.lookup(1, 'new')).toBe(10);
        expect(await b.meta.lookup(1, 'dir')).toBe(11);
        expect(await b.meta.getXattr(10, 'user.k')).toEqual(Buffer.from('v'));
        expect((await b.meta.stats()).inodes).toBe(2);
      });

      it('applies ops in order within one transaction', async () => {
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'putDentry', parent: 1, name: 'gone', ino: 10, cookie: 2 },
            { op: 'delDentry', parent: 1, name: 'gone' },
            { op: 'delDentry', parent: 1, name: 'back' },
            { op: 'putDentry', parent: 1, name: 'back', ino: 11, cookie: 3 },
            { op: 'setXattr', ino: 11, name: 'user.a', value: Buffer.from('1') },
            { op: 'delXattr', ino: 11, name: 'user.a' },
            { op: 'putInode', inode: inode(12) },
            { op: 'delInode', ino: 12 },
            { op: 'putInode', inode: inode(12, { size: 1 }) },
          ],
        });
        expect(await b.meta.lookup(1, 'gone')).toBeUndefined();
        expect(await b.meta.lookup(1, 'back')).toBe(11);
        expect(await b.meta.getXattr(11, 'user.a')).toBeUndefined();
        expect((await b.meta.getInode(12))!.size).toBe(1);
        expect((await b.meta.readdir(1, 0, 10)).map((e) => e.name)).toEqual(['back']);
      });

      it('a failed check changes nothing at all', async () => {
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'putInode', inode: inode(10) },
            { op: 'putDentry', parent: 1, name: 'taken', ino: 10, cookie: 2 },
            { op: 'putDentry', parent: 1, name: 'keep', ino: 10, cookie: 3 },
            { op: 'setXattr', ino: 10, name: 'user.x', value: Buffer.from('old') },
          ],
        });
        await b.chunks.write(10, 0, 0, Buffer.from('data'));
        const before = {
          stats: await b.meta.stats(),
          dir: await b.meta.readdir(1, 0, 100),
          inode: await b.meta.getInode(10),
          xattrs: await b.meta.listXattrs(10),
        };
        const badChecks = [
          [{ parent: 1, name: 'taken', ino: null }], // expected absent, present
          [{ parent: 1, name: 'taken', ino: 11 }], // wrong inode
          [{ parent: 1, name: 'missing', ino: 10 }], // expected present, absent
          [
            { parent: 1, name: 'fresh', ino: null }, // holds
            { parent: 1, name: 'keep', ino: 99 }, // the last check fails
          ],
        ];
        for (const checks of badChecks) {
          const ok = await b.meta.commit({
            checks,
            ops: [
              { op: 'putInode', inode: inode(20) },
              { op: 'putInode', inode: inode(10, { size: 12345 }) },
              { op: 'delInode', ino: 10 },
              { op: 'putDentry', parent: 1, name: 'fresh', ino: 20, cookie: 9 },
              { op: 'delDentry', parent: 1, name: 'keep' },
              { op: 'setXattr', ino: 10, name: 'user.x', value: Buffer.from('new') },
              { op: 'setXattr', ino: 10, name: 'user.y', value: Buffer.from('y') },
              { op: 'delXattr', ino: 10, name: 'user.x' },
            ],
          });
          expect(ok).toBe(false);
        }
        expect(await b.meta.getInode(20)).toBeUndefined();
        expect(await b.meta.getInode(10)).toEqual(before.inode);
        expect(await b.meta.lookup(1, 'fresh')).toBeUndefined();
        expect(await b.meta.readdir(1, 0, 100)).toEqual(before.dir);
        expect(await b.meta.getXattr(10, 'user.x')).toEqual(Buffer.from('old'));
        expect((await b.meta.listXattrs(10)).sort()).toEqual(before.xattrs.sort());
        expect(await b.meta.stats()).toEqual(before.stats);
      });

      it('passes checks that hold, for present and absent entries', async () => {
        await b.meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'a', ino: 10, cookie: 2 }] });
        // rename a -> b
        const ok = await b.meta.commit({
          checks: [
            { parent: 1, name: 'a', ino: 10 },
            { parent: 1, name: 'b', ino: null },
          ],
          ops: [
            { op: 'delDentry', parent: 1, name: 'a' },
            { op: 'putDentry', parent: 1, name: 'b', ino: 10, cookie: 3 },
          ],
        });
        expect(ok).toBe(true);
        expect(await b.meta.lookup(1, 'a')).toBeUndefined();
        expect(await b.meta.lookup(1, 'b')).toBe(10);
        // the same rename again must now fail
        expect(await b.meta.commit({ checks: [{ parent: 1, name: 'a', ino: 10 }], ops: [{ op: 'delDentry', parent: 1, name: 'a' }] })).toBe(false);
      });

      it('lets exactly one of two racing create-if-absent transactions win', async () => {
        for (let round = 0; round < 20; round++) {
          const name = `race-${round}`;
          const [x, y] = await Promise.all([
            b.meta.commit(createIfAbsent(1, name, 1000 + 2 * round, 10 + 2 * round)),
            b.meta.commit(createIfAbsent(1, name, 1001 + 2 * round, 11 + 2 * round)),
          ]);
          expect([x, y].filter(Boolean).length).toBe(1);
          expect(await b.meta.lookup(1, name)).toBe(x ? 1000 + 2 * round : 1001 + 2 * round);
        }
        expect((await b.meta.readdir(1, 0, 100)).length).toBe(20);
      });

      it('lets exactly one of many racers on one name win', async () => {
        const results = await Promise.all(Array.from({ length: 16 }, (_, i) => b.meta.commit(createIfAbsent(1, 'hot', 100 + i, 2 + i))));
        expect(results.filter(Boolean).length).toBe(1);
        const winner = 100 + results.indexOf(true);
        expect(await b.meta.lookup(1, 'hot')).toBe(winner);
        expect(await b.meta.readdir(1, 0, 100)).toEqual([{ name: 'hot', ino: winner, cookie: 2 + results.indexOf(true) }]);
        expect((await b.meta.stats()).inodes).toBe(1);
      });

      it('delInode also drops the xattrs of that inode only', async () => {
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'putInode', inode: inode(10) },
            { op: 'putInode', inode: inode(11) },
            { op: 'setXattr', ino: 10, name: 'user.a', value: Buffer.from('a') },
            { op: 'setXattr', ino: 11, name: 'user.a', value: Buffer.from('b') },
          ],
        });
        await b.meta.commit({ checks: [], ops: [{ op: 'delInode', ino: 10 }] });
        expect(await b.meta.listXattrs(10)).toEqual([]);
        expect(await b.meta.getXattr(10, 'user.a')).toBeUndefined();
        expect(await b.meta.getXattr(11, 'user.a')).toEqual(Buffer.from('b'));
      });
    });

    describe('xattrs', () => {
      it('keeps binary values exactly: zero bytes, all byte values, empty, 64 KiB', async () => {
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const zeros = Buffer.from([0, 0, 0, 1, 0]);
        const big = randomBytes(64 * 1024);
        const empty = Buffer.alloc(0);
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'setXattr', ino: 10, name: 'user.all', value: all },
            { op: 'setXattr', ino: 10, name: 'user.zeros', value: zeros },
            { op: 'setXattr', ino: 10, name: 'user.big', value: big },
            { op: 'setXattr', ino: 10, name: 'user.empty', value: empty },
            { op: 'setXattr', ino: 10, name: 'security.selinux', value: Buffer.from('system_u:object_r:tmp_t:s0\0') },
          ],
        });
        expect(await b.meta.getXattr(10, 'user.all')).toEqual(all);
        expect(await b.meta.getXattr(10, 'user.zeros')).toEqual(zeros);
        const gotBig = await b.meta.getXattr(10, 'user.big');
        expect(gotBig!.length).toBe(65536);
        expect(gotBig!.equals(big)).toBe(true);
        const gotEmpty = await b.meta.getXattr(10, 'user.empty');
        expect(Buffer.isBuffer(gotEmpty)).toBe(true);
        expect(gotEmpty!.length).toBe(0);
        expect(await b.meta.getXattr(10, 'security.selinux')).toEqual(Buffer.from('system_u:object_r:tmp_t:s0\0'));
        expect((await b.meta.listXattrs(10)).sort()).toEqual(['security.selinux', 'user.all', 'user.big', 'user.empty', 'user.zeros']);
      });

      it('overwrites, deletes and misses', async () => {
        expect(await b.meta.getXattr(10, 'user.a')).toBeUndefined();
        expect(await b.meta.listXattrs(10)).toEqual([]);
        await b.meta.commit({ checks: [], ops: [{ op: 'setXattr', ino: 10, name: 'user.a', value: Buffer.from('long value') }] });
        await b.meta.commit({ checks: [], ops: [{ op: 'setXattr', ino: 10, name: 'user.a', value: Buffer.from('s') }] });
        expect(await b.meta.getXattr(10, 'user.a')).toEqual(Buffer.from('s'));
        await b.meta.commit({ checks: [], ops: [{ op: 'delXattr', ino: 10, name: 'user.a' }] });
        expect(await b.meta.getXattr(10, 'user.a')).toBeUndefined();
        expect(await b.meta.listXattrs(10)).toEqual([]);
        expect(await b.meta.commit({ checks: [], ops: [{ op: 'delXattr', ino: 10, name: 'user.never' }] })).toBe(true);
      });

      it('hands out copies and keeps no alias of the caller buffer', async () => {
        const v = Buffer.from('abc');
        await b.meta.commit({ checks: [], ops: [{ op: 'setXattr', ino: 10, name: 'user.a', value: v }] });
        v[0] = 0x7a;
        const got = (await b.meta.getXattr(10, 'user.a'))!;
        expect(got.toString()).toBe('abc');
        got[1] = 0x7a;
        expect((await b.meta.getXattr(10, 'user.a'))!.toString()).toBe('abc');
      });
    });

    describe('allocIds', () => {
      it('starts at 2 or later and never hands an id out twice', async () => {
        const first = await b.meta.allocIds(1);
        expect(first).toBeGreaterThanOrEqual(2);
        const block = await b.meta.allocIds(100);
        expect(block).toBeGreaterThanOrEqual(2);
        expect(block > first || block + 100 <= first).toBe(true);
        const next = await b.meta.allocIds(1);
        expect(next >= block + 100 || next < block).toBe(true);
        expect(next).not.toBe(first);
      });

      it('hands out disjoint ranges under concurrency', async () => {
        const counts = Array.from({ length: 60 }, (_, i) => 1 + ((i * 7) % 13));
        const starts = await Promise.all(counts.map((c) => b.meta.allocIds(c)));
        const seen = new Set<number>();
        starts.forEach((s, i) => {
          expect(Number.isSafeInteger(s)).toBe(true);
          expect(s).toBeGreaterThanOrEqual(2);
          for (let id = s; id < s + counts[i]!; id++) {
            expect(seen.has(id)).toBe(false);
            seen.add(id);
          }
        });
        expect(seen.size).toBe(counts.reduce((a, c) => a + c, 0));
      });
    });

    describe('chunks', () => {
      it('has a sane chunk size', () => {
        expect(Number.isSafeInteger(b.chunks.chunkSize)).toBe(true);
        expect(b.chunks.chunkSize).toBeGreaterThanOrEqual(4096);
      });

      it('reads a missing chunk as empty', async () => {
        expect((await b.chunks.read(10, 0, 0, 100)).length).toBe(0);
        expect(await b.chunks.list(10)).toEqual([]);
      });

      it('writes and reads back, whole chunk included', async () => {
        const cs = b.chunks.chunkSize;
        const full = randomBytes(cs);
        await b.chunks.write(10, 3, 0, full);
        expect((await readAll(b, 10, 3)).equals(full)).toBe(true);
        expect((await b.chunks.read(10, 3, 100, 50)).equals(full.subarray(100, 150))).toBe(true);
        expect((await b.chunks.read(10, 3, cs - 10, 10)).equals(full.subarray(cs - 10))).toBe(true);
        await b.chunks.write(10, 4, cs - 3, Buffer.from('end'));
        const tail = await readAll(b, 10, 4);
        expect(tail.length).toBe(cs);
        expect(tail.subarray(cs - 3).toString()).toBe('end');
        expect(tail.subarray(0, cs - 3).equals(Buffer.alloc(cs - 3))).toBe(true);
      });

      it('zero-fills a gap before a write', async () => {
        await b.chunks.write(10, 0, 1000, Buffer.from('xyz'));
        const got = await readAll(b, 10, 0);
        expect(got.length).toBe(1003);
        expect(got.subarray(0, 1000).equals(Buffer.alloc(1000))).toBe(true);
        expect(got.subarray(1000).toString()).toBe('xyz');
      });

      it('overwrites part of a chunk in place', async () => {
        await b.chunks.write(10, 0, 0, Buffer.from('0123456789'));
        await b.chunks.write(10, 0, 3, Buffer.from('abc'));
        await b.chunks.write(10, 0, 8, Buffer.from('WXYZ'));
        expect((await readAll(b, 10, 0)).toString()).toBe('012abc67WXYZ');
      });

      it('returns short reads past the stored length', async () => {
        await b.chunks.write(10, 0, 0, Buffer.from('hello'));
        expect((await b.chunks.read(10, 0, 0, 100)).toString()).toBe('hello');
        expect((await b.chunks.read(10, 0, 3, 100)).toString()).toBe('lo');
        expect((await b.chunks.read(10, 0, 5, 100)).length).toBe(0);
        expect((await b.chunks.read(10, 0, 500, 10)).length).toBe(0);
        expect((await b.chunks.read(10, 0, 0, 0)).length).toBe(0);
        expect((await b.chunks.read(10, 0, 2, 0)).length).toBe(0);
        expect((await b.chunks.read(10, 0, 1, 2)).toString()).toBe('el');
      });

      it('lists existing chunks ascending, with gaps', async () => {
        for (const idx of [5, 0, 3, 17, 100]) await b.chunks.write(10, idx, 0, Buffer.from([idx]));
        await b.chunks.write(11, 2, 0, Buffer.from('other inode'));
        expect(await b.chunks.list(10)).toEqual([0, 3, 5, 17, 100]);
        expect(await b.chunks.list(11)).toEqual([2]);
        expect((await b.chunks.read(10, 1, 0, 10)).length).toBe(0); // the hole between
        expect(await b.chunks.read(10, 17, 0, 10)).toEqual(Buffer.from([17]));
      });

      it('truncates a chunk, and 0 removes it', async () => {
        await b.chunks.write(10, 0, 0, Buffer.from('abcdefgh'));
        await b.chunks.write(10, 1, 0, Buffer.from('second'));
        await b.chunks.truncate(10, 0, 3);
        expect((await readAll(b, 10, 0)).toString()).toBe('abc');
        await b.chunks.truncate(10, 1, 0);
        expect(await b.chunks.list(10)).toEqual([0]);
        expect((await readAll(b, 10, 1)).length).toBe(0);
      });

      it('never shows truncated bytes again when a chunk grows back', async () => {
        const cs = b.chunks.chunkSize;
        await b.chunks.write(10, 0, 0, Buffer.alloc(cs, 0x41));
        await b.chunks.write(10, 1, 0, Buffer.alloc(cs, 0x42));
        await b.chunks.truncate(10, 0, 10);
        await b.chunks.write(10, 0, cs - 1, Buffer.from('!'));
        const got = await readAll(b, 10, 0);
        expect(got.subarray(0, 10).equals(Buffer.alloc(10, 0x41))).toBe(true);
        expect(got.subarray(10, cs - 1).equals(Buffer.alloc(cs - 11))).toBe(true);
        await b.chunks.truncate(10, 1, 0);
        await b.chunks.write(10, 1, 100, Buffer.from('?'));
        expect((await readAll(b, 10, 1)).subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
        await b.chunks.remove(10, 0);
        await b.chunks.write(10, 0, 5, Buffer.from('.'));
        expect(await readAll(b, 10, 0)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0x2e]));
      });

      it('truncate to a length at or past the end keeps the chunk as it is', async () => {
        await b.chunks.write(10, 0, 0, Buffer.from('abc'));
        await b.chunks.truncate(10, 0, 3);
        expect((await readAll(b, 10, 0)).toString()).toBe('abc');
        await b.chunks.truncate(10, 5, 0); // a missing chunk
        expect(await b.chunks.list(10)).toEqual([0]);
      });

      it('removes ranges of chunks', async () => {
        for (let idx = 0; idx < 10; idx++) await b.chunks.write(10, idx, 0, Buffer.from(`c${idx}`));
        await b.chunks.write(11, 5, 0, Buffer.from('keep'));
        await b.chunks.remove(10, 2, 5);
        expect(await b.chunks.list(10)).toEqual([0, 1, 5, 6, 7, 8, 9]);
        await b.chunks.remove(10, 7);
        expect(await b.chunks.list(10)).toEqual([0, 1, 5, 6]);
        expect((await readAll(b, 10, 6)).toString()).toBe('c6');
        expect((await readAll(b, 10, 8)).length).toBe(0);
        await b.chunks.remove(10, 0);
        expect(await b.chunks.list(10)).toEqual([]);
        await b.chunks.remove(10, 0); // nothing left: still fine
        expect(await b.chunks.list(11)).toEqual([5]);
      });

      it('keeps the data it was given, not an alias of the caller buffer', async () => {
        const buf = Buffer.from('original');
        await b.chunks.write(10, 0, 0, buf);
        buf.fill(0x2d);
        const got = await readAll(b, 10, 0);
        expect(got.toString()).toBe('original');
        got.fill(0x2b);
        expect((await readAll(b, 10, 0)).toString()).toBe('original');
      });

      it('serves concurrent writes to different places of one file', async () => {
        const cs = b.chunks.chunkSize;
        const parts = Array.from({ length: 32 }, (_, i) => ({ idx: i % 4, off: Math.floor(i / 4) * 512, data: randomBytes(512) }));
        await Promise.all(parts.map((p) => b.chunks.write(10, p.idx, p.off, p.data)));
        for (const p of parts) expect((await b.chunks.read(10, p.idx, p.off, 512)).equals(p.data)).toBe(true);
        expect(await b.chunks.list(10)).toEqual([0, 1, 2, 3]);
        expect(cs).toBeGreaterThanOrEqual(4096);
      });
    });

    describe('stats', () => {
      it('counts inodes and stored chunk bytes', async () => {
        expect(await b.meta.stats()).toEqual({ inodes: 0, bytes: 0 });
        await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }, { op: 'putInode', inode: inode(11) }] });
        await b.meta.commit(put(inode(10, { size: 5 }))); // an overwrite is not a new inode
        expect((await b.meta.stats()).inodes).toBe(2);
        await b.chunks.write(10, 0, 0, Buffer.alloc(100, 1));
        await b.chunks.write(10, 0, 50, Buffer.alloc(100, 2)); // grows to 150
        await b.chunks.write(10, 2, 10, Buffer.alloc(10, 3)); // 20 with the gap
        expect((await b.meta.stats()).bytes).toBe(170);
        await b.chunks.truncate(10, 0, 40);
        expect((await b.meta.stats()).bytes).toBe(60);
        await b.chunks.remove(10, 0);
        await b.meta.commit({ checks: [], ops: [{ op: 'delInode', ino: 10 }, { op: 'delInode', ino: 999 }] });
        expect(await b.meta.stats()).toEqual({ inodes: 1, bytes: 0 });
      });
    });

    describe('sync', () => {
      it('resolves, also with nothing to do', async () => {
        await b.sync();
        await b.meta.commit(put(inode(10)));
        await b.chunks.write(10, 0, 0, Buffer.from('x'));
        await b.sync();
        expect(await b.meta.getInode(10)).toEqual(inode(10));
      });
    });

    describe('persistence', () => {
      it('brings everything back after close and reopen', async (ctx) => {
        if (!fx.reopen) {
          ctx.skip(`${target.name} does not persist`);
          return;
        }
        const cs = b.chunks.chunkSize;
        const big = randomBytes(64 * 1024);
        const lnk = inode(12, { mode: S_IFLNK | 0o777, target: '/some/where', atimeNs: 1_800_000_000_000_000_001n });
        await b.meta.commit({
          checks: [],
          ops: [
            { op: 'putInode', inode: inode(1, { mode: S_IFDIR | 0o755, nlink: 3 }) },
            { op: 'putInode', inode: inode(10, { size: cs + 5 }) },
            { op: 'putInode', inode: inode(11) },
            { op: 'putInode', inode: lnk },
            { op: 'putDentry', parent: 1, name: 'file', ino: 10, cookie: 30 },
            { op: 'putDentry', parent: 1, name: 'gone', ino: 11, cookie: 31 },
            { op: 'putDentry', parent: 1, name: 'link', ino: 12, cookie: 20 },
            { op: 'setXattr', ino: 10, name: 'user.big', value: big },
            { op: 'setXattr', ino: 10, name: 'user.nul', value: Buffer.from([0, 1, 0]) },
          ],
        });
        await b.meta.commit({ checks: [{ parent: 1, name: 'gone', ino: 11 }], ops: [{ op: 'delDentry', parent: 1, name: 'gone' }, { op: 'delInode', ino: 11 }] });
        const data0 = randomBytes(cs);
        await b.chunks.write(10, 0, 0, data0);
        await b.chunks.write(10, 1, 0, Buffer.from('tail!'));
        await b.chunks.write(10, 7, 10, Buffer.from('sparse'));
        await b.chunks.truncate(10, 7, 12);
        const ids = await b.meta.allocIds(50);
        const stats = await b.meta.stats();
        await b.sync();
        await b.close();

        const r = await fx.reopen();
        expect(r.chunks.chunkSize).toBe(cs);
        expect(await r.meta.getInode(1)).toEqual(inode(1, { mode: S_IFDIR | 0o755, nlink: 3 }));
        expect(await r.meta.getInode(10)).toEqual(inode(10, { size: cs + 5 }));
        expect(await r.meta.getInode(11)).toBeUndefined();
        expect(await r.meta.getInode(12)).toEqual(lnk);
        expect(await r.meta.readdir(1, 0, 10)).toEqual([
          { name: 'link', ino: 12, cookie: 20 },
          { name: 'file', ino: 10, cookie: 30 },
        ]);
        expect(await r.meta.lookup(1, 'gone')).toBeUndefined();
        expect((await r.meta.getXattr(10, 'user.big'))!.equals(big)).toBe(true);
        expect(await r.meta.getXattr(10, 'user.nul')).toEqual(Buffer.from([0, 1, 0]));
        expect(await r.chunks.list(10)).toEqual([0, 1, 7]);
        expect((await r.chunks.read(10, 0, 0, cs)).equals(data0)).toBe(true);
        expect((await r.chunks.read(10, 1, 0, cs)).toString()).toBe('tail!');
        expect(await r.chunks.read(10, 7, 0, cs)).toEqual(Buffer.from('\0'.repeat(10) + 'sp'));
        expect(await r.meta.stats()).toEqual(stats);
        const after = await r.meta.allocIds(1);
        expect(after).toBeGreaterThanOrEqual(ids + 50);
      });
    });

    describe('locks (optional LockStore)', () => {
      const rec = (gw: string, start: number): LockRecord => ({ gw, owner: `${gw}/o`, pid: 7, type: 'w', start, end: start + 9, flock: false });

      it('replaces a table by compare-and-set: a stale version changes nothing', async (ctx) => {
        const locks = b.locks;
        if (!locks) return ctx.skip('no LockStore: locks stay in the gateway process');
        const t0 = await locks.get(5);
        expect(t0.locks).toEqual([]);
        expect(await locks.put(5, t0.version, [rec(locks.gateway, 0)])).toBe(true);
        const t1 = await locks.get(5);
        expect(t1.locks).toEqual([rec(locks.gateway, 0)]);
        expect(t1.version).not.toBe(t0.version);
        expect(await locks.put(5, t0.version, [])).toBe(false);
        expect(await locks.put(5, t1.version, [rec(locks.gateway, 0), rec(locks.gateway, 20)])).toBe(true);
        const t2 = await locks.get(5);
        expect(t2.locks).toHaveLength(2);
        expect((await locks.get(6)).locks).toEqual([]);
        expect(await locks.put(5, t2.version, [])).toBe(true);
        expect((await locks.get(5)).locks).toEqual([]);
      });

      it('drops the records of a gateway that holds no lease', async (ctx) => {
        const locks = b.locks;
        if (!locks) return ctx.skip('no LockStore: locks stay in the gateway process');
        const t0 = await locks.get(8);
        expect(await locks.put(8, t0.version, [rec('ghost-gateway', 0), rec(locks.gateway, 50)])).toBe(true);
        expect((await locks.get(8)).locks).toEqual([rec(locks.gateway, 50)]);
      });
    });
  });
}
