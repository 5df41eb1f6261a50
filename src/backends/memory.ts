// The in-process backend: everything in JavaScript Maps, gone when the process exits. It is the
// reference implementation of MetaStore/ChunkStore that unit tests and benchmarks run on, so it is
// kept obviously correct first and cheap second.
//
// chunkSize defaults to 1 MiB (DEFAULT_MEMORY_CHUNK_SIZE). A chunk's buffer grows by doubling up to
// chunkSize as it is written, so a 4 KiB file costs about 4 KiB, a sparse 5 GiB file costs only its
// written chunks, and appending 4 KiB at a time does not copy the chunk on every write.
import type {
  Backend,
  ChunkStore,
  DirEntry,
  InodeRecord,
  MetaOp,
  MetaStats,
  MetaStore,
  MetaTxn,
} from './types.js';

export const DEFAULT_MEMORY_CHUNK_SIZE = 1024 * 1024;

export interface MemoryBackendOptions {
  /** Bytes per chunk; a power of two is not required. Default 1 MiB. */
  chunkSize?: number;
}

/** One directory: names for lookup, and entries kept sorted by cookie for readdir. Removed
 * entries are left in the array as tombstones and swept out once they outnumber the live ones,
 * so unlinking the oldest entries of a large directory does not shift the array every time. */
class MemDir {
  readonly byName = new Map<string, MemEntry>();
  /** Ascending by cookie; may contain dead entries. */
  private sorted: MemEntry[] = [];
  private dead = 0;

  put(name: string, ino: number, cookie: number): void {
    this.del(name);
    const e: MemEntry = { name, ino, cookie, dead: false };
    this.byName.set(name, e);
    const s = this.sorted;
    if (s.length === 0 || s[s.length - 1]!.cookie < cookie) {
      s.push(e);
    } else {
      s.splice(upperBound(s, cookie), 0, e);
    }
  }

  del(name: string): void {
    const old = this.byName.get(name);
    if (!old) return;
    this.byName.delete(name);
    old.dead = true;
    this.dead++;
    if (this.dead > 64 && this.dead > this.byName.size) {
      this.sorted = this.sorted.filter((e) => !e.dead);
      this.dead = 0;
    }
  }

  /** Live entries with cookie > after, ascending, at most limit. */
  after(after: number, limit: number): DirEntry[] {
    const s = this.sorted;
    const out: DirEntry[] = [];
    for (let i = upperBound(s, after); i < s.length && out.length < limit; i++) {
      const e = s[i]!;
      if (!e.dead) out.push({ name: e.name, ino: e.ino, cookie: e.cookie });
    }
    return out;
  }
}

interface MemEntry extends DirEntry {
  dead: boolean;
}

/** First index whose cookie is > cookie. */
function upperBound(s: MemEntry[], cookie: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[mid]!.cookie <= cookie) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function copyInode(r: InodeRecord): InodeRecord {
  return { ...r };
}

class MemoryMetaStore implements MetaStore {
  private readonly inodes = new Map<number, InodeRecord>();
  private readonly dirs = new Map<number, MemDir>();
  private readonly xattrs = new Map<number, Map<string, Buffer>>();
  private nextId = 2;

