// fcntl byte-range locks and flock locks for the posix layout, shared by every gateway of a volume
// through the backend's LockStore (one table per inode, replaced by compare-and-set), or kept in
// this process when the backend has none (memory, local: one gateway per volume).
//
// Rules (as Linux): fcntl locks of one owner never conflict with each other and are split or
// replaced where a new lock or an unlock overlaps them; a read lock conflicts with another owner's
// write lock, a write lock with any other owner's lock. flock locks are whole-file, belong to an
// open file description, and never conflict with fcntl locks.
// Owners are the kernel's lock_owner ids prefixed with this gateway's lease id, so two kernels can
// never share an owner. A waiting F_SETLKW polls with backoff and wakes early on a change from this
// gateway or (where the store pushes them) another one.
//
// Deadlocks (EDEADLK), for fcntl locks only, as Linux: a blocked F_SETLKW is recorded in the store's
// waits table (LOCK_WAITS_INO) while it waits, under its gateway's lease. Before waiting, and again
// at every poll, the requester follows the wait-for graph over the shared records: the owners
// holding what it wants, what those owners wait for, who holds that, and so on; reaching itself is a
// cycle. The request that closes a cycle fails at once, as in Linux. Two requests that each looked
// before the other's record was visible both wait, and find the cycle at their next poll: then only
// the greatest owner key on it fails, so one side gets EDEADLK and the other proceeds once it
// releases. Limits: the snapshot is not atomic (a wait that just ended can still be seen for one
// round trip); a gateway whose lease lapsed drops out of the graph with its locks; the search stops
// after MAX_DEADLK_OWNERS owners; OFD locks reach us as fcntl locks with the open file as owner and
// are checked too (Linux does not check them).
import { LOCK_WAITS_INO, type LockRecord, type LockStore, type LockTable } from '../backends/types.js';
import { errno, fsError } from './errors.js';
import { F_RDLCK, F_UNLCK, F_WRLCK, type FileLock } from './operations.js';

const WAIT_MIN_MS = 10;
const WAIT_MAX_MS = 250;
/** A compare-and-set lost this many times in a row means something is wrong with the store. */
const MAX_CAS = 1000;
/** The wait-for search gives up (no EDEADLK) after following this many owners. */
export const MAX_DEADLK_OWNERS = 64;

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

type LockWant = { type: 'r' | 'w'; start: number; end: number; flock: boolean };

const conflicts = (l: LockRecord, owner: string, want: LockWant): boolean =>
  l.flock === want.flock && l.owner !== owner && overlaps(l, want) && (want.type === 'w' || l.type === 'w');

/** The record `want` (a lock request of `owner`) conflicts with, if any. */
export function conflict(locks: LockRecord[], owner: string, want: LockWant): LockRecord | undefined {
  return locks.find((l) => conflicts(l, owner, want));
}

/** The owners whose records block `want` (a lock request of `owner`). */
export function blockers(locks: LockRecord[], owner: string, want: LockWant): string[] {
  return [...new Set(locks.filter((l) => conflicts(l, owner, want)).map((l) => l.owner))];
}

/**
 * A wait-for cycle through `me`, which is blocked by the owners `blockedBy`: `waits` holds each
 * other waiting owner's request (a record with `ino`), `tableOf` an inode's current locks. Returns
 * the owners on the cycle, `me` first, or undefined when there is none within MAX_DEADLK_OWNERS.
 * Only fcntl waits count; a flock wait has no edge, as in Linux.
 */
export async function findCycle(
  me: string,
  blockedBy: string[],
  waits: ReadonlyMap<string, LockRecord>,
  tableOf: (ino: number) => Promise<LockRecord[]>,
): Promise<string[] | undefined> {
  const seen = new Set<string>([me]);
  const paths = blockedBy.map((o) => [me, o]);
  while (paths.length > 0) {
    const path = paths.pop()!;
    const o = path[path.length - 1]!;
    if (seen.has(o)) continue;
    if (seen.size > MAX_DEADLK_OWNERS) return undefined;
    seen.add(o);
    const w = waits.get(o);
    if (!w || w.ino === undefined || w.flock) continue;
    for (const next of blockers(await tableOf(w.ino), o, { type: w.type, start: w.start, end: w.end, flock: false })) {
      if (next === me) return path;
      if (!seen.has(next)) paths.push([...path, next]);
    }
  }
  return undefined;
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
    /** Our request is in the waits table. */
    let waiting = false;
    try {
      for (let cas = 0; ; ) {
        if (signal?.aborted) throw fsError(errno.EINTR);
        const t = await this.store.get(ino);
        const blockedBy = type === undefined ? [] : blockers(t.locks, key, { type, start: lock.start, end: lock.end, flock });
        if (type !== undefined && blockedBy.length > 0) {
          if (!wait) throw fsError(errno.EAGAIN);
          if (!flock) {
            const cycle = await this.deadlock(key, blockedBy);
            // The request closing a cycle fails; of requests already waiting on one, the greatest owner.
            if (cycle && (!waiting || cycle.every((o) => o <= key))) {
              throw fsError(errno.EDEADLK, `lock on inode ${ino} would deadlock: ${cycle.join(' -> ')} -> ${key}`);
            }
            if (!waiting) {
              await this.setWait(key, { ...rec, type, ino });
              waiting = true;
            }
          }
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
    } finally {
      // Left behind (the store failing now), the record could only make a later search see a wait
      // that ended; the owner's next wait replaces it, and the gateway's lease bounds it.
      if (waiting) await this.setWait(key, undefined).catch(() => undefined);
    }
  }

  /** The wait-for cycle `key` would close by waiting for `blockedBy`, over the shared records. */
  private async deadlock(key: string, blockedBy: string[]): Promise<string[] | undefined> {
    const waits = new Map<string, LockRecord>();
    for (const w of (await this.store.get(LOCK_WAITS_INO)).locks) if (w.owner !== key) waits.set(w.owner, w);
    if (!blockedBy.some((o) => waits.has(o))) return undefined;
    const tables = new Map<number, Promise<LockRecord[]>>();
    return findCycle(key, blockedBy, waits, (ino) => {
      let t = tables.get(ino);
      if (!t) tables.set(ino, (t = this.store.get(ino).then((x) => x.locks)));
      return t;
    });
  }

  /** Records (or with undefined, removes) the request `key` is blocked on, in the waits table. */
  private async setWait(key: string, rec: LockRecord | undefined): Promise<void> {
    for (let cas = 0; cas <= MAX_CAS; cas++) {
      const t = await this.store.get(LOCK_WAITS_INO);
      const next = t.locks.filter((l) => l.owner !== key);
      if (rec) next.push(rec);
      else if (next.length === t.locks.length) return;
      if (await this.store.put(LOCK_WAITS_INO, t.version, next)) return;
    }
    throw fsError(errno.EAGAIN, 'the lock waits table keeps changing');
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
