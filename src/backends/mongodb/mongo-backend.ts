// The posix layout on MongoDB (or a wire-compatible server such as FerretDB): one collection per
// record kind, named `<volume>.inodes`, `.dentries`, `.xattrs`, `.chunks`, `.counters` and `.locks`.
//
// Atomicity of commit(txn):
// - Where the server runs transactions (a replica set or mongos), checks and ops run in one
//   multi-document transaction, in the order given.
// - Elsewhere (a standalone mongod, FerretDB v1), every (parent, name) the txn checks or changes is
//   first locked by inserting one document per key into `.locks` (unique _id, all-or-nothing: a
//   partial acquisition is released and retried after a jittered pause). With the locks held the
//   checks are read, and only when all hold are the ops applied. Every gateway on the volume takes
//   the same locks, so checks are atomic with respect to each other's commits. A lock carries a lease
//   (lockLeaseMs) so a gateway that dies holding one blocks others only until the lease ends.
//   Without a transaction a crash can still stop a txn half-applied, so the ops are applied in an
//   order whose every prefix is safe: inode puts first (an entry never names a missing inode), then
//   xattrs, then entry changes in their given order, then inode deletes last (an inode disappears only
//   after its entries). A crash may leave an orphan inode — which fsck-style cleanup can find — but
//   never a dangling entry. When the txn itself deletes an inode and then reuses or decorates it,
//   that reordering would change the result, so the given order is kept instead.
import { randomUUID } from 'node:crypto';
import {
  Binary,
  Long,
  MongoClient,
  MongoServerError,
  type AnyBulkWriteOperation,
  type ClientSession,
  type Collection,
  type Db,
  type Document,
  type MongoClientOptions,
} from 'mongodb';
import type {
  Backend,
  ChunkStore,
  DentryCheck,
  DirEntry,
  InodeRecord,
  MetaOp,
  MetaStats,
  MetaStore,
  MetaTxn,
} from '../types.js';

export const DEFAULT_MONGO_CHUNK_SIZE = 1024 * 1024;

export interface MongoBackendOptions {
  /** mongodb:// or mongodb+srv:// URL; credentials may be in it. */
  url: string;
  /** Database holding the volume's collections. Default: the URL's database, else "zufs". */
  database?: string;
  /** Prefix of the collection names, so one database can hold several volumes. Default "zufs". */
  volume?: string;
  /** Bytes per chunk (at most 15 MiB: a chunk is one BSON document). Default 1 MiB, or what the
   * volume was created with. */
  chunkSize?: number;
  /** How long to wait for a reachable server before an operation fails. Default 5000 ms. */
  serverSelectionTimeoutMs?: number;
  /** TCP connect timeout. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** A socket silent this long fails the operation on it. Default 30000 ms. */
  socketTimeoutMs?: number;
  /** 'auto' uses transactions when the server is a replica set or mongos. Default 'auto'. */
  transactions?: 'auto' | 'on' | 'off';
  /** Lease of a commit lock (standalone servers only). Default 10000 ms. */
  lockLeaseMs?: number;
  /** How long a commit waits for locks held by others before failing with EAGAIN. Default 10000 ms. */
  lockWaitMs?: number;
  /** Passed through to the driver, after the options above. */
  client?: MongoClientOptions;
}

interface InodeDoc {
  _id: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  rdev: number;
  atime: Long;
  mtime: Long;
  ctime: Long;
  btime: Long;
  flags: number;
  gen: number;
  target?: string;
}

interface DentryDoc {
  _id?: unknown;
  parent: number;
  name: string;
  ino: number;
  cookie: number;
}

interface XattrDoc {
  _id?: unknown;
  ino: number;
  name: string;
  value: Binary;
}

interface ChunkDoc {
  _id?: unknown;
  ino: number;
  idx: number;
  len: number;
  data: Binary;
}

interface CounterDoc {
  _id: string;
  next?: number;
  chunkSize?: number;
  format?: number;
}

interface LockDoc {
  _id: string;
  owner: string;
  exp: number;
}

/** An error whose code toErrno() maps to an errno. */
class MongoBackendError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MongoBackendError';
  }
}

const FORMAT = 1;
const DUPLICATE_KEY = 11000;

function toLong(v: bigint): Long {
  return Long.fromBigInt(v);
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (v instanceof Long) return v.toBigInt();
  throw new MongoBackendError('EIO', `unexpected time value ${String(v)}`);
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Long) return v.toNumber();
  throw new MongoBackendError('EIO', `unexpected number value ${String(v)}`);
}

