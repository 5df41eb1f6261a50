// fcntl byte-range locks and flock locks for the posix layout, shared by every gateway of a volume
// through the backend's LockStore (one table per inode, replaced by compare-and-set), or kept in
// this process when the backend has none (memory, local: one gateway per volume).
//
// Rules (as Linux): fcntl locks of one owner never conflict with each other and are split or
// replaced where a new lock or an unlock overlaps them; a read lock conflicts with another owner's
// write lock, a write lock with any other owner's lock. flock locks are whole-file, belong to an
// open file description, and never conflict with fcntl locks. No deadlock detection (EDEADLK).
// Owners are the kernel's lock_owner ids prefixed with this gateway's lease id, so two kernels can
// never share an owner. A waiting F_SETLKW polls with backoff and wakes early on a change from this
// gateway or (where the store pushes them) another one.
import type { LockRecord, LockStore, LockTable } from '../backends/types.js';
import { errno, fsError } from './errors.js';
import { F_RDLCK, F_UNLCK, F_WRLCK, type FileLock } from './operations.js';

const WAIT_MIN_MS = 10;
const WAIT_MAX_MS = 250;
/** A compare-and-set lost this many times in a row means something is wrong with the store. */
const MAX_CAS = 1000;

/** The in-process store for backends without one: a Map, versions counted locally. */
export class LocalLockStore implements LockStore {
  readonly gateway = 'local';
  private readonly tables = new Map<number, { v: number; locks: LockRecord[] }>();

  async get(ino: number): Promise<LockTable> {
    const t = this.tables.get(ino);
    return { version: String(t?.v ?? 0), locks: t?.locks ?? [] };
  }

  async put(ino: number, version: string, locks: LockRecord[]): Promise<boolean> {
    const v = this.tables.get(ino)?.v ?? 0;
    if (String(v) !== version) return false;
    if (locks.length === 0) this.tables.delete(ino);
    else this.tables.set(ino, { v: v + 1, locks });
    return true;
  }
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }): boolean => a.start <= b.end && b.start <= a.end;

/** The record `want` (a lock request of `owner`) conflicts with, if any. */
export function conflict(locks: LockRecord[], owner: string, want: { type: 'r' | 'w'; start: number; end: number; flock: boolean }): LockRecord | undefined {
  return locks.find((l) => l.flock === want.flock && l.owner !== owner && overlaps(l, want) && (want.type === 'w' || l.type === 'w'));
}

/** The table after `owner` sets (type r/w) or clears (undefined) [start, end]: its own records
 * of the same kind in that range are cut out (split when the range is inside one), then the new one
 * is added and merged with adjacent or overlapping records of the same type, as the kernel does. */
export function applyLock(locks: LockRecord[], rec: Omit<LockRecord, 'type'> & { type: 'r' | 'w' | undefined }): LockRecord[] {
  const out: LockRecord[] = [];
  let add: LockRecord | undefined = rec.type === undefined ? undefined : { ...rec, type: rec.type };
  for (const l of locks) {
    if (l.owner !== rec.owner || l.flock !== rec.flock) {
      out.push(l);
      continue;
    }
    // Same type and touching: absorb into the new record.
    if (add && l.type === add.type && l.start <= add.end + 1 && add.start <= l.end + 1) {
      add = { ...add, start: Math.min(add.start, l.start), end: Math.max(add.end, l.end) };
      continue;
    }
    if (!overlaps(l, rec)) {
      out.push(l);
      continue;
    }
    if (l.start < rec.start) out.push({ ...l, end: rec.start - 1 });
    if (l.end > rec.end) out.push({ ...l, start: rec.end + 1 });
  }
  if (add) out.push(add);
  return out;
}

export class FileLocks {
  /** Owners holding locks through this gateway, per inode: a close that holds none costs no round trip. */
  private readonly held = new Map<number, Set<string>>();
  private readonly waiters = new Map<number, Set<() => void>>();
  private readonly unwatch: (() => void) | undefined;

