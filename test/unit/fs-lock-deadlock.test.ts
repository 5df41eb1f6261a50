// Deadlock detection (EDEADLK) of blocking fcntl locks (src/fs/locks.ts): the wait-for search on
// its own, then PosixFs in one gateway and in two gateways sharing a lock store (as two zusd share
// a redis or mongodb volume), including the race where both ends of a cycle are already waiting.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { LOCK_WAITS_INO, type LockRecord, type LockStore } from '../../src/backends/types.js';
import { errno } from '../../src/fs/errors.js';
import { findCycle, LocalLockStore, MAX_DEADLK_OWNERS } from '../../src/fs/locks.js';
import { F_RDLCK, F_UNLCK, F_WRLCK, LOCK_END_MAX, type FileLock } from '../../src/fs/operations.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { errOf, mkfile, root } from './fs-helpers.js';

const lk = (type: number, start = 0, end = LOCK_END_MAX, pid = 1): FileLock => ({ type, start, end, pid });
const now = { flock: false, wait: false };
const wait = { flock: false, wait: true };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles to the errno (0: granted) or stays 'pending'. */
async function state(p: Promise<number>, ms = 0): Promise<number | 'pending'> {
  return Promise.race([p, sleep(ms).then(() => 'pending' as const)]);
}

describe('findCycle (the wait-for search)', () => {
  const held = (owner: string, type: 'r' | 'w', start = 0, end = 99): LockRecord => ({ gw: 'g', owner, pid: 1, type, start, end, flock: false });
  const waitFor = (owner: string, ino: number, type: 'r' | 'w', start = 0, end = 99, flock = false): LockRecord => ({ ...held(owner, type, start, end), flock, ino });
  const tables = (t: Record<number, LockRecord[]>) => async (ino: number): Promise<LockRecord[]> => t[ino] ?? [];
  const waits = (...w: LockRecord[]): Map<string, LockRecord> => new Map(w.map((r) => [r.owner, r]));

  test('two owners, each holding what the other wants', async () => {
    // A holds inode 1 and waits for inode 2, held by B; B now asks for inode 1.
    const t = tables({ 1: [held('A', 'w')], 2: [held('B', 'w')] });
    expect(await findCycle('B', ['A'], waits(waitFor('A', 2, 'w')), t)).toEqual(['B', 'A']);
  });

  test('a longer cycle through three inodes, and the same chain without its closing edge', async () => {
    const t = tables({ 1: [held('A', 'w')], 2: [held('B', 'w')], 3: [held('C', 'r')] });
    const w = waits(waitFor('A', 2, 'r'), waitFor('B', 3, 'w'));
    // C asks for inode 1: C → A → B → C.
    expect(await findCycle('C', ['A'], w, t)).toEqual(['C', 'A', 'B']);
    // B waits for a read lock instead: C's read lock does not block it, so no cycle.
    expect(await findCycle('C', ['A'], waits(waitFor('A', 2, 'r'), waitFor('B', 3, 'r')), t)).toBeUndefined();
  });

  test('byte ranges: a wait for a range the requester does not hold is no edge back', async () => {
    const t = tables({ 1: [held('A', 'w', 0, 9)], 2: [held('B', 'w', 0, 9)] });
    expect(await findCycle('B', ['A'], waits(waitFor('A', 2, 'w', 10, 19)), t)).toBeUndefined();
    expect(await findCycle('B', ['A'], waits(waitFor('A', 2, 'w', 5, 19)), t)).toEqual(['B', 'A']);
  });

  test('an owner that does not wait ends the chain; flock waits are not edges (as in Linux)', async () => {
    const t = tables({ 1: [held('A', 'w')], 2: [held('B', 'w'), { ...held('B', 'w'), flock: true }] });
    expect(await findCycle('B', ['A'], waits(), t)).toBeUndefined();
    expect(await findCycle('B', ['A'], waits(waitFor('A', 2, 'w', 0, 99, true)), t)).toBeUndefined();
  });

  test('any one of several holders can close the cycle; a cycle not through the requester is not its deadlock', async () => {
    const t = tables({ 1: [held('A', 'r'), held('D', 'r')], 2: [held('B', 'w')], 3: [held('E', 'w')], 4: [held('D', 'w')] });
    // B wants inode 1 for writing: blocked by A (waiting for nothing) and D (waiting for inode 2, held by B).
    expect(await findCycle('B', ['A', 'D'], waits(waitFor('D', 2, 'w')), t)).toEqual(['B', 'D']);
    // D and E wait for each other; B only waits behind them.
    expect(await findCycle('B', ['D'], waits(waitFor('D', 3, 'w'), waitFor('E', 4, 'w')), t)).toBeUndefined();
  });

  test('the search is bounded', async () => {
    // A chain of owners each waiting for the next, closing back on the requester after the bound.
    const n = MAX_DEADLK_OWNERS + 5;
    const t: Record<number, LockRecord[]> = {};
    const w: LockRecord[] = [];
    for (let i = 0; i < n; i++) {
      t[i + 1] = [held(`o${i}`, 'w')];
      w.push(waitFor(`o${i}`, i + 2, 'w'));
    }
    t[n + 1] = [held('me', 'w')];
    expect(await findCycle('me', ['o0'], waits(...w), tables(t))).toBeUndefined();
    const short = waits(...w.slice(0, 3), waitFor('o3', n + 1, 'w'));
    expect(await findCycle('me', ['o0'], short, tables(t))).toEqual(['me', 'o0', 'o1', 'o2', 'o3']);
  });
});