function bin(v: unknown): Buffer {
  if (v instanceof Binary) return Buffer.from(v.buffer.subarray(0, v.position));
  if (v instanceof Uint8Array) return Buffer.from(v);
  throw new MongoBackendError('EIO', 'unexpected binary value');
}

function inodeToDoc(r: InodeRecord): InodeDoc {
  const doc: InodeDoc = {
    _id: r.ino,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    nlink: r.nlink,
    size: r.size,
    rdev: r.rdev,
    atime: toLong(r.atimeNs),
    mtime: toLong(r.mtimeNs),
    ctime: toLong(r.ctimeNs),
    btime: toLong(r.btimeNs),
    flags: r.flags,
    gen: r.generation,
  };
  if (r.target !== undefined) doc.target = r.target;
  return doc;
}

function docToInode(d: Document): InodeRecord {
  const r: InodeRecord = {
    ino: toNumber(d['_id']),
    mode: toNumber(d['mode']),
    uid: toNumber(d['uid']),
    gid: toNumber(d['gid']),
    nlink: toNumber(d['nlink']),
    size: toNumber(d['size']),
    rdev: toNumber(d['rdev']),
    atimeNs: toBigInt(d['atime']),
    mtimeNs: toBigInt(d['mtime']),
    ctimeNs: toBigInt(d['ctime']),
    btimeNs: toBigInt(d['btime']),
    flags: toNumber(d['flags']),
    generation: toNumber(d['gen']),
  };
  if (typeof d['target'] === 'string') r.target = d['target'];
  return r;
}

