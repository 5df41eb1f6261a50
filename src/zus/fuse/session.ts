// One FUSE connection as the main thread sees it: decodes each request a channel worker forwards,
// dispatches it through an opcode-indexed table to the ZusOperations handlers, and writes exactly
// one reply (none for FORGET, BATCH_FORGET, INTERRUPT) to the /dev/fuse fd the request came from.
// It also keeps the kernel's lookup count per inode and calls fs.evict when it drops to zero.
import type { Logger } from 'pino';
import type { Attr, Caller, ZusOperations } from '../../fs/operations.js';
import { FsError, errno as E, toErrno } from '../../fs/errors.js';
import { errno, write, writev, type IoVec } from '../sys/libc.js';
import {
  ATTR_OUT_ATTR, ATTR_OUT_SIZE, ATTR_OUT_VALID, ATTR_OUT_VALID_NSEC, ENTRY_OUT_SIZE, FUSE_BATCH_FORGET, FUSE_FORGET,
  FUSE_INTERRUPT, FUSE_NOTIFY_REPLY, FUSE_OPCODE_MAX,
  IN_GID, IN_HEADER_SIZE, IN_LEN, IN_NODEID, IN_OPCODE, IN_PID, IN_TOTAL_EXTLEN, IN_UID, IN_UNIQUE,
  OUT_ERROR, OUT_HEADER_SIZE, OUT_LEN, OUT_UNIQUE, opcodeName,
} from './abi.js';
import { getU64, putAttr, putEntry, putU64, timeoutOf, type Timeout } from './codec.js';

/** One cloned /dev/fuse fd and the worker thread reading it. */
export interface Channel {
  readonly index: number;
  readonly cpu: number;
  readonly fd: number;
  /** False once the worker has exited and the fd may be closed: replies are dropped from then on. */
  open: boolean;
  served: number;
}

/** A decoded request. It is also the Caller handed to the filesystem (no extra object per request). */
export class FuseRequest implements Caller {
  umask = 0;
  replied = false;
  constructor(
    readonly chan: Channel,
    readonly buf: Buffer,
    readonly dv: DataView,
    readonly opcode: number,
    readonly uniqueLo: number,
    readonly uniqueHi: number,
    readonly nodeid: number,
    readonly uid: number,
    readonly gid: number,
    readonly pid: number,
    /** End of the op's own bytes (request extensions excluded). */
    readonly end: number,
  ) {}
}

/** A handler replies exactly once through the session, or throws (the session replies the errno). */
export type Handler = (s: Session, r: FuseRequest) => Promise<void> | void;

/** Replies at least this large are gathered with writev instead of copied (measured: a 1 MiB copy costs ~100 µs here, writev's marshalling ~1 µs). */
const WRITEV_FROM = 32 * 1024;
const EMPTY = Buffer.alloc(0);

/** Offset of the op-specific body in a request. */
export const BODY = IN_HEADER_SIZE;

export interface SessionOptions {
  attrTimeoutMs: number;
  /** Largest request the kernel may send (max_write + headers); also bounds every reply. */
  bufferSize: number;
  log: Logger;
}

export class Session {
  readonly fs: ZusOperations;
  readonly log: Logger;
  readonly timeout: Timeout;
  /** One reply buffer: a reply is encoded and written with no await in between. */
  readonly out: Buffer;
  readonly odv: DataView;
  /** Filled by INIT. */
  proto = { major: 0, minor: 0, flags: 0, maxWrite: 0, initialized: false };
  /** Called once INIT has been answered (true) or refused (false). */
  onInit: (ok: boolean) => void = () => undefined;
  private readonly handlers: (Handler | undefined)[];
  private readonly lookups = new Map<number, number>();
  /** Requests that wait (SETLKW) by "uniqueHi:uniqueLo": INTERRUPT aborts them (EINTR). */
  private readonly waiting = new Map<string, AbortController>();
  private readonly opCounts = new Float64Array(FUSE_OPCODE_MAX + 1);
  private readonly debug: boolean;
  private readonly iov: IoVec[] = [
    { iov_base: EMPTY, iov_len: OUT_HEADER_SIZE },
    { iov_base: EMPTY, iov_len: 0 },
  ];

