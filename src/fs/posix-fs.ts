// PosixFs: the posix layout — a complete POSIX filesystem kept in any Backend — behind the
// ZusOperations vector that every transport calls. This file is the front door (root creation,
// open handles, the data calls, eviction of unlinked inodes, statfs); the rules live in
// namespace.ts, data.ts, attr.ts, xattr.ts and acl.ts.
//
// What the kernel does, not us:
// - Permission checks. The FUSE transport mounts with default_permissions and negotiates
//   FUSE_POSIX_ACL, so the kernel checks mode bits and the ACL xattrs itself; in exchange it leaves
//   the umask to the filesystem (FUSE_DONT_MASK), which newInode applies from Caller.umask when the
//   parent has no default ACL. zuf.ko follows the same split.
// - O_TRUNC: the transport turns it into setattr({ size: 0 }); open() itself never truncates.
// - O_APPEND: the kernel picks the offset (the current size) and sends it with the write.
// - Clearing setuid/setgid on write by an unprivileged user: the kernel sends it as a setattr.
//
// Unlinked inodes: when nlink reaches 0 the inode stays (still readable and writable through open
// handles) and an entry "orphan.<ino>" is added to the reserved directory 0 in the same
// transaction. evict() — the kernel's last reference — frees it once no handle here is open;
// reclaimOrphans() frees what a crashed or killed gateway left behind.
//
// atime is not updated by reads (as with noatime); setattr sets it. st_blocks counts stored
// chunks (chunk-map.ts). The full list of guarantees is in SEMANTICS.md.
import type { Backend, InodeRecord, MetaChange } from '../backends/types.js';
import { ioctl, setattr } from './attr.js';
import {
  DOTDOT,
  DOTDOT_COOKIE,
  FsCore,
  ORPHAN_PREFIX,
  orphanName,
  type PosixFsOptions,
  RESERVED_DIR,
  ROOT_INO,
  ROOT_MARKER,
  DIR_SIZE,
  BLKSIZE,
  NAME_MAX,
} from './core.js';
import { fallocateData, readData, seekData, writeData, writeRange } from './data.js';
import { errno, fsError } from './errors.js';
import { checkOpen, isAppendOnly, isImmutable } from './inode-flags.js';
import { isDir, isReg, S_IFDIR } from './mode.js';
import { FileLocks, LocalLockStore } from './locks.js';
import * as ns from './namespace.js';
import type { Attr, Caller, DirentOut, FileLock, Invalidation, NewInode, SetAttr, SetLockOptions, StatFs, ZusOperations } from './operations.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from './operations.js';
import { getXattr, listXattrs, removeXattr, setXattr } from './xattr.js';

export type { PosixFsOptions } from './core.js';

/** statfs totals: stores grow on demand, so report a large fixed capacity (1 PiB, 2^32 inodes). */
const STATFS_BYTES = 2 ** 50;
const STATFS_FILES = 2 ** 32;
/** An open waits at most this long for the kernel to take an invalidation (it queues behind
 * others, which may wait for directory locks held by requests in flight). */
const INVALIDATE_WAIT_MS = 200;

/** A chunk store that acknowledges writes before they reach the store (the write-back tiers of
 * src/pools): settleInode uploads a file's pending bytes and says whether some reached the store
 * after its record's last commit began. */
interface DeferredChunks {
  settleInode(ino: number): Promise<boolean>;
}

function deferredChunks(backend: Backend): DeferredChunks | undefined {
  const c = backend.chunks as Partial<DeferredChunks>;
  return typeof c.settleInode === 'function' ? (backend.chunks as unknown as DeferredChunks) : undefined;
}

