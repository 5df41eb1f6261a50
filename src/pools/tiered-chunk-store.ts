// The t1/t2 cache tier in front of a backend's ChunkStore. Reads are served from t1, then t2
// (promoted back to t1 with no store request), then the store (filling t1). t1 evictions (2Q,
// cache-policy.ts) spill to t2, whose own LRU evictions are dropped. With write-back, writes land
// in t1 as dirty chunks that a flusher uploads after a short delay, within a dirty budget that makes
// writers wait when full; sync() journals the dirty bytes on t1 (journal.ts) and returns without
// uploading them, and the next open replays the journal onto the store before serving. Without
// write-back, writes go to the store first and then update the cached copy.
//
// Consistency rules (each is what a test checks):
// - Only clean chunks are evicted or spilled. Dirty ones are pinned in t1, and so are chunks of an
//   inode with journal records whose newest bytes are not journaled yet: fsync journals them (the
//   store's own sync is not enough, since a replay re-applies the older records over the store).
// - truncate/remove reach the store at once, after the uploads of that inode in flight and before any
//   later one (a per-inode barrier), cut or drop the cached and dirty copies, and are journaled when
//   the inode has journal records, so a replay cannot bring back cut bytes. A fill from the store that
//   overlapped a truncate/remove of its inode is not cached.
// - list() adds the chunks that exist only as dirty t1 chunks.
// - The journal is reset only when every dirty chunk of a journaled inode is uploaded and the
//   store has synced; it is also reset after each replay and when write-back goes idle.
// - t1/t2 contents do not outlive the process: a mount starts cold (after the replay).
// - zuf NIO (the kernel reads t1 slots directly, t1Blocks()): past a chunk's cached length its slot
//   holds zeros to the end of that page (fill, write, truncate, rebase keep it so), and onRevoke
//   is called before a slot stops holding its chunk (eviction, drop, rebase onto a peer's bytes).
//   Pages mapped for writing past the chunk's length are zeroed when mapped (they read as holes).
//   With write-back the kernel may also write a slot it was given for writing, and then hands the
//   bytes over with placed(); they count only if the slot was not revoked in between (else the
//   kernel writes them again through write()). Until then they are nobody's: a clean chunk evicted
//   in that window may carry them to t2, where the kernel's rewrite finds and keeps them.
//
// Several gateways on one volume (chunk keys are (ino, idx), not versioned, so a peer's write
// makes cached bytes stale). Close-to-open by construction, with no change feed needed:
// - The store's record of a file changes after its bytes do: with write-through a write reaches the
//   store before its inode commit; with write-back, settleInode() at close uploads the file's dirty
//   chunks and tells the caller to commit a new ctime when bytes landed after the last commit.
// - Every inode record this gateway reads or commits goes through TieredBackend.meta, which keeps
//   the record's stamp (size, mtime, ctime). A record read with another stamp than the last one
//   seen (or none seen) means another gateway changed the file: its clean chunks (t1, t2, holes)
//   are dropped before the read returns, so an open after the peer's close serves the peer's bytes.
// - The change feed (meta.watch), when the store has one, does the same between opens.
// - A dirty chunk is this gateway's unflushed write: it is rebased instead of dropped (the store's
//   current bytes with ours over them in [upLo, upHi)), and ours overwrite the peer's there at
//   upload: last writer at flush wins, per byte range, logged as a conflict and counted. The cached
//   copy always equals what the store will hold after the upload, never a mix nobody wrote.
// - A journal replay bumps the ctime of every replayed inode, so peers drop what they cached.
//
// Locking: a chunk mutex per (ino, idx) serializes everything touching that chunk in t1/t2; its
// holder never waits for an inode barrier, and an inode barrier's holder takes chunk mutexes, so
// the two cannot deadlock. Eviction only takes chunk mutexes that are free.
import type { Logger } from 'pino';
import type { Backend, ChunkStore, InodeRecord, LockStore, MetaChange, MetaStore } from '../backends/types.js';
import { nowNs } from '../fs/clock.js';
import { errno, fsError } from '../fs/errors.js';
import { LruPolicy, TwoQueuePolicy } from './cache-policy.js';
import { openTiers, type OpenTiersOptions, type Tiers, type TiersConfig } from './format.js';
import type { JournalRecord } from './journal.js';
import { ZUFS_DT_BLOCK_SIZE } from './device-table.js';

type Log = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;

export interface TieredOptions {
  /** Writes land in t1 and are uploaded later (true), or go to the store first (false). */
  writeback: boolean;
  /** Bytes of dirty chunks allowed before writers wait. Default: half of t1. */
  dirtyMaxBytes?: number;
  /** How long a dirty chunk waits for more writes before its upload starts. Default 50 ms. */
  flushDelayMs?: number;
  /** Uploads in flight at once. Default 8. */
  flushConcurrency?: number;
  /** First retry delay after a failed upload, doubling up to 5 s. Default 100 ms. */
  retryBaseMs?: number;
  log?: Log;
}

export interface TierStats {
  writeback: boolean;
  chunkBytes: number;
  t1: { slots: number; used: number; hits: number; evictions: number };
  t2: { slots: number; used: number; hits: number; spills: number; evictions: number } | null;
  misses: number;
  storeReads: number;
  storeWrites: number;
  storeTruncates: number;
  uploadErrors: number;
  dirtyChunks: number;
  dirtyBytes: number;
  dirtyMaxBytes: number;
  writebackWaits: number;
  /** Another gateway changed a cached file: inode invalidations that found cached chunks, the
   * clean chunks dropped, and dirty chunks rebased under this gateway's unflushed bytes. */
  invalidations: { inodes: number; chunks: number; conflicts: number };
  journal: { bytes: number; usedBytes: number; records: number; appended: number; checkpoints: number; replayed: number };
}

interface Entry {
  readonly ino: number;
  readonly idx: number;
  readonly key: string;
  where: 't1' | 't2' | 'hole' | 'gone'; // 'hole': the store has no such chunk (no slot)
  slot: number;
  len: number; // stored length of the chunk
  dirty: boolean;
  uploading: boolean;
  dirtyAt: number;
  retryAt: number; // after a failed upload: not before this time, even when urgent
  upLo: number; // [upLo, upHi): bytes not uploaded yet
  upHi: number;
  jLo: number; // [jLo, jHi): bytes changed since the last journal record or checkpoint
  jHi: number;
  gen: number; // write generation of its last write
  nioWritable: boolean; // zuf NIO: the kernel may write its slot (t1Blocks for writing), until revoked
  mmapOpen: Set<number> | null; // zuf NIO: its pages a shared mapping may store into (kept in t1)
}

