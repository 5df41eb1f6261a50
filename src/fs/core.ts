// The state one PosixFs shares between its parts (namespace, data, xattrs): the backend, the
// inode cache, the locks, id allocation, open handles, and the helpers that turn records into
// Attr and batches of record changes into one MetaStore transaction.
//
// Locking (one gateway): every change to an inode record happens under that inode's KeyedMutex
// entry, and records are replaced, never mutated, so a reader holding an old record sees a
// consistent old state. Namespace operations lock the directories and inodes they touch, in
// ascending inode order; rename additionally holds the volume-wide rename mutex so that directory
// ancestry (loop detection) cannot change under it, like the kernel's s_vfs_rename_mutex.
// Between gateways, every namespace change carries DentryChecks: if another gateway changed an
// entry first, the commit is refused and the operation is re-planned from fresh state.
import type { Logger } from 'pino';
import type { Backend, ChunkStore, DentryCheck, InodeRecord, MetaOp, MetaStore } from '../backends/types.js';
import { errno, fsError } from './errors.js';
import { ChunkMap } from './chunk-map.js';
import { IdPool } from './id-pool.js';
import { InodeCache } from './inode-cache.js';
import { isDir, S_IFDIR, S_IFMT, S_IFREG } from './mode.js';
import { KeyedMutex, Mutex } from './mutex.js';
import type { Attr } from './operations.js';
import { nowNs } from './clock.js';

export const ROOT_INO = 1;
/** Largest file offset: JavaScript numbers are exact up to here. */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
export const NAME_MAX = 255;
export const PATH_MAX = 4096;
export const DIR_SIZE = 4096;
export const BLKSIZE = 4096;

/** Reserved entries live in directory 0, which is no inode: the root marker and the orphan list. */
export const RESERVED_DIR = 0;
export const ROOT_MARKER = 'root';
export const ORPHAN_PREFIX = 'orphan.';
export const orphanName = (ino: number): string => `${ORPHAN_PREFIX}${ino}`;

/** The ".." of a directory is stored as an entry named ".." with cookie 0, which readdir (cookie
 * > after >= 0) never returns. It gives loop detection and readdir a parent pointer. */
export const DOTDOT = '..';
export const DOTDOT_COOKIE = 0;

export interface PosixFsOptions {
  log?: Logger;
  /** Keep inode records in memory (write-through). Default true. */
  cache?: boolean;
  cacheMaxEntries?: number;
  /** Ids reserved per allocIds round trip. Default 64. */
  idBatch?: number;
  /** How many times a namespace change is re-planned after another gateway won a race. */
  maxRetries?: number;
  /** No other gateway serves this volume: cached records are trusted for link counts and at
   * open, which saves a round trip on open, unlink of a last link, link and mkdir/rmdir.
   * Default false. */
  exclusive?: boolean;
  /** fallocate allocates (stores zero-filled chunks for) at most this many bytes per call; a
   * larger range only grows the size and stays a hole. Default 1 GiB. */
  fallocateMaxBytes?: number;
}

export class Retry {
  static readonly it = new Retry();
}

export class FsCore {
  readonly meta: MetaStore;
  readonly chunks: ChunkStore;
  readonly chunkSize: number;
  readonly cache: InodeCache;
  readonly chunkMap: ChunkMap;
  readonly locks = new KeyedMutex();
  readonly renameLock = new Mutex();
  readonly ids: IdPool;
  readonly log: Logger | undefined;
  readonly maxRetries: number;
  /** Re-read records another gateway may have changed before acting on them (cache on and the
   * volume not exclusive). */
  readonly revalidate: boolean;
  readonly fallocateMaxBytes: number;
  private readonly cacheMax: number;

