// MongoNativeFs: the MongoDB "native" layout — a server's own databases, collections, documents and
// GridFS files as directories and files, readable and writable by every other MongoDB tool — behind
// the ZusOperations vector every transport calls.
//
// What is what:
// - The root is the server, its entries the databases, when the URL names no database
//   (mongodb://host:port/); it is that one database when the URL names one (mongodb://host/shop).
//   A database exists in MongoDB only while it holds a collection: mkdir of a database keeps it in
//   this mount's memory until a collection is made in it (or rmdir, or unmount).
// - A collection is a directory of documents. mkdir in a database creates the collection
//   (createCollection); rmdir drops it when it holds no document (ENOTEMPTY otherwise).
// - A document is the file `<_id>.json` (the _id encoding is in mongo-native-format.ts: ObjectId
//   as 24 hex digits, strings as themselves with "%", "/" and NUL %-escaped, numbers as `n:42`,
//   other types as `e:<Extended JSON>`). Its content is the document as Extended JSON, relaxed where
//   that keeps the BSON type, pretty-printed, keys in stored order; its size is that text's length
//   (an open file keeps the text it rendered at open, so size and reads agree while it is open).
//   Writes are staged per open file and stored at close (flush) or fsync: the text must be one JSON
//   object, stored with replaceOne(upsert) under the _id of the file name — an _id inside the text
//   that disagrees is EINVAL. Text that does not parse fails close(2)/fsync with EINVAL and one warn
//   line naming the mount, the file and the parse error; the stored document keeps its old value.
//   A close before anything was written (shells open, dup and close before `echo … >` writes) stores
//   nothing. A file created and closed empty creates no document (there is no empty document to
//   store): it disappears at its last close. unlink is deleteOne.
// - A GridFS bucket — the collections `<b>.files` and `<b>.chunks` — is the directory `<b>.gridfs`
//   (the two collections are not shown), its files the bucket's files by filename (the latest
//   revision, as openDownloadStreamByName picks it). Reads are streamed from a download stream that
//   sequential reads continue (a seek starts a ranged one). Writes go to a local temporary file
//   (the old content is downloaded into it first unless the file is truncated to 0), uploaded with
//   openUploadStream at close, after which the older revisions are deleted. `touch` creates an empty
//   GridFS file. mkdir `<b>.gridfs` creates both collections; rmdir drops them when the bucket is empty.
//   A filename containing "/" or not a valid path component is not shown (debug line).
// - Names: a collection whose name contains "/" or NUL, a `<b>.files`/`<b>.chunks` pair (shown as
//   its bucket), and a collection literally named `<x>.gridfs` are not shown.
// - Listing: databases by listDatabases, collections by listCollections, documents by one cursor
//   (find, projection {_id: 1} — the whole documents when the kernel asks for attributes — sorted by
//   _id, batchSize 1000), snapshotted at the start of a listing and paged from memory. A directory
//   seen in a listing is trusted for dirCacheMs without asking again.
// - Inode numbers: stable per path for the life of the mount (native-inodes.ts), root = 1.
// - Attributes: files 0644, directories 0755, owner = the mount's uid/gid, nlink 1. mtime: an
//   ObjectId's timestamp, a GridFS file's uploadDate, else the mount time; a write through this
//   mount sets it to now.
// - rename: a document within its collection is replaceOne(upsert) under the new _id, then
//   deleteOne of the old — two operations, not atomic (FerretDB and standalone servers have no
//   transactions): a crash between leaves both names. Copying a document's file to another name in
//   the same collection (cp a.json b.json) copies its text, _id included, so it fails with EINVAL
//   (the _id disagrees with the name); copies between collections keep the _id and work.
//   A GridFS file within its bucket is GridFSBucket.rename of every revision (the target's
//   revisions deleted first). A collection within its database is renameCollection (an empty
//   target is dropped first; a non-empty one is ENOTEMPTY).
//
// What MongoDB cannot honour fails at once with one warn log line naming the mount and the reason:
// chmod/chown, hard links, symlinks, device nodes, explicit utimes, files outside collections and
// buckets, directories inside them (EPERM); a file name that is not `<encoded _id>.json` in a
// collection (EINVAL); moving a document or file between collections, buckets or databases, renaming
// a database or a bucket (EXDEV: mv copies instead); RENAME_EXCHANGE, fallocate and xattrs (ENOTSUP).
//
// Failure behaviour follows the posix-layout backend's driver options: a server that cannot be
// reached (killed, refused) fails an operation with EIO after connectTimeoutMs (server selection), a
// server that accepts but does not answer (frozen) with ETIMEDOUT after commandTimeoutMs; reads are
// not retried by the driver so that bound holds (writes keep the driver's one retry on replica
// sets). The driver reconnects by itself when the server comes back.
import type { Db, Document, MongoClient } from 'mongodb';
import { ObjectId } from 'mongodb';
import type { Logger } from 'pino';
import { errno, fsError } from '../errors.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../mode.js';
import type { Attr, Caller, DirentOut, NewInode, SetAttr, StatFs, ZusOperations } from '../operations.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../operations.js';
import { connectMongo, nativeMongoError, parseMongoNativeUrl } from './mongo-connect.js';
import { bucketOf, GRIDFS_SUFFIX, type GridFile, GridReader, GridStage, listFiles, revisions } from './mongo-gridfs.js';
import { DOC_SUFFIX, idToName, NAME_MAX, nameToId, parseDoc, renderDoc, sameId } from './mongo-native-format.js';
import { NativeFsBase, O_ACCMODE, resizeBuffer, statFs } from './native-base.js';
import { baseName, childPath, type NativeNode, parentPath } from './native-inodes.js';