interface InoState {
  readonly entries: Map<number, Entry>;
  readonly inflight: Set<Promise<void>>; // uploads between snapshot and store reply
  barrier: Promise<void> | null; // the truncate/remove in progress
  pending: number; // truncates/removes started and not finished
  fills: number; // reads from the store in progress (they hold on to this state)
  gen: number; // bumped at the start and the end of each truncate/remove
}

/** Mutexes by key; `isLocked` lets eviction skip busy chunks without waiting. */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();
  isLocked(key: string): boolean {
    return this.tails.has(key);
  }
  async lock(key: string): Promise<() => void> {
    const prev = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev ? prev.then(() => mine) : mine;
    this.tails.set(key, tail);
    if (prev) await prev;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
  /** Locks a free key synchronously. */
  lockFree(key: string): () => void {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.tails.set(key, mine);
    return () => {
      release();
      if (this.tails.get(key) === mine) this.tails.delete(key);
    };
  }
}

/** Counts dirty chunks; acquire() waits while the budget is full. */
class DirtyBudget {
  count = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(readonly max: number) {}
  get waiting(): number {
    return this.waiters.length;
  }
  /** True if it had to wait. */
  async acquire(): Promise<boolean> {
    if (this.count < this.max) {
      this.count++;
      return false;
    }
    await new Promise<void>((r) => this.waiters.push(r));
    return true;
  }
  /** Takes one over the budget (a chunk that turned dirty without a reservation). */
  force(): void {
    this.count++;
  }
  release(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.count--;
  }
}

const EMPTY_LO = Number.POSITIVE_INFINITY;
const PAGE = ZUFS_DT_BLOCK_SIZE;
const keyOf = (ino: number, idx: number): string => `${ino}:${idx}`;
const MAX_UPLOAD_BACKOFF_MS = 5000;
const DRAIN_ERROR_LIMIT = 5;

/** What sync() and open() need of the wrapped backend (meta: for the ctime bump after a replay). */
export interface InnerStore {
  readonly chunks: ChunkStore;
  readonly meta?: MetaStore;
  sync(): Promise<void>;
}

/** What an inode record says about its file's bytes: it changes whenever they do (see the header). */
const stampOf = (r: InodeRecord): string => `${r.size}:${r.mtimeNs}:${r.ctimeNs}`;

export class TieredChunkStore implements ChunkStore {
  readonly chunkSize: number;
  /** zuf NIO only: the t1 slot of chunk (ino, idx) is about to stop holding it (or its bytes to
   * change under the kernel): the kernel's map of it must go first. Must not throw. */
  onRevoke: ((ino: number, idx: number) => void) | undefined;
  private readonly inner: ChunkStore;
  private readonly entries = new Map<string, Entry>();
  private readonly inos = new Map<number, InoState>();
  private readonly locks = new KeyedMutex();
  private readonly t1Policy: TwoQueuePolicy<string>;
  private readonly t2Policy = new LruPolicy<string>();
  private readonly dirty = new Set<Entry>();
  private readonly budget: DirtyBudget;
  // Inodes with records in the current journal epoch. Any newer bytes of such an inode must be
  // journaled too, not just left to the store's sync: a replay re-applies the older records (a
  // write, a truncate, a remove of the chunk) over whatever the store holds. Per inode, not per
  // chunk, because a remove record covers a range of chunks.
  private readonly journaledInos = new Set<number>();
  private readonly jSpans = new Set<Entry>(); // entries with a non-empty journal span
  private readonly holes = new Map<string, Entry>(); // known-absent chunks, least recently used first
  private readonly maxHoles: number;
  private readonly progress: (() => void)[] = [];
  private readonly writeback: boolean;
  private readonly flushDelayMs: number;
  private readonly flushConcurrency: number;
  private readonly retryBaseMs: number;
  private failStreak = 0; // failed uploads since the last one that succeeded
  private flushTimerAt = 0;
  private readonly log: Log | undefined;
  private active = 0;
  private gen = 0;
  private draining = 0;
  private uploadFailures = 0;
  private lastUploadError: unknown;
  private journalLock: Promise<unknown> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  // Peer gateways: the last record stamp seen per inode (bounded, oldest first out), inode
  // invalidations in progress, and inodes with bytes that reached the store after the last
  // commit of their record began (sequence numbers from `seq`).
  private readonly stamps = new Map<number, string>();
  private readonly maxStamps: number;
  private readonly invalidating = new Map<number, Promise<void>>();
  private readonly invalidateNext = new Map<number, Promise<void>>();
  private readonly landed = new Map<number, number>();
  private seq = 0;
  private readonly c = {
    t1Hits: 0,
    t2Hits: 0,
    misses: 0,
    evictions: 0,
    spills: 0,
    t2Evictions: 0,
    storeReads: 0,
    storeWrites: 0,
    storeTruncates: 0,
    uploadErrors: 0,
    writebackWaits: 0,
    appended: 0,
    checkpoints: 0,
    replayed: 0,
    invalidations: 0,
    invalidatedChunks: 0,
    conflicts: 0,
  };

  /** The tiers have t2. */
  get hasT2(): boolean {
    return this.tiers.t2 !== undefined;
  }

  /** Writes land in t1 and are uploaded later (zuf maps t1 for writing only then). */
  get writesBack(): boolean {
    return this.writeback;
  }

  private constructor(
    private readonly backend: InnerStore,
    private readonly tiers: Tiers,
    opts: TieredOptions,
  ) {
    this.inner = backend.chunks;
    this.chunkSize = backend.chunks.chunkSize;
    if (tiers.t1.slotSize < this.chunkSize) throw fsError(errno.EINVAL, `t1 slots of ${tiers.t1.slotSize} bytes cannot hold ${this.chunkSize}-byte chunks`);
    if (tiers.t1.slots < 4) throw fsError(errno.ENOSPC, `t1 holds only ${tiers.t1.slots} chunks of ${this.chunkSize} bytes: make it larger or the chunk size smaller`);
    this.writeback = opts.writeback;
    this.flushDelayMs = opts.flushDelayMs ?? 50;
    this.flushConcurrency = opts.flushConcurrency ?? 8;
    this.retryBaseMs = opts.retryBaseMs ?? 100;
    this.log = opts.log;
    this.t1Policy = new TwoQueuePolicy(tiers.t1.slots);
    this.maxHoles = Math.max(1024, tiers.t1.slots);
    this.maxStamps = Math.max(4096, 4 * tiers.t1.slots);
    const slotBytes = tiers.t1.slotSize;
    const max = Math.floor((opts.dirtyMaxBytes ?? (tiers.t1.slots * slotBytes) / 2) / slotBytes);
    this.budget = new DirtyBudget(Math.max(1, Math.min(max, tiers.t1.slots - 2)));
  }

  /** Replays the journal of `tiers` onto `backend` (then syncs it and resets the journal), and
   * returns a store ready to serve. */
  static async open(backend: InnerStore, tiers: Tiers, opts: TieredOptions): Promise<TieredChunkStore> {
    const s = new TieredChunkStore(backend, tiers, opts);
    await s.replay();
    return s;
  }