  /** fh -> ino of every open handle, and how many handles each inode has. */
  readonly handles = new Map<number, number>();
  readonly openCount = new Map<number, number>();
  /** Unlinked inodes the kernel has let go of while still open here: freed at last release. */
  readonly evictPending = new Set<number>();
  /** Default ACL of directories (null: none), so a create costs no xattr round trip. */
  readonly defaultAcls = new Map<number, Buffer | null>();
  /** Files found to have no security.capability, with the ctime of the record they were checked
   * at (any xattr change moves the ctime, on every gateway): the kernel asks on every write. */
  private readonly noCaps = new Map<number, bigint>();

  constructor(
    readonly backend: Backend,
    opts: PosixFsOptions,
  ) {
    this.meta = backend.meta;
    this.chunks = backend.chunks;
    this.chunkSize = backend.chunks.chunkSize;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 1) {
      throw new RangeError(`backend ${backend.kind} has bad chunkSize ${this.chunkSize}`);
    }
    this.cacheMax = opts.cacheMaxEntries ?? 100_000;
    this.cache = new InodeCache({ enabled: opts.cache ?? true, maxEntries: this.cacheMax });
    this.chunkMap = new ChunkMap(this.chunkSize, this.cacheMax);
    this.ids = new IdPool(backend.meta, opts.idBatch ?? 64);
    this.log = opts.log;
    this.maxRetries = opts.maxRetries ?? 16;
    this.revalidate = this.cache.enabled && !(opts.exclusive ?? false);
    this.fallocateMaxBytes = opts.fallocateMaxBytes ?? 2 ** 30;
  }

  async findInode(ino: number): Promise<InodeRecord | undefined> {
    const c = this.cache.get(ino);
    if (c) return c;
    const r = await this.meta.getInode(ino);
    if (r) this.cache.set(r);
    return r;
  }

  async inode(ino: number): Promise<InodeRecord> {
    if (!Number.isSafeInteger(ino) || ino < 1) throw fsError(errno.EINVAL, `bad inode number ${ino}`);
    const r = await this.findInode(ino);
    if (!r) throw fsError(errno.ENOENT, `no inode ${ino}`);
    return r;
  }

  /** The stored record, bypassing the cache: for link counts of directories, which another
   * gateway may have changed since this one cached them. */
  async freshInode(ino: number): Promise<InodeRecord> {
    const r = await this.meta.getInode(ino);
    if (!r) {
      this.invalidate(ino);
      throw fsError(errno.ENOENT, `no inode ${ino}`);
    }
    this.cache.set(r);
    return r;
  }

  async dirInode(ino: number, fresh = false): Promise<InodeRecord> {
    if (fresh && this.revalidate) {
      const r = await this.freshInode(ino);
      if (!isDir(r.mode)) throw fsError(errno.ENOTDIR);
      return r;
    }
    const r = await this.inode(ino);
    if (!isDir(r.mode)) throw fsError(errno.ENOTDIR);
    return r;
  }

  async parentOf(dir: number): Promise<number> {
    if (dir === ROOT_INO) return ROOT_INO;
    const c = this.cache.getParent(dir);
    if (c !== undefined) return c;
    const p = await this.meta.lookup(dir, DOTDOT);
    if (p === undefined) throw fsError(errno.ENOENT, `directory ${dir} has no parent entry`);
    this.cache.setParent(dir, p);
    return p;
  }

  async defaultAcl(dir: number): Promise<Buffer | null> {
    const c = this.defaultAcls.get(dir);
    if (c !== undefined) return c;
    const v = (await this.meta.getXattr(dir, 'system.posix_acl_default')) ?? null;
    this.setDefaultAclCache(dir, v);
    return v;
  }

  setDefaultAclCache(dir: number, v: Buffer | null): void {
    if (!this.cache.enabled) return;
    if (this.defaultAcls.size >= this.cacheMax && !this.defaultAcls.has(dir)) this.defaultAcls.clear();
    this.defaultAcls.set(dir, v);
  }

  /** True when `rec` is known to carry no security.capability (checked at its ctime). */
  knownNoCaps(rec: InodeRecord): boolean {
    return this.noCaps.get(rec.ino) === rec.ctimeNs;
  }

  noteNoCaps(rec: InodeRecord): void {
    if (!this.cache.enabled) return;
    if (this.noCaps.size >= this.cacheMax && !this.noCaps.has(rec.ino)) this.noCaps.clear();
    this.noCaps.set(rec.ino, rec.ctimeNs);
  }

  /** This gateway committed `after` over `before` with no xattr change (a write): what was known
   * of `before`'s capabilities holds for `after`. */
  carryNoCaps(before: InodeRecord, after: InodeRecord): void {
    if (this.knownNoCaps(before)) this.noCaps.set(after.ino, after.ctimeNs);
  }

  invalidate(ino: number): void {
    this.cache.invalidate(ino);
    this.defaultAcls.delete(ino);
    this.noCaps.delete(ino);
    this.chunkMap.forget(ino);
  }

  /** Commits checks + ops; on success installs `recs` in the cache. False: a check failed and the
   * touched inodes were dropped from the cache so the next attempt reads fresh state. */
  async commit(checks: DentryCheck[], ops: MetaOp[], recs: InodeRecord[]): Promise<boolean> {
    const all: MetaOp[] = ops;
    for (const r of recs) all.push({ op: 'putInode', inode: r });
    const ok = await this.meta.commit({ checks, ops: all });
    if (ok) {
      for (const r of recs) this.cache.set(r);
    } else {
      for (const r of recs) this.invalidate(r.ino);
      for (const c of checks) this.invalidate(c.parent);
    }
    return ok;
  }

  /** Writes records that no other gateway can race on structurally (data, attributes). */
  async putInodes(recs: InodeRecord[], ops: MetaOp[] = []): Promise<void> {
    const ok = await this.commit([], ops, recs);
    if (!ok) throw fsError(errno.EIO, 'backend refused an unconditional commit');
  }

  isOpen(ino: number): boolean {
    return (this.openCount.get(ino) ?? 0) > 0;
  }

  now(): bigint {
    return nowNs();
  }

  toAttr(r: InodeRecord): Attr {
    const type = r.mode & S_IFMT;
    let blocks = 0;
    if (type === S_IFREG) blocks = this.chunkMap.blocks(r.ino, r.size) ?? Math.ceil(r.size / BLKSIZE) * (BLKSIZE / 512);
    else if (type === S_IFDIR) blocks = Math.ceil(r.size / BLKSIZE) * (BLKSIZE / 512);
    return {
      ino: r.ino,
      mode: r.mode,
      nlink: r.nlink,
      uid: r.uid,
      gid: r.gid,
      rdev: r.rdev,
      size: r.size,
      blocks,
      blksize: BLKSIZE,
      atimeNs: r.atimeNs,
      mtimeNs: r.mtimeNs,
      ctimeNs: r.ctimeNs,
      btimeNs: r.btimeNs,
      generation: r.generation,
    };
  }

  /** Runs a planned change up to maxRetries times while it returns Retry (a lost race). */
  async retrying<T>(what: string, fn: (attempt: number) => Promise<T | Retry>): Promise<T> {
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      const r = await fn(attempt);
      if (!(r instanceof Retry)) return r;
      this.log?.debug({ what, attempt }, 'concurrent change from another gateway, retrying');
    }
    throw fsError(errno.EAGAIN, `${what}: too many concurrent changes`);
  }
}

export function checkName(name: string): void {
  if (name.length === 0) throw fsError(errno.ENOENT, 'empty name');
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short names need no byte count.
  if (name.length > NAME_MAX / 3 && Buffer.byteLength(name) > NAME_MAX) throw fsError(errno.ENAMETOOLONG);
  if (name.includes('/') || name.includes('\0')) throw fsError(errno.EINVAL, 'name contains / or NUL');
}

export function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw fsError(errno.EINVAL, `bad offset ${offset}`);
}