const dentryKey = (parent: number, name: string): string => `${parent}/${name}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Driver option defaults kept in one place: timeouts small enough that a dead server fails fast. */
function clientOptions(o: MongoBackendOptions): MongoClientOptions {
  return {
    serverSelectionTimeoutMS: o.serverSelectionTimeoutMs ?? 5000,
    connectTimeoutMS: o.connectTimeoutMs ?? 5000,
    socketTimeoutMS: o.socketTimeoutMs ?? 30000,
    promoteLongs: false,
    ...o.client,
  };
}

/** The collections of one volume. */
class Collections {
  readonly inodes: Collection<InodeDoc>;
  readonly dentries: Collection<DentryDoc>;
  readonly xattrs: Collection<XattrDoc>;
  readonly chunks: Collection<ChunkDoc>;
  readonly counters: Collection<CounterDoc>;
  readonly locks: Collection<LockDoc>;

  constructor(db: Db, volume: string) {
    this.inodes = db.collection<InodeDoc>(`${volume}.inodes`);
    this.dentries = db.collection<DentryDoc>(`${volume}.dentries`);
    this.xattrs = db.collection<XattrDoc>(`${volume}.xattrs`);
    this.chunks = db.collection<ChunkDoc>(`${volume}.chunks`);
    this.counters = db.collection<CounterDoc>(`${volume}.counters`);
    this.locks = db.collection<LockDoc>(`${volume}.locks`);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.dentries.createIndex({ parent: 1, name: 1 }, { unique: true, name: 'parent_name' }),
      this.dentries.createIndex({ parent: 1, cookie: 1 }, { name: 'parent_cookie' }),
      this.xattrs.createIndex({ ino: 1, name: 1 }, { unique: true, name: 'ino_name' }),
      this.chunks.createIndex({ ino: 1, idx: 1 }, { unique: true, name: 'ino_idx' }),
    ]);
  }

  async drop(): Promise<void> {
    for (const c of [this.inodes, this.dentries, this.xattrs, this.chunks, this.counters, this.locks]) {
      await c.drop().catch((err: unknown) => {
        if (!(err instanceof MongoServerError && (err.code === 26 || /not found/i.test(err.message)))) throw err;
      });
    }
  }
}

/** Serializes async work per key inside this process (read-modify-write of one chunk). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Thrown inside a transaction to abort it because a check failed. */
class CheckFailed extends Error {}

class MongoMetaStore implements MetaStore {
  private readonly owner = randomUUID();

  constructor(
    private readonly client: MongoClient,
    private readonly c: Collections,
    private readonly useTxn: boolean,
    private readonly leaseMs: number,
    private readonly waitMs: number,
  ) {}

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const d = await this.c.inodes.findOne({ _id: ino });
    return d ? docToInode(d) : undefined;
  }

  async lookup(parent: number, name: string): Promise<number | undefined> {
    const d = await this.c.dentries.findOne({ parent, name }, { projection: { ino: 1 } });
    return d ? toNumber(d.ino) : undefined;
  }

  async readdir(parent: number, afterCookie: number, limit: number): Promise<DirEntry[]> {
    if (limit <= 0) return [];
    const docs = await this.c.dentries
      .find({ parent, cookie: { $gt: afterCookie } }, { projection: { name: 1, ino: 1, cookie: 1 } })
      .sort({ cookie: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => ({ name: d.name, ino: toNumber(d.ino), cookie: toNumber(d.cookie) }));
  }

  async getXattr(ino: number, name: string): Promise<Buffer | undefined> {
    const d = await this.c.xattrs.findOne({ ino, name });
    return d ? bin(d.value) : undefined;
  }

  async listXattrs(ino: number): Promise<string[]> {
    const docs = await this.c.xattrs.find({ ino }, { projection: { name: 1 } }).toArray();
    return docs.map((d) => d.name);
  }

  async commit(txn: MetaTxn): Promise<boolean> {
    if (txn.checks.length === 0 && txn.ops.length === 0) return true;
    if (this.useTxn) return this.commitInTransaction(txn);
    const keys = new Set<string>();
    for (const ch of txn.checks) keys.add(dentryKey(ch.parent, ch.name));
    for (const op of txn.ops) {
      if (op.op === 'putDentry' || op.op === 'delDentry') keys.add(dentryKey(op.parent, op.name));
    }
    if (keys.size === 0) {
      await this.apply(safeOrder(txn.ops));
      return true;
    }
    const sorted = [...keys].sort();
    await this.lock(sorted);
    try {
      if (!(await this.checksHold(txn.checks))) return false;
      await this.apply(safeOrder(txn.ops));
      return true;
    } finally {
      await this.unlock(sorted);
    }
  }

  private async commitInTransaction(txn: MetaTxn): Promise<boolean> {
    const session = this.client.startSession();
    try {
      await session.withTransaction(async () => {
        if (!(await this.checksHold(txn.checks, session))) throw new CheckFailed();
        await this.apply(txn.ops, session);
      });
      return true;
    } catch (err) {
      if (err instanceof CheckFailed) return false;
      throw err;
    } finally {
      await session.endSession();
    }
  }

  private async checksHold(checks: DentryCheck[], session?: ClientSession): Promise<boolean> {
    if (checks.length === 0) return true;
    const docs = await this.c.dentries
      .find({ $or: checks.map((ch) => ({ parent: ch.parent, name: ch.name })) }, { session, projection: { parent: 1, name: 1, ino: 1 } })
      .toArray();
    const cur = new Map(docs.map((d) => [dentryKey(toNumber(d.parent), d.name), toNumber(d.ino)]));
    return checks.every((ch) => (cur.get(dentryKey(ch.parent, ch.name)) ?? null) === ch.ino);
  }

  private async lock(keys: string[]): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const docs = keys.map((k) => ({ _id: k, owner: this.owner, exp: now + this.leaseMs }));
      try {
        await this.c.locks.insertMany(docs, { ordered: true });
        return;
      } catch (err) {
        if (!isDuplicate(err)) {
          await this.unlock(keys).catch(() => undefined);
          throw err;
        }
      }
      await this.unlock(keys);
      // A holder that died leaves its lease behind: take it over once it has expired.
      await this.c.locks.deleteMany({ _id: { $in: keys }, exp: { $lt: Date.now() } });
      if (Date.now() > deadline) {
        throw new MongoBackendError('EAGAIN', `commit: entries ${keys.join(', ')} stayed locked for ${this.waitMs} ms`);
      }
      await sleep(Math.random() * Math.min(50, 2 + attempt * 4));
    }
  }

  private async unlock(keys: string[]): Promise<void> {
    await this.c.locks.deleteMany({ _id: { $in: keys }, owner: this.owner });
  }

  /** Applies ops in order, batching consecutive ops on one collection into one ordered bulk write. */
  private async apply(ops: MetaOp[], session?: ClientSession): Promise<void> {
    type Run =
      | { coll: 'inodes'; ops: AnyBulkWriteOperation<InodeDoc>[] }
      | { coll: 'dentries'; ops: AnyBulkWriteOperation<DentryDoc>[] }
      | { coll: 'xattrs'; ops: AnyBulkWriteOperation<XattrDoc>[] };
    const runs: Run[] = [];
    const push = <K extends Run['coll']>(coll: K, op: Extract<Run, { coll: K }>['ops'][number]): void => {
      const last = runs[runs.length - 1];
      if (last && last.coll === coll) (last.ops as unknown[]).push(op);
      else runs.push({ coll, ops: [op] } as Run);
    };
    for (const op of ops) {
      switch (op.op) {
        case 'putInode':
          push('inodes', { replaceOne: { filter: { _id: op.inode.ino }, replacement: inodeToDoc(op.inode), upsert: true } });
          break;
        case 'delInode':
          push('inodes', { deleteOne: { filter: { _id: op.ino } } });
          push('xattrs', { deleteMany: { filter: { ino: op.ino } } });
          break;
        case 'putDentry':
          push('dentries', {
            updateOne: {
              filter: { parent: op.parent, name: op.name },
              update: { $set: { ino: op.ino, cookie: op.cookie } },
              upsert: true,
            },
          });
          break;
        case 'delDentry':
          push('dentries', { deleteOne: { filter: { parent: op.parent, name: op.name } } });
          break;
        case 'setXattr':
          push('xattrs', {
            updateOne: {
              filter: { ino: op.ino, name: op.name },
              update: { $set: { value: new Binary(Buffer.from(op.value)) } },
              upsert: true,
            },
          });
          break;
        case 'delXattr':
          push('xattrs', { deleteOne: { filter: { ino: op.ino, name: op.name } } });
          break;
      }
    }
    for (const run of runs) {
      const opts = { ordered: true, session };
      if (run.coll === 'inodes') await this.c.inodes.bulkWrite(run.ops, opts);
      else if (run.coll === 'dentries') await this.c.dentries.bulkWrite(run.ops, opts);
      else await this.c.xattrs.bulkWrite(run.ops, opts);
    }
  }

  async allocIds(count: number): Promise<number> {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`allocIds: bad count ${count}`);
    const doc = await this.c.counters.findOneAndUpdate(
      { _id: 'ids' },
      { $inc: { next: count } },
      { upsert: true, returnDocument: 'after' },
    );
    if (!doc || doc.next === undefined) throw new MongoBackendError('EIO', 'allocIds: counter missing after update');
    // `next` counts ids handed out so far; ids start at 2.
    return 2 + toNumber(doc.next) - count;
  }

  async stats(): Promise<MetaStats> {
    const [inodes, bytes] = await Promise.all([
      this.c.inodes.countDocuments({}),
      this.c.chunks.aggregate<{ total: unknown }>([{ $group: { _id: null, total: { $sum: '$len' } } }]).toArray(),
    ]);
    return { inodes, bytes: bytes[0] ? toNumber(bytes[0].total) : 0 };
  }
}

function isDuplicate(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; writeErrors?: Array<{ code?: unknown }> };
  if (e.code === DUPLICATE_KEY) return true;
  return Array.isArray(e.writeErrors) && e.writeErrors.some((w) => w.code === DUPLICATE_KEY);
}

/** The crash-safe order described at the top of the file, or the given order when reordering would
 * change the outcome (an inode deleted and then written again, or its xattrs touched after). */
export function safeOrder(ops: MetaOp[]): MetaOp[] {
  const deleted = new Set<number>();
  for (const op of ops) {
    if (op.op === 'delInode') deleted.add(op.ino);
    else if ((op.op === 'putInode' && deleted.has(op.inode.ino)) || ((op.op === 'setXattr' || op.op === 'delXattr') && deleted.has(op.ino))) {
      return ops;
    }
  }
  const rank = (op: MetaOp): number =>
    op.op === 'putInode' ? 0 : op.op === 'setXattr' || op.op === 'delXattr' ? 1 : op.op === 'delInode' ? 3 : 2;
  return ops
    .map((op, i) => ({ op, i, r: rank(op) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.op);
}

class MongoChunkStore implements ChunkStore {
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly c: Collections,
    readonly chunkSize: number,
  ) {}

  private async load(ino: number, idx: number): Promise<Buffer | undefined> {
    const d = await this.c.chunks.findOne({ ino, idx }, { projection: { data: 1 } });
    return d ? bin(d.data) : undefined;
  }

  private async store(ino: number, idx: number, data: Buffer): Promise<void> {
    await this.c.chunks.updateOne(
      { ino, idx },
      { $set: { data: new Binary(data), len: data.length } },
      { upsert: true },
    );
  }

  async read(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    if (len <= 0) return Buffer.alloc(0);
    const data = await this.load(ino, idx);
    if (!data || off >= data.length) return Buffer.alloc(0);
    return data.subarray(off, Math.min(data.length, off + len));
  }

  async write(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    const end = off + data.length;
    if (off < 0 || end > this.chunkSize) throw new RangeError(`chunk write [${off}, ${end}) outside chunk`);
    await this.mutex.run(`${ino}/${idx}`, async () => {
      if (off === 0 && end === this.chunkSize) {
        await this.store(ino, idx, Buffer.from(data));
        return;
      }
      const old = (await this.load(ino, idx)) ?? Buffer.alloc(0);
      const next = Buffer.alloc(Math.max(old.length, end));
      old.copy(next);
      data.copy(next, off);
      await this.store(ino, idx, next);
    });
  }

  async truncate(ino: number, idx: number, len: number): Promise<void> {
    await this.mutex.run(`${ino}/${idx}`, async () => {
      if (len <= 0) {
        await this.c.chunks.deleteOne({ ino, idx });
        return;
      }
      const old = await this.load(ino, idx);
      if (old && old.length > len) await this.store(ino, idx, Buffer.from(old.subarray(0, len)));
    });
  }

  async remove(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    const idx = toIdx === undefined ? { $gte: fromIdx } : { $gte: fromIdx, $lt: toIdx };
    await this.c.chunks.deleteMany({ ino, idx });
  }

  async list(ino: number): Promise<number[]> {
    const docs = await this.c.chunks.find({ ino }, { projection: { idx: 1 } }).sort({ idx: 1 }).toArray();
    return docs.map((d) => toNumber(d.idx));
  }
}

export class MongoBackend implements Backend {
  readonly kind = 'mongodb';

  private constructor(
    private readonly client: MongoClient,
    private readonly collections: Collections,
    readonly meta: MetaStore,
    readonly chunks: ChunkStore,
    readonly transactions: boolean,
  ) {}

  /** Connects, creates the indexes, and records (or checks) the volume's chunk size. */
  static async open(opts: MongoBackendOptions): Promise<MongoBackend> {
    const client = new MongoClient(opts.url, clientOptions(opts));
    try {
      await client.connect();
      const db = client.db(opts.database ?? (client.options.dbName || 'zufs'));
      const volume = opts.volume ?? 'zufs';
      const c = new Collections(db, volume);
      await c.ensureIndexes();
      const chunkSize = await settleChunkSize(c, volume, opts.chunkSize);
      const useTxn = opts.transactions === 'on' || (opts.transactions !== 'off' && (await supportsTransactions(db)));
      const meta = new MongoMetaStore(client, c, useTxn, opts.lockLeaseMs ?? 10000, opts.lockWaitMs ?? 10000);
      return new MongoBackend(client, c, meta, new MongoChunkStore(c, chunkSize), useTxn);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  /** Majority-acknowledged writes are already durable; there is nothing buffered here to flush. */
  async sync(): Promise<void> {}

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Drops every collection of the volume (tests and `zufs destroy`). */
  async destroy(): Promise<void> {
    await this.collections.drop();
  }
}

async function settleChunkSize(c: Collections, volume: string, wanted: number | undefined): Promise<number> {
  if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 4096 || wanted > 15 * 1024 * 1024)) {
    throw new MongoBackendError('EINVAL', `mongodb: chunkSize ${wanted} must be 4 KiB..15 MiB`);
  }
  const doc = await c.counters.findOneAndUpdate(
    { _id: 'format' },
    { $setOnInsert: { chunkSize: wanted ?? DEFAULT_MONGO_CHUNK_SIZE, format: FORMAT } },
    { upsert: true, returnDocument: 'after' },
  );
  const stored = doc?.chunkSize === undefined ? undefined : toNumber(doc.chunkSize);
  if (stored === undefined) throw new MongoBackendError('EIO', `mongodb: volume ${volume} has no chunk size`);
  if (wanted !== undefined && wanted !== stored) {
    throw new MongoBackendError('EINVAL', `mongodb: volume ${volume} was created with chunkSize ${stored}, not ${wanted}`);
  }
  return stored;
}

async function supportsTransactions(db: Db): Promise<boolean> {
  const hello = await db.admin().command({ hello: 1 });
  return typeof hello['setName'] === 'string' || hello['msg'] === 'isdbgrid';
}