  constructor(readonly store: LockStore) {
    this.unwatch = store.watch?.((ino) => this.wake(ino));
  }

  private key(owner: string): string {
    return `${this.store.gateway}/${owner}`;
  }

  async getlk(ino: number, owner: string, lock: FileLock, flock = false): Promise<FileLock> {
    const t = await this.store.get(ino);
    const c = conflict(t.locks, this.key(owner), { type: lock.type === F_WRLCK ? 'w' : 'r', start: lock.start, end: lock.end, flock });
    if (!c) return { type: F_UNLCK, start: 0, end: 0, pid: 0 };
    return { type: c.type === 'w' ? F_WRLCK : F_RDLCK, start: c.start, end: c.end, pid: c.gw === this.store.gateway ? c.pid : 0 };
  }

  async setlk(ino: number, owner: string, lock: FileLock, flock: boolean, wait: boolean, signal?: AbortSignal): Promise<void> {
    if (lock.type !== F_RDLCK && lock.type !== F_WRLCK && lock.type !== F_UNLCK) throw fsError(errno.EINVAL, `lock type ${lock.type}`);
    if (!(lock.start >= 0 && lock.end >= lock.start)) throw fsError(errno.EINVAL, `lock range ${lock.start}..${lock.end}`);
    const key = this.key(owner);
    const type = lock.type === F_UNLCK ? undefined : lock.type === F_WRLCK ? 'w' : 'r';
    const rec = { gw: this.store.gateway, owner: key, pid: lock.pid, type, start: lock.start, end: lock.end, flock } as const;
    let backoff = WAIT_MIN_MS;
    for (let cas = 0; ; ) {
      if (signal?.aborted) throw fsError(errno.EINTR);
      const t = await this.store.get(ino);
      if (type !== undefined && conflict(t.locks, key, { type, start: lock.start, end: lock.end, flock })) {
        if (!wait) throw fsError(errno.EAGAIN);
        await this.sleep(ino, backoff, signal);
        backoff = Math.min(WAIT_MAX_MS, backoff * 2);
        continue;
      }
      const next = applyLock(t.locks, rec);
      if (type === undefined && next.length === t.locks.length && next.every((l, i) => l === t.locks[i])) return;
      if (await this.store.put(ino, t.version, next)) {
        this.note(ino, key, next);
        if (type !== 'w') this.wake(ino);
        return;
      }
      if (++cas > MAX_CAS) throw fsError(errno.EAGAIN, `lock table of inode ${ino} keeps changing`);
    }
  }

  /** Drops every lock `owner` holds on `ino` (fcntl locks at any close, flock at the last). */
  async releaseOwner(ino: number, owner: string, flock: boolean): Promise<void> {
    const key = this.key(owner);
    if (!this.held.get(ino)?.has(key)) return;
    for (let cas = 0; cas <= MAX_CAS; cas++) {
      const t = await this.store.get(ino);
      const next = t.locks.filter((l) => l.owner !== key || l.flock !== flock);
      if (next.length === t.locks.length || (await this.store.put(ino, t.version, next))) {
        this.note(ino, key, next);
        this.wake(ino);
        return;
      }
    }
    throw fsError(errno.EAGAIN, `lock table of inode ${ino} keeps changing`);
  }

  private note(ino: number, key: string, table: LockRecord[]): void {
    const has = table.some((l) => l.owner === key);
    let s = this.held.get(ino);
    if (has) {
      if (!s) this.held.set(ino, (s = new Set()));
      s.add(key);
    } else if (s) {
      s.delete(key);
      if (s.size === 0) this.held.delete(ino);
    }
  }

  private wake(ino: number): void {
    const w = this.waiters.get(ino);
    if (!w) return;
    this.waiters.delete(ino);
    for (const f of w) f();
  }

  private sleep(ino: number, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(ino);
      if (!set) this.waiters.set(ino, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        set!.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  close(): void {
    this.unwatch?.();
    for (const ino of [...this.waiters.keys()]) this.wake(ino);
  }
}
