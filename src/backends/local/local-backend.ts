// The `local` backend: an embedded store in one directory, for the default configuration (no
// server to install). Metadata lives in memory and in a write-ahead log of committed changes,
// compacted now and then into a snapshot; file data lives in one sparse file per inode.
//
// Volume directory:
//   VOLUME            {"format":"zufs-local","version":1,"chunkSize":N} (fixed at creation)
//   LOCK              flock()ed while open: one process per volume; holds the owner's pid
//   snapshot          framed records: header, the whole state as ops, end marker
//   wal.<seq>         framed records appended since the snapshot named that sequence
//   data/<xx>/<ino>   chunk idx of inode ino at offset idx * chunkSize
//
// Durability: commit() and chunk writes resolve once their log record is written (they survive a
// process crash); sync() fsyncs data files, then the log, so an acknowledged sync survives a
// machine crash. Concurrent commits share one write (group commit) and no fsync. A transaction is
// one CRC-checked frame, so after a crash it is there entirely or not at all.
// Bytes past a chunk's length are kept zero in its file (truncate punches them), so a write into
// a gap needs no zero-fill. A crash can lose a punch whose log record survived; close() ends the
// log with a clean-shutdown record, and an open that finds none re-zeroes the files of every
// inode whose chunks shrank since the snapshot.
//
// Limits: all metadata is held in memory (roughly 300-500 bytes per inode plus its entries), and
// open replays the log since the last snapshot.
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { errno, fsError } from '../../fs/errors.js';
import type { Backend, ChunkStore, DirEntry, InodeRecord, MetaStats, MetaStore, MetaTxn } from '../types.js';
import { DataFiles, fsyncDir } from './data-files.js';
import { tryLockExclusive } from './libc.js';
import { encodeOp, MetaState, type LogOp } from './meta-state.js';
import { frame, LogWriter, readFrames, writeAll } from './wal.js';

export const LOCAL_DEFAULT_CHUNK_SIZE = 1 << 20;
const FORMAT = 'zufs-local';
const VERSION = 1;
const ID_RESERVE = 4096;
const SNAPSHOT_BATCH = 1000;

export interface LocalOptions {
  /** Chunk size for a new volume; an existing volume keeps the one it was created with. */
  chunkSize?: number;
  /** Log size (bytes) that triggers a snapshot; it grows with the snapshot. Default 64 MiB. */
  compactBytes?: number;
  /** Data files kept open at once. Default 256. */
  maxOpenFiles?: number;
}

/** What open() found and repaired. */
export interface LocalRecovery {
  snapshotOps: number;
  logRecords: number;
  /** Bytes of a torn or corrupt log tail that were dropped (never acknowledged by sync). */
  droppedTailBytes: number;
  /** The previous process did not close the volume (crash, kill, power loss). */
  unclean: boolean;
  /** Data files re-zeroed outside their chunks after an unclean shutdown. */
  scrubbedFiles: number;
}

const walName = (seq: number): string => `wal.${String(seq).padStart(10, '0')}`;

function checkChunkArgs(cs: number, ino: number, idx: number, off: number, len: number): void {
  if (!Number.isSafeInteger(ino) || !Number.isSafeInteger(idx) || idx < 0 || !Number.isSafeInteger(off) || off < 0 || len < 0 || off + len > cs) {
    throw fsError(errno.EINVAL, `chunk range out of bounds: ino ${ino} idx ${idx} off ${off} len ${len} (chunk size ${cs})`);
  }
}

function maxKey(m: Map<number, number>): number {
  let max = -1;
  for (const k of m.keys()) if (k > max) max = k;
  return max;
}

export class LocalBackend implements Backend {
  readonly kind = 'local';
  readonly meta: MetaStore;
  readonly chunks: ChunkStore;