const BATCH = 1000;
const MAX_SKIP_LOGS = 10_000;
/** Staged document text beyond this is refused: a BSON document is at most 16 MiB. */
const MAX_DOC_TEXT = 64 * 1024 * 1024;
const DB_NAME_MAX = 63;

export interface MongoNativeOptions {
  log: Logger;
  /** Names the mount in log lines and errors. Default: the redacted URL. */
  mount?: string | undefined;
  /** How long to wait for a reachable server (connect and server selection). Default 5000. */
  connectTimeoutMs?: number | undefined;
  /** A socket silent this long fails the operation with ETIMEDOUT. Default 30000. */
  commandTimeoutMs?: number | undefined;
  /** Owner shown for every file. Default: this process's uid/gid. */
  uid?: number | undefined;
  gid?: number | undefined;
  /** How long a database, collection or bucket seen to exist is trusted. Default 2000. */
  dirCacheMs?: number | undefined;
}

type Place =
  | { kind: 'root' }
  | { kind: 'db'; db: string }
  | { kind: 'coll'; db: string; coll: string }
  | { kind: 'bucket'; db: string; bucket: string }
  | { kind: 'doc'; db: string; coll: string; id: unknown }
  | { kind: 'gfile'; db: string; bucket: string; name: string };

type Kind = Place['kind'];

interface Info {
  kind: Kind;
  size: number;
  mtimeNs?: bigint | undefined;
}

interface Handle {
  fh: number;
  node: NativeNode;
  kind: Kind;
  writable: boolean;
  dirty: boolean;
  /** doc: the text rendered at open, or what was written since. */
  content?: Buffer | undefined;
  /** gfile: the revision open (undefined for a file created here and not uploaded yet). */
  file?: GridFile | undefined;
  reader?: GridReader | undefined;
  stage?: GridStage | undefined;
}

interface Entry {
  name: string;
  kind: Kind;
  size?: number | undefined;
  mtimeNs?: bigint | undefined;
}

const isDir = (k: Kind): boolean => k === 'root' || k === 'db' || k === 'coll' || k === 'bucket';
const msToNs = (ms: number): bigint => BigInt(Math.trunc(ms)) * 1_000_000n;

function docTime(id: unknown): bigint | undefined {
  return id instanceof ObjectId ? msToNs(id.getTimestamp().getTime()) : undefined;
}

function badComponent(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'an empty, "." or ".." name';
  if (name.includes('/')) return 'a "/"';
  if (name.includes('\0')) return 'a NUL byte';
  if (Buffer.byteLength(name) > NAME_MAX) return `more than ${NAME_MAX} bytes`;
  return undefined;
}

export class MongoNativeFs extends NativeFsBase<Entry> implements ZusOperations {
  protected readonly fallocateReason = 'MongoDB documents and GridFS files have no preallocation';
  private readonly dirCacheMs: number;
  private readonly mountTimeNs = msToNs(Date.now());
  private readonly handles = new Map<number, Handle>();
  /** The handle whose content getattr reports while a file is open (the last opened or written). */
  private readonly shown = new Map<number, Handle>();
  private readonly mtimes = new Map<number, bigint>();
  /** Files created here and not stored yet (see the top of the file): path → kind. */
  private readonly pending = new Map<string, 'doc' | 'gfile'>();
  /** Databases made by mkdir that hold no collection yet. */
  private readonly pinned = new Set<string>();
  /** Directories recently seen to exist: path → until (ms). */
  private readonly seen = new Map<string, number>();
  private readonly skipped = new Set<string>();
  private nextFh = 1;

  /** Wraps a connected client; `database` set makes that database the root. */
  constructor(
    private readonly client: MongoClient,
    private readonly database: string | undefined,
    opts: MongoNativeOptions & { label: string },
  ) {
    super({ ...opts, mount: opts.mount ?? opts.label });
    this.dirCacheMs = opts.dirCacheMs ?? 2000;
  }

  /** Connects to mongodb://host[:port][/database] within connectTimeoutMs (EIO/ETIMEDOUT, EACCES). */
  static async open(url: string, opts: MongoNativeOptions): Promise<MongoNativeFs> {
    const t = parseMongoNativeUrl(url);
    const client = await connectMongo(t, {
      connectTimeoutMs: opts.connectTimeoutMs,
      commandTimeoutMs: opts.commandTimeoutMs,
      appName: `zufs:native:${opts.mount ?? 'mount'}`,
    });
    return new MongoNativeFs(client, t.database, { ...opts, label: t.label });
  }

  // ---- errors and logging ----

  protected fail(err: unknown): Error {
    return nativeMongoError(err, this.mount);
  }

  private skip(what: string, why: string): void {
    if (this.skipped.has(what) || this.skipped.size >= MAX_SKIP_LOGS) return;
    this.skipped.add(what);
    this.log.debug({ name: what }, `${what} is not shown: it has ${why}`);
  }

  // ---- places ----