  private async replay(): Promise<void> {
    const recs = this.tiers.journal.load();
    for (const r of recs) await this.applyToStore(r);
    if (recs.length > 0) {
      await this.backend.sync();
      this.log?.info({ records: recs.length }, 'write-back journal replayed onto the store');
    }
    await this.tiers.journal.reset();
    this.c.replayed = recs.length;
    await this.announceReplay(recs);
  }

  /** Replayed bytes reached the store with no commit of their inode after them: commit a new ctime
   * for each, so other gateways see a changed record at their next open and drop their copies.
   * (A read-modify-write of the record: a peer's change of the same record in between is lost,
   * as with any two gateways changing one inode at once.) */
  private async announceReplay(recs: JournalRecord[]): Promise<void> {
    const meta = this.backend.meta;
    if (!meta) return;
    for (const ino of new Set(recs.map((r) => r.ino))) {
      try {
        const rec = await meta.getInode(ino);
        if (rec) await meta.commit({ checks: [], ops: [{ op: 'putInode', inode: { ...rec, ctimeNs: nowNs() } }] });
      } catch (err) {
        this.log?.warn({ err, ino }, 'could not announce a replayed file to other gateways');
      }
    }
  }

  private applyToStore(r: JournalRecord): Promise<void> {
    switch (r.type) {
      case 'write':
        return this.inner.write(r.ino, r.idx, r.off, r.data);
      case 'truncate':
        return this.inner.truncate(r.ino, r.idx, r.len);
      case 'remove':
        return this.inner.remove(r.ino, r.fromIdx, r.toIdx);
    }
  }

  // ---- ChunkStore ----

  async read(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    this.checkOpen();
    if (len <= 0 || off >= this.chunkSize) return Buffer.alloc(0);
    const key = keyOf(ino, idx);
    const release = await this.locks.lock(key);
    try {
      const r = await this.resident(ino, idx, key, 'read');
      if (r === null || r === 'retry') return Buffer.alloc(0);
      if (Buffer.isBuffer(r)) return Buffer.from(r.subarray(off, Math.min(r.length, off + len)));
      if (off >= r.len) return Buffer.alloc(0);
      return Buffer.from(this.tiers.t1.view(r.slot).subarray(off, Math.min(r.len, off + len)));
    } finally {
      release();
    }
  }

  /**
   * zuf NIO: makes the chunk resident in t1 as read() would and answers, for pages
   * [firstPage, firstPage + count) of the chunk, the t1 block (4 KiB units from the start of the
   * t1 device) holding each, or 0 for a page not mapped (a hole, a page at or past the cached
   * length, a fill that overlapped a truncate). One t1 member only.
   */
  async t1Blocks(ino: number, idx: number, firstPage: number, count: number, write = false): Promise<number[]> {
    this.checkOpen();
    const out = new Array<number>(count).fill(0);
    if (write && !this.writeback) return out; // write-through: every write goes to the store first
    const key = keyOf(ino, idx);
    const release = await this.locks.lock(key);
    try {
      const r = await this.resident(ino, idx, key, write ? 'write' : 'read');
      if (r === null || r === 'retry' || Buffer.isBuffer(r)) return out;
      const base = this.tiers.t1.deviceOffset(r.slot) / PAGE;
      if (write) {
        // every page asked, past the chunk's length too: those are zeroed now, so a page the kernel
        // keeps mapped reads as the hole it is if the file grows past it in another chunk
        const from = Math.max(Math.ceil(r.len / PAGE), firstPage) * PAGE;
        const to = (firstPage + count) * PAGE;
        if (to > from) this.tiers.t1.view(r.slot).fill(0, from, to);
        r.nioWritable = true;
      }
      for (let i = 0; i < count; i++) if (write || (firstPage + i) * PAGE < r.len) out[i] = base + firstPage + i;
      return out;
    } finally {
      release();
    }
  }

  async write(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    this.checkOpen();
    const end = off + data.length;
    if (!Number.isSafeInteger(off) || off < 0 || end > this.chunkSize) throw new RangeError(`chunk write [${off}, ${end}) outside chunk`);
    const key = keyOf(ino, idx);
    if (!this.writeback) return this.writeThrough(ino, idx, key, off, data);
    for (;;) {
      let reserved = await this.reserveDirty(key);
      await this.settled(ino);
      const release = await this.locks.lock(key);
      try {
        const full = off === 0 && data.length === this.chunkSize;
        const r = await this.resident(ino, idx, key, full ? 'overwrite' : 'write');
        if (r === 'retry' || r === null || Buffer.isBuffer(r)) continue;
        this.apply(r, off, data);
        if (this.dirtied(r, reserved)) reserved = false;
        return;
      } finally {
        release();
        if (reserved) this.budget.release();
      }
    }
  }

  /**
   * zuf NIO writes: the kernel wrote bytes [off, off + len) of the chunk straight into t1, at byte
   * `at` of the device, in pages t1Blocks(write) gave it. Makes them the chunk's, as write() would,
   * and returns true; false when they are not (the slot was revoked first, or `at` is not where
   * the chunk's slot holds `off`): the caller writes them again with write(). `mmap`: the bytes are
   * a shared mapping's; 'open' keeps the chunk in t1 (not evictable) until those pages are
   * committed ('commit') or revoked.
   */
  async placed(ino: number, idx: number, off: number, len: number, at: number, mmap?: 'open' | 'commit'): Promise<boolean> {
    this.checkOpen();
    const end = off + len;
    if (!Number.isSafeInteger(off) || off < 0 || len <= 0 || end > this.chunkSize) throw new RangeError(`chunk write [${off}, ${end}) outside chunk`);
    const key = keyOf(ino, idx);
    if (!this.writeback || !this.entries.get(key)?.nioWritable) return false;
    let reserved = await this.reserveDirty(key);
    await this.settled(ino);
    const release = await this.locks.lock(key);
    try {
      const e = this.entries.get(key);
      if (e?.where !== 't1' || !e.nioWritable || this.tiers.t1.deviceOffset(e.slot) + off !== at) return false;
      this.apply(e, off, len);
      if (this.dirtied(e, reserved)) reserved = false;
      if (mmap) {
        const pages = (e.mmapOpen ??= new Set());
        for (let p = Math.floor(off / PAGE); p * PAGE < end; p++) (mmap === 'open' ? pages.add(p) : pages.delete(p));
        if (pages.size === 0) e.mmapOpen = null;
      }
      return true;
    } finally {
      release();
      if (reserved) this.budget.release();
    }
  }

