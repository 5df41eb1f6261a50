// Test-side FUSE wire helpers: build requests the way the kernel lays them out, capture the replies
// a Session writes (to a plain file standing in for /dev/fuse), and a logger whose lines we can read.
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { Channel } from '../../src/zus/fuse/session.js';

export interface LogLine {
  level: number;
  msg: string;
  op?: string;
  [k: string]: unknown;
}

export function captureLog(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level }, sink), lines };
}

let nextUnique = 2;

export interface ReqOpts {
  nodeid?: number;
  uid?: number;
  gid?: number;
  pid?: number;
  unique?: number;
}

/** fuse_in_header + body, as one request read from /dev/fuse. */
export function request(opcode: number, body: Buffer, o: ReqOpts = {}): { bytes: Uint8Array; unique: number } {
  const unique = o.unique ?? (nextUnique += 2);
  const b = Buffer.alloc(40 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(BigInt(unique), 8);
  b.writeBigUInt64LE(BigInt(o.nodeid ?? 1), 16);
  b.writeUInt32LE(o.uid ?? 0, 24);
  b.writeUInt32LE(o.gid ?? 0, 28);
  b.writeUInt32LE(o.pid ?? 1234, 32);
  body.copy(b, 40);
  const ab = new ArrayBuffer(b.length);
  const u8 = new Uint8Array(ab);
  u8.set(b);
  return { bytes: u8, unique };
}

export const cstr = (s: string | Buffer): Buffer => Buffer.concat([Buffer.isBuffer(s) ? s : Buffer.from(s), Buffer.alloc(1)]);

export function u32s(...v: number[]): Buffer {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => b.writeUInt32LE(x >>> 0, i * 4));
  return b;
}

export function u64s(...v: number[]): Buffer {
  const b = Buffer.alloc(v.length * 8);
  v.forEach((x, i) => b.writeBigUInt64LE(BigInt(x), i * 8));
  return b;
}

export interface Reply {
  len: number;
  error: number;
  unique: number;
  body: Buffer;
}

/** A file that plays the /dev/fuse fd of one channel; replies() parses everything written to it. */
export class ReplySink {
  readonly file: string;
  readonly chan: Channel;
  constructor() {
    this.file = path.join(os.tmpdir(), `zufs-fuse-replies-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const fd = openSync(this.file, 'w+');
    this.chan = { index: 0, cpu: 0, fd, open: true, served: 0 };
  }
  replies(): Reply[] {
    const b = readFileSync(this.file);
    const out: Reply[] = [];
    for (let o = 0; o < b.length; ) {
      const len = b.readUInt32LE(o);
      out.push({ len, error: b.readInt32LE(o + 4), unique: Number(b.readBigUInt64LE(o + 8)), body: b.subarray(o + 16, o + len) });
      o += len;
    }
    return out;
  }
  close(): void {
    closeSync(this.chan.fd);
    rmSync(this.file, { force: true });
  }
}