function settleWithin(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

export class PosixFs implements ZusOperations {
  readonly rootIno = ROOT_INO;
  private readonly core: FsCore;
  private ready: Promise<void> | undefined;
  private rootReady = false;
  private nextFh = 1;
  private readonly fileLocks: FileLocks;
  private readonly unwatch: (() => void) | undefined;
  private readonly deferred: DeferredChunks | undefined;
  onInvalidate: ((inv: Invalidation) => Promise<void>) | undefined;

  constructor(
    readonly backend: Backend,
    opts: PosixFsOptions = {},
  ) {
    this.core = new FsCore(backend, opts);
    this.fileLocks = new FileLocks(backend.locks ?? new LocalLockStore());
    // Several gateways: what another one commits drops our cached records at once and is passed
    // on to the kernel, which caches attributes and names for attr_timeout.
    this.unwatch = backend.meta.watch?.((c) => this.changed(c));
    this.deferred = this.core.revalidate ? deferredChunks(backend) : undefined;
  }

  /** A close after writes has work to do here: bytes that write-back tiers hold back reach the
   * store then, so another gateway's next open sees them (close-to-open). */
  get flushesOnClose(): boolean {
    return this.deferred !== undefined;
  }

  /** Drops cached state of `ino` (another gateway changed it). */
  invalidate(ino: number): void {
    this.core.invalidate(ino);
  }

  private changed(c: MetaChange): void {
    if (c.kind === 'reset') {
      // The kernel keeps what it has for attr_timeout at most; our cache has no such bound.
      this.core.cache.clear();
      this.core.defaultAcls.clear();
    } else if (c.kind === 'inode') {
      this.core.invalidate(c.ino);
      void this.onInvalidate?.({ ino: c.ino });
    } else if (c.name === DOTDOT) {
      this.core.cache.invalidate(c.ino); // the directory moved: its cached parent is stale
    } else {
      void this.onInvalidate?.({ parent: c.ino, name: c.name });
    }
  }

  /** Creates the root directory if the volume has none. Two gateways racing here is fine: the
   * root marker entry is created with a check, and the loser re-reads what the winner wrote. */
  private init(): Promise<void> {
    if (!this.ready) {
      this.ready = (async () => {
        const meta = this.core.meta;
        if (!(await meta.getInode(ROOT_INO))) {
          const now = this.core.now();
          const root: InodeRecord = {
            ino: ROOT_INO,
            mode: S_IFDIR | 0o755,
            uid: 0,
            gid: 0,
            nlink: 2,
            size: DIR_SIZE,
            rdev: 0,
            atimeNs: now,
            mtimeNs: now,
            ctimeNs: now,
            btimeNs: now,
            flags: 0,
            generation: 0,
          };
          const created = await meta.commit({
            checks: [{ parent: RESERVED_DIR, name: ROOT_MARKER, ino: null }],
            ops: [
              { op: 'putInode', inode: root },
              { op: 'putDentry', parent: ROOT_INO, name: DOTDOT, ino: ROOT_INO, cookie: DOTDOT_COOKIE },
              { op: 'putDentry', parent: RESERVED_DIR, name: ROOT_MARKER, ino: ROOT_INO, cookie: 1 },
            ],
          });
          if (!created && !(await meta.getInode(ROOT_INO))) throw fsError(errno.EIO, 'root marker without root inode');
        }
        this.rootReady = true;
      })();
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }

  private async core0(): Promise<FsCore> {
    if (!this.rootReady) await this.init();
    return this.core;
  }

  async lookup(_caller: Caller, dir: number, name: string): Promise<Attr> {
    return ns.lookup(await this.core0(), dir, name);
  }

  async getattr(ino: number): Promise<Attr> {
    const core = await this.core0();
    return core.toAttr(await core.inode(ino));
  }

  async newInode(caller: Caller, dir: number, name: string, req: NewInode): Promise<Attr> {
    return ns.createNode(await this.core0(), caller, dir, name, req);
  }

  async addDentry(_caller: Caller, dir: number, name: string, ino: number): Promise<Attr> {
    return ns.link(await this.core0(), dir, name, ino);
  }

  async removeDentry(_caller: Caller, dir: number, name: string, isDirectory: boolean): Promise<void> {
    return ns.removeEntry(await this.core0(), dir, name, isDirectory);
  }

  async rename(_caller: Caller, oldDir: number, oldName: string, newDir: number, newName: string, flags: number): Promise<void> {
    return ns.rename(await this.core0(), oldDir, oldName, newDir, newName, flags);
  }

  async readdir(_caller: Caller, dir: number, cookie: number, maxEntries: number, plus: boolean): Promise<DirentOut[]> {
    return ns.readdir(await this.core0(), dir, cookie, maxEntries, plus);
  }

  async readlink(ino: number): Promise<string> {
    return ns.readlink(await this.core0(), ino);
  }

  async setattr(_caller: Caller, ino: number, req: SetAttr): Promise<Attr> {
    return setattr(await this.core0(), ino, req);
  }

  async open(_caller: Caller, ino: number, flags: number): Promise<number> {
    const core = await this.core0();
    // Close-to-open: an open re-reads the inode, so what another gateway wrote and closed is
    // seen in full (size, times) even before its invalidation arrives. An unlinked inode can
    // still be opened while the kernel holds it (/proc/<pid>/fd/<n>).
    // A regular file's chunk list is read alongside, for st_blocks.
    const before = core.cache.get(ino);
    const rec = core.revalidate ? await this.freshWithChunks(ino) : await core.inode(ino);
    // The kernel reads up to the size it caches: when another gateway changed the file and its
    // invalidation has not reached the kernel yet, push one before answering the open.
    if (core.revalidate && this.onInvalidate && (!before || before.size !== rec.size || before.mtimeNs !== rec.mtimeNs || before.ctimeNs !== rec.ctimeNs)) {
      await settleWithin(this.onInvalidate({ ino }), INVALIDATE_WAIT_MS);
    }
    checkOpen(rec, flags);
    if (isReg(rec.mode) && !core.chunkMap.known(ino)) core.chunkMap.set(ino, await core.chunks.list(ino));
    const fh = this.nextFh++;
    core.handles.set(fh, ino);
    core.openCount.set(ino, (core.openCount.get(ino) ?? 0) + 1);
    return fh;
  }

  private async freshWithChunks(ino: number): Promise<InodeRecord> {
    const core = this.core;
    const cached = core.cache.get(ino);
    if (cached && !isReg(cached.mode)) return core.freshInode(ino);
    const [rec, list] = await Promise.all([core.freshInode(ino), core.chunks.list(ino)]);
    if (isReg(rec.mode)) core.chunkMap.set(ino, list);
    return rec;
  }

  async release(ino: number, fh: number, flockOwner?: string): Promise<void> {
    const core = await this.core0();
    if (flockOwner !== undefined) await this.fileLocks.releaseOwner(ino, flockOwner, true);
    // A handle we never gave out (or already released) has nothing to release: the kernel's
    // RELEASE is final and has no caller to report an error to.
    if (core.handles.get(fh) !== ino) {
      core.log?.debug({ ino, fh }, 'release of an unknown handle');
      return;
    }
    core.handles.delete(fh);
    const left = (core.openCount.get(ino) ?? 1) - 1;
    if (left > 0) {
      core.openCount.set(ino, left);
      return;
    }
    core.openCount.delete(ino);
    if (core.evictPending.has(ino)) await this.freeIfUnlinked(ino);
  }

  /** A close drops the closing process's fcntl locks on the file (POSIX), wherever they were
   * taken. Over a store that acknowledges writes before they reach it (write-back tiers) on a
   * volume other gateways may serve, a close also makes the file's bytes reach the store, then,
   * if some landed after its record's last commit, commits a new ctime: the record changes after
   * the bytes, which is what another gateway's open checks (close-to-open). */
  async flush(ino: number, _fh: number, lockOwner?: string): Promise<void> {
    if (lockOwner !== undefined) await this.fileLocks.releaseOwner(ino, lockOwner, false);
    if (!this.deferred || !(await this.deferred.settleInode(ino))) return;
    const core = this.core;
    await core.locks.run(ino, async () => {
      const rec = await core.findInode(ino);
      if (rec && isReg(rec.mode)) await core.putInodes([{ ...rec, ctimeNs: core.now() }]);
    });
  }

  async getlk(_caller: Caller, ino: number, _fh: number, owner: string, lock: FileLock): Promise<FileLock> {
    await this.core0();
    return this.fileLocks.getlk(ino, owner, lock);
  }

  async setlk(_caller: Caller, ino: number, _fh: number, owner: string, lock: FileLock, opts: SetLockOptions): Promise<void> {
    await this.core0();
    return this.fileLocks.setlk(ino, owner, lock, opts.flock, opts.wait, opts.signal);
  }

  async read(ino: number, _fh: number, offset: number, len: number): Promise<Buffer> {
    const core = await this.core0();
    const rec = await core.inode(ino);
    if (isDir(rec.mode)) throw fsError(errno.EISDIR);
    return readData(core, rec, offset, len);
  }

  async write(ino: number, _fh: number, offset: number, data: Buffer): Promise<number> {
    return this.writeWith(ino, offset, data.length, (core, rec) => writeData(core, rec, offset, data));
  }

  /**
   * write() for bytes that are in the chunk store's memory already (zuf NIO: the kernel copied
   * them into t1): `place` hands over bytes [at, at + n) of the range, at `off` of chunk `idx`.
   */
  async writePlaced(ino: number, offset: number, len: number, place: (idx: number, off: number, at: number, n: number) => Promise<void>): Promise<number> {
    return this.writeWith(ino, offset, len, (core, rec) => writeRange(core, rec, offset, len, place));
  }

  private async writeWith(ino: number, offset: number, len: number, writeBytes: (core: FsCore, rec: InodeRecord) => Promise<void>): Promise<number> {
    const core = await this.core0();
    return core.locks.run(ino, async () => {
      const rec = await core.inode(ino);
      if (!isReg(rec.mode)) throw fsError(isDir(rec.mode) ? errno.EISDIR : errno.EINVAL);
      if (isImmutable(rec)) throw fsError(errno.EPERM); // as ext4_write_checks, even for older handles
      if (len === 0) return 0;
      await writeBytes(core, rec);
      const now = core.now();
      const next = { ...rec, size: Math.max(rec.size, offset + len), mtimeNs: now, ctimeNs: now };
      await core.putInodes([next]);
      core.carryNoCaps(rec, next);
      return len;
    });
  }

  async sync(_ino: number, _fh: number, _datasync: boolean): Promise<void> {
    await this.backend.sync();
  }

  async fallocate(ino: number, _fh: number, mode: number, offset: number, len: number): Promise<void> {
    const core = await this.core0();
    await core.locks.run(ino, async () => {
      const rec = await core.inode(ino);
      if (isDir(rec.mode)) throw fsError(errno.EISDIR);
      if (!isReg(rec.mode)) throw fsError(errno.ENODEV);
      if (isImmutable(rec) || (isAppendOnly(rec) && mode & ~FALLOC_FL_KEEP_SIZE)) throw fsError(errno.EPERM);
      const size = await fallocateData(core, rec, mode, offset, len);
      const now = core.now();
      const dataChanged = (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) !== 0 || size !== rec.size;
      await core.putInodes([{ ...rec, size, ctimeNs: now, mtimeNs: dataChanged ? now : rec.mtimeNs }]);
    });
  }

  async llseek(ino: number, _fh: number, offset: number, whence: number): Promise<number> {
    const core = await this.core0();
    return seekData(core, await core.inode(ino), offset, whence);
  }

  async ioctl(ino: number, _fh: number, cmd: number, arg: Buffer): Promise<Buffer> {
    return ioctl(await this.core0(), ino, cmd, arg);
  }

  async getxattr(_caller: Caller, ino: number, name: string): Promise<Buffer> {
    return getXattr(await this.core0(), ino, name);
  }

  async setxattr(caller: Caller, ino: number, name: string, value: Buffer, flags: number): Promise<void> {
    return setXattr(await this.core0(), caller, ino, name, value, flags);
  }

  async listxattr(_caller: Caller, ino: number): Promise<string[]> {
    return listXattrs(await this.core0(), ino);
  }

  async removexattr(_caller: Caller, ino: number, name: string): Promise<void> {
    return removeXattr(await this.core0(), ino, name);
  }

  async statfs(): Promise<StatFs> {
    const core = await this.core0();
    const st = await core.meta.stats();
    const blocks = STATFS_BYTES / BLKSIZE;
    const used = Math.min(blocks, Math.ceil(st.bytes / BLKSIZE));
    const ffree = Math.max(0, STATFS_FILES - st.inodes);
    return {
      blocks,
      bfree: blocks - used,
      bavail: blocks - used,
      files: STATFS_FILES,
      ffree,
      bsize: BLKSIZE,
      frsize: BLKSIZE,
      namelen: NAME_MAX,
    };
  }

  async evict(ino: number): Promise<void> {
    const core = await this.core0();
    if (ino === ROOT_INO) return;
    const rec = await core.findInode(ino);
    if (!rec || rec.nlink > 0) return;
    if (core.isOpen(ino)) {
      core.evictPending.add(ino);
      return;
    }
    await this.freeIfUnlinked(ino);
  }

  /** Frees an inode with no links and no open handle here: its chunks, xattrs, record and orphan
   * entry. Returns whether it was freed. */
  private async freeIfUnlinked(ino: number): Promise<boolean> {
    const core = this.core;
    return core.locks.run(ino, async () => {
      core.evictPending.delete(ino);
      if (core.isOpen(ino)) return false;
      const rec = await core.meta.getInode(ino);
      if (rec && rec.nlink > 0) {
        core.cache.set(rec);
        return false;
      }
      await core.chunks.remove(ino, 0);
      await core.meta.commit({
        checks: [],
        ops: [
          { op: 'delInode', ino },
          { op: 'delDentry', parent: RESERVED_DIR, name: orphanName(ino) },
        ],
      });
      core.invalidate(ino);
      return true;
    });
  }

  /** Frees the unlinked inodes recorded in the orphan list that no handle here holds open. Call it
   * at mount when no other gateway serves the volume (another gateway may still have them open).
   * Returns how many were freed. */
  async reclaimOrphans(): Promise<number> {
    const core = await this.core0();
    let after = 0;
    let freed = 0;
    for (;;) {
      const page = await core.meta.readdir(RESERVED_DIR, after, 256);
      if (page.length === 0) break;
      for (const e of page) {
        after = e.cookie;
        if (!e.name.startsWith(ORPHAN_PREFIX) || core.isOpen(e.ino)) continue;
        if (await this.freeIfUnlinked(e.ino)) freed++;
      }
    }
    return freed;
  }

  /** Inodes open in this gateway (for status and tests). */
  get openInodes(): number {
    return this.core.openCount.size;
  }

  async syncfs(): Promise<void> {
    await this.backend.sync();
  }

  async destroy(): Promise<void> {
    this.unwatch?.();
    this.fileLocks.close();
    await this.backend.sync();
    await this.backend.close();
  }
}