  /** A dirty-budget place for a write to chunk `key` unless it is dirty already (true: reserved). */
  private async reserveDirty(key: string): Promise<boolean> {
    if (this.entries.get(key)?.dirty) return false;
    const got = this.budget.acquire();
    if (this.budget.waiting > 0) this.pump(); // a writer waits: every dirty chunk is due now
    if (await got) this.c.writebackWaits++;
    return true;
  }

  /** A write landed in `e`: it is dirty now, on the writer's reserved budget place or a forced one.
   * True when the reservation was used. */
  private dirtied(e: Entry, reserved: boolean): boolean {
    let used = false;
    if (!e.dirty) {
      e.dirty = true;
      e.dirtyAt = Date.now();
      this.dirty.add(e);
      if (reserved) used = true;
      else this.budget.force();
    }
    this.pump();
    return used;
  }

  async truncate(ino: number, idx: number, len: number): Promise<void> {
    this.checkOpen();
    await this.destructive(
      ino,
      (i) => i === idx,
      (e) => {
        if (len <= 0 || e.where !== 't1') return this.drop(e);
        if (e.mmapOpen) for (const p of e.mmapOpen) if (p * PAGE >= len) e.mmapOpen.delete(p);
        if (e.mmapOpen?.size === 0) e.mmapOpen = null;
        if (len >= e.len) return;
        this.zeroPast(this.tiers.t1.view(e.slot), len, e.len);
        e.len = len;
        if (e.upHi > len) e.upHi = len;
        if (e.upLo >= e.upHi) [e.upLo, e.upHi] = [EMPTY_LO, 0];
        if (e.jHi > len) e.jHi = len;
        if (e.jLo >= e.jHi) this.clearJournalSpan(e);
        if (e.dirty && !e.uploading && e.upHi === 0) this.markClean(e);
      },
      () => this.inner.truncate(ino, idx, len),
      { type: 'truncate', ino, idx, len },
    );
  }

  async remove(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    this.checkOpen();
    const to = toIdx ?? Number.POSITIVE_INFINITY;
    await this.destructive(
      ino,
      (i) => i >= fromIdx && i < to,
      (e) => this.drop(e),
      () => this.inner.remove(ino, fromIdx, toIdx),
      toIdx === undefined ? { type: 'remove', ino, fromIdx } : { type: 'remove', ino, fromIdx, toIdx },
    );
  }

  /**
   * Another gateway changed the file: forgets its clean cached chunks (t1, t2 and holes), so the
   * next reads go to the store. Dirty chunks are this gateway's newer, unflushed writes: each is
   * rebased on the store's current bytes with ours kept over them where we wrote (see the header).
   * Calls for one inode share one pass.
   */
  invalidate(ino: number): Promise<void> {
    this.checkOpen();
    const running = this.invalidating.get(ino);
    if (running) {
      // Chunks filled during a pass are not cached, but one change may come after its cut: one
      // more pass then, shared by every call meanwhile.
      let next = this.invalidateNext.get(ino);
      if (!next) {
        next = running.then(() => {
          this.invalidateNext.delete(ino);
          return this.invalidate(ino);
        });
        this.invalidateNext.set(ino, next);
      }
      return next;
    }
    if (!this.inos.has(ino)) return Promise.resolve();
    const p = this.invalidatePass(ino).finally(() => {
      if (this.invalidating.get(ino) === p) this.invalidating.delete(ino);
    });
    this.invalidating.set(ino, p);
    return p;
  }

  private async invalidatePass(ino: number): Promise<void> {
    let dropped = 0;
    const conflicts: number[] = [];
    await this.destructive(
      ino,
      () => true,
      async (e) => {
        if (e.where === 't1' && (e.dirty || e.uploading)) {
          await this.rebase(e);
          conflicts.push(e.idx);
        } else {
          this.drop(e);
          dropped++;
        }
      },
      null,
      null,
    );
    if (dropped + conflicts.length > 0) this.c.invalidations++;
    this.c.invalidatedChunks += dropped;
    this.c.conflicts += conflicts.length;
    if (conflicts.length > 0) {
      this.log?.warn(
        { ino, chunks: conflicts },
        'another gateway changed a file this gateway has unflushed writes to: ours overwrite theirs where we wrote (last writer at flush wins)',
      );
    }
  }

  /** invalidate() for every inode with cached chunks (the change feed may have missed changes). */
  async invalidateAll(): Promise<void> {
    this.checkOpen();
    await Promise.all([...this.inos.keys()].map((ino) => this.invalidate(ino)));
  }

  /** The store's current bytes of a dirty chunk with this gateway's not yet uploaded ones over
   * them: what the store will hold once the upload is done. Chunk mutex held, no upload of the
   * inode between snapshot and reply (the caller's barrier). */
  private async rebase(e: Entry): Promise<void> {
    const stored = await this.inner.read(e.ino, e.idx, 0, this.chunkSize);
    this.c.storeReads++;
    this.revoke(e);
    const v = this.tiers.t1.view(e.slot);
    const oldLen = e.len;
    const lo = e.upLo;
    const hi = Math.min(e.upHi, e.len);
    const mine = lo < hi ? Buffer.from(v.subarray(lo, hi)) : null;
    const len = mine ? Math.max(stored.length, hi) : stored.length;
    stored.copy(v, 0);
    if (stored.length < len) v.fill(0, stored.length, len);
    if (mine) mine.copy(v, lo);
    this.zeroPast(v, len, oldLen);
    e.len = len;
    if (e.jHi > len) e.jHi = len;
    if (e.jLo >= e.jHi) this.clearJournalSpan(e);
  }

  // ---- peer gateways (TieredBackend.meta calls these) ----

  /** A record of `ino` was read from the store: when its stamp differs from the last one seen (or
   * none was), another gateway changed the file, and the cached chunks go before this returns. */
  async observe(rec: InodeRecord): Promise<void> {
    if (this.closed) return;
    const stamp = stampOf(rec);
    if (this.stamps.get(rec.ino) === stamp) {
      await this.invalidating.get(rec.ino);
      return;
    }
    this.setStamp(rec.ino, stamp);
    await this.invalidate(rec.ino);
  }

  /** A commit is about to start: returns its sequence number for committed(). */
  commitStarting(): number {
    return ++this.seq;
  }

  /** This gateway committed `rec` (in a commit that started at `seq`). */
  committed(rec: InodeRecord, seq: number): void {
    this.setStamp(rec.ino, stampOf(rec));
    if ((this.landed.get(rec.ino) ?? seq) < seq) this.landed.delete(rec.ino);
  }

  /** This gateway deleted the inode's record. */
  deleted(ino: number): void {
    this.stamps.delete(ino);
    this.landed.delete(ino);
  }