  constructor(private readonly chunkBytes: () => number) {}

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const r = this.inodes.get(ino);
    return r ? copyInode(r) : undefined;
  }

  async lookup(parent: number, name: string): Promise<number | undefined> {
    return this.dirs.get(parent)?.byName.get(name)?.ino;
  }

  async readdir(parent: number, afterCookie: number, limit: number): Promise<DirEntry[]> {
    const d = this.dirs.get(parent);
    if (!d || limit <= 0) return [];
    return d.after(afterCookie, limit);
  }

  async getXattr(ino: number, name: string): Promise<Buffer | undefined> {
    const v = this.xattrs.get(ino)?.get(name);
    return v ? Buffer.from(v) : undefined;
  }

  async listXattrs(ino: number): Promise<string[]> {
    return [...(this.xattrs.get(ino)?.keys() ?? [])];
  }

  async commit(txn: MetaTxn): Promise<boolean> {
    // Checks and ops run in one synchronous stretch: nothing else can interleave.
    for (const c of txn.checks) {
      const cur = this.dirs.get(c.parent)?.byName.get(c.name)?.ino;
      if ((cur ?? null) !== c.ino) return false;
    }
    for (const op of txn.ops) this.apply(op);
    return true;
  }

  private apply(op: MetaOp): void {
    switch (op.op) {
      case 'putInode':
        this.inodes.set(op.inode.ino, copyInode(op.inode));
        break;
      case 'delInode':
        this.inodes.delete(op.ino);
        this.xattrs.delete(op.ino);
        break;
      case 'putDentry': {
        let d = this.dirs.get(op.parent);
        if (!d) {
          d = new MemDir();
          this.dirs.set(op.parent, d);
        }
        d.put(op.name, op.ino, op.cookie);
        break;
      }
      case 'delDentry': {
        const d = this.dirs.get(op.parent);
        if (!d) break;
        d.del(op.name);
        if (d.byName.size === 0) this.dirs.delete(op.parent);
        break;
      }
      case 'setXattr': {
        let m = this.xattrs.get(op.ino);
        if (!m) {
          m = new Map();
          this.xattrs.set(op.ino, m);
        }
        m.set(op.name, Buffer.from(op.value));
        break;
      }
      case 'delXattr': {
        const m = this.xattrs.get(op.ino);
        if (!m) break;
        m.delete(op.name);
        if (m.size === 0) this.xattrs.delete(op.ino);
        break;
      }
    }
  }

  async allocIds(count: number): Promise<number> {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`allocIds: bad count ${count}`);
    const first = this.nextId;
    this.nextId += count;
    return first;
  }

  async stats(): Promise<MetaStats> {
    return { inodes: this.inodes.size, bytes: this.chunkBytes() };
  }
}

/** A chunk: `buf` may be longer than the stored length `len`; bytes past `len` are always zero. */
interface MemChunk {
  buf: Buffer;
  len: number;
}

class MemoryChunkStore implements ChunkStore {
  private readonly files = new Map<number, Map<number, MemChunk>>();
  bytes = 0;

  constructor(readonly chunkSize: number) {}

  async read(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    const c = this.files.get(ino)?.get(idx);
    if (!c || off >= c.len || len <= 0) return Buffer.alloc(0);
    const end = Math.min(c.len, off + len);
    return Buffer.from(c.buf.subarray(off, end));
  }

  async write(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    const end = off + data.length;
    if (off < 0 || end > this.chunkSize) throw new RangeError(`chunk write [${off}, ${end}) outside chunk`);
    let f = this.files.get(ino);
    if (!f) {
      f = new Map();
      this.files.set(ino, f);
    }
    let c = f.get(idx);
    if (!c) {
      c = { buf: Buffer.alloc(Math.min(this.chunkSize, Math.max(end, 4096))), len: 0 };
      f.set(idx, c);
    }
    if (end > c.buf.length) {
      let cap = c.buf.length * 2;
      while (cap < end) cap *= 2;
      const nb = Buffer.alloc(Math.min(cap, this.chunkSize));
      c.buf.copy(nb, 0, 0, c.len);
      c.buf = nb;
    }
    data.copy(c.buf, off);
    if (end > c.len) {
      this.bytes += end - c.len;
      c.len = end;
    }
  }

  async truncate(ino: number, idx: number, len: number): Promise<void> {
    const f = this.files.get(ino);
    const c = f?.get(idx);
    if (!f || !c) return;
    if (len <= 0) {
      this.bytes -= c.len;
      f.delete(idx);
      if (f.size === 0) this.files.delete(ino);
      return;
    }
    if (len < c.len) {
      c.buf.fill(0, len, c.len);
      this.bytes -= c.len - len;
      c.len = len;
    }
  }

  async remove(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    const f = this.files.get(ino);
    if (!f) return;
    const to = toIdx ?? Infinity;
    for (const [idx, c] of f) {
      if (idx >= fromIdx && idx < to) {
        this.bytes -= c.len;
        f.delete(idx);
      }
    }
    if (f.size === 0) this.files.delete(ino);
  }

  async list(ino: number): Promise<number[]> {
    const f = this.files.get(ino);
    if (!f) return [];
    return [...f.keys()].sort((a, b) => a - b);
  }
}

export class MemoryBackend implements Backend {
  readonly kind = 'memory';
  readonly meta: MetaStore;
  readonly chunks: ChunkStore;
  private closed = false;

  constructor(opts: MemoryBackendOptions = {}) {
    const chunkSize = opts.chunkSize ?? DEFAULT_MEMORY_CHUNK_SIZE;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`bad chunkSize ${chunkSize}`);
    const chunks = new MemoryChunkStore(chunkSize);
    this.chunks = chunks;
    this.meta = new MemoryMetaStore(() => chunks.bytes);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }
}
