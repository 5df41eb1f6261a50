// NativeFsBase: what the native-layout filesystems (redis-native.ts, mongo-native.ts,
// object-native.ts) do alike, written once — the mount's name, log and owner; the guard that fails
// calls after unmount and maps store errors; refusing what a store cannot honour with one warn line
// (including setattr's chmod/chown/utimes policy); building attributes; cookie-paged readdir over a
// sorted listing snapshotted at cookie 0; and the operations none of them support (readlink,
// fallocate, ioctl) or answer the same way (llseek: no holes, evict). Each filesystem keeps its own
// wording (the refusal reasons) and everything that depends on its store.
import type { Logger } from 'pino';
import { errno, fsError } from '../errors.js';
import { S_IFDIR, S_IFMT } from '../mode.js';
import type { Attr, DirentOut, SetAttr, StatFs } from '../operations.js';
import { SEEK_DATA, SEEK_HOLE } from '../operations.js';
import { NativeInodes, type NativeNode, parentPath, ROOT_INO } from './native-inodes.js';

export const BLKSIZE = 4096;
export const O_ACCMODE = 3;
const COOKIE_SPLIT = 2 ** 32; // cookie = listing id * 2^32 + entries delivered (ids < 2^20 stay safe integers)
const MAX_LISTINGS = 64;

export interface NativeBaseOptions {
  log: Logger;
  /** Names the mount in log lines and errors. */
  mount: string;
  /** Owner shown for every file. Default: this process's uid/gid. */
  uid?: number | undefined;
  gid?: number | undefined;
}

/** The store's words for setattr refusals; the mode and owner shown are appended in parentheses. */
export interface SetattrRefusals {
  chmod: string;
  chown: string;
  utimes: string;
}

/** One listed entry as readdir returns it; undefined when it vanished since the listing. */
export type ListedEntry = { name: string; node: NativeNode; attr: Attr } | undefined;

interface Listing<E> {
  dir: number;
  entries: E[];
}

/** A statfs answer in the native layouts' shape (4 KiB blocks). */
export function statFs(blocks: number, free: number, files: number, ffree: number, namelen: number): StatFs {
  return { blocks, bfree: free, bavail: free, files, ffree, bsize: BLKSIZE, frsize: BLKSIZE, namelen };
}

/** `b` cut or zero-extended to `size` bytes (a new buffer). */
export function resizeBuffer(b: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  b.copy(out, 0, 0, Math.min(size, b.length));
  return out;
}

/** E: what a listing holds per entry. */
export abstract class NativeFsBase<E> {
  readonly rootIno = ROOT_INO;
  protected readonly log: Logger;
  protected readonly mount: string;
  protected readonly uid: number;
  protected readonly gid: number;
  protected readonly inodes = new NativeInodes();
  protected destroyed = false;
  private readonly listings = new Map<number, Listing<E>>();
  private nextListing = 1;

  constructor(opts: NativeBaseOptions) {
    this.mount = opts.mount;
    this.log = opts.log.child({ layout: 'native', mount: this.mount });
    this.uid = opts.uid ?? process.getuid?.() ?? 0;
    this.gid = opts.gid ?? process.getgid?.() ?? 0;
  }

  abstract getattr(ino: number): Promise<Attr>;

  /** A store's error as the errno the caller gets (FsErrors pass through). */
  protected abstract fail(err: unknown): Error;

  /** Why fallocate is refused, in the store's words. */
  protected abstract readonly fallocateReason: string;

  // ---- errors and logging ----