  /**
   * For a close: uploads the dirty chunks of `ino` now (not the others). Returns true when some of
   * its bytes reached the store after its record's last commit began: the caller commits a new
   * ctime then, or another gateway could keep bytes it cached in between (see the header).
   */
  async settleInode(ino: number): Promise<boolean> {
    this.checkOpen();
    const st = this.inos.get(ino);
    if (this.writeback && st) {
      const mine = [...st.entries.values()].filter((e) => e.dirty);
      if (mine.length > 0) {
        for (const e of mine) e.dirtyAt = 0; // due now
        await this.waitUntil(() => !mine.some((e) => e.dirty && this.entries.get(e.key) === e), false);
      }
    }
    return this.landed.has(ino);
  }

  private setStamp(ino: number, stamp: string): void {
    if (!this.stamps.has(ino) && this.stamps.size >= this.maxStamps) {
      const oldest = this.stamps.keys().next();
      if (!oldest.done) this.stamps.delete(oldest.value);
    }
    this.stamps.set(ino, stamp);
  }

  private markLanded(ino: number): void {
    this.landed.set(ino, ++this.seq);
  }

  async list(ino: number): Promise<number[]> {
    this.checkOpen();
    const stored = await this.inner.list(ino);
    const st = this.inos.get(ino);
    if (!st) return stored;
    const all = new Set(stored);
    let added = false;
    for (const e of st.entries.values()) {
      if ((e.dirty || e.uploading) && !all.has(e.idx)) {
        all.add(e.idx);
        added = true;
      }
    }
    return added ? [...all].sort((a, b) => a - b) : stored;
  }

  // ---- durability ----

  /** Makes every write acknowledged so far durable: journaled on t1 (write-back) or in the store,
   * then syncs the store (for what was already uploaded, and for the metadata). */
  async sync(): Promise<void> {
    this.checkOpen();
    if (!this.writeback) return this.backend.sync();
    const full = await this.withJournal(async () => {
      const j = this.tiers.journal;
      for (const e of [...this.jSpans]) {
        if (e.where !== 't1' || e.jLo >= e.jHi) continue;
        if (!e.dirty && !e.uploading && !this.journaledInos.has(e.ino)) continue; // uploaded, no records to replay over it: the store sync below covers it
        if (!this.journalEntry(e)) return true;
      }
      await j.durable();
      return false;
    });
    if (full) await this.checkpoint(true);
    else await this.backend.sync();
  }

  /** Uploads every chunk dirty now (without syncing the store). */
  async flush(): Promise<void> {
    this.checkOpen();
    if (!this.writeback) return;
    const now = new Set(this.dirty);
    await this.waitUntil(() => ![...now].some((e) => e.dirty && this.entries.get(e.key) === e));
  }

  /** Uploads every dirty chunk, syncs the store and empties the journal; then refuses further use. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.writeback) await this.checkpoint(true);
    } finally {
      this.closed = true;
      if (this.flushTimer) clearTimeout(this.flushTimer);
      if (this.idleTimer) clearTimeout(this.idleTimer);
      for (const w of this.progress.splice(0)) w();
    }
  }

  stats(): TierStats {
    const t1 = this.tiers.t1;
    const t2 = this.tiers.t2;
    const j = this.tiers.journal;
    return {
      writeback: this.writeback,
      chunkBytes: this.chunkSize,
      t1: { slots: t1.slots, used: t1.allocator.used, hits: this.c.t1Hits, evictions: this.c.evictions },
      t2: t2 ? { slots: t2.slots, used: t2.allocator.used, hits: this.c.t2Hits, spills: this.c.spills, evictions: this.c.t2Evictions } : null,
      misses: this.c.misses,
      storeReads: this.c.storeReads,
      storeWrites: this.c.storeWrites,
      storeTruncates: this.c.storeTruncates,
      uploadErrors: this.c.uploadErrors,
      dirtyChunks: this.dirty.size,
      dirtyBytes: this.dirty.size * t1.slotSize,
      dirtyMaxBytes: this.budget.max * t1.slotSize,
      writebackWaits: this.c.writebackWaits,
      invalidations: { inodes: this.c.invalidations, chunks: this.c.invalidatedChunks, conflicts: this.c.conflicts },
      journal: { bytes: j.bytes, usedBytes: j.usedBytes, records: j.recordCount, appended: this.c.appended, checkpoints: this.c.checkpoints, replayed: this.c.replayed },
    };
  }

  // ---- internals ----

  private checkOpen(): void {
    if (this.closed) throw fsError(errno.EIO, 'tiered chunk store is closed');
  }

  private ino(ino: number): InoState {
    let st = this.inos.get(ino);
    if (!st) {
      st = { entries: new Map(), inflight: new Set(), barrier: null, pending: 0, fills: 0, gen: 0 };
      this.inos.set(ino, st);
    }
    return st;
  }

  private gcIno(ino: number): void {
    const st = this.inos.get(ino);
    if (st && st.entries.size === 0 && st.inflight.size === 0 && st.barrier === null && st.pending === 0 && st.fills === 0) this.inos.delete(ino);
  }

  /** Waits until no truncate/remove of the inode is in progress. Never call with a chunk mutex held. */
  private async settled(ino: number): Promise<void> {
    const st = this.inos.get(ino);
    while (st?.barrier) await st.barrier;
  }

  /** Writes `data` at `off` of t1 chunk `e`, or records that `data` bytes are there already (NIO). */
  private apply(e: Entry, off: number, data: Buffer | number): void {
    const v = this.tiers.t1.view(e.slot);
    if (off > e.len) v.fill(0, e.len, off);
    if (Buffer.isBuffer(data)) data.copy(v, off);
    const end = off + (Buffer.isBuffer(data) ? data.length : data);
    if (end > e.len) {
      this.zeroPast(v, end);
      e.len = end;
    }
    if (off < e.upLo) e.upLo = off;
    if (end > e.upHi) e.upHi = end;
    if (off < e.jLo) e.jLo = off;
    if (end > e.jHi) e.jHi = end;
    this.jSpans.add(e);
    e.gen = ++this.gen;
    this.t1Policy.touch(e.key);
  }

