// The `redis` backend for the posix layout: inodes, dentries, xattrs and chunks as keys under one
// volume prefix "zufs:{<volume>}:". The braces are a Redis Cluster hash tag: every key of a volume
// hashes to one slot, so every script and MULTI below touches one slot and stays legal in a cluster
// (one volume = one slot, so one master; volumes of different names spread over the masters).
// Sentinel- and Cluster-managed deployments are reached through the same code (redis-url.ts for the
// URL forms, redis-client.ts for how each mode behaves while a node is down or failing over).
//
// Atomicity: commit() is one Lua script (EVALSHA, falling back to EVAL after NOSCRIPT) that checks
// every dentry precondition and then applies every op. Redis runs a script without interleaving
// other clients, in one round trip, on the shared multiplexed connection. WATCH/MULTI/EXEC would
// need a connection per transaction and retry loops, and still cost two or more round trips.
//
// Failure behaviour (one server): no offline queue, one retry, a command timeout (default 5 s): while
// Redis is down an operation fails at once with EIO, a server that stops answering gives ETIMEDOUT after
// commandTimeoutMs, and nothing hangs. The client keeps reconnecting in the background and
// operations succeed again once Redis is back. A timed-out commit may still have been applied.
//
// Several gateways: commit() PUBLISHes what it changed (inode numbers, directory entries) on the
// volume's channel from inside the script, and watch() SUBSCRIBEs on a second connection. Plain
// pub/sub rather than keyspace notifications: it needs no notify-keyspace-events on the server
// (often disallowed on managed Redis), carries names and the sender (a gateway skips its own
// changes), and costs one message per commit instead of one per key. Messages published while the
// subscriber reconnects are lost, so a reconnect tells the watchers to drop all they cache. With
// Sentinel the subscriber follows the master like every connection; in a Cluster, PUBLISH is
// forwarded to every node, so one subscription on any node hears every gateway.
// Locks: one JSON table per inode, replaced by a compare-and-set script; records name the
// gateway's lease key (PX lockLeaseMs, renewed every quarter lease), so a crashed gateway's locks
// count as gone once its lease expires.
//
// Durability is the server's: acknowledged writes are in Redis memory. For fsync semantics run
// Redis with `appendonly yes` and `appendfsync always`; with `syncWaitAof`, sync() also issues
// WAITAOF 1 0 (Redis >= 7.2) so it returns only once the local AOF has been fsynced.
import { randomBytes } from 'node:crypto';
import { errno, FsError, fsError } from '../../fs/errors.js';
import type {
  Backend, ChunkStore, DirEntry, InodeRecord, LockRecord, LockStore, LockTable, MetaChange, MetaOp, MetaStats, MetaStore, MetaTxn,
} from '../types.js';
import { changesOf, forEachChange, type ChangeList } from '../changes.js';
import { connectRedis, duplicateClient, type RedisClient } from './redis-client.js';
import type { RedisTarget } from './redis-url.js';
import { ALLOC_IDS, CHUNK_REMOVE, CHUNK_TRUNCATE, CHUNK_WRITE, COMMIT, LOCK_PUT, READDIR, type LuaScript } from './scripts.js';

export const REDIS_DEFAULT_CHUNK_SIZE = 1 << 20;
const FORMAT = 'zufs-posix';
const VERSION = '1';
const READDIR_BATCH = 512;
const REMOVE_BATCH = 256;

export interface RedisBackendOptions {
  volume: string;
  /** Chunk size for a new volume; an existing volume keeps the one it was created with. */
  chunkSize?: number | undefined;
  /** Give up connecting at open after this long. Default 5000. */
  connectTimeoutMs?: number | undefined;
  /** A command without a reply after this long fails with ETIMEDOUT. Default 5000. */
  commandTimeoutMs?: number | undefined;
  /** Reconnect attempts a command in flight survives before it fails. Default 1. */
  maxRetriesPerRequest?: number | undefined;
  /** sync() waits for the server's AOF fsync (WAITAOF, Redis >= 7.2). Default false. */
  syncWaitAof?: boolean | undefined;
  /** Shown in errors instead of host:port (the caller passes a redacted URL). */
  label?: string | undefined;
  /** A gateway's locks outlive it (a crash, a lost connection) by at most this long. Default 5000. */
  lockLeaseMs?: number | undefined;
}

