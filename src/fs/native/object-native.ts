// ObjectNativeFs: the native layout of S3 buckets and WebDAV servers — the store's own objects as
// files, readable and writable by every other tool — behind the ZusOperations vector.
//
// What is what (paths are relative to the URL's bucket prefix or base collection):
// - S3: the object "a/b/c" is the file c in the directory a/b; a directory exists while some key
//   lies under "a/b/" or a marker object "a/b/" exists. mkdir creates the marker (as rclone, s3fs
//   and the console do), rmdir deletes it (ENOTEMPTY while anything else is under it). When a key
//   and a prefix share a name ("a" and "a/x") the directory wins, as in mountpoint-s3. A directory
//   emptied through this mount stays visible in the mount's memory until rmdir or unmount.
// - WebDAV: resources are files, collections are directories (MKCOL, DELETE, PROPFIND).
// - Names that cannot be path components ("a//b", ".", "..", over 255 bytes) are not shown.
// - Reads are ranged GETs (ObjectReader): while they are sequential, up to 4 windows (1 MiB doubling
//   to 8 MiB) are fetched ahead in parallel; a seek abandons them. Writes, appends and truncates are
//   staged in a local file (object-staging.ts): the first one copies the object there (or starts
//   empty after O_TRUNC or create), and the file is uploaded whole at close (flush), fsync and last
//   release — S3 with a multipart upload above multipartThresholdBytes, WebDAV as one streamed PUT.
//   On S3 a new (or O_TRUNC) file written past that size is uploaded while it is written (each
//   part as soon as the staging file holds it), and close completes it; a write or truncate below
//   what was sent abandons that and the close uploads whole. (A WebDAV PUT fed while writing — one
//   chunked request — cost more CPU than it saved here, so WebDAV uploads at close.) A failed
//   upload fails that close/fsync with the errno and keeps the bytes staged for the next one.
// - A file created here is an object from its first close or fsync (an empty one at once after
//   mknod): create + write + close is one PUT. Until then it is this mount's alone.
// - Rename of a file: S3 CopyObject + DeleteObject (not atomic: for a moment both names exist, and
//   a crash between leaves both); WebDAV MOVE (atomic on the server). Rename of a directory:
//   WebDAV MOVE (atomic); S3 EXDEV — a prefix has no rename, so mv(1) copies file by file instead.
//   RENAME_EXCHANGE: EINVAL (no store can swap two names).
// - Attributes: size and mtime from the listing or HEAD/PROPFIND; files 0644, directories 0755,
//   owner = the mount's uid/gid. A listing is trusted for cacheMs (the mount's attr timeout), so
//   `ls -l` of 10,000 objects is 10 ListObjectsV2 pages and no HEADs. Past that (and cacheMs > 0),
//   a name in an S3 directory listed before with under 1,000 entries is looked up by listing it
//   again — one request for all its names for cacheMs, where a stat is a HEAD and a LIST for one;
//   mkdir starts its listing empty.
// - xattrs: user.s3.etag / user.dav.etag (read-only); others absent on read, ENOTSUP on set.
// What the store cannot honour fails at once with one warn line naming the mount and the reason:
// chmod/chown (EPERM unless unchanged), hard links, symlinks, device nodes (EPERM), utimes with
// explicit times (EPERM; "now" is kept in the mount's memory), fallocate (ENOTSUP).
// Every request is bounded by connectTimeoutMs and commandTimeoutMs: a dead server gives EIO
// (refused, reset) or ETIMEDOUT (silent), never a hang.
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../mode.js';
import type { Logger } from 'pino';
import { errno, FsError, fsError, toErrno } from '../errors.js';
import type { Attr, Caller, DirentOut, NewInode, SetAttr, StatFs, ZusOperations } from '../operations.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../operations.js';
import { BLKSIZE, NativeFsBase, O_ACCMODE, statFs } from './native-base.js';
import { childPath, type NativeNode, parentPath } from './native-inodes.js';
import { type EarlyUpload, ObjectReader, openNativeObjectStore, type NativeObjectStore, type StoreEntry } from './object-native-store.js';
import { StagingDir, type StageFile } from './object-staging.js';

export const XATTR_S3_ETAG = 'user.s3.etag';
export const XATTR_DAV_ETAG = 'user.dav.etag';