  constructor(fs: ZusOperations, handlers: (Handler | undefined)[], opts: SessionOptions) {
    this.fs = fs;
    this.handlers = handlers;
    this.log = opts.log;
    this.debug = opts.log.isLevelEnabled('debug');
    this.timeout = timeoutOf(opts.attrTimeoutMs);
    this.out = Buffer.allocUnsafeSlow(opts.bufferSize);
    this.odv = new DataView(this.out.buffer, this.out.byteOffset, this.out.byteLength);
  }

  /** Entry point for every request a channel read. `bytes` is owned by the request from here on. */
  dispatch(chan: Channel, bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (n < IN_HEADER_SIZE) {
      this.log.error({ channel: chan.index, bytes: n }, 'short FUSE request');
      return;
    }
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
    const len = dv.getUint32(IN_LEN, true);
    const opcode = dv.getUint32(IN_OPCODE, true);
    const extlen = dv.getUint16(IN_TOTAL_EXTLEN, true) * 8;
    const end = len - extlen;
    const r = new FuseRequest(
      chan, buf, dv, opcode,
      dv.getUint32(IN_UNIQUE, true), dv.getUint32(IN_UNIQUE + 4, true),
      getU64(dv, IN_NODEID),
      dv.getUint32(IN_UID, true), dv.getUint32(IN_GID, true), dv.getUint32(IN_PID, true),
      end,
    );
    chan.served++;
    this.opCounts[opcode < FUSE_OPCODE_MAX ? opcode : FUSE_OPCODE_MAX]!++;
    if (len !== n || end < IN_HEADER_SIZE) {
      this.log.error({ channel: chan.index, len, bytes: n, extlen, op: opcodeName(opcode) }, 'malformed FUSE request');
      this.replyError(r, E.EIO);
      return;
    }
    const h = opcode < FUSE_OPCODE_MAX ? this.handlers[opcode] : undefined;
    if (h === undefined) {
      this.replyError(r, E.ENOSYS);
      return;
    }
    void this.run(h, r);
  }

  private async run(h: Handler, r: FuseRequest): Promise<void> {
    try {
      await h(this, r);
      if (!r.replied && !isNoReply(r.opcode)) {
        this.log.error({ op: opcodeName(r.opcode) }, 'FUSE handler returned without replying');
        this.replyError(r, E.EIO);
      }
    } catch (e) {
      this.fail(r, e);
    }
  }

  /** Replies the errno of anything thrown; logs what a user would not expect. */
  fail(r: FuseRequest, e: unknown): void {
    const no = toErrno(e);
    if (!(e instanceof FsError) || no === E.EIO) {
      this.log.warn({ err: e, op: opcodeName(r.opcode), nodeid: r.nodeid }, 'filesystem operation failed');
    } else if (this.debug) {
      this.log.debug({ op: opcodeName(r.opcode), nodeid: r.nodeid, code: e.code }, 'operation refused');
    }
    if (isNoReply(r.opcode)) return;
    if (r.replied) {
      this.log.error({ op: opcodeName(r.opcode), err: e }, 'FUSE handler threw after replying');
      return;
    }
    this.replyError(r, no);
  }

  /** Sends out[OUT_HEADER_SIZE .. +bodyLen) as the reply. False if the kernel did not take it. */
  reply(r: FuseRequest, bodyLen: number): boolean {
    return this.send(r, 0, bodyLen);
  }

  replyError(r: FuseRequest, positiveErrno: number): void {
    this.send(r, -positiveErrno, 0);
  }

  /** Reply whose body is `data`: copied behind the header when small, gathered with writev when large. */
  replyData(r: FuseRequest, data: Buffer, max: number): void {
    const n = Math.min(data.length, max, this.out.length - OUT_HEADER_SIZE);
    if (n < WRITEV_FROM) {
      data.copy(this.out, OUT_HEADER_SIZE, 0, n);
      this.send(r, 0, n);
    } else {
      this.send(r, 0, n, n === data.length ? data : data.subarray(0, n));
    }
  }

  replyAttr(r: FuseRequest, a: Attr): void {
    const dv = this.odv;
    const o = OUT_HEADER_SIZE;
    putU64(dv, o + ATTR_OUT_VALID, this.timeout.sec);
    dv.setUint32(o + ATTR_OUT_VALID_NSEC, this.timeout.nsec, true);
    dv.setUint32(o + ATTR_OUT_VALID_NSEC + 4, 0, true);
    putAttr(dv, o + ATTR_OUT_ATTR, a);
    this.send(r, 0, ATTR_OUT_SIZE);
  }

