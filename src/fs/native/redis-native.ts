// RedisNativeFs: the Redis "native" layout — a database's own keys as files, readable and
// writable by every other Redis tool — behind the ZusOperations vector every transport calls.
//
// What is what (names are relative to the mount's key prefix, '' = the whole database):
// - A key name's "/" separates directories, as rclone and S3 tools do with prefixes: the key
//   "a/b/c" is the file c in the directory a/b. A directory exists while some key lies under it.
//   A key name that cannot be a path (an empty component as in "a//b" or "a/", a "." or ".."
//   component, a NUL byte, a component over 255 bytes, bytes that are not UTF-8) is skipped with one
//   debug log line. When a key and a directory share a name ("a" and "a/b"), the key wins.
// - string → a regular file. Reads are GETRANGE, writes SETRANGE at their offset (no staging:
//   random writes and appends reach Redis as they happen), truncate is one Lua script (cut or
//   zero-extend, TTL kept), size is STRLEN.
// - hash → a directory whose entries are the fields (regular files). A field is read from a
//   snapshot taken at open; writes are staged per open file and stored with one HSET at close
//   (flush) or fsync. A field name containing "/" cannot be shown and is skipped.
// - list, set, zset → a regular file with one element per line (formats in redis-native-format.ts).
//   An open file reads a snapshot taken at open; writes are staged and, at close or fsync, replace
//   the whole key atomically (one Lua script: DEL + RPUSH/SADD/ZADD, TTL kept). Writing an empty
//   file deletes the key (Redis has no empty collections) and the file disappears.
// - stream and module types → a read-only file whose open fails with ENOTSUP (no file form).
// - mkdir makes a directory that exists only in this mount's memory until a key is created under
//   it (Redis has no empty prefixes). Likewise a directory emptied through this mount (its last key
//   or hash field removed) stays visible, as on a local filesystem, until rmdir or unmount.
//   A hash cannot be created by mkdir (Redis has no empty hash): create hashes with HSET.
// - Listing is SCAN MATCH <prefix>* COUNT 1000 (never KEYS), snapshotted at the start of a listing
//   (cookie 0) and paged from memory, so `ls` of 100,000 keys neither blocks Redis nor repeats a
//   name. Looking up a name that is not a key scans for a key under it (O(keys) in SCAN steps).
// - Inode numbers: stable per path for the life of the mount (native-inodes.ts), root = 1.
// - Attributes: files 0644 (streams 0444), directories 0755, owner = the mount's uid/gid; nlink 1
//   (subdirectories are not counted). mtime/ctime = the mount time, or the last write through this
//   mount (Redis keeps no modification time).
// - xattrs on keys: user.redis.type (read-only) and user.redis.ttl (seconds left, -1 = none;
//   setting it runs EXPIRE, -1 or removing it PERSIST). Other names: absent on read, ENOTSUP on set.
//
// What Redis cannot honour fails at once with one warn log line naming the mount and the reason:
// chmod/chown to other values, hard links, symlinks, device nodes (EPERM); utimes with explicit
// times (EPERM: there is nowhere to keep them — `touch` of an existing file, which sets "now", is
// accepted and becomes the mtime shown); renaming between a hash and other keys or renaming a
// directory of keys (EXDEV: mv copies instead); fallocate (ENOTSUP). RENAME_EXCHANGE of two keys,
// or of two fields of one hash, is one Lua script (the TTLs travel with the values).
//
// Failure behaviour is the posix-layout backend's: every command is bounded by commandTimeoutMs
// (ETIMEDOUT), and the client reconnects in the background (per deployment: redis-client.ts).
//
// Redis Cluster: listings and "is there a key under this directory" SCAN every master; statfs adds
// up the masters. A key rename within one hash slot is RENAME as elsewhere; across slots (the usual
// case without hash tags) Redis has no atomic move, so the value is copied with DUMP/RESTORE (type
// and TTL kept) and the old key deleted: not atomic, and a write to the old key in between is lost.
// RENAME_EXCHANGE of keys in two slots is refused with EXDEV and one warn line.
import type { Logger } from 'pino';
import { isCluster, keySlot, masters, type RedisClient } from '../../backends/redis/redis-client.js';
import { errno, FsError, fsError } from '../errors.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../mode.js';
import type { Attr, Caller, DirentOut, NewInode, SetAttr, StatFs, ZusOperations } from '../operations.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, XATTR_CREATE } from '../operations.js';
import { BLKSIZE, NativeFsBase, O_ACCMODE, resizeBuffer as resize, statFs } from './native-base.js';
import { baseName, childPath, type NativeNode, parentPath, ROOT_INO } from './native-inodes.js';
import { connectRedis, nativeRedisError, parseRedisNativeUrl, type RedisNativeTarget } from './redis-connect.js';
import {
  badComponent,
  type CollectionType,
  decodeName,
  formatCollection,
  globEscape,
  isCollection,
  NAME_MAX,
  parseCollection,
} from './redis-native-format.js';
import {
  COLLECTION_REPLACE,
  defineScripts,
  FIELD_EXCHANGE,
  FIELD_RENAME,
  FIELD_TRUNCATE,
  KEY_EXCHANGE,
  KEY_INFO,
  runScript,
  STRING_TRUNCATE,
} from './redis-native-scripts.js';

