// The local volume's state as it lives in memory: inodes, directories (by name and by cookie),
// xattrs, chunk lengths and the id high-water mark. Every change is a LogOp, an idempotent "set
// this key" or "drop these keys" step, so the same ops serve as write-ahead-log records, as the
// snapshot format, and as what replay applies.
import type { DentryCheck, DirEntry, InodeRecord, MetaOp } from '../types.js';

/** One encoded state change (JSON-friendly: bigints and buffers become strings). */
export type LogOp =
  | ['I', number, number, number, number, number, number, number, string, string, string, string, number, number, string | null]
  | ['i', number]
  | ['D', number, string, number, number]
  | ['d', number, string]
  | ['X', number, string, string]
  | ['x', number, string]
  | ['C', number, number, number] // chunk (ino, idx) now holds len bytes; 0 = gone
  | ['R', number, number, number | null] // chunks fromIdx <= idx < toIdx of ino are gone
  | ['N', number] // ids below this may have been handed out
  | ['H', number, number, number] // snapshot header: format version, first log sequence, chunk size
  | ['E', number] // snapshot end: number of ops before it
  | ['S']; // clean shutdown: the last record a close() writes

interface Dir {
  byName: Map<string, { ino: number; cookie: number }>;
  byCookie: Map<number, string>;
  /** Cookies ascending once `sorted`; may hold stale cookies (absent from byCookie) and repeats. */
  order: number[];
  sorted: boolean;
}

/** Dead cookies stay in `order` until they outnumber the live ones: O(1) unlink, amortised. */
function compactOrder(d: Dir): void {
  if (d.order.length > 64 && d.order.length > 2 * d.byName.size) {
    d.order = [...d.byCookie.keys()].sort((a, b) => a - b);
    d.sorted = true;
  }
}

function copyInode(i: InodeRecord): InodeRecord {
  const c: InodeRecord = {
    ino: i.ino,
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    nlink: i.nlink,
    size: i.size,
    rdev: i.rdev,
    atimeNs: i.atimeNs,
    mtimeNs: i.mtimeNs,
    ctimeNs: i.ctimeNs,
    btimeNs: i.btimeNs,
    flags: i.flags,
    generation: i.generation,
  };
  if (i.target !== undefined) c.target = i.target;
  return c;
}

export function encodeOp(op: MetaOp): LogOp {
  switch (op.op) {
    case 'putInode': {
      const i = op.inode;
      return ['I', i.ino, i.mode, i.uid, i.gid, i.nlink, i.size, i.rdev, String(i.atimeNs), String(i.mtimeNs), String(i.ctimeNs), String(i.btimeNs), i.flags, i.generation, i.target ?? null];
    }
    case 'delInode':
      return ['i', op.ino];
    case 'putDentry':
      return ['D', op.parent, op.name, op.ino, op.cookie];
    case 'delDentry':
      return ['d', op.parent, op.name];
    case 'setXattr':
      return ['X', op.ino, op.name, op.value.toString('base64')];
    case 'delXattr':
      return ['x', op.ino, op.name];
  }
}

export class MetaState {
  readonly inodes = new Map<number, InodeRecord>();
  readonly dirs = new Map<number, Dir>();
  readonly xattrs = new Map<number, Map<string, Buffer>>();
  /** ino -> chunk idx -> stored length (> 0). */
  readonly chunks = new Map<number, Map<number, number>>();
  bytes = 0;
  /** Next id to hand out; ids in [nextId, idHigh) are reserved by a logged 'N' record. */
  nextId = 2;
  idHigh = 2;

  getInode(ino: number): InodeRecord | undefined {
    const i = this.inodes.get(ino);
    return i && copyInode(i);
  }

  lookup(parent: number, name: string): number | undefined {
    return this.dirs.get(parent)?.byName.get(name)?.ino;
  }

  holds(checks: readonly DentryCheck[]): boolean {
    for (const c of checks) if ((this.lookup(c.parent, c.name) ?? null) !== c.ino) return false;
    return true;
  }