  /**
   * Makes the chunk resident in t1, with its mutex held by the caller. Returns the entry; null for
   * a chunk the store does not have (mode 'read'); a Buffer with the chunk's bytes when a
   * truncate/remove of the inode overlapped the fill (not cached; mode 'read'); 'retry' for the same
   * case in write modes (the caller drops its mutex, waits for the barrier and starts over).
   */
  private async resident(ino: number, idx: number, key: string, mode: 'read' | 'write' | 'overwrite'): Promise<Entry | Buffer | null | 'retry'> {
    const e = this.entries.get(key);
    if (e?.where === 't1') {
      this.c.t1Hits++;
      this.t1Policy.touch(key);
      return e;
    }
    if (e?.where === 'hole') {
      this.c.t1Hits++;
      if (mode === 'read') {
        this.holes.delete(key);
        this.holes.set(key, e);
        return null;
      }
      this.forget(e);
      mode = 'overwrite'; // known absent: nothing to fetch
    }
    const st = this.ino(ino);
    st.fills++;
    try {
      // A truncate/remove of the inode that overlaps this fill makes its bytes unsafe to cache.
      const gen = st.gen;
      const clean = st.pending === 0;
      let data: Buffer | null = null;
      if (e?.where === 't2') {
        // straight into a t1 slot (one copy; over zuf the kernel's t2 engine makes it)
        const t2 = this.tiers.t2!;
        const len = e.len;
        const slot = await this.allocT1();
        let ok = true;
        try {
          await t2.read(e.slot, slot, len);
        } catch (err) {
          ok = false;
          this.log?.warn({ err, ino, idx }, 't2 read failed; reading the store instead');
        }
        this.t2Policy.remove(key);
        t2.allocator.release(e.slot);
        this.forget(e);
        if (ok) {
          this.c.t2Hits++;
          const v = this.tiers.t1.view(slot);
          if (clean && st.gen === gen && st.pending === 0) {
            this.zeroPast(v, len);
            return this.adopt(ino, idx, key, slot, len);
          }
          data = Buffer.from(v.subarray(0, len)); // a truncate/remove overlapped: not cached
        }
        this.tiers.t1.allocator.release(slot);
        if (data) return mode === 'read' ? data : 'retry';
      }
      if (data === null) {
        if (mode === 'overwrite') {
          data = Buffer.alloc(0);
        } else {
          this.c.misses++;
          this.c.storeReads++;
          data = await this.inner.read(ino, idx, 0, this.chunkSize);
          if (data.length === 0 && mode === 'read') {
            if (st.pending === 0 && st.gen === gen && clean) this.rememberHole(ino, idx, key);
            return null;
          }
        }
      }
      if (!clean || st.gen !== gen) return mode === 'read' ? data : 'retry';
      const slot = await this.allocT1();
      if (st.gen !== gen || st.pending > 0) {
        this.tiers.t1.allocator.release(slot);
        return mode === 'read' ? data : 'retry';
      }
      const v = this.tiers.t1.view(slot);
      data.copy(v);
      this.zeroPast(v, data.length);
      return this.adopt(ino, idx, key, slot, data.length);
    } finally {
      st.fills--;
    }
  }

  private rememberHole(ino: number, idx: number, key: string): void {
    const e = this.adopt(ino, idx, key, -1, 0, 'hole');
    this.holes.set(key, e);
    // Forgetting a hole costs at most one store read later; busy ones are left alone.
    if (this.holes.size > this.maxHoles) {
      for (const [k, old] of this.holes) {
        if (this.holes.size <= this.maxHoles) break;
        if (!this.locks.isLocked(k)) this.forget(old);
      }
    }
  }

  private adopt(ino: number, idx: number, key: string, slot: number, len: number, where: 't1' | 'hole' = 't1'): Entry {
    const e: Entry = {
      ino,
      idx,
      key,
      where,
      slot,
      len,
      dirty: false,
      uploading: false,
      dirtyAt: 0,
      retryAt: 0,
      upLo: EMPTY_LO,
      upHi: 0,
      jLo: EMPTY_LO,
      jHi: 0,
      gen: 0,
      nioWritable: false,
      mmapOpen: null,
    };
    this.entries.set(key, e);
    this.ino(ino).entries.set(idx, e);
    if (where === 't1') this.t1Policy.insert(key);
    return e;
  }

  /** Forgets an entry whose slot the caller has already dealt with. */
  private forget(e: Entry): void {
    if (e.where === 'hole') this.holes.delete(e.key);
    e.where = 'gone';
    this.jSpans.delete(e);
    this.entries.delete(e.key);
    const st = this.inos.get(e.ino);
    if (st?.entries.get(e.idx) === e) st.entries.delete(e.idx);
    this.gcIno(e.ino);
  }

  /** Drops a chunk from the cache entirely (truncated to 0 or removed): frees its slot and any dirt. */
  private drop(e: Entry): void {
    if (e.where === 't1') {
      this.revoke(e);
      this.t1Policy.remove(e.key);
      this.tiers.t1.allocator.release(e.slot);
    } else if (e.where === 't2') {
      this.t2Policy.remove(e.key);
      this.tiers.t2!.allocator.release(e.slot);
    }
    if (e.dirty) this.markClean(e);
    this.forget(e);
  }

  /** NIO: the kernel's map of a t1 chunk goes before its slot is reused or its bytes change meaning. */
  private revoke(e: Entry): void {
    if (e.where !== 't1') return;
    e.nioWritable = false;
    e.mmapOpen = null;
    this.onRevoke?.(e.ino, e.idx);
  }

  /** Zeroes slot bytes [from, to) and on to the end of the page holding `from`: a page the kernel
   * maps shows zeros past the cached length, never bytes of an older length or another chunk. */
  private zeroPast(v: Buffer, from: number, to = from): void {
    const end = Math.min(v.length, Math.max(to, Math.ceil(from / PAGE) * PAGE));
    if (end > from) v.fill(0, from, end);
  }

  private markClean(e: Entry): void {
    e.dirty = false;
    this.dirty.delete(e);
    this.budget.release();
    this.notifyProgress();
  }

  private evictable = (key: string): boolean => {
    const e = this.entries.get(key);
    return e !== undefined && e.where === 't1' && !e.dirty && !e.uploading && !e.mmapOpen && !(e.jLo < e.jHi && this.journaledInos.has(e.ino)) && !this.locks.isLocked(key);
  };

  /** A free t1 slot, evicting (and spilling to t2) as needed. */
  private async allocT1(): Promise<number> {
    const t1 = this.tiers.t1;
    for (let round = 0; ; round++) {
      const s = t1.allocator.alloc();
      if (s >= 0) return s;
      const key = this.t1Policy.victim(this.evictable);
      if (key !== undefined) return this.evict(this.entries.get(key)!);
      // Everything is dirty, journal-pinned or busy: let uploads finish, release journal pins.
      if (round % 16 === 15 && !this.tiers.journal.isEmpty) await this.checkpoint(false);
      else await this.waitProgress(5);
      this.checkOpen();
    }
  }

  /** Evicts a clean, idle t1 chunk (to t2 when there is one) and returns its t1 slot. */
  private async evict(e: Entry): Promise<number> {
    const release = this.locks.lockFree(e.key);
    const slot = e.slot;
    this.c.evictions++;
    this.revoke(e);
    try {
      const t2 = this.tiers.t2;
      if (t2 && e.len > 0) {
        const s2 = this.allocT2();
        if (s2 >= 0) {
          try {
            await t2.write(s2, slot, e.len);
            e.where = 't2';
            e.slot = s2;
            this.t2Policy.insert(e.key);
            this.c.spills++;
            return slot;
          } catch (err) {
            t2.allocator.release(s2);
            this.log?.warn({ err, ino: e.ino, idx: e.idx }, 't2 write failed; dropping the chunk instead');
          }
        }
      }
      this.forget(e);
      return slot;
    } finally {
      release();
    }
  }