export const XATTR_TYPE = 'user.redis.type';
export const XATTR_TTL = 'user.redis.ttl';

const SCAN_COUNT = 1000;
const MAX_SKIP_LOGS = 10_000;

export interface RedisNativeOptions {
  log: Logger;
  /** Names the mount in log lines and errors. Default: the redacted URL. */
  mount?: string | undefined;
  /** Only keys starting with this are shown (without it); '' = the whole database. Overrides ?prefix=. */
  prefix?: string | undefined;
  /** Default 5000. */
  commandTimeoutMs?: number | undefined;
  /** Default 5000. */
  connectTimeoutMs?: number | undefined;
  /** Owner shown for every file. Default: this process's uid/gid. */
  uid?: number | undefined;
  gid?: number | undefined;
  /** How long a directory seen in a listing is trusted without scanning again. Default 2000. */
  dirCacheMs?: number | undefined;
}

type Kind = 'dir' | 'hash' | 'string' | 'list' | 'set' | 'zset' | 'other' | 'field';

interface Info {
  kind: Kind;
  /** Redis's TYPE, for keys. */
  type?: string;
  size: number;
}

interface Handle {
  ino: number;
  path: string;
  kind: Kind;
  key: string;
  field?: string | undefined;
  /** What reads return until something is written (fields and collections). */
  snapshot?: Buffer | undefined;
  /** Staged content; replaces the value at flush when dirty. */
  stage?: Buffer | undefined;
  dirty: boolean;
  writable: boolean;
}

type EntryKind = 'key' | 'dir' | 'field';

interface Entry {
  name: string;
  kind: EntryKind;
}

const isDirKind = (k: Kind): boolean => k === 'dir' || k === 'hash';
const isKeyKind = (k: Kind): boolean => k !== 'dir' && k !== 'field';

export class RedisNativeFs extends NativeFsBase<Entry> implements ZusOperations {
  protected readonly fallocateReason = 'Redis values have no preallocation';
  private readonly prefix: string;
  private readonly dirCacheMs: number;
  private readonly mountTimeNs = BigInt(Date.now()) * 1_000_000n;
  private readonly handles = new Map<number, Handle>();
  private readonly dirtyByIno = new Map<number, Handle>();
  private readonly mtimes = new Map<number, bigint>();
  /** Directories kept alive by this mount (mkdir, or emptied here), with all their ancestors. */
  private readonly pinned = new Set<string>();
  /** Directories recently seen to hold keys: path → until (ms). */
  private readonly dirSeen = new Map<string, number>();
  private readonly skipped = new Set<string>();
  private nextFh = 1;

  /** Wraps a connected client (open() connects one). Registers the Lua scripts on it. */
  constructor(
    private readonly redis: RedisClient,
    opts: RedisNativeOptions & { label: string },
  ) {
    super({ ...opts, mount: opts.mount ?? opts.label });
    this.prefix = opts.prefix ?? '';
    this.dirCacheMs = opts.dirCacheMs ?? 2000;
    defineScripts(redis);
  }

  /** Connects to redis[s]://host:port/db[?prefix=...] within connectTimeoutMs (ETIMEDOUT, or EACCES on bad credentials). */
  static async open(url: string | RedisNativeTarget, opts: RedisNativeOptions): Promise<RedisNativeFs> {
    const t = typeof url === 'string' ? parseRedisNativeUrl(url) : url;
    const redis = await connectRedis(t, {
      connectTimeoutMs: opts.connectTimeoutMs,
      commandTimeoutMs: opts.commandTimeoutMs,
      clientName: `zufs:native:${opts.mount ?? 'mount'}`,
    });
    return new RedisNativeFs(redis, { ...opts, prefix: opts.prefix ?? t.prefix, label: t.label });
  }

  // ---- errors and logging ----