const NAME_MAX = 255;
const O_TRUNC = 0o1000;

export interface ObjectNativeOptions {
  log: Logger;
  /** Names the mount in log lines and errors. */
  mount: string;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** How long a listing or stat is trusted. Default 1000 ms. */
  cacheMs?: number | undefined;
  /** S3 uploads above this many bytes are multipart. Default 8 MiB. */
  multipartThresholdBytes?: number | undefined;
  /** S3 part size (at least 5 MiB). Default 8 MiB. */
  partSizeBytes?: number | undefined;
  /** Where zufs-staging-<pid>/ is made. Default os.tmpdir(). */
  stagingBase?: string | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
}

interface Cached {
  entry: StoreEntry | undefined;
  until: number;
}

interface Handle {
  ino: number;
  writable: boolean;
  /** Made at the first read that is not served from a staging file. */
  reader: ObjectReader | undefined;
}

/** An inode's staging file; it goes with the inode's last release. */
interface Stage {
  file: StageFile;
  /** Started empty (create, O_TRUNC) and not uploaded since: an early upload may carry it. */
  fresh: boolean;
  early?: EarlyUpload | undefined;
}

export class ObjectNativeFs extends NativeFsBase<StoreEntry> implements ZusOperations {
  protected readonly fallocateReason = 'objects have no preallocation';
  private readonly cacheMs: number;
  private readonly mountTimeMs = Date.now();
  private readonly stats = new Map<string, Cached>();
  private readonly dirCache = new Map<string, { entries: Map<string, StoreEntry>; until: number }>();
  private readonly listing = new Map<string, Promise<Map<string, StoreEntry>>>();
  private readonly dirChanges = new Map<string, number>();
  private readonly handles = new Map<number, Handle>();
  private readonly opens = new Map<number, number>();
  private readonly stages = new Map<number, Stage>();
  private readonly mtimes = new Map<number, number>();
  /** Files created here whose object is not in the store yet (made at first close or fsync). */
  private readonly unborn = new Set<number>();
  /** Created by newInode and not opened since (see there). */
  private readonly created = new Set<number>();
  /** S3 directories kept alive by this mount (emptied through it), with their ancestors. */
  private readonly pinned = new Set<string>();
  private readonly staging: StagingDir;
  private nextFh = 1;

  constructor(
    private readonly store: NativeObjectStore,
    opts: ObjectNativeOptions,
  ) {
    super(opts);
    this.cacheMs = opts.cacheMs ?? 1000;
    this.staging = new StagingDir(opts.stagingBase);
  }