  private readonly chains = new Map<number, Promise<void>>();
  private compacting: Promise<void> | null = null;
  private compactAt: number;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly chunkSize: number,
    private readonly state: MetaState,
    private readonly log: LogWriter,
    private walSeq: number,
    private readonly data: DataFiles,
    private readonly lock: FileHandle,
    private readonly compactBytes: number,
    readonly recovery: LocalRecovery,
  ) {
    this.compactAt = compactBytes;
    this.meta = {
      getInode: async (ino) => (this.live(), this.state.getInode(ino)),
      lookup: async (parent, name) => (this.live(), this.state.lookup(parent, name)),
      readdir: async (parent, after, limit): Promise<DirEntry[]> => (this.live(), this.state.readdir(parent, after, limit)),
      getXattr: async (ino, name) => (this.live(), this.state.getXattr(ino, name)),
      listXattrs: async (ino) => (this.live(), this.state.listXattrs(ino)),
      commit: (txn) => this.commit(txn),
      allocIds: (count) => this.allocIds(count),
      stats: async (): Promise<MetaStats> => (this.live(), { inodes: this.state.inodes.size, bytes: this.state.bytes }),
    };
    const cs = chunkSize;
    this.chunks = {
      chunkSize: cs,
      read: (ino, idx, off, len) => this.readChunk(ino, idx, off, len),
      write: (ino, idx, off, data) => this.writeChunk(ino, idx, off, data),
      truncate: (ino, idx, len) => this.truncateChunk(ino, idx, len),
      remove: (ino, fromIdx, toIdx) => this.removeChunks(ino, fromIdx, toIdx),
      list: async (ino) => (this.live(), this.state.listChunks(ino)),
    };
  }

  static async open(dir: string, opts: LocalOptions = {}): Promise<LocalBackend> {
    await mkdir(dir, { recursive: true });
    const lock = await open(join(dir, 'LOCK'), constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      if (!tryLockExclusive(lock.fd)) {
        const owner = (await lock.readFile('utf8')).trim();
        throw fsError(errno.EBUSY, `local backend: volume ${dir} is in use by another process${owner ? ` (pid ${owner})` : ''}; LOCK is held`);
      }
      await lock.truncate(0);
      await lock.write(`${process.pid}\n`, 0);
      return await LocalBackend.load(dir, opts, lock);
    } catch (err) {
      await lock.close();
      throw err;
    }
  }

  private static async load(dir: string, opts: LocalOptions, lock: FileHandle): Promise<LocalBackend> {
    // data/ first: a new volume's directory is fsynced once VOLUME is in place, covering both.
    await mkdir(join(dir, 'data'), { recursive: true });
    const chunkSize = await LocalBackend.volumeFile(dir, opts.chunkSize ?? LOCAL_DEFAULT_CHUNK_SIZE);
    const state = new MetaState();
    const recovery: LocalRecovery = { snapshotOps: 0, logRecords: 0, droppedTailBytes: 0, unclean: false, scrubbedFiles: 0 };
    // Inodes whose chunks shrank or vanished since the snapshot: after a crash their files may
    // still hold the dropped bytes (the hole punch may not have reached the disk).
    const touched = new Set<number>();
    let clean = true;

    let firstSeq = 1;
    let snapshotBytes = 0;
    const snapPath = join(dir, 'snapshot');
    const snap = await open(snapPath, constants.O_RDONLY).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (snap) {
      try {
        let header: LogOp | undefined;
        let end: LogOp | undefined;
        let count = 0;
        const r = await readFrames(snap, (ops) => {
          for (const op of ops) {
            if (op[0] === 'H') header = op;
            else if (op[0] === 'E') end = op;
            else {
              state.apply(op);
              count++;
            }
          }
        });
        if (!header || header[0] !== 'H' || header[1] !== VERSION || !end || end[0] !== 'E' || end[1] !== count || r.stoppedBy) {
          throw fsError(errno.EIO, `local backend: ${snapPath} is damaged (${r.stoppedBy ?? 'missing header or end marker'}); the volume needs repair`);
        }
        firstSeq = header[2];
        snapshotBytes = r.validBytes;
        recovery.snapshotOps = count;
      } finally {
        await snap.close();
      }
    }

    const seqs = (await readdir(dir))
      .filter((n) => /^wal\.\d{10}$/.test(n))
      .map((n) => Number(n.slice(4)))
      .sort((a, b) => a - b);
    for (const seq of seqs) if (seq < firstSeq) await unlink(join(dir, walName(seq)));
    const live = seqs.filter((s) => s >= firstSeq);
    let activeSeq = live.length ? live[live.length - 1]! : firstSeq;
    let activeFh: FileHandle | undefined;
    let activeBytes = 0;
    for (const seq of live) {
      const fh = await open(join(dir, walName(seq)), constants.O_RDWR);
      const r = await readFrames(fh, (ops) => {
        for (const op of ops) {
          if ((op[0] === 'C' && op[3] < state.chunkLen(op[1], op[2])) || op[0] === 'R') touched.add(op[1]);
          state.apply(op);
          clean = op[0] === 'S';
        }
        recovery.logRecords++;
      });
      const size = (await fh.stat()).size;
      if (r.validBytes < size) {
        recovery.droppedTailBytes += size - r.validBytes;
        await fh.truncate(r.validBytes);
        await fh.sync();
      }
      if (seq === activeSeq) {
        activeFh = fh;
        activeBytes = r.validBytes;
      } else {
        await fh.close();
      }
    }
    if (!activeFh) {
      activeSeq = firstSeq;
      activeFh = await open(join(dir, walName(activeSeq)), constants.O_RDWR | constants.O_CREAT, 0o644);
      await fsyncDir(dir);
    }
    const compactBytes = opts.compactBytes ?? 64 * 1024 * 1024;
    const b = new LocalBackend(
      dir,
      chunkSize,
      state,
      new LogWriter(activeFh, activeBytes),
      activeSeq,
      new DataFiles(join(dir, 'data'), opts.maxOpenFiles ?? 256),
      lock,
      compactBytes,
      recovery,
    );
    b.compactAt = Math.max(compactBytes, snapshotBytes);
    recovery.unclean = !clean;
    if (!clean && touched.size > 0) {
      try {
        await b.scrub(touched);
      } catch (err) {
        b.closed = true;
        await b.log.abandon();
        await b.data.close();
        throw err; // open() releases the lock
      }
    }
    b.maybeCompact();
    return b;
  }

  /** Reads VOLUME, or writes it for a new volume; returns the volume's chunk size. */
  private static async volumeFile(dir: string, chunkSize: number): Promise<number> {
    const path = join(dir, 'VOLUME');
    try {
      const v = JSON.parse(await readFile(path, 'utf8')) as { format?: unknown; version?: unknown; chunkSize?: unknown };
      if (v.format !== FORMAT || v.version !== VERSION || typeof v.chunkSize !== 'number') {
        throw fsError(errno.EINVAL, `local backend: ${path} does not describe a ${FORMAT} v${VERSION} volume`);
      }
      return v.chunkSize;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (err instanceof SyntaxError) throw fsError(errno.EIO, `local backend: ${path} is damaged`, err);
        throw err;
      }
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 4096 || chunkSize > 64 * 1024 * 1024) {
      throw fsError(errno.EINVAL, `local backend: chunk size ${chunkSize} is not between 4 KiB and 64 MiB`);
    }
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    try {
      await fh.writeFile(`${JSON.stringify({ format: FORMAT, version: VERSION, chunkSize })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
    return chunkSize;
  }

  async sync(): Promise<void> {
    this.live();
    // Data first: once a log record naming a chunk length is durable, so are its bytes.
    await this.data.sync();
    await this.log.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.compacting) await this.compacting;
      await Promise.all([...this.chains.values()]);
      if (!this.log.failed) {
        await this.data.sync();
        await this.log.append(frame([['S']]));
        await this.log.close();
      }
      await this.data.close();
    } finally {
      await this.lock.close();
    }
  }

  /** Makes every touched inode's file zero outside its chunks, then durable. Only after a crash. */
  private async scrub(inos: Set<number>): Promise<void> {
    const cs = this.chunkSize;
    for (const ino of inos) {
      const m = this.state.chunks.get(ino);
      if (!m) {
        await this.data.remove(ino);
      } else {
        let pos = 0;
        for (const idx of [...m.keys()].sort((a, b) => a - b)) {
          if (idx * cs > pos) await this.data.zero(ino, pos, idx * cs - pos);
          pos = idx * cs + m.get(idx)!;
        }
        await this.data.truncate(ino, pos);
      }
      this.recovery.scrubbedFiles++;
    }
    await this.data.sync();
  }

  /** Test hook: drops the volume as a crash would (no final sync, no clean-shutdown record). */
  async abandon(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.compacting) await this.compacting;
    await Promise.all([...this.chains.values()]);
    await this.log.abandon();
    await this.data.close();
    await this.lock.close();
  }

  private live(): void {
    if (this.closed) throw fsError(errno.EIO, `local backend: volume ${this.dir} is closed`);
    const f = this.log.failed;
    if (f) throw fsError(errno.EIO, `${f.message}; reopen the volume`, f);
  }

  private append(ops: LogOp[]): Promise<void> {
    const p = this.log.append(frame(ops));
    this.maybeCompact();
    return p.catch((err: unknown) => {
      throw fsError(errno.EIO, (err as Error).message, err);
    });
  }

  private async commit(txn: MetaTxn): Promise<boolean> {
    this.live();
    // Check and apply happen in one synchronous step: nothing else can run in between.
    if (!this.state.holds(txn.checks)) return false;
    if (txn.ops.length === 0) return true;
    const rec = txn.ops.map(encodeOp);
    for (const op of txn.ops) this.state.applyMeta(op);
    await this.append(rec);
    return true;
  }

  private async allocIds(count: number): Promise<number> {
    this.live();
    if (!Number.isSafeInteger(count) || count < 1) throw fsError(errno.EINVAL, `allocIds: bad count ${count}`);
    const s = this.state;
    const first = s.nextId;
    s.nextId += count;
    if (s.nextId > s.idHigh) {
      s.idHigh = s.nextId + ID_RESERVE;
      await this.append([['N', s.idHigh]]);
    }
    return first;
  }

  /** Runs data changes of one inode one after another, so a write cannot overtake a truncate. */
  private serial(ino: number, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(ino);
    const run = prev ? prev.then(fn) : fn();
    const tail = run.catch(() => {});
    this.chains.set(ino, tail);
    void tail.then(() => {
      if (this.chains.get(ino) === tail) this.chains.delete(ino);
    });
    return run;
  }

  private async readChunk(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    this.live();
    checkChunkArgs(this.chunkSize, ino, idx, off, 0);
    const n = Math.min(len, this.state.chunkLen(ino, idx) - off);
    if (n <= 0) return Buffer.alloc(0);
    return this.data.read(ino, idx * this.chunkSize + off, n);
  }

  private async writeChunk(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    this.live();
    checkChunkArgs(this.chunkSize, ino, idx, off, data.length);
    if (data.length === 0) return Promise.resolve();
    return this.serial(ino, async () => {
      // Bytes past a chunk's length are always zeros in the file (truncate punches them), so a
      // write into a gap needs no zero-filling of its own.
      await this.data.write(ino, idx * this.chunkSize + off, data);
      const end = off + data.length;
      if (end > this.state.chunkLen(ino, idx)) {
        this.state.setChunkLen(ino, idx, end);
        await this.append([['C', ino, idx, end]]);
      }
    });
  }

  private async truncateChunk(ino: number, idx: number, len: number): Promise<void> {
    this.live();
    checkChunkArgs(this.chunkSize, ino, idx, len, 0);
    return this.serial(ino, async () => {
      const old = this.state.chunkLen(ino, idx);
      if (len >= old) return;
      this.state.setChunkLen(ino, idx, len);
      const rest = this.state.chunks.get(ino);
      const cs = this.chunkSize;
      if (!rest) await this.data.remove(ino);
      else if (idx >= maxKey(rest)) await this.data.truncate(ino, idx * cs + len);
      else await this.data.zero(ino, idx * cs + len, old - len);
      await this.append([['C', ino, idx, len]]);
    });
  }

  private async removeChunks(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    this.live();
    checkChunkArgs(this.chunkSize, ino, fromIdx, 0, 0);
    const to = toIdx ?? Infinity;
    return this.serial(ino, async () => {
      const gone = this.state.removeChunks(ino, fromIdx, to);
      if (gone.size === 0) return;
      const rest = this.state.chunks.get(ino);
      const cs = this.chunkSize;
      if (!rest) {
        await this.data.remove(ino);
      } else {
        const last = maxKey(rest);
        if ([...gone.keys()].some((i) => i > last)) await this.data.truncate(ino, last * cs + rest.get(last)!);
        for (const [i, len] of gone) if (i < last) await this.data.zero(ino, i * cs, len);
      }
      await this.append([['R', ino, fromIdx, toIdx ?? null]]);
    });
  }

  private maybeCompact(): void {
    if (this.compacting || this.closed || this.log.size < this.compactAt) return;
    this.compacting = this.compact()
      .then((snapshotBytes) => {
        this.compactAt = Math.max(this.compactBytes, snapshotBytes);
      })
      .catch(() => {
        // Keep logging; try again once the log has doubled. A damaged log shows up in live().
        this.compactAt = this.log.size * 2;
      })
      .finally(() => {
        this.compacting = null;
      });
  }

  /** Writes a snapshot and starts a new log. Returns the snapshot's size. */
  private async compact(): Promise<number> {
    const seq = this.walSeq + 1;
    const fh = await open(join(this.dir, walName(seq)), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
    await fsyncDir(this.dir);
    // From here on every change goes to the new log; the snapshot below starts after this point,
    // so replaying the new log over it repairs whatever changed while it was being written.
    await this.log.switchTo(fh, 0);
    this.walSeq = seq;

    const tmpPath = join(this.dir, 'snapshot.tmp');
    const tmp = await open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    let pos = 0;
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const put = async (f: Buffer, force = false): Promise<void> => {
        pending.push(f);
        pendingBytes += f.length;
        if (pendingBytes < 1 << 20 && !force) return;
        const data = Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
        await writeAll(tmp, data, pos);
        pos += data.length;
      };
      await put(frame([['H', VERSION, seq, this.chunkSize]]));
      let count = 0;
      for (const batch of this.state.snapshotOps(SNAPSHOT_BATCH)) {
        count += batch.length;
        await put(frame(batch));
        // Let requests run between batches: a big volume must not stall the event loop.
        await new Promise<void>((r) => setImmediate(r));
      }
      await put(frame([['E', count]]), true);
      await tmp.sync();
    } finally {
      await tmp.close();
    }
    // Everything the snapshot shows must be durable before it replaces the old one.
    await this.data.sync();
    await this.log.sync();
    await rename(tmpPath, join(this.dir, 'snapshot'));
    await fsyncDir(this.dir);
    for (const n of await readdir(this.dir)) {
      if (/^wal\.\d{10}$/.test(n) && Number(n.slice(4)) < seq) await unlink(join(this.dir, n));
    }
    return pos;
  }

  /** Test hook: waits for a running compaction, or runs one now. */
  async compactNow(): Promise<void> {
    this.live();
    if (this.compacting) await this.compacting;
    await this.compact();
  }
}