  private allocT2(): number {
    const t2 = this.tiers.t2!;
    const s = t2.allocator.alloc();
    if (s >= 0) return s;
    const key = this.t2Policy.victim((k) => this.entries.get(k)?.where === 't2' && !this.locks.isLocked(k));
    if (key === undefined) return -1;
    const e = this.entries.get(key)!;
    this.forget(e);
    this.c.t2Evictions++;
    return e.slot;
  }

  private async writeThrough(ino: number, idx: number, key: string, off: number, data: Buffer): Promise<void> {
    await this.settled(ino);
    const release = await this.locks.lock(key);
    try {
      await this.inner.write(ino, idx, off, data);
      this.c.storeWrites++;
      this.markLanded(ino);
      const e = this.entries.get(key);
      if (e?.where === 't1') this.apply(e, off, data);
      else if (e) this.drop(e); // a t2 copy is stale now, a hole is no longer one
    } finally {
      release();
    }
  }

  private async destructive(
    ino: number,
    match: (idx: number) => boolean,
    cut: (e: Entry) => void | Promise<void>,
    storeOp: (() => Promise<void>) | null,
    rec: JournalRecord | null,
  ): Promise<void> {
    const st = this.ino(ino);
    st.pending++;
    st.gen++;
    const prev = st.barrier;
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    st.barrier = mine;
    let journalFull = false;
    try {
      if (prev) await prev;
      await Promise.allSettled([...st.inflight]);
      for (const e of [...st.entries.values()]) {
        if (!match(e.idx)) continue;
        const release = await this.locks.lock(e.key);
        try {
          if (this.entries.get(e.key) === e) await cut(e);
        } finally {
          release();
        }
      }
      if (storeOp) {
        await storeOp();
        this.c.storeTruncates++;
        this.markLanded(ino);
      }
      if (rec && this.writeback && this.journaledInos.has(ino)) {
        if (this.tiers.journal.append(rec)) this.c.appended++;
        else journalFull = true;
      }
    } finally {
      st.gen++;
      st.pending--;
      if (st.barrier === mine) st.barrier = null;
      done();
      this.gcIno(ino);
    }
    // No room to record the cut: make the older records of the inode moot instead.
    if (journalFull) await this.checkpoint(true);
  }

  /** Appends the entry's journal span; false when the journal is full (nothing changed then). */
  private journalEntry(e: Entry): boolean {
    const hi = Math.min(e.jHi, e.len);
    if (e.jLo < hi) {
      const data = this.tiers.t1.view(e.slot).subarray(e.jLo, hi);
      if (!this.tiers.journal.append({ type: 'write', ino: e.ino, idx: e.idx, off: e.jLo, data })) return false;
      this.c.appended++;
      this.journaledInos.add(e.ino);
    }
    this.clearJournalSpan(e);
    return true;
  }

  private clearJournalSpan(e: Entry): void {
    e.jLo = EMPTY_LO;
    e.jHi = 0;
    this.jSpans.delete(e);
  }

  private withJournal<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.journalLock.then(fn, fn);
    this.journalLock = run.catch(() => undefined);
    return run;
  }

  /**
   * Empties the journal: waits until every journaled chunk is uploaded (every dirty chunk with
   * `all`), syncs the store, starts a new epoch. Chunks written meanwhile keep their journal span.
   */
  private checkpoint(all: boolean): Promise<void> {
    return this.withJournal(async () => {
      const j = this.tiers.journal;
      if (j.isEmpty && !all) return;
      await this.waitUntil(() =>
        // Uploading chunks stay in `dirty` until their upload ends.
        all ? this.dirty.size === 0 && this.active === 0 : ![...this.dirty].some((e) => this.journaledInos.has(e.ino)),
      );
      const settled = new Map<Entry, number>();
      for (const e of this.jSpans) if (!e.dirty && !e.uploading) settled.set(e, e.gen);
      await this.backend.sync();
      if (!j.isEmpty) {
        await j.reset();
        this.c.checkpoints++;
      }
      this.journaledInos.clear();
      for (const [e, gen] of settled) if (e.gen === gen) this.clearJournalSpan(e);
    });
  }

  /** Drives uploads (regardless of their delay with `drain`) until `cond` holds; fails after
   * repeated upload errors. */
  private async waitUntil(cond: () => boolean, drain = true): Promise<void> {
    if (drain) this.draining++;
    const failures0 = this.uploadFailures;
    try {
      this.pump();
      while (!cond()) {
        if (this.uploadFailures - failures0 >= DRAIN_ERROR_LIMIT) {
          throw fsError(errno.EIO, `write-back: uploads to the store keep failing: ${(this.lastUploadError as Error)?.message}`, this.lastUploadError);
        }
        await this.waitProgress(1000);
        this.pump();
      }
    } finally {
      if (drain) this.draining--;
    }
  }

  private waitProgress(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      const self = this.progress;
      function done(): void {
        clearTimeout(t);
        const i = self.indexOf(done);
        if (i >= 0) self.splice(i, 1);
        resolve();
      }
      self.push(done);
    });
  }

  private notifyProgress(): void {
    for (const w of this.progress.splice(0)) w();
  }

  /** Starts the uploads that are due (all of them while draining or when writers wait). */
  private pump(): void {
    if (this.closed || !this.writeback) return;
    const now = Date.now();
    const urgent = this.draining > 0 || this.budget.waiting > 0;
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.dirty) {
      if (this.active >= this.flushConcurrency) break;
      if (e.uploading) continue;
      const due = Math.max(e.retryAt, urgent ? 0 : e.dirtyAt + this.flushDelayMs);
      if (due > now) {
        next = Math.min(next, due);
        continue;
      }
      void this.upload(e);
    }
    if (next !== Number.POSITIVE_INFINITY && (this.flushTimer === null || next < this.flushTimerAt)) {
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimerAt = next;
      // Not unref'd: dirty data keeps the process alive until it is uploaded.
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.pump();
      }, next - now);
    }
  }

  private async upload(e: Entry): Promise<void> {
    this.active++;
    e.uploading = true;
    const st = this.ino(e.ino);
    let data: Buffer | null = null;
    let lo = 0;
    let ok = false;
    try {
      while (st.barrier) await st.barrier;
      let done!: () => void;
      const p = new Promise<void>((r) => (done = r));
      st.inflight.add(p);
      try {
        const release = await this.locks.lock(e.key);
        try {
          if (this.entries.get(e.key) !== e || !e.dirty) return;
          lo = e.upLo;
          const hi = Math.min(e.upHi, e.len);
          if (lo < hi) data = Buffer.from(this.tiers.t1.view(e.slot).subarray(lo, hi));
          [e.upLo, e.upHi] = [EMPTY_LO, 0];
        } finally {
          release();
        }
        if (data) {
          await this.inner.write(e.ino, e.idx, lo, data);
          this.c.storeWrites++;
          this.markLanded(e.ino);
        }
        ok = true;
        this.failStreak = 0;
        e.retryAt = 0;
      } finally {
        st.inflight.delete(p);
        done();
      }
    } catch (err) {
      this.c.uploadErrors++;
      this.uploadFailures++;
      this.failStreak++;
      this.lastUploadError = err;
      // Log the 1st, 2nd, 4th, 8th... failure in a row: a store that is down must not flood the log.
      if ((this.failStreak & (this.failStreak - 1)) === 0) {
        this.log?.warn({ err, ino: e.ino, idx: e.idx, failuresInARow: this.failStreak }, 'write-back upload failed; will retry');
      }
    } finally {
      e.uploading = false;
      if (this.entries.get(e.key) === e && e.dirty) {
        if (!ok && data) {
          e.upLo = Math.min(e.upLo, lo);
          e.upHi = Math.max(e.upHi, lo + data.length);
        }
        if (ok && e.upLo >= e.upHi) {
          this.markClean(e);
          // Its newest bytes are in the store but older ones are journaled: record the newest too,
          // or a replay would put the older ones back over them.
          if (e.jLo < e.jHi && this.journaledInos.has(e.ino)) this.journalEntry(e);
        } else if (!ok) {
          e.retryAt = Date.now() + Math.min(MAX_UPLOAD_BACKOFF_MS, this.retryBaseMs * 2 ** Math.min(10, this.failStreak - 1));
        }
      }
      this.active--;
      this.gcIno(e.ino);
      this.notifyProgress();
      this.pump();
      this.maybeIdleCheckpoint();
    }
  }

  /** When write-back goes idle, empty the journal so replays stay short and pins are released. */
  private maybeIdleCheckpoint(): void {
    if (this.dirty.size > 0 || this.active > 0 || this.tiers.journal.isEmpty || this.idleTimer || this.closed) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.closed || this.dirty.size > 0 || this.active > 0) return;
      this.checkpoint(false).catch((err: unknown) => this.log?.warn({ err }, 'write-back checkpoint failed'));
    }, 200);
    this.idleTimer.unref();
  }
}