  readdir(parent: number, afterCookie: number, limit: number): DirEntry[] {
    const d = this.dirs.get(parent);
    const out: DirEntry[] = [];
    if (!d || limit <= 0) return out;
    if (!d.sorted) {
      d.order.sort((a, b) => a - b);
      d.sorted = true;
    }
    const order = d.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]! <= afterCookie) lo = mid + 1;
      else hi = mid;
    }
    let prev = afterCookie;
    for (let k = lo; k < order.length && out.length < limit; k++) {
      const cookie = order[k]!;
      if (cookie === prev) continue;
      prev = cookie;
      const name = d.byCookie.get(cookie);
      if (name === undefined) continue;
      out.push({ name, ino: d.byName.get(name)!.ino, cookie });
    }
    return out;
  }

  getXattr(ino: number, name: string): Buffer | undefined {
    const v = this.xattrs.get(ino)?.get(name);
    return v && Buffer.from(v);
  }

  listXattrs(ino: number): string[] {
    return [...(this.xattrs.get(ino)?.keys() ?? [])];
  }

  chunkLen(ino: number, idx: number): number {
    return this.chunks.get(ino)?.get(idx) ?? 0;
  }

  listChunks(ino: number): number[] {
    const m = this.chunks.get(ino);
    return m ? [...m.keys()].sort((a, b) => a - b) : [];
  }

  /** Applies one op. Ops are idempotent, so replaying a record the snapshot already holds is harmless. */
  apply(op: LogOp): void {
    switch (op[0]) {
      case 'I': {
        const rec: InodeRecord = {
          ino: op[1],
          mode: op[2],
          uid: op[3],
          gid: op[4],
          nlink: op[5],
          size: op[6],
          rdev: op[7],
          atimeNs: BigInt(op[8]),
          mtimeNs: BigInt(op[9]),
          ctimeNs: BigInt(op[10]),
          btimeNs: BigInt(op[11]),
          flags: op[12],
          generation: op[13],
        };
        if (op[14] !== null) rec.target = op[14];
        this.inodes.set(rec.ino, rec);
        return;
      }
      case 'i':
        this.inodes.delete(op[1]);
        this.xattrs.delete(op[1]);
        return;
      case 'D':
        this.putDentry(op[1], op[2], op[3], op[4]);
        return;
      case 'd':
        this.delDentry(op[1], op[2]);
        return;
      case 'X': {
        let m = this.xattrs.get(op[1]);
        if (!m) this.xattrs.set(op[1], (m = new Map()));
        m.set(op[2], Buffer.from(op[3], 'base64'));
        return;
      }
      case 'x': {
        const m = this.xattrs.get(op[1]);
        if (m && m.delete(op[2]) && m.size === 0) this.xattrs.delete(op[1]);
        return;
      }
      case 'C':
        this.setChunkLen(op[1], op[2], op[3]);
        return;
      case 'R':
        this.removeChunks(op[1], op[2], op[3] ?? Infinity);
        return;
      case 'N':
        if (op[1] > this.idHigh) this.idHigh = op[1];
        if (this.nextId < this.idHigh) this.nextId = this.idHigh;
        return;
      case 'H':
      case 'E':
      case 'S':
        return;
    }
  }

  /** Applies an op as the interface describes it, keeping stored copies of caller objects. */
  applyMeta(op: MetaOp): void {
    switch (op.op) {
      case 'putInode':
        this.inodes.set(op.inode.ino, copyInode(op.inode));
        return;
      case 'setXattr': {
        let m = this.xattrs.get(op.ino);
        if (!m) this.xattrs.set(op.ino, (m = new Map()));
        m.set(op.name, Buffer.from(op.value));
        return;
      }
      default:
        this.apply(encodeOp(op));
    }
  }

  setChunkLen(ino: number, idx: number, len: number): void {
    let m = this.chunks.get(ino);
    const old = m?.get(idx) ?? 0;
    if (len > 0) {
      if (!m) this.chunks.set(ino, (m = new Map()));
      m.set(idx, len);
    } else if (m) {
      m.delete(idx);
      if (m.size === 0) this.chunks.delete(ino);
    }
    this.bytes += len - old;
  }

  /** Drops chunks fromIdx <= idx < toIdx and returns what they held (idx -> length). */
  removeChunks(ino: number, fromIdx: number, toIdx: number): Map<number, number> {
    const gone = new Map<number, number>();
    const m = this.chunks.get(ino);
    if (!m) return gone;
    for (const [idx, len] of m) {
      if (idx >= fromIdx && idx < toIdx) {
        gone.set(idx, len);
        m.delete(idx);
        this.bytes -= len;
      }
    }
    if (m.size === 0) this.chunks.delete(ino);
    return gone;
  }

  private putDentry(parent: number, name: string, ino: number, cookie: number): void {
    let d = this.dirs.get(parent);
    if (!d) this.dirs.set(parent, (d = { byName: new Map(), byCookie: new Map(), order: [], sorted: true }));
    const old = d.byName.get(name);
    if (old && old.cookie !== cookie) d.byCookie.delete(old.cookie);
    const clash = d.byCookie.get(cookie);
    if (clash !== undefined && clash !== name) d.byName.delete(clash);
    d.byName.set(name, { ino, cookie });
    if (old?.cookie === cookie) return;
    d.byCookie.set(cookie, name);
    const last = d.order[d.order.length - 1];
    if (last !== undefined && cookie <= last) d.sorted = false;
    d.order.push(cookie);
    if (old) compactOrder(d);
  }

  private delDentry(parent: number, name: string): void {
    const d = this.dirs.get(parent);
    const e = d?.byName.get(name);
    if (!d || !e) return;
    d.byName.delete(name);
    d.byCookie.delete(e.cookie);
    if (d.byName.size === 0) this.dirs.delete(parent);
    else compactOrder(d);
  }

  /** The whole state as ops, for a snapshot. Yields batches so the writer can await between them;
   * the maps may change meanwhile, which replaying the log written since then repairs. */
  *snapshotOps(batch: number): Generator<LogOp[]> {
    let out: LogOp[] = [];
    const flush = (): LogOp[] => {
      const b = out;
      out = [];
      return b;
    };
    out.push(['N', this.idHigh]);
    for (const i of this.inodes.values()) {
      out.push(encodeOp({ op: 'putInode', inode: i }));
      if (out.length >= batch) yield flush();
    }
    for (const [parent, d] of this.dirs) {
      for (const [name, e] of d.byName) {
        out.push(['D', parent, name, e.ino, e.cookie]);
        if (out.length >= batch) yield flush();
      }
    }
    for (const [ino, m] of this.xattrs) {
      for (const [name, v] of m) {
        out.push(['X', ino, name, v.toString('base64')]);
        if (out.length >= batch) yield flush();
      }
    }
    for (const [ino, m] of this.chunks) {
      for (const [idx, len] of m) {
        out.push(['C', ino, idx, len]);
        if (out.length >= batch) yield flush();
      }
    }
    if (out.length) yield flush();
  }
}
