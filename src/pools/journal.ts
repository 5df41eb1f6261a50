// The write-back journal: an append-only log in a region of t1 (the first journal_blocks of t1
// member 0's data area) that makes fsync fast. sync() appends the dirty bytes not yet in the store and
// fdatasyncs; the next mount replays every record of the current epoch onto the store, in order,
// before serving. Once everything journaled is uploaded and the store has synced, the journal is
// reset by bumping the epoch in its header, so older records are never replayed.
//
// Layout (little-endian), for kernel/zus_api.h to mirror:
//
//   struct zufs_journal_head {          /* the first 4 KiB of the region */
//     0  __le32 magic;                  /* ZUFS_JHEAD_MAGIC 0x48444a5a "ZJDH" */
//     4  __le32 version;                /* 1 */
//     8  __le64 epoch;                  /* records of other epochs are stale */
//     16 __le32 crc;                    /* CRC32C of bytes [0, 16) */
//   };
//   struct zufs_journal_rec {           /* from region offset 4096, back to back, 8-byte aligned */
//     0  __le32 magic;                  /* ZUFS_JREC_MAGIC 0x434a525a "ZRJC" */
//     4  __le16 type;                   /* ZUFS_JREC_WRITE 1, ZUFS_JREC_TRUNCATE 2, ZUFS_JREC_REMOVE 3 */
//     6  __le16 reserved;
//     8  __le64 epoch;
//     16 __le64 seq;                    /* 1, 2, 3 ... within an epoch, no gaps */
//     24 __le64 ino;
//     32 __le64 idx;                    /* chunk (REMOVE: first chunk) */
//     40 __le64 arg;                    /* WRITE: offset in chunk; TRUNCATE: new length; REMOVE: end chunk, ~0 = all */
//     48 __le32 len;                    /* WRITE: data bytes; else 0 */
//     52 __le32 data_crc;               /* CRC32C of the data */
//     56 __le32 hdr_crc;                /* CRC32C of bytes [0, 56) */
//     60 __le32 reserved2;
//     64 __u8   data[len];              /* then zeros up to a multiple of 8 */
//        __le32 commit;                 /* ZUFS_JREC_COMMIT 0x544d4d43 "CMMT" */
//        __le32 commit_crc;             /* equals hdr_crc */
//   };
//
// A record is written with one pwrite; replay stops at the first record that is torn (bad magic,
// epoch, sequence, CRC or commit word), which can only be one that was never acknowledged.
import { randomBytes } from 'node:crypto';
import { fdatasync, readSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { errno, fsError } from '../fs/errors.js';
import { crc32c } from './crc32c.js';

export const ZUFS_JHEAD_MAGIC = 0x48444a5a;
export const ZUFS_JREC_MAGIC = 0x434a525a;
export const ZUFS_JREC_COMMIT = 0x544d4d43;
export const ZUFS_JREC_WRITE = 1;
export const ZUFS_JREC_TRUNCATE = 2;
export const ZUFS_JREC_REMOVE = 3;
export const JOURNAL_HEAD_SIZE = 4096;
const REC_HEAD = 64;
const REMOVE_ALL = 0xffffffffffffffffn;

const fdatasyncAsync = promisify(fdatasync);

export type JournalRecord =
  | { type: 'write'; ino: number; idx: number; off: number; data: Buffer }
  | { type: 'truncate'; ino: number; idx: number; len: number }
  | { type: 'remove'; ino: number; fromIdx: number; toIdx?: number };

export function recordBytes(dataLen: number): number {
  return REC_HEAD + Math.ceil(dataLen / 8) * 8 + 8;
}

export class Journal {
  private epoch = 0n;
  private seq = 0n;
  private tail = JOURNAL_HEAD_SIZE; // next record's offset in the region
  private records = 0;

  /** The region [offset, offset + bytes) of `fd`. */
  constructor(
    private readonly fd: number,
    private readonly offset: number,
    readonly bytes: number,
    private readonly where: string,
  ) {
    if (bytes < JOURNAL_HEAD_SIZE * 2) throw fsError(errno.EINVAL, `${where}: journal region of ${bytes} bytes is too small`);
  }

  get usedBytes(): number {
    return this.tail - JOURNAL_HEAD_SIZE;
  }
  get recordCount(): number {
    return this.records;
  }
  get isEmpty(): boolean {
    return this.records === 0;
  }
  get currentEpoch(): bigint {
    return this.epoch;
  }

  /** Writes a fresh header; used by format. The epoch is random so that records left in the region
   * by an earlier life of the device can never pass for current ones. */
  static initialize(fd: number, offset: number): void {
    writeSync(fd, headBytes(randomEpoch()), 0, JOURNAL_HEAD_SIZE, offset);
  }

  /** Reads the header and every valid record of the current epoch; positions the tail after them. */
  load(): JournalRecord[] {
    const head = Buffer.alloc(JOURNAL_HEAD_SIZE);
    readSync(this.fd, head, 0, JOURNAL_HEAD_SIZE, this.offset);
    if (head.readUInt32LE(0) !== ZUFS_JHEAD_MAGIC || head.readUInt32LE(16) !== crc32c(head.subarray(0, 16))) {
      // Only a reset tears the header, and a reset runs after everything is in the store: start a
      // new random epoch so no old record can match it.
      this.epoch = randomEpoch();
      this.seq = 0n;
      this.tail = JOURNAL_HEAD_SIZE;
      this.records = 0;
      writeSync(this.fd, headBytes(this.epoch), 0, JOURNAL_HEAD_SIZE, this.offset);
      return [];
    }
    this.epoch = head.readBigUInt64LE(8);
    const out: JournalRecord[] = [];
    let at = JOURNAL_HEAD_SIZE;
    let seq = 0n;
    const h = Buffer.alloc(REC_HEAD);
    while (at + REC_HEAD + 8 <= this.bytes) {
      if (readSync(this.fd, h, 0, REC_HEAD, this.offset + at) !== REC_HEAD) break;
      if (h.readUInt32LE(0) !== ZUFS_JREC_MAGIC) break;
      const hdrCrc = h.readUInt32LE(56);
      if (crc32c(h.subarray(0, 56)) !== hdrCrc) break;
      if (h.readBigUInt64LE(8) !== this.epoch || h.readBigUInt64LE(16) !== seq + 1n) break;
      const len = h.readUInt32LE(48);
      const size = recordBytes(len);
      if (at + size > this.bytes) break;
      const body = Buffer.alloc(size - REC_HEAD);
      if (readSync(this.fd, body, 0, body.length, this.offset + at + REC_HEAD) !== body.length) break;
      const data = body.subarray(0, len);
      if (crc32c(data) !== h.readUInt32LE(52)) break;
      if (body.readUInt32LE(body.length - 8) !== ZUFS_JREC_COMMIT || body.readUInt32LE(body.length - 4) !== hdrCrc) break;
      const type = h.readUInt16LE(4);
      const ino = Number(h.readBigUInt64LE(24));
      const idx = Number(h.readBigUInt64LE(32));
      const arg = h.readBigUInt64LE(40);
      if (type === ZUFS_JREC_WRITE) out.push({ type: 'write', ino, idx, off: Number(arg), data: Buffer.from(data) });
      else if (type === ZUFS_JREC_TRUNCATE) out.push({ type: 'truncate', ino, idx, len: Number(arg) });
      else if (type === ZUFS_JREC_REMOVE) out.push(arg === REMOVE_ALL ? { type: 'remove', ino, fromIdx: idx } : { type: 'remove', ino, fromIdx: idx, toIdx: Number(arg) });
      else break;
      seq += 1n;
      at += size;
    }
    this.seq = seq;
    this.tail = at;
    this.records = out.length;
    return out;
  }

  /** Appends one record with a single pwrite; false (and nothing written) when it does not fit.
   * Durable once durable() resolves; survives a process crash as soon as this returns. */
  append(rec: JournalRecord): boolean {
    const len = rec.type === 'write' ? rec.data.length : 0;
    const size = recordBytes(len);
    if (this.tail + size > this.bytes) return false;
    const b = Buffer.alloc(size);
    b.writeUInt32LE(ZUFS_JREC_MAGIC, 0);
    b.writeUInt16LE(rec.type === 'write' ? ZUFS_JREC_WRITE : rec.type === 'truncate' ? ZUFS_JREC_TRUNCATE : ZUFS_JREC_REMOVE, 4);
    b.writeBigUInt64LE(this.epoch, 8);
    b.writeBigUInt64LE(this.seq + 1n, 16);
    b.writeBigUInt64LE(BigInt(rec.ino), 24);
    if (rec.type === 'write') {
      b.writeBigUInt64LE(BigInt(rec.idx), 32);
      b.writeBigUInt64LE(BigInt(rec.off), 40);
      b.writeUInt32LE(len, 48);
      b.writeUInt32LE(crc32c(rec.data), 52);
      rec.data.copy(b, REC_HEAD);
    } else if (rec.type === 'truncate') {
      b.writeBigUInt64LE(BigInt(rec.idx), 32);
      b.writeBigUInt64LE(BigInt(rec.len), 40);
      b.writeUInt32LE(crc32c(Buffer.alloc(0)), 52);
    } else {
      b.writeBigUInt64LE(BigInt(rec.fromIdx), 32);
      b.writeBigUInt64LE(rec.toIdx === undefined || !Number.isFinite(rec.toIdx) ? REMOVE_ALL : BigInt(rec.toIdx), 40);
      b.writeUInt32LE(crc32c(Buffer.alloc(0)), 52);
    }
    const hdrCrc = crc32c(b.subarray(0, 56));
    b.writeUInt32LE(hdrCrc, 56);
    b.writeUInt32LE(ZUFS_JREC_COMMIT, size - 8);
    b.writeUInt32LE(hdrCrc, size - 4);
    writeSync(this.fd, b, 0, size, this.offset + this.tail);
    this.tail += size;
    this.seq += 1n;
    this.records++;
    return true;
  }

  /** Whether a record with `dataLen` bytes of data still fits. */
  fits(dataLen: number): boolean {
    return this.tail + recordBytes(dataLen) <= this.bytes;
  }

  /** Makes every appended record durable on the t1 medium. */
  async durable(): Promise<void> {
    await fdatasyncAsync(this.fd);
  }

  /** Forgets every record: a new epoch in the header. Call only once all of them are durable in the store. */
  async reset(): Promise<void> {
    this.epoch += 1n;
    this.seq = 0n;
    this.tail = JOURNAL_HEAD_SIZE;
    this.records = 0;
    writeSync(this.fd, headBytes(this.epoch), 0, JOURNAL_HEAD_SIZE, this.offset);
    await this.durable();
  }
}

function randomEpoch(): bigint {
  return randomBytes(8).readBigUInt64LE(0) >> 1n; // room to count up
}

function headBytes(epoch: bigint): Buffer {
  const h = Buffer.alloc(JOURNAL_HEAD_SIZE);
  h.writeUInt32LE(ZUFS_JHEAD_MAGIC, 0);
  h.writeUInt32LE(1, 4);
  h.writeBigUInt64LE(epoch, 8);
  h.writeUInt32LE(crc32c(h.subarray(0, 16)), 16);
  return h;
}