  protected fail(err: unknown): FsError {
    if (err instanceof FsError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    if (msg.includes('ZUFS_ENOENT')) return fsError(errno.ENOENT);
    if (msg.includes('ZUFS_EEXIST')) return fsError(errno.EEXIST);
    if (msg.startsWith('CROSSSLOT')) this.log.warn({ err: msg }, `mount ${this.mount}: a command spanned two cluster slots; failing it with EXDEV`);
    return nativeRedisError(err, this.mount);
  }

  private skip(name: string, why: string): void {
    if (this.skipped.has(name) || this.skipped.size >= MAX_SKIP_LOGS) return;
    this.skipped.add(name);
    this.log.debug({ key: name }, `key or field ${JSON.stringify(name)} is not shown: it has ${why}`);
  }

  // ---- names, kinds, attributes ----

  private key(path: string): string {
    return this.prefix + path;
  }

  private checkName(name: string): void {
    if (Buffer.byteLength(name) > NAME_MAX) throw fsError(errno.ENAMETOOLONG);
    if (badComponent(name) !== undefined || name.includes('/')) throw fsError(errno.EINVAL);
  }

  private pin(path: string): void {
    for (let p = path; p !== ''; p = parentPath(p)) this.pinned.add(p);
  }

  /** The connections that together hold every key: the client, or each master of a cluster. */
  private nodes(): RedisClient[] {
    const nodes = masters(this.redis);
    if (nodes.length === 0) throw fsError(errno.EIO, `redis native (${this.mount}): the cluster has no master known to this client yet`);
    return nodes;
  }

  /** SCAN MATCH `match` over one node, batch by batch, until done or `batch` returns true. */
  private async scanNode(node: RedisClient, match: string, batch: (keys: Buffer[]) => boolean | void): Promise<boolean> {
    let cursor = '0';
    do {
      const [next, keys] = await node.scanBuffer(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      if (batch(keys) === true) return true;
      cursor = next.toString();
    } while (cursor !== '0');
    return false;
  }

  private async anyKeyUnder(path: string): Promise<boolean> {
    const match = `${globEscape(this.key(path === '' ? '' : `${path}/`))}*`;
    for (const node of this.nodes()) if (await this.scanNode(node, match, (keys) => keys.length > 0)) return true;
    return false;
  }

  private hasPinnedUnder(path: string): boolean {
    const under = `${path}/`;
    for (const p of this.pinned) if (p.startsWith(under)) return true;
    return false;
  }

  /** `path` is no longer a directory of keys (rmdir, or renamed away or over). */
  private forgetDir(path: string): void {
    this.pinned.delete(path);
    this.dirSeen.delete(path);
  }

  private async dirExists(path: string): Promise<boolean> {
    if (path === '' || this.pinned.has(path)) return true;
    const until = this.dirSeen.get(path);
    if (until !== undefined && until > Date.now()) return true;
    const found = await this.anyKeyUnder(path);
    if (found) this.dirSeen.set(path, Date.now() + this.dirCacheMs);
    else this.dirSeen.delete(path);
    return found;
  }

  private async keyInfo(path: string): Promise<Info | undefined> {
    const [type, size] = await runScript<[string, number]>(this.redis, KEY_INFO, [this.key(path)], []);
    if (type === 'none') return undefined;
    if (type === 'string' || type === 'hash' || isCollection(type)) return { kind: type, type, size };
    return { kind: 'other', type, size: 0 };
  }

  private async fieldInfo(hash: string, field: string): Promise<Info | undefined> {
    const k = this.key(hash);
    const [exists, len] = await Promise.all([this.redis.hexists(k, field), this.redis.hstrlen(k, field)]);
    return exists ? { kind: 'field', size: len } : undefined;
  }

  /** What a node is now in Redis; ENOENT when it is gone. */
  private async info(node: NativeNode): Promise<Info> {
    const path = node.path!;
    if (node.ino === ROOT_INO) return { kind: 'dir', size: 0 };
    if (node.hash !== undefined) {
      const f = await this.fieldInfo(node.hash, baseName(path));
      if (!f) throw fsError(errno.ENOENT);
      return f;
    }
    const k = await this.keyInfo(path);
    if (k) return k;
    if (await this.dirExists(path)) return { kind: 'dir', size: 0 };
    throw fsError(errno.ENOENT);
  }

  private attr(node: NativeNode, info: Info): Attr {
    const staged = this.dirtyByIno.get(node.ino)?.stage;
    const size = isDirKind(info.kind) ? 0 : staged ? staged.length : info.size;
    const mode = isDirKind(info.kind) ? S_IFDIR | 0o755 : info.kind === 'other' ? S_IFREG | 0o444 : S_IFREG | 0o644;
    return this.nodeAttr(node, mode, size, this.mtimes.get(node.ino) ?? this.mountTimeNs, this.mountTimeNs);
  }

  private touched(ino: number): void {
    this.mtimes.set(ino, BigInt(Date.now()) * 1_000_000n);
  }

  /** The directory node `dir` and what it is (root, prefix directory or hash). */
  private async dirNode(dir: number): Promise<{ node: NativeNode; info: Info }> {
    const node = this.inodes.get(dir);
    const info = await this.info(node);
    if (!isDirKind(info.kind)) throw fsError(errno.ENOTDIR);
    return { node, info };
  }

  // ---- namespace ----

  lookup(_caller: Caller, dir: number, name: string): Promise<Attr> {
    return this.guard(async () => {
      this.checkName(name);
      const d = await this.dirNode(dir);
      const path = childPath(d.node.path!, name);
      if (d.info.kind === 'hash') {
        const f = await this.fieldInfo(d.node.path!, name);
        if (!f) throw fsError(errno.ENOENT);
        return this.attr(this.inodes.at(path, d.node.path!), f);
      }
      const k = await this.keyInfo(path);
      if (k) return this.attr(this.inodes.at(path), k);
      if (await this.dirExists(path)) return this.attr(this.inodes.at(path), { kind: 'dir', size: 0 });
      throw fsError(errno.ENOENT);
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
      if (type === S_IFLNK) this.refuse(errno.EPERM, 'symlink', path, 'Redis keys cannot be symbolic links');
      if (type !== S_IFREG && type !== S_IFDIR) this.refuse(errno.EPERM, 'mknod', path, 'Redis keys cannot be device nodes, FIFOs or sockets');
      if (d.info.kind === 'hash') {
        if (type === S_IFDIR) this.refuse(errno.EPERM, 'mkdir', path, 'a hash holds fields (files), not directories');
        if (!(await this.redis.hsetnx(this.key(d.node.path!), name, ''))) throw fsError(errno.EEXIST);
        const node = this.inodes.at(path, d.node.path!);
        this.touched(node.ino);
        return this.attr(node, { kind: 'field', size: 0 });
      }
      if (type === S_IFDIR) {
        if ((await this.keyInfo(path)) || (await this.dirExists(path))) throw fsError(errno.EEXIST);
        this.pin(path);
        const node = this.inodes.at(path);
        this.touched(node.ino);
        return this.attr(node, { kind: 'dir', size: 0 });
      }
      // The kernel looked the name up just before (negative), so a directory by that name is not
      // checked for again here: that would scan the keyspace on every create.
      if ((await this.redis.set(this.key(path), '', 'NX')) === null) throw fsError(errno.EEXIST);
      const node = this.inodes.at(path);
      this.touched(node.ino);
      return this.attr(node, { kind: 'string', type: 'string', size: 0 });
    });
  }

  addDentry(_caller: Caller, dir: number, name: string, _ino: number): Promise<Attr> {
    return this.guard(async () => {
      const d = this.inodes.get(dir);
      this.refuse(errno.EPERM, 'link', childPath(d.path!, name), 'Redis has no hard links (a key has exactly one name)');
    });
  }

  removeDentry(_caller: Caller, dir: number, name: string, isDir: boolean): Promise<void> {
    return this.guard(async () => {
      const d = await this.dirNode(dir);
      const path = childPath(d.node.path!, name);
      if (d.info.kind === 'hash') {
        const k = this.key(d.node.path!);
        if (isDir) throw fsError((await this.redis.hexists(k, name)) ? errno.ENOTDIR : errno.ENOENT);
        if (!(await this.redis.hdel(k, name))) throw fsError(errno.ENOENT);
        if (!(await this.redis.exists(k))) this.pin(d.node.path!); // the last field went: the hash with it
        this.inodes.remove(path);
        this.touched(d.node.ino);
        return;
      }
      const k = await this.keyInfo(path);
      if (k) {
        if (k.kind === 'hash') throw fsError(isDir ? errno.ENOTEMPTY : errno.EISDIR); // a hash is never empty
        if (isDir) throw fsError(errno.ENOTDIR);
        await this.redis.unlink(this.key(path));
      } else {
        const pinned = this.pinned.has(path);
        if (!pinned && !(await this.dirExists(path))) throw fsError(errno.ENOENT);
        if (!isDir) throw fsError(errno.EISDIR);
        if (this.hasPinnedUnder(path) || (await this.anyKeyUnder(path))) throw fsError(errno.ENOTEMPTY);
        this.forgetDir(path);
      }
      if (d.node.path !== '') this.pin(d.node.path!);
      this.inodes.remove(path);
      this.touched(d.node.ino);
    });
  }

  rename(_caller: Caller, oldDir: number, oldName: string, newDir: number, newName: string, flags: number): Promise<void> {
    return this.guard(async () => {
      this.checkName(newName);
      const from = await this.dirNode(oldDir);
      const to = await this.dirNode(newDir);
      const src = childPath(from.node.path!, oldName);
      const dst = childPath(to.node.path!, newName);
      const noReplace = (flags & RENAME_NOREPLACE) !== 0;
      if (from.info.kind === 'hash' || to.info.kind === 'hash') {
        if (from.node.ino !== to.node.ino) {
          this.refuse(errno.EXDEV, 'rename', src, `/${dst} is in ${to.info.kind === 'hash' ? 'a' : 'no'} hash and /${src} in ${from.info.kind === 'hash' ? 'a' : 'no'} hash: the value must be copied between a field and a key, or between two hashes (mv does that)`);
        }
        if (src === dst) return;
        const exchange = (flags & RENAME_EXCHANGE) !== 0;
        await runScript(this.redis, exchange ? FIELD_EXCHANGE : FIELD_RENAME, [this.key(from.node.path!)], [oldName, newName, noReplace ? '1' : '0']);
        if (exchange) this.inodes.exchange(src, dst);
        else this.inodes.rename(src, dst);
        this.touched(from.node.ino);
        return;
      }
      if (flags & RENAME_EXCHANGE) {
        if (src === dst) return;
        const [a, b] = await Promise.all([this.keyInfo(src), this.keyInfo(dst)]);
        if (!a || !b) {
          if ((!a && !(await this.dirExists(src))) || (!b && !(await this.dirExists(dst)))) throw fsError(errno.ENOENT);
          this.refuse(errno.EXDEV, 'rename(RENAME_EXCHANGE)', src, 'a directory of keys is a key prefix; Redis cannot swap it with another name atomically');
        }
        const temp = this.sameSlot(this.key(src), this.key(dst)) ? this.exchangeTemp(this.key(src)) : undefined;
        if (temp === undefined) {
          this.refuse(errno.EXDEV, 'rename(RENAME_EXCHANGE)', src, `/${src} and /${dst} are keys in different cluster hash slots; Redis Cluster cannot swap them atomically`);
        }
        await runScript(this.redis, KEY_EXCHANGE, [this.key(src), this.key(dst), temp], []);
        this.inodes.exchange(src, dst);
        this.touched(from.node.ino);
        this.touched(to.node.ino);
        return;
      }
      const s = await this.keyInfo(src);
      const srcIsDir = s ? s.kind === 'hash' : true;
      if (!s) {
        if (!(await this.dirExists(src))) throw fsError(errno.ENOENT);
        if (await this.anyKeyUnder(src)) {
          this.refuse(errno.EXDEV, 'rename', src, 'a directory of keys is a key prefix; Redis cannot rename every key under it atomically (mv copies instead)');
        }
      }
      if (src === dst) return;
      const t = await this.keyInfo(dst);
      const dstIsDir = t ? t.kind === 'hash' : await this.dirExists(dst);
      if (t || dstIsDir) {
        if (noReplace) throw fsError(errno.EEXIST);
        if (srcIsDir && !dstIsDir) throw fsError(errno.ENOTDIR);
        if (!srcIsDir && dstIsDir) throw fsError(errno.EISDIR);
        if (dstIsDir && (t || this.hasPinnedUnder(dst) || (await this.anyKeyUnder(dst)))) throw fsError(errno.ENOTEMPTY);
      }
      if (dstIsDir) this.forgetDir(dst); // replaced by the source (only an empty one can be)
      if (s) {
        if (!this.sameSlot(this.key(src), this.key(dst))) {
          await this.moveKey(this.key(src), this.key(dst), noReplace);
        } else if (noReplace) {
          if (!(await this.redis.renamenx(this.key(src), this.key(dst)))) throw fsError(errno.EEXIST);
        } else {
          await this.redis.rename(this.key(src), this.key(dst));
        }
      } else {
        // Directories with no keys under them live only in this mount: move them in memory.
        const moved = [...this.pinned].filter((p) => p === src || p.startsWith(`${src}/`));
        for (const p of moved) this.forgetDir(p);
        for (const p of moved) this.pin(dst + p.slice(src.length));
      }
      if (from.node.path !== '') this.pin(from.node.path!);
      this.inodes.rename(src, dst);
      this.touched(from.node.ino);
      this.touched(to.node.ino);
    });
  }

  /** Whether two keys may meet in one command: always on one server, in one hash slot on a cluster. */
  private sameSlot(a: string, b: string): boolean {
    return !isCluster(this.redis) || keySlot(a) === keySlot(b);
  }

  /** A name for parking `key` during an exchange that lies in its hash slot, or undefined if the
   * key's name leaves none (a "}" without a hash tag before it). */
  private exchangeTemp(key: string): string | undefined {
    const suffix = '\0zufs-exchange';
    if (!isCluster(this.redis)) return key + suffix;
    const open = key.indexOf('{');
    if (open >= 0 && key.indexOf('}', open + 1) > open + 1) return key + suffix; // the tag stays first
    return key.includes('}') ? undefined : `{${key}}${suffix}`;
  }

  /** A rename between two cluster slots: copy (value, type, TTL), then delete. Not atomic. */
  private async moveKey(src: string, dst: string, noReplace: boolean): Promise<void> {
    const [dump, pttl] = await Promise.all([this.redis.dumpBuffer(src), this.redis.pttl(src)]);
    if (dump === null) throw fsError(errno.ENOENT);
    try {
      if (noReplace) await this.redis.restore(dst, pttl > 0 ? pttl : 0, dump);
      else await this.redis.restore(dst, pttl > 0 ? pttl : 0, dump, 'REPLACE');
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('BUSYKEY')) throw fsError(errno.EEXIST);
      throw err;
    }
    await this.redis.unlink(src);
    this.log.debug({ from: src, to: dst }, `mount ${this.mount}: renamed across cluster slots by copy and delete`);
  }

  // ---- listing ----

  private async list(node: NativeNode, info: Info): Promise<Entry[]> {
    const path = node.path!;
    const entries: Entry[] = [];
    if (info.kind === 'hash') {
      for (const f of await this.redis.hkeysBuffer(this.key(path))) {
        const name = decodeName(f);
        const why = name === undefined ? 'bytes that are not UTF-8' : name.includes('/') ? 'a "/"' : badComponent(name);
        if (why !== undefined || name === undefined) this.skip(`${path}/${f.toString('latin1')}`, why ?? '');
        else entries.push({ name, kind: 'field' });
      }
    } else {
      const base = this.key(path === '' ? '' : `${path}/`);
      const keys = new Set<string>();
      const dirs = new Set<string>();
      const onBatch = (batch: Buffer[]): void => {
        for (const raw of batch) {
          const full = decodeName(raw);
          if (full === undefined) {
            this.skip(raw.toString('latin1'), 'bytes that are not UTF-8');
            continue;
          }
          const rest = full.slice(base.length);
          const parts = rest.split('/');
          const why = parts.map(badComponent).find((w) => w !== undefined);
          if (why !== undefined) {
            this.skip(full, why);
            continue;
          }
          if (parts.length === 1) keys.add(rest);
          else dirs.add(parts[0]!);
        }
      };
      await Promise.all(this.nodes().map((node) => this.scanNode(node, `${globEscape(base)}*`, onBatch)));
      const under = path === '' ? '' : `${path}/`;
      for (const p of this.pinned) {
        if (p.startsWith(under) && p.length > under.length) dirs.add(p.slice(under.length).split('/')[0]!);
      }
      const until = Date.now() + this.dirCacheMs;
      for (const name of dirs) {
        if (keys.has(name)) continue; // the key wins
        entries.push({ name, kind: 'dir' });
        this.dirSeen.set(childPath(path, name), until);
      }
      for (const name of keys) entries.push({ name, kind: 'key' });
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The inode and attributes (or only the type) of one listed entry; undefined if it vanished. */
  private async entry(dir: NativeNode, dirInfo: Info, e: Entry, plus: boolean): Promise<{ node: NativeNode; info: Info } | undefined> {
    const path = childPath(dir.path!, e.name);
    if (e.kind === 'dir') return { node: this.inodes.at(path), info: { kind: 'dir', size: 0 } };
    if (e.kind === 'field' || dirInfo.kind === 'hash') {
      const info = plus ? await this.fieldInfo(dir.path!, e.name) : { kind: 'field' as const, size: 0 };
      return info && { node: this.inodes.at(path, dir.path!), info };
    }
    let info: Info | undefined;
    if (plus) {
      info = await this.keyInfo(path);
    } else {
      const type = await this.redis.type(this.key(path));
      info = type === 'none' ? undefined : { kind: type === 'hash' ? 'hash' : 'string', type, size: 0 };
    }
    return info && { node: this.inodes.at(path), info };
  }

  readdir(_caller: Caller, dir: number, cookie: number, maxEntries: number, plus: boolean): Promise<DirentOut[]> {
    return this.guard(async () => {
      const d = await this.dirNode(dir);
      return this.pageDir(d.node, cookie, maxEntries, plus, {
        list: () => this.list(d.node, d.info),
        dot: () => this.attr(d.node, d.info),
        emit: async (page) => {
          const got = await Promise.all(page.map((e) => this.entry(d.node, d.info, e, plus)));
          return got.map((g, i) => g && { name: page[i]!.name, node: g.node, attr: this.attr(g.node, g.info) });
        },
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
        chmod: 'Redis keys have no permission bits',
        chown: 'Redis keys have no owner',
        utimes: 'Redis keeps no file times; only "now" (touch) is accepted',
      });
      if (req.size !== undefined) {
        if (isDirKind(info.kind)) throw fsError(errno.EISDIR);
        if (!Number.isSafeInteger(req.size) || req.size < 0) throw fsError(errno.EINVAL);
        await this.truncate(node, info, req.size, req.fh);
      }
      if (req.size !== undefined || req.mtimeNs === 'now' || req.atimeNs === 'now') this.touched(ino);
      return this.attr(node, req.size !== undefined ? { ...info, size: req.size } : info);
    });
  }

  private async truncate(node: NativeNode, info: Info, size: number, fh: number | undefined): Promise<void> {
    const path = node.path!;
    if (info.kind === 'string') {
      await runScript(this.redis, STRING_TRUNCATE, [this.key(path)], [size]);
      return;
    }
    if (info.kind === 'other') this.refuse(errno.ENOTSUP, 'truncate', path, `a ${info.type} key has no file form`);
    // Staged kinds: a truncate while the file is open for writing (O_TRUNC arrives as a setattr,
    // with or without the handle) goes to the staged content and is stored with it at close.
    const given = fh === undefined ? undefined : this.handles.get(fh);
    const staged = given?.ino === node.ino ? [given] : [...this.handles.values()].filter((x) => x.ino === node.ino && x.writable);
    if (staged.length > 0) {
      for (const h of staged) {
        h.stage = resize(this.content(h), size);
        this.markDirty(h);
      }
      return;
    }
    if (info.kind === 'field') {
      await runScript(this.redis, FIELD_TRUNCATE, [this.key(node.hash!)], [baseName(path), size]);
      return;
    }
    const type = info.kind as CollectionType;
    const { content } = await this.loadCollection(this.key(path), type);
    await this.replace(path, type, resize(content, size));
  }

  // ---- data ----

  open(_caller: Caller, ino: number, flags: number): Promise<number> {
    return this.guard(async () => {
      const node = this.inodes.get(ino);
      const path = node.path!;
      const info = await this.info(node);
      const writing = (flags & O_ACCMODE) !== 0;
      if (info.kind === 'other') this.refuse(errno.ENOTSUP, 'open', path, `a ${info.type} key has no file form (read it with redis-cli)`);
      const h: Handle = { ino, path, kind: info.kind, key: this.key(node.hash ?? path), dirty: false, writable: writing };
      if (info.kind === 'field') {
        h.field = baseName(path);
        const v = await this.redis.hgetBuffer(h.key, h.field);
        if (v === null) throw fsError(errno.ENOENT);
        h.snapshot = v;
      } else if (isCollection(info.kind)) {
        const { content, lossy } = await this.loadCollection(h.key, info.kind);
        if (writing && lossy) {
          this.refuse(errno.ENOTSUP, 'open for writing', path, `an element of this ${info.kind} contains a newline, so one line per element cannot write it back`);
        }
        h.snapshot = content;
      }
      const fh = this.nextFh++;
      this.handles.set(fh, h);
      return fh;
    });
  }

  private handle(ino: number, fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h || h.ino !== ino) throw fsError(errno.EBADF);
    return h;
  }

  private content(h: Handle): Buffer {
    return h.stage ?? h.snapshot ?? Buffer.alloc(0);
  }

  private markDirty(h: Handle): void {
    h.dirty = true;
    this.dirtyByIno.set(h.ino, h);
  }

  private async loadCollection(key: string, type: CollectionType): Promise<{ content: Buffer; lossy: boolean }> {
    const reply =
      type === 'list'
        ? await this.redis.lrangeBuffer(key, 0, -1)
        : type === 'set'
          ? await this.redis.smembersBuffer(key)
          : await this.redis.zrangeBuffer(key, 0, '-1', 'WITHSCORES');
    return formatCollection(type, reply);
  }

  read(ino: number, fh: number, offset: number, len: number): Promise<Buffer> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      if (isDirKind(h.kind)) throw fsError(errno.EISDIR);
      if (len <= 0) return Buffer.alloc(0);
      if (h.kind === 'string') return this.redis.getrangeBuffer(h.key, offset, offset + len - 1);
      return this.content(h).subarray(offset, offset + len);
    });
  }

  write(ino: number, fh: number, offset: number, data: Buffer): Promise<number> {
    return this.guard(async () => {
      const h = this.handle(ino, fh);
      if (isDirKind(h.kind)) throw fsError(errno.EISDIR);
      if (h.kind === 'string') {
        if (data.length > 0) await this.redis.setrange(h.key, offset, data);
      } else {
        const cur = this.content(h);
        const end = offset + data.length;
        const next = end > cur.length ? resize(cur, end) : h.stage ?? Buffer.from(cur);
        data.copy(next, offset);
        h.stage = next;
        this.markDirty(h);
      }
      this.touched(ino);
      return data.length;
    });
  }

  /**
   * Stores a handle's staged content: HSET for a field, a whole-key replace for a collection.
   * An empty collection (which deletes the key and its TTL) is stored only at the last close:
   * shells open, dup and close a file before writing to it (`cmd > file`), and that first close
   * must not drop the key.
   */
  private async commit(h: Handle, last: boolean): Promise<void> {
    if (!h.dirty) return;
    const stage = this.content(h);
    if (!last && stage.length === 0 && isCollection(h.kind)) return;
    if (h.kind === 'field') {
      await this.redis.hset(h.key, h.field!, stage);
    } else if (isCollection(h.kind)) {
      await this.replace(h.path, h.kind, stage);
    }
    h.dirty = false;
    if (this.dirtyByIno.get(h.ino) === h) this.dirtyByIno.delete(h.ino);
  }

  private async replace(path: string, type: CollectionType, content: Buffer): Promise<void> {
    let args: Buffer[];
    try {
      args = parseCollection(type, content, `/${path}`);
    } catch (err) {
      this.refuse(errno.EINVAL, `write ${type}`, path, (err as Error).message);
    }
    await runScript(this.redis, COLLECTION_REPLACE, [this.key(path)], [type, ...args]);
    if (args.length === 0) {
      // Redis removed the key with its last element; its directory stays.
      const parent = parentPath(path);
      if (parent !== '') this.pin(parent);
      this.inodes.remove(path);
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
        if (this.dirtyByIno.get(ino) === h) this.dirtyByIno.delete(ino);
      }
    });
  }

  /** Staged content is stored; Redis's own persistence (appendfsync) decides durability on disk. */
  sync(ino: number, fh: number, _datasync: boolean): Promise<void> {
    return this.guard(async () => {
      const h = this.handles.get(fh);
      if (h && h.ino === ino) await this.commit(h, false);
    });
  }

  // ---- xattrs ----

  private async keyNode(ino: number): Promise<{ node: NativeNode; info: Info }> {
    const node = this.inodes.get(ino);
    return { node, info: await this.info(node) };
  }

  getxattr(_caller: Caller, ino: number, name: string): Promise<Buffer> {
    return this.guard(async () => {
      // The kernel asks for security.capability on writes and for ACLs on lookups: answered
      // without a round trip.
      if (name !== XATTR_TYPE && name !== XATTR_TTL) {
        this.inodes.get(ino);
        throw fsError(errno.ENODATA);
      }
      const { node, info } = await this.keyNode(ino);
      if (!isKeyKind(info.kind)) throw fsError(errno.ENODATA);
      if (name === XATTR_TYPE) return Buffer.from(info.type!);
      const ttl = await this.redis.ttl(this.key(node.path!));
      if (ttl === -2) throw fsError(errno.ENOENT);
      return Buffer.from(String(ttl));
    });
  }

  listxattr(_caller: Caller, ino: number): Promise<string[]> {
    return this.guard(async () => {
      const { info } = await this.keyNode(ino);
      return isKeyKind(info.kind) ? [XATTR_TYPE, XATTR_TTL] : [];
    });
  }

  setxattr(_caller: Caller, ino: number, name: string, value: Buffer, flags: number): Promise<void> {
    return this.guard(async () => {
      const { node, info } = await this.keyNode(ino);
      const path = node.path!;
      if (!isKeyKind(info.kind)) {
        this.refuse(errno.ENOTSUP, `setxattr ${name}`, path, info.kind === 'field' ? 'a hash field has no attributes of its own' : 'a directory of keys is a key prefix and has no attributes');
      }
      if (name === XATTR_TYPE) this.refuse(errno.EPERM, `setxattr ${name}`, path, 'a key\'s type is read-only (it follows from the value)');
      if (name !== XATTR_TTL) this.refuse(errno.ENOTSUP, `setxattr ${name}`, path, `Redis keys carry only ${XATTR_TYPE} and ${XATTR_TTL}`);
      if (flags & XATTR_CREATE) throw fsError(errno.EEXIST);
      const text = value.toString('utf8').trim();
      const ttl = /^-?\d+$/.test(text) ? Number(text) : NaN;
      if (!(ttl === -1 || (Number.isSafeInteger(ttl) && ttl > 0))) {
        this.refuse(errno.EINVAL, `setxattr ${name}`, path, `the TTL must be a positive number of seconds or -1 (none), got ${JSON.stringify(text.slice(0, 40))}`);
      }
      const k = this.key(path);
      const ok = ttl === -1 ? (await this.redis.persist(k), await this.redis.exists(k)) : await this.redis.expire(k, ttl);
      if (!ok) throw fsError(errno.ENOENT);
    });
  }

  removexattr(_caller: Caller, ino: number, name: string): Promise<void> {
    return this.guard(async () => {
      const { node, info } = await this.keyNode(ino);
      if (!isKeyKind(info.kind) || (name !== XATTR_TYPE && name !== XATTR_TTL)) throw fsError(errno.ENODATA);
      if (name === XATTR_TYPE) this.refuse(errno.EPERM, `removexattr ${name}`, node.path!, 'a key\'s type is read-only');
      await this.redis.persist(this.key(node.path!));
    });
  }

  // ---- volume ----

  /** Memory as space: maxmemory (or the machine's memory when unlimited) against used_memory. */
  statfs(): Promise<StatFs> {
    return this.guard(async () => {
      // A cluster's space is its masters' added up.
      const per = await Promise.all(this.nodes().map((n) => Promise.all([n.info('memory'), n.dbsize()])));
      let used = 0;
      let max = 0;
      let keys = 0;
      for (const [mem, n] of per) {
        const field = (name: string): number => Number(/^(\w+):(\d+)/m.exec(mem.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '')?.[2] ?? 0);
        used += field('used_memory');
        max += field('maxmemory') || field('total_system_memory') || 2 ** 40;
        keys += n;
      }
      const blocks = Math.max(1, Math.floor(max / BLKSIZE));
      const free = Math.max(0, Math.floor((max - used) / BLKSIZE));
      return statFs(blocks, free, keys + 2 ** 32, 2 ** 32, NAME_MAX);
    });
  }

  syncfs(): Promise<void> {
    return this.guard(() => this.commitAll(false));
  }

  private async commitAll(last: boolean): Promise<void> {
    for (const h of [...this.dirtyByIno.values()]) await this.commit(h, last);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      await this.guard(() => this.commitAll(true));
    } catch (err) {
      this.log.error({ err }, `mount ${this.mount}: staged writes lost at unmount`);
    }
    this.destroyed = true;
    this.handles.clear();
    this.dirtyByIno.clear();
    await Promise.race([this.redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    this.redis.disconnect();
  }
}