  /** What a path names, from its shape alone; undefined when no object can have that path. */
  private place(path: string): Place | undefined {
    if (path === '') return this.database === undefined ? { kind: 'root' } : { kind: 'db', db: this.database };
    const parts = path.split('/');
    const db = this.database ?? parts.shift()!;
    if (parts.length === 0) return { kind: 'db', db };
    const dir = parts[0]!;
    const bucket = dir.length > GRIDFS_SUFFIX.length && dir.endsWith(GRIDFS_SUFFIX) ? dir.slice(0, -GRIDFS_SUFFIX.length) : undefined;
    if (parts.length === 1) return bucket !== undefined ? { kind: 'bucket', db, bucket } : { kind: 'coll', db, coll: dir };
    if (parts.length > 2) return undefined;
    const name = parts[1]!;
    if (bucket !== undefined) return { kind: 'gfile', db, bucket, name };
    const id = nameToId(name);
    return id === undefined ? undefined : { kind: 'doc', db, coll: dir, id };
  }

  private db(name: string): Db {
    return this.client.db(name);
  }

  private fresh(path: string): boolean {
    const until = this.seen.get(path);
    return until !== undefined && until > Date.now();
  }

  private saw(path: string): void {
    this.seen.set(path, Date.now() + this.dirCacheMs);
  }

  private forget(path: string): void {
    for (const p of [...this.seen.keys()]) if (p === path || p.startsWith(`${path}/`)) this.seen.delete(p);
  }

  private async collectionNames(db: string): Promise<string[]> {
    const list = await this.db(db).listCollections({}, { nameOnly: true }).toArray();
    return list.map((c) => c.name);
  }

  private async rawCollectionExists(db: string, coll: string): Promise<boolean> {
    const list = await this.db(db).listCollections({ name: coll }, { nameOnly: true }).toArray();
    return list.length > 0;
  }

  private async dbExists(db: string, path: string): Promise<boolean> {
    if (this.database !== undefined || this.pinned.has(path) || this.fresh(path)) return true;
    const { databases } = await this.client.db('admin').admin().listDatabases({ nameOnly: true });
    const found = databases.some((d) => d.name === db);
    if (found) this.saw(path);
    return found;
  }

  /** A collection shown as a directory: not one of a bucket's two, not named like a bucket. */
  private async collExists(db: string, coll: string, path: string): Promise<boolean> {
    if (this.fresh(path)) return true;
    if (!(await this.rawCollectionExists(db, coll))) return false;
    const pair = /^(.+)\.(files|chunks)$/.exec(coll);
    if (pair && (await this.rawCollectionExists(db, `${pair[1]}.files`))) return false;
    this.saw(path);
    return true;
  }

  private async bucketExists(db: string, bucket: string, path: string): Promise<boolean> {
    if (this.fresh(path)) return true;
    const found = await this.rawCollectionExists(db, `${bucket}.files`);
    if (found) this.saw(path);
    return found;
  }

  private async findDoc(p: { db: string; coll: string; id: unknown }): Promise<Document | null> {
    return this.db(p.db).collection(p.coll).findOne({ _id: p.id as never }, { promoteValues: false });
  }

  private async latest(p: { db: string; bucket: string; name: string }): Promise<GridFile | undefined> {
    return (await revisions(this.db(p.db), p.bucket, p.name))[0];
  }

  /** The open file whose content getattr reports for `path`, if any. */
  private openAt(path: string): Handle | undefined {
    for (const h of this.shown.values()) if (h.node.path === path) return h;
    return undefined;
  }

  private info(node: NativeNode): Promise<Info> {
    return this.infoAt(node.path!);
  }

  /** What a path is now; ENOENT when it is gone. An open file reports what it shows. */
  private async infoAt(path: string): Promise<Info> {
    const p = this.place(path);
    if (!p) throw fsError(errno.ENOENT);
    const open = this.openAt(path);
    switch (p.kind) {
      case 'root':
        return { kind: 'root', size: 0 };
      case 'db':
        if (path === '' || (await this.dbExists(p.db, path))) return { kind: 'db', size: 0 };
        break;
      case 'coll':
        if (await this.collExists(p.db, p.coll, path)) return { kind: 'coll', size: 0 };
        break;
      case 'bucket':
        if (await this.bucketExists(p.db, p.bucket, path)) return { kind: 'bucket', size: 0 };
        break;
      case 'doc': {
        if (open) return { kind: 'doc', size: open.content?.length ?? 0 };
        const d = await this.findDoc(p);
        if (d) return { kind: 'doc', size: renderDoc(d).length, mtimeNs: docTime(p.id) };
        if (this.pending.has(path)) return { kind: 'doc', size: 0 };
        break;
      }
      case 'gfile': {
        if (open) return { kind: 'gfile', size: open.stage?.size ?? open.file?.length ?? 0 };
        const f = await this.latest(p);
        if (f) return { kind: 'gfile', size: f.length, mtimeNs: msToNs(f.uploadDate.getTime()) };
        if (this.pending.has(path)) return { kind: 'gfile', size: 0 };
        break;
      }
    }
    throw fsError(errno.ENOENT);
  }

  private attr(node: NativeNode, info: Info): Attr {
    const dir = isDir(info.kind);
    const size = dir ? 0 : info.size;
    const t = this.mtimes.get(node.ino) ?? info.mtimeNs ?? this.mountTimeNs;
    return this.nodeAttr(node, dir ? S_IFDIR | 0o755 : S_IFREG | 0o644, size, t, info.mtimeNs ?? this.mountTimeNs);
  }

  private touched(ino: number): void {
    this.mtimes.set(ino, msToNs(Date.now()));
  }