  /** fuse_entry_out, plus `extra` bytes the caller already encoded after it (CREATE's open_out). */
  replyEntry(r: FuseRequest, a: Attr, extra = 0): void {
    putEntry(this.odv, OUT_HEADER_SIZE, a, this.timeout);
    if (this.send(r, 0, ENTRY_OUT_SIZE + extra)) this.addLookup(a.ino);
  }

  /** Writes header (+ body already in `out`, or `data` gathered after the header). */
  private send(r: FuseRequest, error: number, bodyLen: number, data?: Buffer): boolean {
    if (r.replied) {
      this.log.error({ op: opcodeName(r.opcode) }, 'second reply to one FUSE request dropped');
      return false;
    }
    r.replied = true;
    if (!r.chan.open) return false;
    const dv = this.odv;
    const total = OUT_HEADER_SIZE + bodyLen;
    dv.setUint32(OUT_LEN, total, true);
    dv.setInt32(OUT_ERROR, error, true);
    dv.setUint32(OUT_UNIQUE, r.uniqueLo, true);
    dv.setUint32(OUT_UNIQUE + 4, r.uniqueHi, true);
    let w: number;
    if (data === undefined) {
      w = write(r.chan.fd, this.out, total);
    } else {
      this.iov[0]!.iov_base = this.out;
      this.iov[1]!.iov_base = data;
      this.iov[1]!.iov_len = data.length;
      w = writev(r.chan.fd, this.iov, 2);
      this.iov[1]!.iov_base = EMPTY; // do not keep the filesystem's buffer alive
    }
    if (w === total) return true;
    const no = w < 0 ? errno() : E.EIO;
    // ENOENT: the request was interrupted and is gone; ENODEV: the connection is gone.
    if (no !== E.ENOENT && no !== E.ENODEV) {
      this.log.warn({ op: opcodeName(r.opcode), errno: no, written: w, total }, 'writing a FUSE reply failed');
    }
    return false;
  }

  /** The signal that INTERRUPT of `r` aborts; call settled(r) when it is answered. */
  interruptible(r: FuseRequest): AbortSignal {
    const c = new AbortController();
    this.waiting.set(`${r.uniqueHi}:${r.uniqueLo}`, c);
    return c.signal;
  }

  settled(r: FuseRequest): void {
    this.waiting.delete(`${r.uniqueHi}:${r.uniqueLo}`);
  }

  /** INTERRUPT: only waiting requests react; the rest are answered soon anyway. */
  interrupt(uniqueLo: number, uniqueHi: number): void {
    this.waiting.get(`${uniqueHi}:${uniqueLo}`)?.abort();
  }

  /** The kernel now holds one more reference to `ino` (LOOKUP, CREATE, MKNOD, READDIRPLUS, ...). */
  addLookup(ino: number): void {
    if (ino === this.fs.rootIno) return;
    this.lookups.set(ino, (this.lookups.get(ino) ?? 0) + 1);
  }

  /** FORGET: the kernel dropped `n` references; at zero the filesystem may free the inode. */
  forget(ino: number, n: number): void {
    const have = this.lookups.get(ino);
    if (have === undefined) return;
    const left = have - n;
    if (left > 0) {
      this.lookups.set(ino, left);
      return;
    }
    this.lookups.delete(ino);
    this.fs.evict(ino).catch((e: unknown) => {
      if (!(e instanceof FsError) || e.errno === E.EIO) this.log.warn({ err: e, ino }, 'evict failed');
    });
  }

  /** Inodes the kernel currently references (for tests and status). */
  get referencedInodes(): number {
    return this.lookups.size;
  }

  opStats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i <= FUSE_OPCODE_MAX; i++) {
      const c = this.opCounts[i]!;
      if (c > 0) out[i === FUSE_OPCODE_MAX ? 'OTHER' : opcodeName(i)] = c;
    }
    return out;
  }
}

function isNoReply(op: number): boolean {
  return op === FUSE_FORGET || op === FUSE_BATCH_FORGET || op === FUSE_INTERRUPT || op === FUSE_NOTIFY_REPLY;
}
