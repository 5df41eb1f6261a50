// The posix layout on MongoDB (or a wire-compatible server such as FerretDB): one collection per
// record kind, named `<volume>.inodes`, `.dentries`, `.xattrs`, `.chunks`, `.blobs`, `.ids`,
// `.counters` and `.locks`, plus `.changes`, `.flocks` and `.gateways` for several gateways.
//
// Several gateways: every commit also inserts one small document into `.changes` ({gateway, time,
// what changed}; batched per tick). On a replica set, watch() follows its inserts with a change
// stream (and polls every 5 s for what a reconnecting stream missed); FerretDB v1 and standalone
// servers have no change streams, so watch() polls it every 300 ms for documents of other gateways,
// looking back a few seconds to absorb clock skew between gateways and inserts that land late. Old
// ones are pruned. fcntl/flock
// locks: one `.flocks` document per inode, replaced under a `.locks` guard (the same all-or-nothing
// insert the commits use), its records naming a gateway whose `.gateways` lease document must not
// have expired for them to count.
//
// Every hot-path access is by a string _id ("ino", "parent/name", "ino/idx", one xattr document per
// inode), because FerretDB v1 with SQLite pushes down nothing but equality on a string or ObjectId
// _id: any other filter, and every sort, scans and sorts the whole collection in the server. Even
// that pushdown scans in v1.24 (its query, `->'$._id'`, does not match its own _id index,
// `->"_id"`), so SQLite reads every row of the collection: chunk bytes therefore live apart from
// everything looked up often, and FerretDB v1 suits tests and small volumes, not large ones. The
// secondary indexes ({parent, cookie} for readdir, {ino, idx} for chunk listing) serve MongoDB.
//
// A chunk is two documents: a small one in `.chunks` ({ino, idx, len}) that listing, removal and
// stats read, and its bytes in `.blobs`, so none of those reads data. The small one is written
// before the bytes and removed after them: a crash leaves at worst a listed chunk without bytes,
// which reads as a hole and is removed with the file, never unlisted bytes that could resurface.
//
// readdir on FerretDB v1 reads the rest of the directory in one unsorted query, sorts it here and
// serves the following pages from that snapshot for a few seconds, so a paged listing costs one
// scan, not one per page. A commit through this store that touches the directory drops the
// snapshot; changes made meanwhile by other gateways may or may not show up in a listing already
// under way, which is what POSIX allows readdir.
//
// Writes go one command per op, not as multi-statement bulk writes: FerretDB v1 with SQLite stalls
// for its busy timeout on a multi-document update batch. A run of puts is first tried as one
// unordered insertMany (fast everywhere), and only the keys that already existed are replaced.
// FerretDB v1 also applies findAndModify/update as read-then-write without isolation, so nothing here
// relies on an update being atomic: ids are claimed by inserting unique documents, and commit checks
// are guarded by lock documents, both of which rest on the unique _id index alone.
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
  type ChangeStream,
  type ClientSession,
  type Collection,
  type Db,
  type Document,
  type MongoClientOptions,
} from 'mongodb';
import { changesOf, forEachChange, type ChangeList } from '../changes.js';
import type {
  Backend,
  ChunkStore,
  DentryCheck,
  DirEntry,
  InodeRecord,
  LockRecord,
  LockStore,
  LockTable,
  MetaChange,
  MetaOp,
  MetaStats,
  MetaStore,
  MetaTxn,
} from '../types.js';
import { KeyedMutex } from '../keyed-mutex.js';

export const DEFAULT_MONGO_CHUNK_SIZE = 1024 * 1024;

export interface MongoBackendOptions {
  /** mongodb:// or mongodb+srv:// URL; credentials may be in it. */
  url: string;
  /** Database holding the volume's collections. Default: the URL's database, else "zufs". */
  database?: string;
  /** Prefix of the collection names, so one database can hold several volumes. Default "zufs". */
  volume?: string;
  /** Bytes per chunk of a new volume (at most 15 MiB: a chunk is one BSON document). Default 1 MiB.
   * An existing volume keeps the size it was created with, as every backend does. */
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
  /** A gateway's fcntl/flock locks outlive it (a crash) by at most this long. Default 5000 ms. */
  flockLeaseMs?: number;
  /** How often watch() polls the change log. Default 300 ms. */
  changePollMs?: number;
  /** Passed through to the driver, after the options above. */
  client?: MongoClientOptions;
}