  private async dirNode(dir: number): Promise<{ node: NativeNode; info: Info }> {
    const node = this.inodes.get(dir);
    const info = await this.info(node);
    if (!isDir(info.kind)) throw fsError(errno.ENOTDIR);
    return { node, info };
  }

  private checkName(name: string): void {
    if (Buffer.byteLength(name) > NAME_MAX) throw fsError(errno.ENAMETOOLONG);
    if (badComponent(name) !== undefined) throw fsError(errno.EINVAL);
  }

  // ---- namespace ----

  lookup(_caller: Caller, dir: number, name: string): Promise<Attr> {
    return this.guard(async () => {
      this.checkName(name);
      const d = await this.dirNode(dir);
      const path = childPath(d.node.path!, name);
      const info = await this.infoAt(path);
      return this.attr(this.inodes.at(path), info);
    });
  }

  getattr(ino: number): Promise<Attr> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      return this.attr(node, await this.info(node));
    });
  }

  newInode(_caller: Caller, dir: number, name: string, req: NewInode): Promise<Attr> {
    return this.guard(async () => {
      this.checkName(name);
      const d = await this.dirNode(dir);
      const path = childPath(d.node.path!, name);
      const type = req.mode & S_IFMT;
      if (type === S_IFLNK) this.refuse(errno.EPERM, 'symlink', path, 'MongoDB has no symbolic links');
      if (type !== S_IFREG && type !== S_IFDIR) this.refuse(errno.EPERM, 'mknod', path, 'MongoDB holds no device nodes, FIFOs or sockets');
      const parent = d.info.kind;
      if (type === S_IFDIR) return this.mkdir(parent, path, name);
      if (parent === 'root' || parent === 'db') {
        this.refuse(errno.EPERM, 'create', path, parent === 'root' ? 'the root holds databases (directories) only' : 'a database holds collections and GridFS buckets (directories) only');
      }
      const p = this.place(path);
      if (parent === 'coll') {
        if (!p || p.kind !== 'doc') {
          this.refuse(errno.EINVAL, 'create', path, `a document's file is named <_id>${DOC_SUFFIX} (ObjectId as 24 hex digits, a string with %, / and NUL %-escaped, a number as n:<value>)`);
        }
        if (this.pending.has(path) || (await this.findDoc(p))) throw fsError(errno.EEXIST);
        this.pending.set(path, 'doc');
      } else {
        if (!p || p.kind !== 'gfile') throw fsError(errno.EINVAL);
        if (this.pending.has(path) || (await this.latest(p))) throw fsError(errno.EEXIST);
        this.pending.set(path, 'gfile');
      }
      const node = this.inodes.at(path);
      this.touched(node.ino);
      return this.attr(node, { kind: p.kind, size: 0 });
    });
  }

  private async mkdir(parent: Kind, path: string, name: string): Promise<Attr> {
    const p = this.place(path);
    if (parent === 'coll' || parent === 'bucket' || !p) {
      this.refuse(errno.EPERM, 'mkdir', path, parent === 'bucket' ? 'a GridFS bucket holds files, not directories' : 'a collection holds documents (files), not directories');
    }
    if (p.kind === 'db') {
      if (Buffer.byteLength(name) > DB_NAME_MAX || /[\\. "$]/.test(name)) {
        this.refuse(errno.EINVAL, 'mkdir', path, `a database name has at most ${DB_NAME_MAX} bytes and none of \\ . " $ or space`);
      }
      if (await this.dbExists(p.db, path)) throw fsError(errno.EEXIST);
      this.pinned.add(path);
    } else if (p.kind === 'bucket') {
      if (await this.bucketExists(p.db, p.bucket, path)) throw fsError(errno.EEXIST);
      const db = this.db(p.db);
      await db.createCollection(`${p.bucket}.files`);
      await db.createCollection(`${p.bucket}.chunks`).catch((err: unknown) => {
        if (nativeMongoError(err, this.mount).errno !== errno.EEXIST) throw err;
      });
    } else if (p.kind === 'coll') {
      if (/\.(files|chunks)$/.test(name)) {
        this.refuse(errno.EINVAL, 'mkdir', path, `a collection named <b>.files or <b>.chunks is half of a GridFS bucket: mkdir <b>${GRIDFS_SUFFIX} makes one`);
      }
      await this.db(p.db).createCollection(name);
    } else {
      throw fsError(errno.EINVAL);
    }
    this.pinned.delete(parentPath(path));
    this.saw(path);
    const node = this.inodes.at(path);
    this.touched(node.ino);
    return this.attr(node, { kind: p.kind, size: 0 });
  }

  addDentry(_caller: Caller, dir: number, name: string, _ino: number): Promise<Attr> {
    return this.guard(async () => {
      const d = this.inodes.get(dir);
      this.refuse(errno.EPERM, 'link', childPath(d.path!, name), 'MongoDB has no hard links (a document has exactly one _id)');
    });
  }

  removeDentry(_caller: Caller, dir: number, name: string, wantDir: boolean): Promise<void> {
    return this.guard(async () => {
      const d = await this.dirNode(dir);
      const path = childPath(d.node.path!, name);
      const p = this.place(path);
      if (!p) throw fsError(errno.ENOENT);
      const wasPending = this.pending.delete(path);
      switch (p.kind) {
        case 'doc': {
          if (wantDir) throw fsError(errno.ENOTDIR);
          const r = await this.db(p.db).collection(p.coll).deleteOne({ _id: p.id as never });
          if (r.deletedCount === 0 && !wasPending) throw fsError(errno.ENOENT);
          break;
        }
        case 'gfile': {
          if (wantDir) throw fsError(errno.ENOTDIR);
          const revs = await revisions(this.db(p.db), p.bucket, p.name);
          if (revs.length === 0 && !wasPending) throw fsError(errno.ENOENT);
          const bucket = bucketOf(this.db(p.db), p.bucket);
          for (const f of revs) await bucket.delete(f.id);
          break;
        }
        case 'coll': {
          if (!(await this.collExists(p.db, p.coll, path))) throw fsError(errno.ENOENT);
          if (!wantDir) throw fsError(errno.EISDIR);
          const coll = this.db(p.db).collection(p.coll);
          if (this.pendingUnder(path) || (await coll.findOne({}, { projection: { _id: 1 } }))) throw fsError(errno.ENOTEMPTY);
          await coll.drop();
          break;
        }
        case 'bucket': {
          if (!(await this.bucketExists(p.db, p.bucket, path))) throw fsError(errno.ENOENT);
          if (!wantDir) throw fsError(errno.EISDIR);
          const db = this.db(p.db);
          if (this.pendingUnder(path) || (await db.collection(`${p.bucket}.files`).findOne({}, { projection: { _id: 1 } }))) throw fsError(errno.ENOTEMPTY);
          await db.collection(`${p.bucket}.files`).drop();
          await db
            .collection(`${p.bucket}.chunks`)
            .drop()
            .catch((err: unknown) => {
              if (nativeMongoError(err, this.mount).errno !== errno.ENOENT) throw err;
            });
          break;
        }
        case 'db': {
          if (!(await this.dbExists(p.db, path))) throw fsError(errno.ENOENT);
          if (!wantDir) throw fsError(errno.EISDIR);
          if ((await this.collectionNames(p.db)).length > 0) throw fsError(errno.ENOTEMPTY);
          this.pinned.delete(path);
          break;
        }
        case 'root':
          throw fsError(errno.EBUSY);
      }
      this.forget(path);
      this.inodes.remove(path);
      this.touched(d.node.ino);
    });
  }

  private pendingUnder(path: string): boolean {
    for (const p of this.pending.keys()) if (p.startsWith(`${path}/`)) return true;
    return false;
  }

  rename(_caller: Caller, oldDir: number, oldName: string, newDir: number, newName: string, flags: number): Promise<void> {
    return this.guard(async () => {
      this.checkName(newName);
      const from = await this.dirNode(oldDir);
      const to = await this.dirNode(newDir);
      const src = childPath(from.node.path!, oldName);
      const dst = childPath(to.node.path!, newName);
      const s = this.place(src);
      if (!s) throw fsError(errno.ENOENT);
      await this.infoAt(src);
      if (flags & RENAME_EXCHANGE) this.refuse(errno.ENOTSUP, 'rename(RENAME_EXCHANGE)', src, 'MongoDB cannot swap two names atomically');
      if (src === dst) return;
      const t = this.place(dst);
      const sameParent = from.node.ino === to.node.ino;
      const noReplace = (flags & RENAME_NOREPLACE) !== 0;
      if (s.kind === 'db') this.refuse(errno.EXDEV, 'rename', src, 'MongoDB cannot rename a database (mv copies instead)');
      if (s.kind === 'bucket') this.refuse(errno.EXDEV, 'rename', src, 'a GridFS bucket is two collections; MongoDB cannot rename them as one (mv copies instead)');
      if (!sameParent || !t || t.kind !== s.kind) {
        if (s.kind === 'doc' && t === undefined && sameParent) {
          this.refuse(errno.EINVAL, 'rename', src, `/${dst} is not a document file name (<_id>${DOC_SUFFIX})`);
        }
        const what = s.kind === 'doc' ? 'a document between collections' : s.kind === 'gfile' ? 'a file between GridFS buckets or out of one' : 'a collection between databases or into a bucket';
        this.refuse(errno.EXDEV, 'rename', src, `MongoDB cannot move ${what} (mv copies instead)`);
      }
      if (s.kind === 'doc' && t.kind === 'doc') await this.renameDoc(s, t, src, dst, noReplace);
      else if (s.kind === 'gfile' && t.kind === 'gfile') await this.renameGridFile(s, t, src, dst, noReplace);
      else if (s.kind === 'coll' && t.kind === 'coll') {
        // An empty target is dropped first, not by dropTarget, which FerretDB v1 does not implement.
        if (await this.collExists(t.db, t.coll, dst)) {
          if (noReplace) throw fsError(errno.EEXIST);
          const target = this.db(t.db).collection(t.coll);
          if (await target.findOne({}, { projection: { _id: 1 } })) throw fsError(errno.ENOTEMPTY);
          await target.drop();
        }
        await this.db(s.db).renameCollection(s.coll, t.coll);
        this.forget(src);
        this.forget(dst);
      }
      this.inodes.rename(src, dst);
      for (const [p, k] of [...this.pending]) {
        if (p === src) {
          this.pending.delete(p);
          this.pending.set(dst, k);
        }
      }
      this.touched(from.node.ino);
      this.touched(to.node.ino);
    });
  }

  /** insertOne under the new _id, then deleteOne of the old: not atomic (see the top of the file). */
  private async renameDoc(s: Place & { kind: 'doc' }, t: Place & { kind: 'doc' }, src: string, dst: string, noReplace: boolean): Promise<void> {
    const coll = this.db(s.db).collection(s.coll);
    const doc = await this.findDoc(s);
    const target = this.pending.has(dst) || (await this.findDoc(t)) !== null;
    if (target && noReplace) throw fsError(errno.EEXIST);
    if (!doc) {
      if (!this.pending.has(src)) throw fsError(errno.ENOENT);
      if (target) {
        await coll.deleteOne({ _id: t.id as never });
        this.pending.delete(dst);
      }
      return;
    }
    const { _id: _old, ...body } = doc;
    await coll.replaceOne({ _id: t.id as never }, body, { upsert: true });
    this.pending.delete(dst);
    await coll.deleteOne({ _id: s.id as never });
    this.log.debug({ from: `/${src}`, to: `/${dst}` }, 'document renamed (insert + delete)');
  }

  private async renameGridFile(s: Place & { kind: 'gfile' }, t: Place & { kind: 'gfile' }, src: string, dst: string, noReplace: boolean): Promise<void> {
    const db = this.db(s.db);
    const bucket = bucketOf(db, s.bucket);
    const [mine, theirs] = await Promise.all([revisions(db, s.bucket, s.name), revisions(db, t.bucket, t.name)]);
    if ((theirs.length > 0 || this.pending.has(dst)) && noReplace) throw fsError(errno.EEXIST);
    if (mine.length === 0 && !this.pending.has(src)) throw fsError(errno.ENOENT);
    for (const f of theirs) await bucket.delete(f.id);
    this.pending.delete(dst);
    for (const f of mine) await bucket.rename(f.id, t.name);
  }

  // ---- listing ----

  private async list(node: NativeNode, info: Info, plus: boolean): Promise<Entry[]> {
    const path = node.path!;
    const p = this.place(path)!;
    const entries: Entry[] = [];
    const show = (name: string, kind: Kind, extra?: Partial<Entry>): void => {
      const why = badComponent(name);
      if (why !== undefined) this.skip(`${kind === 'gfile' ? 'GridFS file' : kind} ${JSON.stringify(name)} in /${path}`, why);
      else entries.push({ name, kind, ...extra });
    };
    if (info.kind === 'root') {
      const { databases } = await this.client.db('admin').admin().listDatabases({ nameOnly: true });
      const names = new Set(databases.map((d) => d.name));
      for (const pin of this.pinned) names.add(pin);
      for (const n of names) show(n, 'db');
    } else if (p.kind === 'db') {
      const names = await this.collectionNames(p.db);
      const buckets = new Set(names.flatMap((n) => (n.endsWith('.files') ? [n.slice(0, -'.files'.length)] : [])));
      for (const n of names) {
        const pair = /^(.+)\.(files|chunks)$/.exec(n);
        if (pair && buckets.has(pair[1]!)) continue;
        if (n.endsWith(GRIDFS_SUFFIX)) {
          this.skip(`collection ${JSON.stringify(n)} in /${path}`, `a name ending in ${GRIDFS_SUFFIX}, which this layout gives GridFS buckets`);
          continue;
        }
        show(n, 'coll');
      }
      for (const b of buckets) show(`${b}${GRIDFS_SUFFIX}`, 'bucket');
    } else if (p.kind === 'coll') {
      const coll = this.db(p.db).collection(p.coll);
      const cursor = coll.find({}, { ...(!plus && { projection: { _id: 1 } }), sort: { _id: 1 }, batchSize: BATCH, promoteValues: false });
      for await (const d of cursor) {
        const name = idToName(d._id);
        if (name === undefined) {
          this.skip(`document ${JSON.stringify(String(d._id)).slice(0, 80)} in /${path}`, `an _id whose file name is over ${NAME_MAX} bytes`);
          continue;
        }
        entries.push({ name, kind: 'doc', ...(plus && { size: renderDoc(d).length, mtimeNs: docTime(d._id) }) });
      }
      for (const [pp, k] of this.pending) {
        if (k === 'doc' && parentPath(pp) === path && !entries.some((e) => e.name === baseName(pp))) entries.push({ name: baseName(pp), kind: 'doc', size: 0 });
      }
    } else if (p.kind === 'bucket') {
      for (const f of await listFiles(this.db(p.db), p.bucket)) show(f.filename, 'gfile', { size: f.length, mtimeNs: msToNs(f.uploadDate.getTime()) });
      for (const [pp, k] of this.pending) {
        if (k === 'gfile' && parentPath(pp) === path && !entries.some((e) => e.name === baseName(pp))) entries.push({ name: baseName(pp), kind: 'gfile', size: 0 });
      }
    }
    if (p.kind !== 'coll') entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const until = Date.now() + this.dirCacheMs;
    for (const e of entries) if (isDir(e.kind)) this.seen.set(childPath(path, e.name), until);
    return entries;
  }

  readdir(_caller: Caller, dir: number, cookie: number, maxEntries: number, plus: boolean): Promise<DirentOut[]> {
    return this.guard(async () => {
      const d = await this.dirNode(dir);
      return this.pageDir(d.node, cookie, maxEntries, plus, {
        list: () => this.list(d.node, d.info, plus),
        dot: () => this.attr(d.node, d.info),
        emit: async (page) =>
          page.map((e) => {
            const node = this.inodes.at(childPath(d.node.path!, e.name));
            const open = this.shown.get(node.ino);
            const size = open ? (open.content?.length ?? open.stage?.size ?? open.file?.length ?? 0) : (e.size ?? 0);
            return { name: e.name, node, attr: this.attr(node, { kind: e.kind, size, mtimeNs: e.mtimeNs }) };
          }),
      });
    });
  }

  // ---- attributes ----

  setattr(_caller: Caller, ino: number, req: SetAttr): Promise<Attr> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      const path = node.path!;
      const info = await this.info(node);
      this.refuseSetattr(path, req, this.attr(node, info), {
        chmod: 'MongoDB keeps no permission bits',
        chown: 'MongoDB keeps no owner',
        utimes: 'MongoDB keeps no file times; only "now" (touch) is accepted',
      });
      let size = info.size;
      if (req.size !== undefined) {
        if (isDir(info.kind)) throw fsError(errno.EISDIR);
        if (!Number.isSafeInteger(req.size) || req.size < 0) throw fsError(errno.EINVAL);
        await this.truncate(node, info, req.size, req.fh);
        size = req.size;
      }
      if (req.size !== undefined || req.mtimeNs === 'now' || req.atimeNs === 'now') this.touched(ino);
      return this.attr(node, { ...info, size });
    });
  }

  private async truncate(node: NativeNode, info: Info, size: number, fh: number | undefined): Promise<void> {
    const given = fh === undefined ? undefined : this.handles.get(fh);
    const staged = given?.node === node ? [given] : [...this.handles.values()].filter((h) => h.node === node && h.writable);
    if (staged.length > 0) {
      for (const h of staged) await this.resize(h, size);
      return;
    }
    if (size === info.size) return;
    // No open file: a one-off handle, stored at once (a document cut short rarely parses: EINVAL).
    const h = await this.openHandle(node, true);
    try {
      await this.resize(h, size);
      await this.commit(h, true);
    } finally {
      await this.closeHandle(h);
    }
  }

  private async resize(h: Handle, size: number): Promise<void> {
    if (h.kind === 'doc') {
      h.content = resizeBuffer(h.content ?? Buffer.alloc(0), size);
    } else {
      const stage = await this.ensureStage(h, size > 0);
      await stage.truncate(size);
    }
    this.markDirty(h);
  }

  // ---- data ----

  open(_caller: Caller, ino: number, flags: number): Promise<number> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      const h = await this.openHandle(node, (flags & O_ACCMODE) !== 0);
      this.handles.set(h.fh, h);
      if (!isDir(h.kind)) this.shown.set(ino, h);
      return h.fh;
    });
  }

  private async openHandle(node: NativeNode, writable: boolean): Promise<Handle> {
    const path = node.path!;
    const p = this.place(path);
    if (!p) throw fsError(errno.ENOENT);
    const h: Handle = { fh: this.nextFh++, node, kind: p.kind, writable, dirty: false };
    if (p.kind === 'doc') {
      const d = await this.findDoc(p);
      if (d) h.content = renderDoc(d);
      else if (this.pending.get(path) === 'doc') h.content = Buffer.alloc(0);
      else throw fsError(errno.ENOENT);
    } else if (p.kind === 'gfile') {
      h.file = await this.latest(p);
      if (!h.file) {
        if (this.pending.get(path) !== 'gfile') throw fsError(errno.ENOENT);
        // Created here: stored at its last close even if nothing is written (touch makes a file).
        h.stage = await GridStage.create(bucketOf(this.db(p.db), p.bucket), undefined);
        h.dirty = true;
      }
    } else {
      await this.info(node);
    }
    return h;
  }

  private handle(ino: number, fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h || h.node.ino !== ino) throw fsError(errno.EBADF);
    return h;
  }

  private markDirty(h: Handle): void {
    h.dirty = true;
    this.shown.set(h.node.ino, h);
  }

  private async ensureStage(h: Handle, keep: boolean): Promise<GridStage> {
    if (h.stage) return h.stage;
    const p = this.place(h.node.path ?? '');
    if (!p || p.kind !== 'gfile') throw fsError(errno.ESTALE);
    h.reader?.close();
    h.reader = undefined;
    h.stage = await GridStage.create(bucketOf(this.db(p.db), p.bucket), keep ? h.file : undefined);
    return h.stage;
  }

  read(ino: number, fh: number, offset: number, len: number): Promise<Buffer> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      if (isDir(h.kind)) throw fsError(errno.EISDIR);
      if (len <= 0) return Buffer.alloc(0);
      if (h.kind === 'doc') return (h.content ?? Buffer.alloc(0)).subarray(offset, offset + len);
      if (h.stage) return h.stage.read(offset, len);
      if (!h.file) return Buffer.alloc(0);
      if (!h.reader) {
        const p = this.place(h.node.path ?? '');
        if (!p || p.kind !== 'gfile') throw fsError(errno.ESTALE);
        h.reader = new GridReader(bucketOf(this.db(p.db), p.bucket), h.file);
      }
      return h.reader.read(offset, len);
    });
  }

  write(ino: number, fh: number, offset: number, data: Buffer): Promise<number> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      if (isDir(h.kind)) throw fsError(errno.EISDIR);
      if (h.kind === 'doc') {
        const cur = h.content ?? Buffer.alloc(0);
        const end = offset + data.length;
        if (end > MAX_DOC_TEXT) this.refuse(errno.EFBIG, 'write', h.node.path ?? '', `a document's text is limited to ${MAX_DOC_TEXT} bytes (a BSON document to 16 MiB)`);
        const next = end > cur.length ? resizeBuffer(cur, end) : cur;
        data.copy(next, offset);
        h.content = next;
      } else {
        const stage = await this.ensureStage(h, true);
        await stage.write(offset, data);
      }
      this.markDirty(h);
      this.touched(ino);
      return data.length;
    });
  }

  /**
   * Stores a handle's staged content. A close before anything was written stores nothing (shells
   * open, dup and close a file before writing it); a new document left empty at its last close is
   * not created. Text that is not a document fails with EINVAL and one warn line, once.
   */
  private async commit(h: Handle, last: boolean): Promise<void> {
    if (!h.dirty) return;
    const path = h.node.path;
    const p = path === undefined ? undefined : this.place(path);
    if (path === undefined || !p) {
      h.dirty = false; // removed while open: nothing to store it under
      return;
    }
    if (p.kind === 'doc') {
      const text = h.content ?? Buffer.alloc(0);
      if (text.length === 0 && (!last || this.pending.has(path))) return;
      h.dirty = false;
      let body: Document;
      try {
        body = parseDoc(text);
      } catch (err) {
        this.refuse(errno.EINVAL, 'write', path, `not a valid JSON document (${(err as Error).message}); the stored document is unchanged`);
      }
      const { _id: inner, ...rest } = body;
      if (inner !== undefined && !sameId(inner, p.id)) {
        this.refuse(errno.EINVAL, 'write', path, `the _id in the text (${idToName(inner) ?? 'unnamed'}) disagrees with the file name; the stored document is unchanged`);
      }
      try {
        await this.db(p.db).collection(p.coll).replaceOne({ _id: (inner ?? p.id) as never }, rest, { upsert: true });
      } catch (err) {
        h.dirty = true;
        throw err;
      }
      this.pending.delete(path);
    } else if (p.kind === 'gfile') {
      const stage = h.stage;
      if (!stage || (!last && stage.size === 0)) return;
      h.file = await stage.upload(this.db(p.db), bucketOf(this.db(p.db), p.bucket), p.bucket, p.name);
      h.dirty = false;
      this.pending.delete(path);
    }
  }

  flush(ino: number, fh: number): Promise<void> {
    return this.guard(async () => {
      await this.commit(this.handle(ino, fh), false);
    });
  }

  release(ino: number, fh: number): Promise<void> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      try {
        await this.commit(h, true);
      } finally {
        this.handles.delete(fh);
        await this.closeHandle(h);
      }
    });
  }

  private async closeHandle(h: Handle): Promise<void> {
    h.reader?.close();
    await h.stage?.close();
    const ino = h.node.ino;
    if (this.shown.get(ino) === h) {
      this.shown.delete(ino);
      for (const o of this.handles.values()) if (o.node.ino === ino && !isDir(o.kind)) this.shown.set(ino, o);
    }
    const path = h.node.path;
    // A file created here and closed without content by every opener: it never existed in MongoDB.
    if (path !== undefined && this.pending.get(path) === 'doc' && !this.shown.has(ino)) {
      this.pending.delete(path);
      this.inodes.remove(path);
    }
  }

  /** Staged content is stored; the server's write concern decides durability. */
  sync(ino: number, fh: number, _datasync: boolean): Promise<void> {
    return this.guard(async () => {
      const h = this.handles.get(fh);
      if (h && h.node.ino === ino) await this.commit(h, false);
    });
  }

  // ---- xattrs: none (the kernel asks for security.* and ACLs on its own; answered locally) ----

  getxattr(_caller: Caller, ino: number, _name: string): Promise<Buffer> {
    return this.guard(async () => {
      this.inodes.get(ino);
      throw fsError(errno.ENODATA);
    });
  }

  listxattr(_caller: Caller, ino: number): Promise<string[]> {
    return this.guard(async () => {
      this.inodes.get(ino);
      return [];
    });
  }

  setxattr(_caller: Caller, ino: number, name: string, _value: Buffer, _flags: number): Promise<void> {
    return this.guard(async () => {
      this.refuse(errno.ENOTSUP, `setxattr ${name}`, this.inodes.get(ino).path!, 'MongoDB keeps no extended attributes (store them as document fields)');
    });
  }

  removexattr(_caller: Caller, ino: number, _name: string): Promise<void> {
    return this.guard(async () => {
      this.inodes.get(ino);
      throw fsError(errno.ENODATA);
    });
  }

  // ---- volume ----

  /** MongoDB reports no free space through the wire protocol in a portable way: a large constant,
   * so that df and cp's space checks pass; namelen is the file-name limit. */
  statfs(): Promise<StatFs> {
    return this.guard(async () => {
      const blocks = 2 ** 32;
      return statFs(blocks, blocks, 2 ** 32, 2 ** 32, NAME_MAX);
    });
  }

  syncfs(): Promise<void> {
    return this.guard(async () => {
      for (const h of [...this.handles.values()]) await this.commit(h, false);
    });
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    for (const h of [...this.handles.values()]) {
      try {
        await this.guard(() => this.commit(h, true));
      } catch (err) {
        this.log.error({ err }, `mount ${this.mount}: staged writes to /${h.node.path ?? '?'} lost at unmount`);
      }
      await this.closeHandle(h).catch(() => undefined);
    }
    this.destroyed = true;
    this.handles.clear();
    this.shown.clear();
    await this.client.close().catch(() => undefined);
  }
}