/** Two files and a way to take locks on them as named owners. */
async function twoFiles(fs: PosixFs): Promise<[number, number]> {
  return [(await mkfile(fs, 1, 'x')).ino, (await mkfile(fs, 1, 'y')).ino];
}

describe('EDEADLK in one gateway', () => {
  test('the request that closes a cycle fails with EDEADLK; the other side gets its lock once the loser lets go', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const [x, y] = await twoFiles(fs);
    await fs.setlk(root, x, 0, 'A', lk(F_WRLCK), now);
    await fs.setlk(root, y, 0, 'B', lk(F_WRLCK), now);
    const aWaits = errOf(fs.setlk(root, y, 0, 'A', lk(F_WRLCK), wait));
    expect(await state(aWaits, 30)).toBe('pending');
    // Non-blocking: plain EAGAIN, no deadlock check (as Linux).
    expect(await errOf(fs.setlk(root, x, 0, 'B', lk(F_WRLCK), now))).toBe(errno.EAGAIN);
    expect(await errOf(fs.setlk(root, x, 0, 'B', lk(F_RDLCK, 5, 5), wait))).toBe(errno.EDEADLK);
    expect(await state(aWaits, 30)).toBe('pending');
    await fs.setlk(root, y, 0, 'B', lk(F_UNLCK), now);
    expect(await aWaits).toBe(0);
    expect(await errOf(fs.setlk(root, y, 0, 'B', lk(F_WRLCK), now))).toBe(errno.EAGAIN);
  });

  test('no EDEADLK without a cycle, for flock locks, or once the wait that made the cycle ended', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const [x, y] = await twoFiles(fs);
    await fs.setlk(root, x, 0, 'A', lk(F_WRLCK, 0, 9), now);
    await fs.setlk(root, y, 0, 'B', lk(F_WRLCK), now);
    const ac = new AbortController();
    const aWaits = errOf(fs.setlk(root, y, 0, 'A', lk(F_WRLCK), { ...wait, signal: ac.signal }));
    await sleep(20);
    // A range A does not hold: B just waits, and gets it at once.
    expect(await errOf(fs.setlk(root, x, 0, 'B', lk(F_WRLCK, 10, 19), wait))).toBe(0);
    // flock: the same two-way wait is no deadlock to the kernel either; it waits until interrupted.
    await fs.setlk(root, x, 0, 'fA', lk(F_WRLCK), { flock: true, wait: false });
    await fs.setlk(root, y, 0, 'fB', lk(F_WRLCK), { flock: true, wait: false });
    const fac = new AbortController();
    const fA = errOf(fs.setlk(root, y, 0, 'fA', lk(F_WRLCK), { flock: true, wait: true, signal: fac.signal }));
    const fbc = new AbortController();
    const fB = errOf(fs.setlk(root, x, 0, 'fB', lk(F_WRLCK), { flock: true, wait: true, signal: fbc.signal }));
    expect(await state(fB, 50)).toBe('pending');
    fac.abort();
    fbc.abort();
    expect([await fA, await fB]).toEqual([errno.EINTR, errno.EINTR]);
    // A's wait interrupted (EINTR): its record goes, and B waiting for A's range is no cycle any more.
    ac.abort();
    expect(await aWaits).toBe(errno.EINTR);
    const bc = new AbortController();
    const bWaits = errOf(fs.setlk(root, x, 0, 'B', lk(F_WRLCK, 0, 0), { ...wait, signal: bc.signal }));
    expect(await state(bWaits, 30)).toBe('pending');
    await fs.flush(x, 0, 'A');
    expect(await bWaits).toBe(0);
  });

  test('a three-owner cycle over three files', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const [x, y] = await twoFiles(fs);
    const z = (await mkfile(fs, 1, 'z')).ino;
    await fs.setlk(root, x, 0, 'A', lk(F_WRLCK), now);
    await fs.setlk(root, y, 0, 'B', lk(F_WRLCK), now);
    await fs.setlk(root, z, 0, 'C', lk(F_RDLCK), now);
    const aWaits = errOf(fs.setlk(root, y, 0, 'A', lk(F_RDLCK), wait));
    const bWaits = errOf(fs.setlk(root, z, 0, 'B', lk(F_WRLCK), wait));
    await sleep(20);
    expect(await errOf(fs.setlk(root, x, 0, 'C', lk(F_RDLCK), wait))).toBe(errno.EDEADLK);
    await fs.flush(z, 0, 'C');
    expect(await bWaits).toBe(0);
    await fs.flush(y, 0, 'B');
    await fs.flush(z, 0, 'B');
    expect(await aWaits).toBe(0);
  });
});