  /** Opens s3://bucket/prefix?endpoint=...&region=...&addressing=path or webdav+http(s)://host/path/
   * and checks, within the timeouts, that the bucket or base collection answers. */
  static async open(url: string, opts: ObjectNativeOptions): Promise<ObjectNativeFs> {
    const partSize = Math.max(5 * 1024 * 1024, opts.partSizeBytes ?? 8 * 1024 * 1024);
    let store: NativeObjectStore;
    try {
      store = openNativeObjectStore(url, {
        connectTimeoutMs: opts.connectTimeoutMs,
        commandTimeoutMs: opts.commandTimeoutMs,
        accessKeyId: opts.accessKeyId,
        secretAccessKey: opts.secretAccessKey,
        partSize,
        multipartThreshold: opts.multipartThresholdBytes ?? 8 * 1024 * 1024,
      });
      await store.probe();
    } catch (err) {
      throw fsError(toErrno(err), `mount ${opts.mount}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    return new ObjectNativeFs(store, opts);
  }

  // ---- errors and logging ----

  protected fail(err: unknown): Error {
    if (err instanceof FsError) return err;
    const no = toErrno(err);
    const msg = err instanceof Error ? err.message : String(err);
    if (no === errno.EIO || no === errno.ETIMEDOUT) this.log.warn({ err: msg }, `mount ${this.mount}: store request failed: ${msg}`);
    return fsError(no, `mount ${this.mount}: ${msg}`, err);
  }

  private checkName(name: string): void {
    if (Buffer.byteLength(name) > NAME_MAX) throw fsError(errno.ENAMETOOLONG);
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw fsError(errno.EINVAL);
  }

  private static showable(name: string): boolean {
    return name !== '' && name !== '.' && name !== '..' && !name.includes('\0') && Buffer.byteLength(name) <= NAME_MAX;
  }

  // ---- the metadata cache ----

  private invalidate(path: string): void {
    this.stats.delete(path);
    this.dirCache.delete(parentPath(path));
    this.changed(parentPath(path));
  }

  /** A listing in flight while its directory changed here may miss the change: it is not cached. */
  private changed(dir: string): void {
    this.dirChanges.set(dir, (this.dirChanges.get(dir) ?? 0) + 1);
  }

  private remember(path: string, entry: StoreEntry | undefined): void {
    this.stats.set(path, { entry, until: Date.now() + this.cacheMs });
    this.changed(parentPath(path));
    const dir = this.dirCache.get(parentPath(path));
    if (dir) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      if (entry) dir.entries.set(name, entry);
      else dir.entries.delete(name);
    }
  }

  /** A directory renamed: what was cached at and under both names is wrong now (a directory made
   * again by the old name must not find the old files, the new name must show them). */
  private forgetUnder(dir: string): void {
    const under = `${dir}/`;
    for (const p of this.stats.keys()) if (p.startsWith(under)) this.stats.delete(p);
    for (const p of this.dirCache.keys()) if (p === dir || p.startsWith(under)) this.dirCache.delete(p);
    for (const p of this.listing.keys()) if (p === dir || p.startsWith(under)) this.changed(p);
  }

  private pin(path: string): void {
    if (this.store.kind !== 's3') return;
    for (let p = path; p !== ''; p = parentPath(p)) this.pinned.add(p);
  }

  /** What is at `path` now (cached for cacheMs), or undefined. */
  private async lookupPath(path: string): Promise<StoreEntry | undefined> {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (path === '') return { name: '', isDir: true, size: 0, mtimeMs: this.mountTimeMs };
    const now = Date.now();
    const hit = this.stats.get(path);
    if (hit && hit.until > now) return hit.entry ?? (this.pinned.has(path) ? this.pinnedEntry(name) : undefined);
    const parent = parentPath(path);
    const dir = this.dirCache.get(parent);
    if (dir && dir.until > now) return this.inListing(dir.entries, path, name);
    // A small directory listed before (one ListObjectsV2 page): one request re-lists it for every
    // name in it, where a stat costs a HEAD and a LIST for one name — files made one after another.
    if (dir && this.store.kind === 's3' && this.cacheMs > 0 && dir.entries.size < 1000) {
      const fresh = await this.listDir(parent).catch(() => undefined);
      if (fresh) return this.inListing(fresh, path, name);
    }
    const e = await this.store.stat(path);
    this.stats.set(path, { entry: e, until: Date.now() + this.cacheMs });
    if (!e && this.pinned.has(path)) return this.pinnedEntry(name);
    if (!e && this.unbornAt(path)) return this.unbornEntry(name);
    if (e?.isDir === false && this.pinned.has(path)) this.pinned.delete(path);
    return e;
  }

  private unbornAt(path: string): boolean {
    for (const ino of this.unborn) if (this.pathOf(ino) === path) return true;
    return false;
  }

  private inListing(entries: Map<string, StoreEntry>, path: string, name: string): StoreEntry | undefined {
    return entries.get(name) ?? (this.pinned.has(path) ? this.pinnedEntry(name) : undefined) ?? (this.unbornAt(path) ? this.unbornEntry(name) : undefined);
  }

  private unbornEntry(name: string): StoreEntry {
    return { name, isDir: false, size: 0, mtimeMs: this.mountTimeMs };
  }

  private pinnedEntry(name: string): StoreEntry {
    return { name, isDir: true, size: 0, mtimeMs: this.mountTimeMs };
  }

  private async entryOf(node: NativeNode): Promise<StoreEntry> {
    const e = await this.lookupPath(node.path!);
    if (!e) {
      if (this.stages.has(node.ino)) return { name: '', isDir: false, size: 0, mtimeMs: this.mountTimeMs };
      throw fsError(errno.ENOENT);
    }
    return e;
  }

  private attr(node: NativeNode, e: StoreEntry): Attr {
    const stage = this.stages.get(node.ino);
    const size = e.isDir ? 0 : stage ? stage.file.size : e.size;
    const ms = this.mtimes.get(node.ino) ?? (e.mtimeMs || this.mountTimeMs);
    const t = BigInt(ms) * 1_000_000n;
    return this.nodeAttr(node, e.isDir ? S_IFDIR | 0o755 : S_IFREG | 0o644, size, t, t);
  }

  private async dirNode(dir: number): Promise<NativeNode> {
    const node = this.inodes.get(dir);
    const e = await this.entryOf(node);
    if (!e.isDir) throw fsError(errno.ENOTDIR);
    return node;
  }

  // ---- namespace ----

  lookup(_caller: Caller, dir: number, name: string): Promise<Attr> {
    return this.guard(async () => {
      this.checkName(name);
      const d = await this.dirNode(dir);
      const path = childPath(d.path!, name);
      const e = await this.lookupPath(path);
      if (!e) throw fsError(errno.ENOENT);
      return this.attr(this.inodes.at(path), e);
    });
  }

  getattr(ino: number): Promise<Attr> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      return this.attr(node, await this.entryOf(node));
    });
  }

  newInode(_caller: Caller, dir: number, name: string, req: NewInode): Promise<Attr> {
    return this.guard(async () => {
      this.checkName(name);
      const d = await this.dirNode(dir);
      const path = childPath(d.path!, name);
      const type = req.mode & S_IFMT;
      const what = this.store.kind === 's3' ? 'S3 objects' : 'WebDAV resources';
      if (type === S_IFLNK) this.refuse(errno.EPERM, 'symlink', path, `${what} cannot be symbolic links`);
      if (type !== S_IFREG && type !== S_IFDIR) this.refuse(errno.EPERM, 'mknod', path, `${what} cannot be device nodes, FIFOs or sockets`);
      if (await this.lookupPath(path)) throw fsError(errno.EEXIST);
      const now = Date.now();
      let e: StoreEntry;
      if (type === S_IFDIR) {
        await this.store.mkdir(path);
        e = { name, isDir: true, size: 0, mtimeMs: now };
        // Nothing was under it a moment ago: its listing is known (and trusted as any listing).
        this.dirCache.set(path, { entries: new Map(), until: Date.now() + this.cacheMs });
      } else {
        // An empty staging file, uploaded at the first close or fsync: create + write + close is one
        // PUT. Until then the name is this mount's alone (as in rclone and mountpoint-s3).
        const ino = this.inodes.at(path).ino;
        if (!this.stages.has(ino)) {
          const file = await this.staging.create(this.mount);
          if (this.stages.has(ino)) await file.close();
          else this.stages.set(ino, { file, fresh: true });
        }
        this.stages.get(ino)!.file.dirty = true; // even an empty file is an object to make
        this.unborn.add(ino);
        // mknod(2) is never opened: make its object once the transport has had its chance to open it
        // (a CREATE calls open() straight after, which takes the inode out of `created`).
        this.created.add(ino);
        setImmediate(() => {
          if (this.created.delete(ino) && !this.opens.has(ino) && this.unborn.has(ino) && !this.destroyed) {
            void this.retire(ino).catch(() => undefined);
          }
        });
        e = { name, isDir: false, size: 0, mtimeMs: now };
      }
      this.remember(path, e);
      const node = this.inodes.at(path);
      // a directory keeps the time it was made: a later listing (marker object, or a bare prefix)
      // would give another, and tar -c would see it "changed as we read it"
      if (type === S_IFDIR) this.mtimes.set(node.ino, now);
      else this.mtimes.delete(node.ino);
      return this.attr(node, e);
    });
  }

  addDentry(_caller: Caller, dir: number, name: string, _ino: number): Promise<Attr> {
    return this.guard(async () => {
      const d = this.inodes.get(dir);
      this.refuse(errno.EPERM, 'link', childPath(d.path!, name), `${this.store.kind === 's3' ? 'S3' : 'WebDAV'} has no hard links (an object has exactly one name)`);
    });
  }

  removeDentry(_caller: Caller, dir: number, name: string, isDir: boolean): Promise<void> {
    return this.guard(async () => {
      const d = await this.dirNode(dir);
      const path = childPath(d.path!, name);
      const e = await this.lookupPath(path);
      if (!e) throw fsError(errno.ENOENT);
      if (isDir) {
        if (!e.isDir) throw fsError(errno.ENOTDIR);
        this.dirCache.delete(path);
        if (await this.store.hasMembers(path)) throw fsError(errno.ENOTEMPTY);
        for (const p of this.pinned) if (p.startsWith(`${path}/`)) throw fsError(errno.ENOTEMPTY);
        await this.store.rmdir(path);
        this.pinned.delete(path);
      } else {
        if (e.isDir) throw fsError(errno.EISDIR);
        await this.store.deleteFile(path);
      }
      // On S3 the parent may have existed only through this object: it stays, as on a local disk.
      if (d.path !== '') this.pin(d.path!);
      this.remember(path, undefined);
      this.inodes.remove(path);
      this.mtimes.set(d.ino, Date.now());
    });
  }

  rename(_caller: Caller, oldDir: number, oldName: string, newDir: number, newName: string, flags: number): Promise<void> {
    return this.guard(async () => {
      this.checkName(newName);
      const from = await this.dirNode(oldDir);
      const to = await this.dirNode(newDir);
      const src = childPath(from.path!, oldName);
      const dst = childPath(to.path!, newName);
      if (flags & RENAME_EXCHANGE) this.refuse(errno.EINVAL, 'rename(RENAME_EXCHANGE)', src, 'an object store cannot swap two names atomically');
      const s = await this.lookupPath(src);
      if (!s) throw fsError(errno.ENOENT);
      if (src === dst) return;
      if (dst.startsWith(`${src}/`)) throw fsError(errno.EINVAL);
      if (s.isDir && !this.store.atomicDirRename) {
        this.refuse(errno.EXDEV, 'rename', src, 'an S3 directory is a key prefix and has no rename; mv copies it object by object instead');
      }
      const t = await this.lookupPath(dst);
      if (t) {
        if (flags & RENAME_NOREPLACE) throw fsError(errno.EEXIST);
        if (s.isDir && !t.isDir) throw fsError(errno.ENOTDIR);
        if (!s.isDir && t.isDir) throw fsError(errno.EISDIR);
        if (t.isDir && (await this.store.hasMembers(dst))) throw fsError(errno.ENOTEMPTY);
      }
      const srcNode = this.inodes.at(src);
      // Staged bytes not yet uploaded go first, so the copy carries what the writer wrote.
      const stage = this.stages.get(srcNode.ino);
      if (stage) await this.upload(srcNode.ino, stage);
      if (this.store.move) {
        if (t?.isDir) await this.store.rmdir(dst);
        await this.store.move(src, dst, s.isDir, true);
      } else {
        await this.store.copyFile(src, dst);
        await this.store.deleteFile(src);
      }
      if (from.path !== '') this.pin(from.path!);
      this.invalidate(src);
      this.invalidate(dst);
      this.dirCache.delete(src);
      if (s.isDir) {
        this.forgetUnder(src);
        this.forgetUnder(dst);
      }
      this.remember(dst, { ...s, name: newName });
      this.inodes.rename(src, dst);
      const now = Date.now();
      this.mtimes.set(from.ino, now);
      this.mtimes.set(to.ino, now);
    });
  }

  // ---- listing ----

  /** Lists a directory into the caches (one listing at a time per directory). */
  private listDir(path: string): Promise<Map<string, StoreEntry>> {
    let p = this.listing.get(path);
    if (!p) {
      const before = this.dirChanges.get(path);
      p = (async () => {
        const got = await this.store.list(path);
        const entries = new Map<string, StoreEntry>();
        for (const e of got) if (ObjectNativeFs.showable(e.name)) entries.set(e.name, e);
        if (this.dirChanges.get(path) === before) {
          const until = Date.now() + this.cacheMs;
          this.dirCache.set(path, { entries, until });
          for (const e of entries.values()) this.stats.set(childPath(path, e.name), { entry: e, until });
        }
        return entries;
      })().finally(() => this.listing.delete(path));
      this.listing.set(path, p);
    }
    return p;
  }

  private async list(node: NativeNode): Promise<StoreEntry[]> {
    const path = node.path!;
    const cached = this.dirCache.get(path);
    const entries = new Map(cached && cached.until > Date.now() ? cached.entries : await this.listDir(path));
    const under = path === '' ? '' : `${path}/`;
    for (const ino of this.unborn) {
      const p = this.pathOf(ino);
      if (p !== undefined && parentPath(p) === path) {
        const name = p.slice(under.length);
        if (!entries.has(name)) entries.set(name, { name, isDir: false, size: 0, mtimeMs: this.mountTimeMs });
      }
    }
    for (const p of this.pinned) {
      if (!p.startsWith(under) || p.length <= under.length) continue;
      const name = p.slice(under.length).split('/')[0]!;
      if (!entries.has(name)) entries.set(name, this.pinnedEntry(name));
    }
    return [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  readdir(_caller: Caller, dir: number, cookie: number, maxEntries: number, plus: boolean): Promise<DirentOut[]> {
    return this.guard(async () => {
      const d = await this.dirNode(dir);
      return this.pageDir(d, cookie, maxEntries, plus, {
        list: () => this.list(d),
        dot: async () => this.attr(d, await this.entryOf(d)),
        emit: async (page) =>
          page.map((e) => {
            const node = this.inodes.at(childPath(d.path!, e.name));
            return { name: e.name, node, attr: this.attr(node, e) };
          }),
      });
    });
  }

  // ---- attributes ----

  setattr(_caller: Caller, ino: number, req: SetAttr): Promise<Attr> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      const path = node.path!;
      const e = await this.entryOf(node);
      const what = this.store.kind === 's3' ? 'S3 objects' : 'WebDAV resources';
      this.refuseSetattr(path, req, this.attr(node, e), {
        chmod: `${what} have no permission bits`,
        chown: `${what} have no owner`,
        utimes: `the store sets an object's modification time itself; only "now" (touch) is accepted`,
      });
      if (req.size !== undefined) {
        if (e.isDir) throw fsError(errno.EISDIR);
        if (!Number.isSafeInteger(req.size) || req.size < 0) throw fsError(errno.EINVAL);
        await this.truncate(node, e, req.size, req.fh);
      }
      if (req.size !== undefined || req.mtimeNs === 'now' || req.atimeNs === 'now') this.mtimes.set(ino, Date.now());
      return this.attr(node, req.size !== undefined ? { ...e, size: req.size } : e);
    });
  }

  private async truncate(node: NativeNode, e: StoreEntry, size: number, fh: number | undefined): Promise<void> {
    const open = this.stages.get(node.ino) ?? ((this.opens.get(node.ino) ?? 0) > 0 ? await this.stageFor(node, size === 0) : undefined);
    if (open) {
      await open.file.lock.run(() => {
        if (open.early && size < open.early.sent) this.abandonEarly(open);
        return open.file.truncate(size);
      });
      // truncate(2) by path belongs to no open file whose close would upload it: upload now.
      if (fh === undefined) await this.upload(node.ino, open);
      return;
    }
    // Not open here (truncate(1)): stage, cut or extend, upload, drop.
    if (size === e.size) return;
    const path = node.path!;
    if (size === 0) {
      this.remember(path, { ...e, size: 0, mtimeMs: Date.now(), etag: await this.store.put(path, Buffer.alloc(0)) });
      return;
    }
    const file = await this.staging.create(this.mount);
    try {
      await file.load((s, end) => this.store.get(path, s, end));
      await file.truncate(size);
      const etag = await this.store.putFile(path, file.fh, file.name, size);
      this.remember(path, { ...e, size, mtimeMs: Date.now(), etag });
    } finally {
      await file.close();
    }
  }

  // ---- data ----

  open(_caller: Caller, ino: number, flags: number): Promise<number> {
    this.created.delete(ino); // before any wait: the stage of a new file is this open's to upload
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      const e = await this.entryOf(node);
      const writable = (flags & O_ACCMODE) !== 0;
      const fh = this.nextFh++;
      this.handles.set(fh, { ino, writable, reader: undefined });
      this.opens.set(ino, (this.opens.get(ino) ?? 0) + 1);
      if (!e.isDir && writable && flags & O_TRUNC) {
        const st = await this.stageFor(node, true);
        await st.file.lock.run(() => {
          this.abandonEarly(st);
          st.fresh = true; // rewritten from its start
          return st.file.truncate(0);
        });
      }
      return fh;
    });
  }

  private handle(ino: number, fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h || h.ino !== ino) throw fsError(errno.EBADF);
    return h;
  }

  /** The inode's staging file, made on first need: a copy of the object, or empty. */
  private async stageFor(node: NativeNode, empty: boolean): Promise<Stage> {
    let st = this.stages.get(node.ino);
    if (st) return st;
    const file = await this.staging.create(this.mount);
    try {
      if (!empty) await file.load((s, end) => this.store.get(node.path!, s, end));
    } catch (err) {
      await file.close();
      throw err;
    }
    st = this.stages.get(node.ino); // another writer staged it meanwhile
    if (st) {
      await file.close();
      return st;
    }
    st = { file, fresh: empty };
    this.stages.set(node.ino, st);
    return st;
  }

  read(ino: number, fh: number, offset: number, len: number): Promise<Buffer> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      if (len <= 0) return Buffer.alloc(0);
      const st = this.stages.get(ino);
      if (st) return st.file.read(offset, len);
      if (!h.reader) {
        const node = this.inodes.get(ino);
        const size = (await this.entryOf(node)).size;
        // The path is looked up per request: a rename keeps the open file readable.
        h.reader = new ObjectReader((start, end, signal) => this.store.get(this.inodes.get(ino).path!, start, end, signal), size);
      }
      return await h.reader.read(offset, len);
    });
  }

  write(ino: number, fh: number, offset: number, data: Buffer): Promise<number> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      if (!h.writable) throw fsError(errno.EBADF);
      const st = await this.stageFor(this.inodes.get(ino), false);
      await st.file.lock.run(async () => {
        if (st.early && offset < st.early.sent) this.abandonEarly(st); // rewrites what was sent
        await st.file.write(offset, data);
        // A large new file goes to the store while it is written (S3: parts as each fills).
        if (!st.early && st.fresh && this.store.beginUpload && st.file.size > (this.store.earlyUploadFrom ?? Infinity)) {
          const path = this.pathOf(ino);
          if (path !== undefined) st.early = this.store.beginUpload(path, st.file.fh);
        }
        st.early?.offer(st.file.size);
      });
      this.mtimes.set(ino, Date.now());
      return data.length;
    });
  }

  /** The early upload will not be used: the file is uploaded whole at close. */
  private abandonEarly(st: Stage): void {
    st.early?.abort();
    st.early = undefined;
    st.fresh = false;
  }

  /** Uploads a stage if it holds bytes the store lacks. An unlinked file's bytes are dropped. */
  private async upload(ino: number, st: Stage): Promise<void> {
    await st.file.lock.run(async () => {
      if (!st.file.dirty) return;
      const path = this.pathOf(ino);
      if (path === undefined) {
        this.abandonEarly(st);
        st.file.dirty = false;
        return;
      }
      let etag: string | undefined;
      const early = st.early;
      st.early = undefined;
      st.fresh = false; // what is written from now on needs the whole file uploaded again
      if (early) {
        try {
          etag = await early.finish(st.file.size);
        } catch (err) {
          early.abort();
          this.log.debug({ err: (err as Error).message }, `mount ${this.mount}: early upload of /${path} failed; uploading it whole`);
          etag = await this.store.putFile(path, st.file.fh, st.file.name, st.file.size);
        }
      } else {
        etag = await this.store.putFile(path, st.file.fh, st.file.name, st.file.size);
      }
      st.file.dirty = false;
      this.unborn.delete(ino);
      for (const h of this.handles.values()) if (h.ino === ino) h.reader?.reset(st.file.size); // read-ahead of the old object
      this.remember(path, { name: path.slice(path.lastIndexOf('/') + 1), isDir: false, size: st.file.size, mtimeMs: Date.now(), etag });
      this.mtimes.delete(ino);
    });
  }

  /** The path of an inode now; undefined once it was removed. */
  private pathOf(ino: number): string | undefined {
    try {
      return this.inodes.get(ino).path;
    } catch {
      return undefined;
    }
  }

  flush(ino: number, fh: number): Promise<void> {
    return this.guard(async () => {
      this.handle(ino, fh);
      const st = this.stages.get(ino);
      if (st) await this.upload(ino, st);
    });
  }

  release(ino: number, fh: number): Promise<void> {
    return this.guard(async () => {
      this.handle(ino, fh).reader?.reset(); // read-ahead no one will read
      this.handles.delete(fh);
      const left = (this.opens.get(ino) ?? 1) - 1;
      if (left > 0) {
        this.opens.set(ino, left);
        return;
      }
      this.opens.delete(ino);
      await this.retire(ino);
    });
  }

  /** Uploads and drops the stage of an inode no one has open. A failed upload keeps the bytes on disk. */
  private async retire(ino: number): Promise<void> {
    const st = this.stages.get(ino);
    if (!st) return;
    this.stages.delete(ino);
    let kept = false;
    try {
      await this.upload(ino, st);
    } catch (err) {
      if (st.file.dirty) {
        kept = true;
        this.log.error({ err: (err as Error).message, staged: st.file.name }, `mount ${this.mount}: upload at last close failed; the written bytes are kept in ${st.file.name}`);
      }
      throw err;
    } finally {
      this.unborn.delete(ino);
      await st.file.close(kept);
    }
  }

  /** Staged bytes are uploaded: once this returns, the store holds them. */
  sync(ino: number, fh: number, _datasync: boolean): Promise<void> {
    return this.guard(async () => {
      this.handle(ino, fh);
      const st = this.stages.get(ino);
      if (st) await this.upload(ino, st);
    });
  }

  // ---- xattrs ----

  private get etagName(): string {
    return this.store.kind === 's3' ? XATTR_S3_ETAG : XATTR_DAV_ETAG;
  }

  getxattr(_caller: Caller, ino: number, name: string): Promise<Buffer> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      // security.capability and ACL names arrive on every write and lookup: no round trip.
      if (name !== this.etagName) throw fsError(errno.ENODATA);
      const e = await this.entryOf(node);
      if (e.isDir || !e.etag) throw fsError(errno.ENODATA);
      return Buffer.from(e.etag);
    });
  }

  listxattr(_caller: Caller, ino: number): Promise<string[]> {
    return this.guard(async () => {
      const e = await this.entryOf(this.inodes.get(ino));
      return !e.isDir && e.etag ? [this.etagName] : [];
    });
  }

  setxattr(_caller: Caller, ino: number, name: string, _value: Buffer, _flags: number): Promise<void> {
    return this.guard(async () => {
      const path = this.inodes.get(ino).path!;
      if (name === this.etagName) this.refuse(errno.EPERM, `setxattr ${name}`, path, 'the ETag is the store\'s and read-only');
      this.refuse(errno.ENOTSUP, `setxattr ${name}`, path, `the native layout keeps no extended attributes (only ${this.etagName}, read-only)`);
    });
  }

  removexattr(_caller: Caller, ino: number, name: string): Promise<void> {
    return this.guard(async () => {
      const path = this.inodes.get(ino).path!;
      if (name === this.etagName) this.refuse(errno.EPERM, `removexattr ${name}`, path, 'the ETag is the store\'s and read-only');
      throw fsError(errno.ENODATA);
    });
  }

  // ---- volume ----

  /** Object stores have no fixed capacity: a large constant, as rclone and mountpoint-s3 report. */
  statfs(): Promise<StatFs> {
    const blocks = 2 ** 40 / BLKSIZE;
    return Promise.resolve(statFs(blocks, blocks, 2 ** 32, 2 ** 32, NAME_MAX));
  }

  syncfs(): Promise<void> {
    return this.guard(async () => {
      for (const [ino, st] of [...this.stages]) await this.upload(ino, st);
    });
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    for (const [ino, st] of [...this.stages]) {
      let kept = false;
      try {
        await this.upload(ino, st);
      } catch (err) {
        kept = st.file.dirty;
        this.log.error({ err: (err as Error).message, staged: st.file.name }, `mount ${this.mount}: upload at unmount failed; the written bytes are kept in ${st.file.name}`);
      }
      await st.file.close(kept);
    }
    this.destroyed = true;
    this.stages.clear();
    this.handles.clear();
    this.staging.cleanup();
  }
}
