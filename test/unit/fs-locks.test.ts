// fcntl and flock lock rules of PosixFs (src/fs/locks.ts) on the in-process lock table, and two
// gateways sharing one table as they share a redis or mongodb volume.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import type { LockStore } from '../../src/backends/types.js';
import { errno } from '../../src/fs/errors.js';
import { applyLock, LocalLockStore } from '../../src/fs/locks.js';
import { F_RDLCK, F_UNLCK, F_WRLCK, LOCK_END_MAX, type FileLock } from '../../src/fs/operations.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { errOf, mkfile, root } from './fs-helpers.js';

const lk = (type: number, start = 0, end = LOCK_END_MAX, pid = 1): FileLock => ({ type, start, end, pid });
const posix = { flock: false, wait: false };
const flock = { flock: true, wait: false };

/** A store shared by several gateways, each seeing it under its own lease id. */
function sharedStore(): (gateway: string) => LockStore {
  const table = new LocalLockStore();
  return (gateway) => ({ gateway, get: (ino) => table.get(ino), put: (ino, v, l) => table.put(ino, v, l) });
}

async function file(fs: PosixFs): Promise<number> {
  return (await mkfile(fs, 1, 'f')).ino;
}

describe('fcntl locks', () => {
  test('a write lock excludes other owners over its range only; the owner itself can relock', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const ino = await file(fs);
    await fs.setlk(root, ino, 0, 'a', lk(F_WRLCK, 0, 99), posix);
    expect(await errOf(fs.setlk(root, ino, 0, 'b', lk(F_RDLCK, 50, 60), posix))).toBe(errno.EAGAIN);
    await fs.setlk(root, ino, 0, 'b', lk(F_WRLCK, 100, 199), posix);
    await fs.setlk(root, ino, 0, 'a', lk(F_RDLCK, 0, 49), posix);
    expect(await fs.getlk(root, ino, 0, 'b', lk(F_RDLCK, 0, 49))).toMatchObject({ type: F_UNLCK });
    expect(await fs.getlk(root, ino, 0, 'b', lk(F_RDLCK, 0, 99))).toMatchObject({ type: F_WRLCK, start: 50, end: 99, pid: 1 });
  });

  test('unlocking the middle of a range splits it; a close (flush) drops all of the owner\'s locks', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const ino = await file(fs);
    await fs.setlk(root, ino, 0, 'a', lk(F_WRLCK, 0, 99), posix);
    await fs.setlk(root, ino, 0, 'a', lk(F_UNLCK, 40, 59), posix);
    await fs.setlk(root, ino, 0, 'b', lk(F_WRLCK, 40, 59), posix);
    expect(await errOf(fs.setlk(root, ino, 0, 'b', lk(F_WRLCK, 39, 39), posix))).toBe(errno.EAGAIN);
    expect(await errOf(fs.setlk(root, ino, 0, 'b', lk(F_WRLCK, 60, 60), posix))).toBe(errno.EAGAIN);
    await fs.flush(ino, 0, 'a');
    await fs.setlk(root, ino, 0, 'b', lk(F_WRLCK, 0, 99), posix);
  });

  test('adjacent ranges of one type merge, as the kernel does', () => {
    const base = { gw: 'g', owner: 'o', pid: 1, flock: false };
    let t = applyLock([], { ...base, type: 'w', start: 0, end: 9 });
    t = applyLock(t, { ...base, type: 'w', start: 10, end: 19 });
    expect(t).toEqual([{ ...base, type: 'w', start: 0, end: 19 }]);
    t = applyLock(t, { ...base, type: 'r', start: 5, end: 14 });
    expect(t.map((l) => [l.type, l.start, l.end]).sort()).toEqual([['r', 5, 14], ['w', 0, 4], ['w', 15, 19]]);
  });

  test('F_SETLKW waits until the range is free, and an abort (INTERRUPT) ends the wait with EINTR', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const ino = await file(fs);
    await fs.setlk(root, ino, 0, 'a', lk(F_WRLCK), posix);
    const waiting = fs.setlk(root, ino, 0, 'b', lk(F_WRLCK), { flock: false, wait: true });
    await new Promise((r) => setTimeout(r, 30));
    await fs.setlk(root, ino, 0, 'a', lk(F_UNLCK), posix);
    await waiting;
    const ac = new AbortController();
    const interrupted = fs.setlk(root, ino, 0, 'a', lk(F_RDLCK), { flock: false, wait: true, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    expect(await errOf(interrupted)).toBe(errno.EINTR);
  });
});

describe('flock', () => {
  test('flock and fcntl locks do not conflict; flock goes at the last close of its open file', async () => {
    const fs = new PosixFs(new MemoryBackend());
    const ino = await file(fs);
    await fs.setlk(root, ino, 0, 'file1', lk(F_WRLCK), flock);
    await fs.setlk(root, ino, 0, 'proc2', lk(F_WRLCK), posix);
    expect(await errOf(fs.setlk(root, ino, 0, 'file2', lk(F_RDLCK), flock))).toBe(errno.EAGAIN);
    await fs.flush(ino, 0, 'file1'); // fcntl owner "file1" holds nothing: the flock stays
    expect(await errOf(fs.setlk(root, ino, 0, 'file2', lk(F_RDLCK), flock))).toBe(errno.EAGAIN);
    await fs.release(ino, 0, 'file1');
    await fs.setlk(root, ino, 0, 'file2', lk(F_RDLCK), flock);
  });
});

describe('two gateways sharing a lock store', () => {
  test('equal kernel lock owners on two gateways are different owners', async () => {
    const store = sharedStore();
    const be1 = new MemoryBackend();
    const g1 = new PosixFs(Object.assign(Object.create(be1) as MemoryBackend, { locks: store('g1') }));
    const g2 = new PosixFs(Object.assign(Object.create(be1) as MemoryBackend, { locks: store('g2') }));
    const ino = await file(g1);
    await g1.setlk(root, ino, 0, 'same', lk(F_WRLCK, 0, 9, 7), posix);
    expect(await errOf(g2.setlk(root, ino, 0, 'same', lk(F_WRLCK, 0, 0), posix))).toBe(errno.EAGAIN);
    expect(await g2.getlk(root, ino, 0, 'same', lk(F_WRLCK))).toMatchObject({ type: F_WRLCK, start: 0, end: 9, pid: 0 });
    await g1.flush(ino, 0, 'same');
    await g2.setlk(root, ino, 0, 'same', lk(F_WRLCK, 0, 0), posix);
  });
});