/** A Backend whose chunks go through the t1/t2 tiers. sync() makes everything durable (journal or
 * store); close() uploads everything, then closes the tiers and the wrapped backend. */
export class TieredBackend implements Backend {
  readonly kind: string;
  readonly meta: MetaStore;
  readonly locks?: LockStore;
  constructor(
    private readonly inner: Backend,
    readonly chunks: TieredChunkStore,
    private readonly tiers: Tiers,
    log?: Log,
  ) {
    this.kind = inner.kind;
    if (inner.locks) this.locks = inner.locks;
    const m = inner.meta;
    // Every record read or committed passes its stamp to the chunk store, which drops the chunks
    // of a file another gateway changed (see the header of this file).
    this.meta = {
      getInode: async (ino) => {
        const rec = await m.getInode(ino);
        if (rec) await chunks.observe(rec);
        return rec;
      },
      lookup: (parent, name) => m.lookup(parent, name),
      readdir: (parent, after, limit) => m.readdir(parent, after, limit),
      getXattr: (ino, name) => m.getXattr(ino, name),
      listXattrs: (ino) => m.listXattrs(ino),
      commit: async (txn) => {
        const seq = chunks.commitStarting();
        const ok = await m.commit(txn);
        if (ok) {
          for (const op of txn.ops) {
            if (op.op === 'putInode') chunks.committed(op.inode, seq);
            else if (op.op === 'delInode') chunks.deleted(op.ino);
          }
        }
        return ok;
      },
      allocIds: (count) => m.allocIds(count),
      // The store counts only uploaded bytes: upload first so statfs matches what was written.
      stats: async () => {
        await chunks.flush();
        return m.stats();
      },
    };
    // The change feed drops a changed file's chunks before the filesystem hears of it (and tells
    // the kernel, whose next read must not find the old chunks here).
    if (m.watch) {
      const watch = m.watch.bind(m);
      this.meta.watch = (fn) =>
        watch((c: MetaChange) => {
          if (c.kind === 'dir') return fn(c);
          const drop = Promise.resolve().then(() => (c.kind === 'inode' ? chunks.invalidate(c.ino) : chunks.invalidateAll()));
          drop.catch((err: unknown) => log?.warn({ err, change: c }, 'dropping the chunks another gateway changed failed')).finally(() => fn(c));
        });
    }
  }

  get table(): Tiers['table'] {
    return this.tiers.table;
  }

  sync(): Promise<void> {
    return this.chunks.sync();
  }

  stats(): TierStats {
    return this.chunks.stats();
  }

  async close(): Promise<void> {
    try {
      await this.chunks.close();
    } finally {
      await this.tiers.close();
      await this.inner.close();
    }
  }
}

export interface TieredBackendOptions extends Omit<TieredOptions, 'writeback'> {
  /** Identifies the store volume (e.g. redacted URL + "#" + volume): tiers bound to another store are refused. */
  storeKey: string;
  /** A name for humans in the device table (the mount name). */
  label?: string;
  /** zuf: see OpenTiersOptions.kernel. */
  kernel?: OpenTiersOptions['kernel'];
}

/** Opens the tiers named by a mount's `tiers:` key, replays their journal onto `backend`, and
 * returns the tiered Backend. On failure `backend` is closed too. */
export async function tieredBackend(backend: Backend, cfg: TiersConfig, opts: TieredBackendOptions): Promise<TieredBackend> {
  let tiers: Tiers | undefined;
  try {
    tiers = await openTiers(cfg, {
      storeKey: opts.storeKey,
      chunkSize: backend.chunks.chunkSize,
      ...(opts.label !== undefined && { label: opts.label }),
      ...(opts.kernel !== undefined && { kernel: opts.kernel }),
    });
    if (tiers.formatted) opts.log?.info({ t1: cfg.t1, t2: cfg.t2, volume: tiers.table.volumeUuid }, 'tier devices were new: formatted them');
    const store = await TieredChunkStore.open(backend, tiers, { ...opts, writeback: cfg.writeback ?? false });
    return new TieredBackend(backend, store, tiers, opts.log);
  } catch (e) {
    await tiers?.close();
    await backend.close();
    throw e;
  }
}

/** The tier counters of a backend opened by tieredBackend(), for `zufs status`; undefined otherwise. */
export function tierStats(backend: Backend): TierStats | undefined {
  return backend instanceof TieredBackend ? backend.stats() : undefined;
}