  protected async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.destroyed) throw fsError(errno.EIO, `${this.mount}: unmounted`);
    try {
      return await fn();
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** What the store cannot honour: fail now, with one warn line naming the mount and the reason. */
  protected refuse(no: number, op: string, path: string, reason: string): never {
    const err = fsError(no);
    const msg = `mount ${this.mount}: ${op} /${path}: ${reason} (${err.code})`;
    this.log.warn({ op, path: `/${path}`, errno: err.code }, msg);
    throw fsError(no, msg);
  }

  /** chmod and chown to other values, and utimes with explicit times, are refused (EPERM). */
  protected refuseSetattr(path: string, req: SetAttr, cur: Attr, words: SetattrRefusals): void {
    if (req.mode !== undefined && (req.mode & 0o7777) !== (cur.mode & 0o7777)) {
      this.refuse(errno.EPERM, 'chmod', path, `${words.chmod} (the mode is always ${(cur.mode & 0o777).toString(8)})`);
    }
    if ((req.uid !== undefined && req.uid !== this.uid) || (req.gid !== undefined && req.gid !== this.gid)) {
      this.refuse(errno.EPERM, 'chown', path, `${words.chown} (every file shows ${this.uid}:${this.gid})`);
    }
    if (typeof req.atimeNs === 'bigint' || typeof req.mtimeNs === 'bigint') {
      this.refuse(errno.EPERM, 'utimes', path, words.utimes);
    }
  }

  // ---- attributes ----

  protected nodeAttr(node: NativeNode, mode: number, size: number, timeNs: bigint, btimeNs: bigint): Attr {
    return {
      ino: node.ino,
      mode,
      nlink: 1,
      uid: this.uid,
      gid: this.gid,
      rdev: 0,
      size,
      blocks: Math.ceil(size / 512),
      blksize: BLKSIZE,
      atimeNs: timeNs,
      mtimeNs: timeNs,
      ctimeNs: timeNs,
      btimeNs,
      generation: node.generation,
    };
  }

  // ---- listing ----

  /**
   * One readdir page of the directory `dir`: ".", "..", then the listing's entries. The listing is
   * made (`list`, sorted) at cookie 0 and paged from memory; one dropped from memory is made again
   * under the same id (the sorted order makes resuming by position close). `dot` is asked only
   * for readdirplus; `emit` turns a page of entries into what is returned (vanished ones skipped).
   */
  protected async pageDir(
    dir: NativeNode,
    cookie: number,
    maxEntries: number,
    plus: boolean,
    hooks: { list: () => Promise<E[]>; dot: () => Attr | Promise<Attr>; emit: (page: E[]) => Promise<ListedEntry[]> },
  ): Promise<DirentOut[]> {
    let id = Math.floor(cookie / COOKIE_SPLIT);
    let done = cookie % COOKIE_SPLIT; // 0 nothing yet, 1 ".", 2 "..", 2 + i the first i entries
    let listing = cookie === 0 ? undefined : this.listings.get(id);
    if (!listing || listing.dir !== dir.ino) {
      if (cookie === 0) {
        id = this.nextListing;
        this.nextListing = (this.nextListing % (2 ** 20 - 1)) + 1;
        done = 0;
      }
      listing = { dir: dir.ino, entries: await hooks.list() };
      this.listings.set(id, listing);
      while (this.listings.size > MAX_LISTINGS) this.listings.delete(this.listings.keys().next().value!);
    }
    const out: DirentOut[] = [];
    const next = (n: number): number => id * COOKIE_SPLIT + n;
    if (done === 0 && out.length < maxEntries) {
      const a = plus ? await hooks.dot() : undefined;
      out.push({ name: '.', ino: dir.ino, type: S_IFDIR, next: next(1), ...(a && { attr: a }) });
      done = 1;
    }
    if (done === 1 && out.length < maxEntries) {
      const up = dir.ino === ROOT_INO ? ROOT_INO : this.inodes.at(parentPath(dir.path!)).ino;
      out.push({ name: '..', ino: up, type: S_IFDIR, next: next(2) });
      done = 2;
    }
    while (out.length < maxEntries && done - 2 < listing.entries.length) {
      const page = listing.entries.slice(done - 2, done - 2 + (maxEntries - out.length));
      const got = await hooks.emit(page);
      got.forEach((g, i) => {
        if (!g) return;
        out.push({ name: g.name, ino: g.node.ino, type: g.attr.mode & S_IFMT, next: next(done + i + 1), ...(plus && { attr: g.attr }) });
      });
      done += page.length;
    }
    return out;
  }

  // ---- what no native store supports ----

  readlink(ino: number): Promise<string> {
    return this.guard(async () => {
      this.inodes.get(ino);
      throw fsError(errno.EINVAL);
    });
  }

  fallocate(ino: number, _fh: number, _mode: number, _offset: number, _len: number): Promise<void> {
    return this.guard(async () => {
      this.refuse(errno.ENOTSUP, 'fallocate', this.inodes.get(ino).path!, this.fallocateReason);
    });
  }

  /** Native files have no holes: all data up to the size. */
  llseek(ino: number, _fh: number, offset: number, whence: number): Promise<number> {
    return this.guard(async () => {
      if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw fsError(errno.EINVAL);
      const size = (await this.getattr(ino)).size;
      if (offset >= size) throw fsError(errno.ENXIO);
      return whence === SEEK_DATA ? offset : size;
    });
  }

  ioctl(_ino: number, _fh: number, _cmd: number, _arg: Buffer): Promise<Buffer> {
    return Promise.reject(fsError(errno.ENOTTY));
  }

  evict(ino: number): Promise<void> {
    this.inodes.evict(ino);
    return Promise.resolve();
  }
}