interface ChangeDoc {
  _id: string; // "<gateway>:<seq>"
  g: string;
  t: number; // Date.now() of the writer
  c: string; // JSON of a ChangeList (FerretDB v1 refuses nested arrays)
}

interface FlockDoc {
  _id: string; // String(ino)
  v: number;
  locks: LockRecord[];
}

interface GatewayDoc {
  _id: string;
  exp: number;
}

interface InodeDoc {
  _id: string; // String(ino)
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
  _id: string; // "parent/name"
  parent: number;
  name: string;
  ino: number;
  cookie: number;
}

/** All xattrs of one inode, so that listing and dropping them are single-document operations. */
interface XattrDoc {
  _id: string; // String(ino)
  a: Array<{ n: string; v: Binary }>;
}

interface ChunkDoc {
  _id: string; // "ino/idx"
  ino: number;
  idx: number;
  len: number;
}

interface BlobDoc {
  _id: string; // "ino/idx"
  data: Binary;
}

interface CounterDoc {
  _id: string;
  chunkSize?: number;
  format?: number;
}

/** One claimed range of ids, [end of the previous claim, end). */
interface IdClaimDoc {
  _id: number; // claim sequence number, 0 = the initial claim ending at 2
  end: number;
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
    _id: String(r.ino),
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
    ino: Number(d['_id']),
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
const chunkKey = (ino: number, idx: number): string => `${ino}/${idx}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Driver option defaults kept in one place: timeouts small enough that a dead server fails fast. */
function clientOptions(o: MongoBackendOptions): MongoClientOptions {
  return {
    serverSelectionTimeoutMS: o.serverSelectionTimeoutMs ?? 5000,
    connectTimeoutMS: o.connectTimeoutMs ?? 5000,
    socketTimeoutMS: o.socketTimeoutMs ?? 30000,
    // A few connections: opening one costs more than waiting for one, and FerretDB/SQLite serializes
    // writes anyway.
    maxPoolSize: 8,
    // A read on a silent server is not retried by the driver: it then fails after socketTimeoutMS
    // (the mount's `timeout`), not twice that plus a server selection. The native layout does the same.
    retryReads: false,
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
  readonly blobs: Collection<BlobDoc>;
  readonly counters: Collection<CounterDoc>;
  readonly ids: Collection<IdClaimDoc>;
  readonly locks: Collection<LockDoc>;
  readonly changes: Collection<ChangeDoc>;
  readonly flocks: Collection<FlockDoc>;
  readonly gateways: Collection<GatewayDoc>;

  constructor(db: Db, volume: string) {
    this.changes = db.collection<ChangeDoc>(`${volume}.changes`);
    this.flocks = db.collection<FlockDoc>(`${volume}.flocks`);
    this.gateways = db.collection<GatewayDoc>(`${volume}.gateways`);
    this.ids = db.collection<IdClaimDoc>(`${volume}.ids`);
    this.inodes = db.collection<InodeDoc>(`${volume}.inodes`);
    this.dentries = db.collection<DentryDoc>(`${volume}.dentries`);
    this.xattrs = db.collection<XattrDoc>(`${volume}.xattrs`);
    this.chunks = db.collection<ChunkDoc>(`${volume}.chunks`);
    this.blobs = db.collection<BlobDoc>(`${volume}.blobs`);
    this.counters = db.collection<CounterDoc>(`${volume}.counters`);
    this.locks = db.collection<LockDoc>(`${volume}.locks`);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      // (parent, name) is unique through _id "parent/name".
      this.dentries.createIndex({ parent: 1, cookie: 1 }, { name: 'parent_cookie' }),
      this.chunks.createIndex({ ino: 1, idx: 1 }, { name: 'ino_idx' }),
    ]);
  }

  async drop(): Promise<void> {
    for (const c of [this.inodes, this.dentries, this.xattrs, this.chunks, this.blobs, this.counters, this.ids, this.locks, this.changes, this.flocks, this.gateways]) {
      await c.drop().catch((err: unknown) => {
        if (!(err instanceof MongoServerError && (err.code === 26 || /not found/i.test(err.message)))) throw err;
      });
    }
  }
}


/** Thrown inside a transaction to abort it because a check failed. */
class CheckFailed extends Error {}

class MongoMetaStore implements MetaStore {
  /** The rest of a listing in progress, per directory (FerretDB v1 only). */
  private readonly snapshots = new Map<number, { after: number; ents: DirEntry[]; off: number; at: number; gen: number }>();
  /** Bumped whenever a commit here touches the directory: a snapshot taken before is void. */
  private readonly dirGen = new Map<number, number>();
  /** Change log: this gateway's unsent changes, its sequence, and the poller's state. */
  private pending: ChangeList = [];
  private flushing: Promise<void> | undefined;
  private seq = 0;
  private readonly listeners = new Set<(c: MetaChange) => void>();
  private poller: NodeJS.Timeout | undefined;
  private stream: ChangeStream<ChangeDoc> | undefined;
  private polling = false;
  private seen = new Map<string, number>();
  private since = Date.now();
  private lastPrune = 0;
  private closed = false;

  constructor(
    private readonly client: MongoClient,
    private readonly c: Collections,
    private readonly useTxn: boolean,
    private readonly leaseMs: number,
    private readonly waitMs: number,
    private readonly snapshotReaddir: boolean,
    readonly gateway: string,
    private readonly pollMs: number,
  ) {}

  watch(fn: (c: MetaChange) => void): () => void {
    this.listeners.add(fn);
    if (!this.poller && !this.closed) {
      this.since = Date.now();
      // A replica set pushes inserts through a change stream; the poll then only catches what a
      // broken stream missed, and prunes. A stream that fails falls back to polling.
      if (this.useTxn) this.openStream();
      this.setPoll(this.stream ? STREAM_SAFETY_POLL_MS : this.pollMs);
    }
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) this.stopWatching();
    };
  }

  private setPoll(ms: number): void {
    clearInterval(this.poller);
    this.poller = setInterval(() => void this.poll(), ms);
    this.poller.unref();
  }

  private openStream(): void {
    try {
      const stream = this.c.changes.watch([{ $match: { operationType: 'insert' } }]);
      stream.on('change', (ev) => {
        if (ev.operationType === 'insert') this.deliver(ev.fullDocument);
      });
      stream.on('error', () => {
        void stream.close().catch(() => undefined);
        if (this.stream !== stream) return;
        this.stream = undefined;
        if (this.poller) this.setPoll(this.pollMs);
      });
      this.stream = stream;
    } catch {
      this.stream = undefined;
    }
  }

  private stopWatching(): void {
    clearInterval(this.poller);
    this.poller = undefined;
    void this.stream?.close().catch(() => undefined);
    this.stream = undefined;
  }

  /** Delivers one change document of another gateway, once. */
  private deliver(d: ChangeDoc): void {
    if (this.seen.has(d._id)) return;
    this.seen.set(d._id, toNumber(d.t));
    if (d.g === this.gateway) return;
    let list: unknown;
    try {
      list = JSON.parse(d.c);
    } catch {
      return;
    }
    forEachChange(list, (ch) => {
      if (ch.kind === 'dir') this.bump(ch.ino);
      for (const f of this.listeners) f(ch);
    });
  }

  /** Reads the change documents of the last few seconds and delivers those not seen yet. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const now = Date.now();
      const from = Math.min(this.since, now) - CHANGE_LOOKBACK_MS;
      const docs = await this.c.changes.find({ t: { $gte: from } }).toArray();
      for (const d of docs) this.deliver(d);
      // A failed poll misses nothing (the next one reads from the same point) unless the documents
      // were pruned meanwhile: then drop everything.
      if (now - from > CHANGE_KEEP_MS) for (const f of this.listeners) f({ kind: 'reset' });
      this.since = now;
      for (const [id, t] of this.seen) if (t < from) this.seen.delete(id);
      if (now - this.lastPrune > CHANGE_KEEP_MS / 2) {
        this.lastPrune = now;
        await this.c.changes.deleteMany({ t: { $lt: now - CHANGE_KEEP_MS } });
      }
    } catch {
      // The server is away: the next poll looks back again; commits report the outage themselves.
    } finally {
      this.polling = false;
    }
  }

  /** Queues a commit's changes; one insert per tick carries all of them. */
  private logChanges(txn: MetaTxn): void {
    const list = changesOf(txn.ops);
    if (list.length === 0) return;
    for (const x of list) this.pending.push(x);
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const c = this.pending;
      this.pending = [];
      this.flushing = undefined;
      await this.c.changes.insertOne({ _id: `${this.gateway}:${this.seq++}`, g: this.gateway, t: Date.now(), c: JSON.stringify(c) }).catch(() => undefined);
    });
  }

  /** Stops polling and waits for queued change documents (before close). */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.stopWatching();
    this.listeners.clear();
    while (this.flushing) await this.flushing;
  }

  /** Runs `fn` holding the commit lock of `key` (the same guard commits use). */
  async guarded<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const owner = randomUUID();
    await this.lock([key], owner);
    try {
      return await fn();
    } finally {
      await this.unlock([key], owner);
    }
  }

  private bump(p: number): void {
    this.dirGen.set(p, (this.dirGen.get(p) ?? 0) + 1);
    this.snapshots.delete(p);
  }

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const d = await this.c.inodes.findOne({ _id: String(ino) });
    return d ? docToInode(d) : undefined;
  }

  async lookup(parent: number, name: string): Promise<number | undefined> {
    const d = await this.c.dentries.findOne({ _id: dentryKey(parent, name) }, { projection: { ino: 1 } });
    return d ? toNumber(d.ino) : undefined;
  }

  async readdir(parent: number, afterCookie: number, limit: number): Promise<DirEntry[]> {
    if (limit <= 0) return [];
    if (this.snapshotReaddir) return this.readdirSnapshot(parent, afterCookie, limit);
    const docs = await this.c.dentries
      .find({ parent, cookie: { $gt: afterCookie } }, { projection: { name: 1, ino: 1, cookie: 1 } })
      .sort({ cookie: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => ({ name: d.name, ino: toNumber(d.ino), cookie: toNumber(d.cookie) }));
  }

  private async readdirSnapshot(parent: number, afterCookie: number, limit: number): Promise<DirEntry[]> {
    const gen = this.dirGen.get(parent) ?? 0;
    let snap = this.snapshots.get(parent);
    this.snapshots.delete(parent);
    if (!snap || snap.after !== afterCookie || snap.gen !== gen || Date.now() - snap.at > SNAPSHOT_MS) {
      const docs = await this.c.dentries
        .find({ parent, cookie: { $gt: afterCookie } }, { projection: { name: 1, ino: 1, cookie: 1 } })
        .toArray();
      const ents = docs.map((d) => ({ name: d.name, ino: toNumber(d.ino), cookie: toNumber(d.cookie) }));
      ents.sort((a, b) => a.cookie - b.cookie);
      snap = { after: afterCookie, ents, off: 0, at: Date.now(), gen };
    }
    const page = snap.ents.slice(snap.off, snap.off + limit).map((e) => ({ ...e }));
    const off = snap.off + page.length;
    if (page.length === limit && off < snap.ents.length && (this.dirGen.get(parent) ?? 0) === snap.gen) {
      if (this.snapshots.size >= MAX_SNAPSHOTS) this.snapshots.delete(this.snapshots.keys().next().value!);
      this.snapshots.set(parent, { ...snap, after: page[page.length - 1]!.cookie, off });
    }
    return page;
  }

  /** Voids readdir snapshots of every directory the txn checks or changes. */
  private touch(txn: MetaTxn): void {
    if (!this.snapshotReaddir) return;
    for (const op of txn.ops) if (op.op === 'putDentry' || op.op === 'delDentry') this.bump(op.parent);
  }

  async getXattr(ino: number, name: string): Promise<Buffer | undefined> {
    const d = await this.c.xattrs.findOne({ _id: String(ino) });
    const x = d?.a.find((e) => e.n === name);
    return x ? bin(x.v) : undefined;
  }

  async listXattrs(ino: number): Promise<string[]> {
    const d = await this.c.xattrs.findOne({ _id: String(ino) });
    return d ? d.a.map((e) => e.n) : [];
  }

  async commit(txn: MetaTxn): Promise<boolean> {
    if (txn.checks.length === 0 && txn.ops.length === 0) return true;
    this.touch(txn);
    try {
      const ok = await this.commitOnce(txn);
      if (ok) this.logChanges(txn);
      return ok;
    } finally {
      this.touch(txn); // also after: a listing read while the commit was under way is void too
    }
  }

  private async commitOnce(txn: MetaTxn): Promise<boolean> {
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
    const owner = randomUUID(); // per commit: two commits of one gateway must exclude each other too
    await this.lock(sorted, owner);
    try {
      if (!(await this.checksHold(txn.checks))) return false;
      await this.apply(safeOrder(txn.ops));
      return true;
    } finally {
      await this.unlock(sorted, owner);
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
      .find({ _id: { $in: checks.map((ch) => dentryKey(ch.parent, ch.name)) } }, { session, projection: { ino: 1 } })
      .toArray();
    const cur = new Map(docs.map((d) => [d._id, toNumber(d.ino)]));
    return checks.every((ch) => (cur.get(dentryKey(ch.parent, ch.name)) ?? null) === ch.ino);
  }

  private async lock(keys: string[], owner: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const docs = keys.map((k) => ({ _id: k, owner, exp: now + this.leaseMs }));
      try {
        await this.c.locks.insertMany(docs, { ordered: true });
        return;
      } catch (err) {
        if (!isDuplicate(err)) {
          await this.unlock(keys, owner).catch(() => undefined);
          throw err;
        }
      }
      await this.unlock(keys, owner);
      // A holder that died leaves its lease behind: take it over once it has expired.
      await this.c.locks.deleteMany({ _id: { $in: keys }, exp: { $lt: Date.now() } });
      if (Date.now() > deadline) {
        throw new MongoBackendError('EAGAIN', `commit: entries ${keys.join(', ')} stayed locked for ${this.waitMs} ms`);
      }
      await sleep(Math.random() * Math.min(50, 2 + attempt * 4));
    }
  }

  private async unlock(keys: string[], owner: string): Promise<void> {
    await this.c.locks.deleteMany({ _id: { $in: keys }, owner });
  }

  /** Applies ops in order, one command each, except that a run of puts of distinct records is
   * first tried as one insertMany (see the top of the file). */
  private async apply(ops: MetaOp[], session?: ClientSession): Promise<void> {
    for (let i = 0; i < ops.length; ) {
      // Not inside a transaction: its first duplicate-key error would abort the whole transaction.
      const run = session ? 0 : putRun(ops, i);
      if (run >= INSERT_RUN) {
        await this.insertRun(ops.slice(i, i + run), session);
        i += run;
      } else {
        await this.applyOne(ops[i]!, session);
        i++;
      }
    }
  }

  private async insertRun(ops: MetaOp[], session?: ClientSession): Promise<void> {
    type Keyed = { _id: string };
    const inodes = ops.flatMap((op) => (op.op === 'putInode' ? [inodeToDoc(op.inode)] : []));
    const dentries = ops.flatMap((op) => (op.op === 'putDentry' ? [dentryDoc(op.parent, op.name, op.ino, op.cookie)] : []));
    const taken = new Set<string>();
    const tryInsert = async <T extends Keyed>(coll: Collection<T>, docs: T[]): Promise<void> => {
      if (docs.length === 0) return;
      try {
        await coll.insertMany(docs as unknown as Parameters<Collection<T>['insertMany']>[0], { ordered: false, session });
      } catch (err) {
        const errs = (err as { writeErrors?: Array<{ code?: unknown; index: number }> | { code?: unknown; index: number } }).writeErrors;
        const list = Array.isArray(errs) ? errs : errs ? [errs] : [];
        if (list.length === 0 || list.some((w) => w.code !== DUPLICATE_KEY)) throw err;
        for (const w of list) taken.add(`${coll.collectionName}:${String(docs[w.index]!._id)}`);
      }
    };
    await tryInsert(this.c.inodes, inodes);
    await tryInsert(this.c.dentries, dentries);
    for (const d of inodes) {
      if (taken.has(`${this.c.inodes.collectionName}:${d._id}`)) await this.c.inodes.replaceOne({ _id: d._id }, d, { upsert: true, session });
    }
    for (const d of dentries) {
      if (taken.has(`${this.c.dentries.collectionName}:${d._id}`)) await this.c.dentries.replaceOne({ _id: d._id }, d, { upsert: true, session });
    }
  }

  private async applyOne(op: MetaOp, session?: ClientSession): Promise<void> {
    const o = { session };
    switch (op.op) {
      case 'putInode':
        await this.c.inodes.replaceOne({ _id: String(op.inode.ino) }, inodeToDoc(op.inode), { upsert: true, session });
        break;
      case 'delInode':
        await this.c.inodes.deleteOne({ _id: String(op.ino) }, o);
        await this.c.xattrs.deleteOne({ _id: String(op.ino) }, o);
        break;
      case 'putDentry': {
        const d = dentryDoc(op.parent, op.name, op.ino, op.cookie);
        await this.c.dentries.replaceOne({ _id: d._id }, d, { upsert: true, session });
        break;
      }
      case 'delDentry':
        await this.c.dentries.deleteOne({ _id: dentryKey(op.parent, op.name) }, o);
        break;
      case 'setXattr':
      case 'delXattr': {
        // Read-modify-write of the inode's xattr document: the filesystem serializes changes to one
        // inode, and a transaction (where there is one) makes it atomic.
        const id = String(op.ino);
        const doc = await this.c.xattrs.findOne({ _id: id }, o);
        const a = (doc?.a ?? []).filter((e) => e.n !== op.name);
        if (op.op === 'setXattr') a.push({ n: op.name, v: new Binary(Buffer.from(op.value)) });
        else if (!doc || a.length === doc.a.length) break;
        if (a.length === 0) await this.c.xattrs.deleteOne({ _id: id }, o);
        else await this.c.xattrs.replaceOne({ _id: id }, { a }, { upsert: true, session });
        break;
      }
    }
  }

  private pendingIds: Array<{ count: number; resolve: (first: number) => void; reject: (err: unknown) => void }> = [];
  private claiming = false;

  /** Concurrent calls in this process are merged into one claim, so they do not race each other. */
  async allocIds(count: number): Promise<number> {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`allocIds: bad count ${count}`);
    const p = new Promise<number>((resolve, reject) => this.pendingIds.push({ count, resolve, reject }));
    if (!this.claiming) void this.drainClaims();
    return p;
  }

  private async drainClaims(): Promise<void> {
    this.claiming = true;
    try {
      while (this.pendingIds.length > 0) {
        const batch = this.pendingIds;
        this.pendingIds = [];
        try {
          let first = await this.claim(batch.reduce((a, w) => a + w.count, 0));
          for (const w of batch) {
            w.resolve(first);
            first += w.count;
          }
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.claiming = false;
    }
  }

  /** Claims [end of the latest claim, + count) by inserting the next claim document; the unique _id
   * makes exactly one of several racing gateways win each sequence number. */
  private async claim(count: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const last = await this.c.ids.find({}).sort({ _id: -1 }).limit(1).next();
      const seq = last ? toNumber(last._id) : -1;
      const start = last ? toNumber(last.end) : 2;
      try {
        await this.c.ids.insertOne({ _id: seq + 1, end: start + count });
      } catch (err) {
        if (!isDuplicate(err) || attempt > 1000) throw err;
        await sleep(Math.random() * Math.min(20, attempt + 1));
        continue;
      }
      if ((seq + 1) % 256 === 0) await this.c.ids.deleteMany({ _id: { $lt: seq - 16 } });
      return start;
    }
  }

  async stats(): Promise<MetaStats> {
    const [inodes, bytes] = await Promise.all([
      this.c.inodes.countDocuments({}),
      this.c.chunks.aggregate<{ total: unknown }>([{ $group: { _id: null, total: { $sum: '$len' } } }]).toArray(),
    ]);
    return { inodes, bytes: bytes[0] ? toNumber(bytes[0].total) : 0 };
  }
}

const INSERT_RUN = 8;
/** A poll reads change documents this much older than its previous poll: clock skew between
 * gateways and inserts that land late. */
const CHANGE_LOOKBACK_MS = 3000;
/** Change documents older than this are deleted. */
const CHANGE_KEEP_MS = 60_000;
/** With a change stream, the poll that catches what a reconnecting stream missed. */
const STREAM_SAFETY_POLL_MS = 5000;
const SNAPSHOT_MS = 5000;
const MAX_SNAPSHOTS = 256;

function dentryDoc(parent: number, name: string, ino: number, cookie: number): DentryDoc {
  return { _id: dentryKey(parent, name), parent, name, ino, cookie };
}

/** Length of the run of putInode/putDentry ops at `from` with no record put twice. */
function putRun(ops: MetaOp[], from: number): number {
  const seen = new Set<string>();
  let i = from;
  for (; i < ops.length; i++) {
    const op = ops[i]!;
    const key = op.op === 'putInode' ? `i${op.inode.ino}` : op.op === 'putDentry' ? `d${dentryKey(op.parent, op.name)}` : undefined;
    if (key === undefined || seen.has(key)) break;
    seen.add(key);
  }
  return i - from;
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
    const d = await this.c.blobs.findOne({ _id: chunkKey(ino, idx) });
    return d ? bin(d.data) : undefined;
  }

  /** Stores the chunk's bytes; `oldLen` (undefined: unknown) spares the listing document's write
   * when it would not change. */
  private async store(ino: number, idx: number, data: Buffer, oldLen: number | undefined): Promise<void> {
    const _id = chunkKey(ino, idx);
    if (oldLen !== data.length) await this.c.chunks.replaceOne({ _id }, { ino, idx, len: data.length }, { upsert: true });
    await this.c.blobs.replaceOne({ _id }, { data: new Binary(data) }, { upsert: true });
  }

  private async drop(ids: string[]): Promise<void> {
    for (const _id of ids) await this.c.blobs.deleteOne({ _id });
    for (const _id of ids) await this.c.chunks.deleteOne({ _id });
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
    await this.mutex.run(chunkKey(ino, idx), async () => {
      if (off === 0 && end === this.chunkSize) {
        await this.store(ino, idx, Buffer.from(data), undefined);
        return;
      }
      const old = await this.load(ino, idx);
      const next = Buffer.alloc(Math.max(old?.length ?? 0, end));
      old?.copy(next);
      data.copy(next, off);
      await this.store(ino, idx, next, old?.length);
    });
  }

  async truncate(ino: number, idx: number, len: number): Promise<void> {
    await this.mutex.run(chunkKey(ino, idx), async () => {
      if (len <= 0) {
        await this.drop([chunkKey(ino, idx)]);
        return;
      }
      const old = await this.load(ino, idx);
      if (old && old.length > len) await this.store(ino, idx, Buffer.from(old.subarray(0, len)), old.length);
    });
  }

  async remove(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    const idx = toIdx === undefined ? { $gte: fromIdx } : { $gte: fromIdx, $lt: toIdx };
    const docs = await this.c.chunks.find({ ino, idx }, { projection: { _id: 1 } }).toArray();
    await this.drop(docs.map((d) => d._id));
  }

  async list(ino: number): Promise<number[]> {
    const docs = await this.c.chunks.find({ ino }, { projection: { idx: 1 } }).toArray();
    return docs.map((d) => toNumber(d.idx)).sort((a, b) => a - b);
  }
}

/** fcntl/flock lock tables (see the top of the file). */
class MongoLockStore implements LockStore {
  private lease: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly c: Collections,
    private readonly meta: MongoMetaStore,
    readonly gateway: string,
    private readonly leaseMs: number,
  ) {}

  async get(ino: number): Promise<LockTable> {
    const d = await this.c.flocks.findOne({ _id: String(ino) });
    if (!d) return { version: '0', locks: [] };
    const version = String(toNumber(d.v));
    const others = [...new Set(d.locks.map((l) => l.gw))].filter((g) => g !== this.gateway);
    if (others.length === 0) return { version, locks: d.locks };
    const now = Date.now();
    const alive = new Set((await this.c.gateways.find({ _id: { $in: others } }).toArray()).filter((g) => toNumber(g.exp) > now).map((g) => g._id));
    return { version, locks: d.locks.filter((l) => l.gw === this.gateway || alive.has(l.gw)) };
  }

  async put(ino: number, version: string, locks: LockRecord[]): Promise<boolean> {
    if (locks.length > 0) await this.renew();
    const _id = String(ino);
    return this.meta.guarded(`flock/${ino}`, async () => {
      const d = await this.c.flocks.findOne({ _id }, { projection: { v: 1 } });
      const v = d ? toNumber(d.v) : 0;
      if (String(v) !== version) return false;
      if (locks.length === 0) await this.c.flocks.deleteOne({ _id });
      else await this.c.flocks.replaceOne({ _id }, { v: v + 1, locks }, { upsert: true });
      return true;
    });
  }

  /** Writes this gateway's lease before its first lock, then renews it every quarter lease. */
  private renew(): Promise<void> {
    if (!this.lease) {
      const write = async (): Promise<void> => {
        await this.c.gateways.replaceOne({ _id: this.gateway }, { exp: Date.now() + this.leaseMs }, { upsert: true });
      };
      this.lease = write();
      this.lease.then(
        () => {
          this.timer = setInterval(() => void write().catch(() => undefined), Math.max(100, this.leaseMs / 4));
          this.timer.unref();
        },
        () => (this.lease = undefined),
      );
    }
    return this.lease;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.lease) await this.c.gateways.deleteOne({ _id: this.gateway }).catch(() => undefined);
  }
}

export class MongoBackend implements Backend {
  readonly kind = 'mongodb';
  readonly locks: MongoLockStore;

  private constructor(
    private readonly client: MongoClient,
    private readonly collections: Collections,
    readonly meta: MongoMetaStore,
    readonly chunks: ChunkStore,
    readonly transactions: boolean,
    leaseMs: number,
  ) {
    this.locks = new MongoLockStore(collections, meta, meta.gateway, leaseMs);
  }

  /** Connects, creates the indexes, and records (or checks) the volume's chunk size. */
  static async open(opts: MongoBackendOptions): Promise<MongoBackend> {
    checkChunkSize(opts.chunkSize);
    const client = new MongoClient(opts.url, clientOptions(opts));
    try {
      await client.connect();
      const db = client.db(opts.database ?? databaseInUrl(opts.url) ?? 'zufs');
      const volume = opts.volume ?? 'zufs';
      const c = new Collections(db, volume);
      await c.ensureIndexes();
      const chunkSize = await settleChunkSize(c, volume, opts.chunkSize);
      const server = await serverTraits(db);
      const useTxn = opts.transactions === 'on' || (opts.transactions !== 'off' && server.transactions);
      const gateway = randomUUID();
      const meta = new MongoMetaStore(client, c, useTxn, opts.lockLeaseMs ?? 10000, opts.lockWaitMs ?? 10000, server.ferretV1, gateway, opts.changePollMs ?? 300);
      return new MongoBackend(client, c, meta, new MongoChunkStore(c, chunkSize), useTxn, opts.flockLeaseMs ?? 5000);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  /** Majority-acknowledged writes are already durable; there is nothing buffered here to flush. */
  async sync(): Promise<void> {}

  async close(): Promise<void> {
    await this.meta.shutdown();
    await this.locks.close();
    await this.client.close();
  }

  /** Drops every collection of the volume (tests and `zufs destroy`). */
  async destroy(): Promise<void> {
    await this.collections.drop();
  }
}

function checkChunkSize(wanted: number | undefined): void {
  if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 4096 || wanted > 15 * 1024 * 1024)) {
    throw new MongoBackendError('EINVAL', `mongodb: chunkSize ${wanted} must be 4 KiB..15 MiB`);
  }
}

async function settleChunkSize(c: Collections, volume: string, wanted: number | undefined): Promise<number> {
  await insertIfAbsent(c.counters, { _id: 'format', chunkSize: wanted ?? DEFAULT_MONGO_CHUNK_SIZE, format: FORMAT });
  const doc = await c.counters.findOne({ _id: 'format' });
  const stored = doc?.chunkSize === undefined ? undefined : toNumber(doc.chunkSize);
  if (stored === undefined) throw new MongoBackendError('EIO', `mongodb: volume ${volume} has no chunk size`);
  return stored;
}

/** The database named in a mongodb:// URL's path, if any (the driver's own default is "test"). */
export function databaseInUrl(url: string): string | undefined {
  const m = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(url);
  return m && m[1] ? decodeURIComponent(m[1]) : undefined;
}

async function insertIfAbsent(coll: Collection<CounterDoc>, doc: CounterDoc): Promise<void> {
  try {
    await coll.insertOne(doc);
  } catch (err) {
    if (!isDuplicate(err)) throw err;
  }
}

/** A replica set or mongos runs multi-document transactions; FerretDB v1 does not, even when it
 * is started with --repl-set-name and so calls itself a replica set. */
async function serverTraits(db: Db): Promise<{ transactions: boolean; ferretV1: boolean }> {
  const admin = db.admin();
  const [hello, info] = await Promise.all([admin.command({ hello: 1 }), admin.command({ buildInfo: 1 })]);
  const fv = info['ferretdbVersion'];
  const ferretV1 = typeof fv === 'string' && fv.startsWith('v1.');
  const replicated = typeof hello['setName'] === 'string' || hello['msg'] === 'isdbgrid';
  return { transactions: replicated && !ferretV1, ferretV1 };
}