/** One lock table seen by several gateways, each under its own lease id, as on a shared volume. */
function sharedStore(): { as: (gateway: string) => LockStore; table: LocalLockStore } {
  const table = new LocalLockStore();
  return { table, as: (gateway) => ({ gateway, get: (ino) => table.get(ino), put: (ino, v, l) => table.put(ino, v, l) }) };
}

function gateways(): { g1: PosixFs; g2: PosixFs; table: LocalLockStore } {
  const { as, table } = sharedStore();
  const be = new MemoryBackend();
  const g1 = new PosixFs(Object.assign(Object.create(be) as MemoryBackend, { locks: as('g1') }));
  const g2 = new PosixFs(Object.assign(Object.create(be) as MemoryBackend, { locks: as('g2') }));
  return { g1, g2, table };
}

describe('EDEADLK across gateways (shared lock store)', () => {
  test('the cycle is found through the waits recorded in the store; the wait record goes when the wait ends', async () => {
    const { g1, g2, table } = gateways();
    const [x, y] = await twoFiles(g1);
    await g1.setlk(root, x, 0, 'A', lk(F_WRLCK), now);
    await g2.setlk(root, y, 0, 'A', lk(F_WRLCK), now); // the same kernel owner id on the other gateway
    const aWaits = errOf(g1.setlk(root, y, 0, 'A', lk(F_WRLCK, 0, 9), wait));
    await sleep(20);
    expect((await table.get(LOCK_WAITS_INO)).locks).toEqual([{ gw: 'g1', owner: 'g1/A', pid: 1, type: 'w', start: 0, end: 9, flock: false, ino: y }]);
    expect(await errOf(g2.setlk(root, x, 0, 'A', lk(F_WRLCK), wait))).toBe(errno.EDEADLK);
    await g2.flush(y, 0, 'A');
    expect(await aWaits).toBe(0);
    expect((await table.get(LOCK_WAITS_INO)).locks).toEqual([]);
  });

  test('both ends asking at the same moment: exactly one gets EDEADLK, the other its lock after the loser lets go', async () => {
    for (let round = 0; round < 5; round++) {
      const { g1, g2 } = gateways();
      const [x, y] = await twoFiles(g1);
      await g1.setlk(root, x, 0, 'A', lk(F_WRLCK), now);
      await g2.setlk(root, y, 0, 'B', lk(F_WRLCK), now);
      const ab = [errOf(g1.setlk(root, y, 0, 'A', lk(F_WRLCK), wait)), errOf(g2.setlk(root, x, 0, 'B', lk(F_WRLCK), wait))];
      const first = await Promise.race(ab.map((p, i) => p.then((e) => ({ i, e }))));
      expect(first.e).toBe(errno.EDEADLK);
      const other = ab[1 - first.i]!;
      expect(await state(other, 30)).toBe('pending');
      if (first.i === 0) await g1.flush(x, 0, 'A');
      else await g2.flush(y, 0, 'B');
      expect(await other).toBe(0);
    }
  });

  test('a cycle whose waits were both recorded before either search: the greatest owner fails, the other proceeds', async () => {
    const { g1, g2, table } = gateways();
    const [x, y] = await twoFiles(g1);
    await g1.setlk(root, x, 0, 'A', lk(F_WRLCK), now);
    await g2.setlk(root, y, 0, 'B', lk(F_WRLCK), now);
    // Stall both searches' first read of the waits table until both records are in.
    const orig = table.get.bind(table);
    let gate!: () => void;
    const open = new Promise<void>((r) => (gate = r));
    let reads = 0;
    table.get = async (ino) => {
      if (ino === LOCK_WAITS_INO && reads++ < 2) await open;
      return orig(ino);
    };
    const a = errOf(g1.setlk(root, y, 0, 'A', lk(F_WRLCK), wait));
    const b = errOf(g2.setlk(root, x, 0, 'B', lk(F_WRLCK), wait));
    await sleep(20);
    gate();
    // Both saw an empty waits table and recorded themselves; the next polls find the cycle.
    expect(await b).toBe(errno.EDEADLK); // 'g2/B' > 'g1/A'
    expect(await state(a, 50)).toBe('pending');
    await g2.flush(y, 0, 'B');
    expect(await a).toBe(0);
  });
});