/** A change-feed message: the sender's gateway id and [ino] (inode) or [parent, name] (entry). */
interface ChangeMessage {
  g: string;
  c: ChangeList;
}

const AUTH_ERROR = /^(NOAUTH|WRONGPASS|NOPERM)/;
const VOLUME_NAME = /^[A-Za-z0-9._-]{1,128}$/;

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** Maps ioredis and Redis errors to an FsError with the errno a caller should see. */
export function redisError(err: unknown, label: string): FsError {
  if (err instanceof FsError) return err;
  const e = err as { message?: unknown; name?: unknown; code?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  const say = `redis backend (${label}): ${msg}`;
  if (msg.includes('Command timed out')) return fsError(errno.ETIMEDOUT, say, err);
  if (msg.includes('ZUFS_NOVOLUME')) {
    return fsError(errno.EIO, `redis backend (${label}): the volume's keys are gone from Redis (FLUSHDB, or a restart without persistence?); refusing to write`, err);
  }
  if (msg.startsWith('OOM ')) return fsError(errno.ENOSPC, say, err);
  if (msg.startsWith('READONLY ')) return fsError(errno.EROFS, say, err);
  if (AUTH_ERROR.test(msg)) return fsError(errno.EACCES, say, err);
  if (e?.code === 'ETIMEDOUT') return fsError(errno.ETIMEDOUT, say, err);
  return fsError(errno.EIO, say, err);
}

function inodeFields(i: InodeRecord): string[] {
  const f = [
    'mode', String(i.mode),
    'uid', String(i.uid),
    'gid', String(i.gid),
    'nlink', String(i.nlink),
    'size', String(i.size),
    'rdev', String(i.rdev),
    'atime', String(i.atimeNs),
    'mtime', String(i.mtimeNs),
    'ctime', String(i.ctimeNs),
    'btime', String(i.btimeNs),
    'flags', String(i.flags),
    'gen', String(i.generation),
  ];
  if (i.target !== undefined) f.push('target', i.target);
  return f;
}

function parseInode(ino: number, h: Record<string, string>): InodeRecord | undefined {
  if (h['mode'] === undefined) return undefined;
  const rec: InodeRecord = {
    ino,
    mode: Number(h['mode']),
    uid: Number(h['uid']),
    gid: Number(h['gid']),
    nlink: Number(h['nlink']),
    size: Number(h['size']),
    rdev: Number(h['rdev']),
    atimeNs: BigInt(h['atime'] ?? 0),
    mtimeNs: BigInt(h['mtime'] ?? 0),
    ctimeNs: BigInt(h['ctime'] ?? 0),
    btimeNs: BigInt(h['btime'] ?? 0),
    flags: Number(h['flags'] ?? 0),
    generation: Number(h['gen'] ?? 0),
  };
  if (h['target'] !== undefined) rec.target = h['target'];
  return rec;
}

/** "<ino>:<cookie>" */
function parseDentry(v: string): { ino: number; cookie: number } {
  const c = v.indexOf(':');
  return { ino: Number(v.slice(0, c)), cookie: Number(v.slice(c + 1)) };
}

export class RedisBackend implements Backend {
  readonly kind = 'redis';
  readonly meta: MetaStore;
  readonly chunks: ChunkStore;
  private readonly p: string;
  private readonly vkey: string;
  private closed = false;
  /** This gateway, in change messages and lock leases. */
  readonly gateway = randomBytes(8).toString('hex');
  readonly locks: LockStore;
  private readonly changesChannel: string;
  private readonly locksChannel: string;
  private sub: RedisClient | undefined;
  private readonly changeListeners = new Set<(c: MetaChange) => void>();
  private readonly lockListeners = new Set<(ino: number) => void>();
  private leaseTimer: NodeJS.Timeout | undefined;
  private lease: Promise<void> | undefined;

  private constructor(
    private readonly redis: RedisClient,
    readonly volume: string,
    readonly chunkSize: number,
    private readonly label: string,
    private readonly syncWaitAof: boolean,
    private readonly commandTimeoutMs: number,
    private readonly leaseMs: number,
  ) {
    this.p = `zufs:{${volume}}:`;
    this.vkey = `${this.p}v`;
    this.changesChannel = `${this.p}changes`;
    this.locksChannel = `${this.p}locks`;
    this.locks = {
      gateway: this.gateway,
      get: (ino) => this.getLocks(ino),
      put: (ino, version, locks) => this.putLocks(ino, version, locks),
      watch: (fn) => this.listen(this.lockListeners, fn),
    };
    this.meta = {
      watch: (fn) => this.listen(this.changeListeners, fn),
      getInode: (ino) => this.getInode(ino),
      lookup: (parent, name) => this.lookup(parent, name),
      readdir: (parent, after, limit) => this.readdir(parent, after, limit),
      getXattr: (ino, name) => this.call(() => this.redis.hgetBuffer(`${this.p}x:${ino}`, name)).then((v) => v ?? undefined),
      listXattrs: (ino) => this.call(() => this.redis.hkeys(`${this.p}x:${ino}`)),
      commit: (txn) => this.commit(txn),
      allocIds: (count) => this.allocIds(count),
      stats: () => this.stats(),
    };
    this.chunks = {
      chunkSize,
      read: (ino, idx, off, len) => this.readChunk(ino, idx, off, len),
      write: (ino, idx, off, data) => this.writeChunk(ino, idx, off, data),
      truncate: (ino, idx, len) => this.truncateChunk(ino, idx, len),
      remove: (ino, fromIdx, toIdx) => this.removeChunks(ino, fromIdx, toIdx),
      list: (ino) => this.call(() => this.redis.zrange(`${this.p}K:${ino}`, '0', '-1')).then((r) => r.map(Number)),
    };
  }

  /** Connects (failing within connectTimeoutMs), then creates or checks the volume. */
  static async open(target: RedisTarget, opts: RedisBackendOptions): Promise<RedisBackend> {
    if (!VOLUME_NAME.test(opts.volume)) {
      throw fsError(errno.EINVAL, `redis backend: volume name ${JSON.stringify(opts.volume)} must match ${VOLUME_NAME.source}`);
    }
    const first = target.nodes[0]!;
    const label = opts.label ?? `redis://${first.host}:${first.port}/${target.db}`;
    if (opts.syncWaitAof && target.mode === 'cluster') {
      throw fsError(errno.EINVAL, `redis backend (${label}): syncWaitAof is not supported on Redis Cluster (WAITAOF would have to reach the volume's master over the connection that wrote)`);
    }
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const commandTimeoutMs = opts.commandTimeoutMs ?? 5000;
    // Wrong credentials will not get better by retrying.
    const redis = await connectRedis(target, {
      what: 'redis backend',
      label,
      connectTimeoutMs,
      commandTimeoutMs,
      maxRetriesPerRequest: opts.maxRetriesPerRequest,
      connectionName: `zufs:${opts.volume}`,
      authError: (err) => redisError(err, label),
    });
    try {
      const chunkSize = await RedisBackend.initVolume(redis, `zufs:{${opts.volume}}:v`, opts.chunkSize ?? REDIS_DEFAULT_CHUNK_SIZE, label);
      return new RedisBackend(redis, opts.volume, chunkSize, label, opts.syncWaitAof ?? false, commandTimeoutMs, opts.lockLeaseMs ?? 5000);
    } catch (err) {
      redis.disconnect();
      throw redisError(err, label);
    }
  }

  private static async initVolume(redis: RedisClient, vkey: string, chunkSize: number, label: string): Promise<number> {
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 4096 || chunkSize > 64 * 1024 * 1024) {
      throw fsError(errno.EINVAL, `redis backend: chunk size ${chunkSize} is not between 4 KiB and 64 MiB`);
    }
    const [, , , , got] = (await redis
      .multi()
      .hsetnx(vkey, 'format', FORMAT)
      .hsetnx(vkey, 'version', VERSION)
      .hsetnx(vkey, 'chunkSize', String(chunkSize))
      .hsetnx(vkey, 'next', '1')
      .hmget(vkey, 'format', 'version', 'chunkSize')
      .exec())!;
    if (got![0]) throw got![0];
    const [format, version, cs] = got![1] as Array<string | null>;
    if (format !== FORMAT || version !== VERSION) {
      throw fsError(errno.EINVAL, `redis backend (${label}): ${vkey} holds format ${format} v${version}, not ${FORMAT} v${VERSION}`);
    }
    return Number(cs);
  }

  async sync(): Promise<void> {
    this.live();
    if (this.syncWaitAof) {
      let r: [number, number];
      try {
        r = (await this.call(() => this.redis.call('WAITAOF', '1', '0', String(this.commandTimeoutMs)))) as [number, number];
      } catch (err) {
        if (err instanceof Error && /unknown command/i.test(err.message)) {
          throw fsError(errno.EIO, `redis backend (${this.label}): syncWaitAof needs Redis >= 7.2 (WAITAOF); this server lacks it`, err);
        }
        throw err;
      }
      if (!Array.isArray(r) || r[0] < 1) throw fsError(errno.EIO, `redis backend (${this.label}): WAITAOF: the AOF was not fsynced in time`);
      return;
    }
    // Every acknowledged write is already in the server; a round trip proves it is still there
    // (to the volume's own node: in a cluster a PING would go to any node).
    await this.call(() => this.redis.exists(this.vkey));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.leaseTimer);
    // Our locks go with us at once rather than when the lease runs out.
    if (this.lease) await this.call(() => this.redis.del(`${this.p}g:${this.gateway}`)).catch(() => undefined);
    this.closed = true;
    this.sub?.disconnect();
    this.changeListeners.clear();
    this.lockListeners.clear();
    const quit = this.redis.quit().catch(() => undefined);
    const timeout = new Promise<void>((r) => setTimeout(r, 1000).unref());
    await Promise.race([quit, timeout]);
    this.redis.disconnect();
  }

  private live(): void {
    if (this.closed) throw fsError(errno.EIO, `redis backend (${this.label}): volume ${this.volume} is closed`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    this.live();
    try {
      return await fn();
    } catch (err) {
      throw redisError(err, this.label);
    }
  }

  private async run(s: LuaScript, keys: string[], args: Array<string | number | Buffer>): Promise<unknown> {
    return this.call(async () => {
      try {
        return await this.redis.evalsha(s.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return await this.redis.eval(s.lua, keys.length, ...keys, ...args);
      }
    });
  }

  private async getInode(ino: number): Promise<InodeRecord | undefined> {
    const h = await this.call(() => this.redis.hgetall(`${this.p}i:${ino}`));
    return parseInode(ino, h);
  }

  private async lookup(parent: number, name: string): Promise<number | undefined> {
    const v = await this.call(() => this.redis.hget(`${this.p}d:${parent}`, name));
    return v === null ? undefined : parseDentry(v).ino;
  }

  private async readdir(parent: number, afterCookie: number, limit: number): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    let after = afterCookie;
    while (out.length < limit) {
      const want = Math.min(READDIR_BATCH, limit - out.length);
      const r = (await this.run(READDIR, [`${this.p}c:${parent}`, `${this.p}d:${parent}`], [String(after), want])) as string[];
      for (let k = 0; k < r.length; k += 2) {
        const v = r[k + 1]!;
        if (v === '') continue; // only with a damaged volume: zset member without a hash field
        const d = parseDentry(v);
        out.push({ name: r[k]!, ino: d.ino, cookie: d.cookie });
        after = d.cookie;
      }
      if (r.length / 2 < want) break;
    }
    return out;
  }

  private async commit(txn: MetaTxn): Promise<boolean> {
    if (txn.checks.length === 0 && txn.ops.length === 0) return (this.live(), true);
    const keys: string[] = [this.vkey];
    const index = new Map<string, number>([[this.vkey, 1]]);
    const k = (key: string): number => {
      let i = index.get(key);
      if (i === undefined) {
        keys.push(key);
        i = keys.length;
        index.set(key, i);
      }
      return i;
    };
    const args: Array<string | number | Buffer> = [txn.checks.length];
    for (const c of txn.checks) args.push(k(`${this.p}d:${c.parent}`), c.name, c.ino === null ? '' : String(c.ino));
    args.push(txn.ops.length);
    for (const op of txn.ops) this.encodeOp(op, k, args);
    const changed = changesOf(txn.ops);
    if (changed.length > 0) args.push(this.changesChannel, JSON.stringify({ g: this.gateway, c: changed } satisfies ChangeMessage));
    const r = await this.run(COMMIT, keys, args);
    return r === 1;
  }

  /** Adds a listener; the first one opens the subscriber connection (ioredis resubscribes after a
   * reconnect by itself). */
  private listen<T>(set: Set<(v: T) => void>, fn: (v: T) => void): () => void {
    set.add(fn);
    if (!this.sub && !this.closed) {
      const sub = duplicateClient(this.redis, `zufs:${this.volume}:sub`);
      sub.on('error', () => undefined); // reconnects in the background; commits keep working without it
      // Messages published while the subscriber was away are lost: after a reconnect every cache goes.
      let connected = false;
      sub.on('ready', () => {
        if (connected) for (const f of this.changeListeners) f({ kind: 'reset' });
        connected = true;
      });
      sub.on('message', (channel: string, msg: string) => this.onMessage(channel, msg));
      sub.subscribe(this.changesChannel, this.locksChannel).catch(() => undefined);
      this.sub = sub;
    }
    return () => set.delete(fn);
  }

  private onMessage(channel: string, msg: string): void {
    if (channel === this.locksChannel) {
      const sp = msg.indexOf(' ');
      if (msg.slice(0, sp) === this.gateway) return;
      const ino = Number(msg.slice(sp + 1));
      for (const f of this.lockListeners) f(ino);
      return;
    }
    let m: ChangeMessage;
    try {
      m = JSON.parse(msg) as ChangeMessage;
    } catch {
      return;
    }
    if (m.g === this.gateway) return;
    forEachChange(m.c, (change) => {
      for (const f of this.changeListeners) f(change);
    });
  }

  private async getLocks(ino: number): Promise<LockTable> {
    const raw = await this.call(() => this.redis.get(`${this.p}L:${ino}`));
    if (raw === null) return { version: '', locks: [] };
    const locks = JSON.parse(raw) as LockRecord[];
    const others = [...new Set(locks.map((l) => l.gw))].filter((g) => g !== this.gateway);
    if (others.length === 0) return { version: raw, locks };
    const alive = await Promise.all(others.map((g) => this.call(() => this.redis.exists(`${this.p}g:${g}`))));
    const dead = new Set(others.filter((_, i) => alive[i] === 0));
    return { version: raw, locks: dead.size === 0 ? locks : locks.filter((l) => !dead.has(l.gw)) };
  }

  private async putLocks(ino: number, version: string, locks: LockRecord[]): Promise<boolean> {
    if (locks.length > 0) await this.renewLease();
    const value = locks.length === 0 ? '' : JSON.stringify(locks);
    const r = await this.run(LOCK_PUT, [`${this.p}L:${ino}`], [version, value, this.locksChannel, `${this.gateway} ${ino}`]);
    return r === 1;
  }

  /** Sets this gateway's lease before its first lock, then keeps renewing it while open. */
  private renewLease(): Promise<void> {
    if (!this.lease) {
      const renew = (): Promise<void> => this.call(() => this.redis.set(`${this.p}g:${this.gateway}`, '1', 'PX', this.leaseMs)).then(() => undefined);
      this.lease = renew();
      this.lease.then(
        () => {
          this.leaseTimer = setInterval(() => void renew().catch(() => undefined), Math.max(100, this.leaseMs / 4));
          this.leaseTimer.unref();
        },
        () => (this.lease = undefined),
      );
    }
    return this.lease;
  }

  private encodeOp(op: MetaOp, k: (key: string) => number, args: Array<string | number | Buffer>): void {
    const p = this.p;
    switch (op.op) {
      case 'putInode': {
        const f = inodeFields(op.inode);
        args.push('I', k(`${p}i:${op.inode.ino}`), f.length / 2, ...f);
        return;
      }
      case 'delInode':
        args.push('i', k(`${p}i:${op.ino}`), k(`${p}x:${op.ino}`));
        return;
      case 'putDentry':
        args.push('D', k(`${p}d:${op.parent}`), k(`${p}c:${op.parent}`), op.name, op.ino, op.cookie);
        return;
      case 'delDentry':
        args.push('d', k(`${p}d:${op.parent}`), k(`${p}c:${op.parent}`), op.name);
        return;
      case 'setXattr':
        args.push('X', k(`${p}x:${op.ino}`), op.name, op.value);
        return;
      case 'delXattr':
        args.push('x', k(`${p}x:${op.ino}`), op.name);
        return;
    }
  }

  private async allocIds(count: number): Promise<number> {
    if (!Number.isSafeInteger(count) || count < 1) throw fsError(errno.EINVAL, `allocIds: bad count ${count}`);
    const last = Number(await this.run(ALLOC_IDS, [this.vkey], [count]));
    return last - count + 1;
  }

  private async stats(): Promise<MetaStats> {
    const [inodes, bytes] = await this.call(() => this.redis.hmget(this.vkey, 'inodes', 'bytes'));
    return { inodes: Number(inodes ?? 0), bytes: Number(bytes ?? 0) };
  }

  private checkRange(ino: number, idx: number, off: number, len: number): void {
    if (!Number.isSafeInteger(ino) || !Number.isSafeInteger(idx) || idx < 0 || !Number.isSafeInteger(off) || off < 0 || len < 0 || off + len > this.chunkSize) {
      throw fsError(errno.EINVAL, `chunk range out of bounds: ino ${ino} idx ${idx} off ${off} len ${len} (chunk size ${this.chunkSize})`);
    }
  }

  private async readChunk(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    this.checkRange(ino, idx, off, 0);
    const n = Math.min(len, this.chunkSize - off);
    // GETRANGE with end < 0 counts from the end of the string: never send an empty range.
    if (n <= 0) return (this.live(), Buffer.alloc(0));
    return this.call(() => this.redis.getrangeBuffer(`${this.p}k:${ino}:${idx}`, off, off + n - 1));
  }

  private async writeChunk(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    this.checkRange(ino, idx, off, data.length);
    if (data.length === 0) return this.live();
    await this.run(CHUNK_WRITE, [this.vkey, `${this.p}k:${ino}:${idx}`, `${this.p}K:${ino}`], [idx, off, data]);
  }

  private async truncateChunk(ino: number, idx: number, len: number): Promise<void> {
    this.checkRange(ino, idx, len, 0);
    await this.run(CHUNK_TRUNCATE, [this.vkey, `${this.p}k:${ino}:${idx}`, `${this.p}K:${ino}`], [idx, len]);
  }

  private async removeChunks(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    this.checkRange(ino, fromIdx, 0, 0);
    const max = toIdx === undefined ? '+inf' : `(${toIdx}`;
    for (;;) {
      const n = Number(await this.run(CHUNK_REMOVE, [this.vkey, `${this.p}K:${ino}`], [`${this.p}k:${ino}:`, fromIdx, max, REMOVE_BATCH]));
      if (n < REMOVE_BATCH) return;
    }
  }
}
