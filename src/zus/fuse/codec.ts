// Byte-level helpers shared by the FUSE handlers: 64-bit fields without BigInt on the hot path,
// nanosecond times, names, the fuse_attr / fuse_entry_out layouts, and invalidation notifications.
import type { Attr, Invalidation } from '../../fs/operations.js';
import { FsError, errno as E } from '../../fs/errors.js';
import {
  ATTR_ATIME, ATTR_ATIMENSEC, ATTR_BLKSIZE, ATTR_BLOCKS, ATTR_CTIME, ATTR_CTIMENSEC, ATTR_FLAGS, ATTR_GID,
  ATTR_INO, ATTR_MODE, ATTR_MTIME, ATTR_MTIMENSEC, ATTR_NLINK, ATTR_RDEV, ATTR_SIZE, ATTR_UID, ENTRY_ATTR,
  ENTRY_ATTR_VALID, ENTRY_ATTR_VALID_NSEC, ENTRY_GENERATION, ENTRY_NODEID, ENTRY_VALID, ENTRY_VALID_NSEC,
  FUSE_NOTIFY_INVAL_ENTRY, FUSE_NOTIFY_INVAL_INODE, NOTIFY_INVAL_ENTRY_OUT_SIZE, NOTIFY_INVAL_INODE_OUT_SIZE, OUT_ERROR,
  OUT_HEADER_SIZE, OUT_LEN,
} from './abi.js';

const TWO32 = 4294967296;
const NS = 1000000000n;

/** u64 → number; exact below 2^53, which covers every inode, handle and real file offset. */
export function getU64(dv: DataView, o: number): number {
  return dv.getUint32(o, true) + dv.getUint32(o + 4, true) * TWO32;
}

export function getI64(dv: DataView, o: number): number {
  return dv.getUint32(o, true) + dv.getInt32(o + 4, true) * TWO32;
}

/** number → u64/i64 (two's complement for negatives), no BigInt. */
export function putU64(dv: DataView, o: number, n: number): void {
  const lo = n >>> 0;
  dv.setUint32(o, lo, true);
  dv.setInt32(o + 4, Math.floor((n - lo) / TWO32) | 0, true);
}

/** Nanoseconds since the epoch → (seconds as i64, nanoseconds as u32) at two offsets. */
export function putTime(dv: DataView, secOff: number, nsecOff: number, ns: bigint): void {
  let sec = Number(ns / NS);
  let nsec = Number(ns % NS);
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  }
  putU64(dv, secOff, sec);
  dv.setUint32(nsecOff, nsec, true);
}

export function getTime(dv: DataView, secOff: number, nsecOff: number): bigint {
  return BigInt(getI64(dv, secOff)) * NS + BigInt(dv.getUint32(nsecOff, true));
}

export function putAttr(dv: DataView, o: number, a: Attr): void {
  putU64(dv, o + ATTR_INO, a.ino);
  putU64(dv, o + ATTR_SIZE, a.size);
  putU64(dv, o + ATTR_BLOCKS, a.blocks);
  putTime(dv, o + ATTR_ATIME, o + ATTR_ATIMENSEC, a.atimeNs);
  putTime(dv, o + ATTR_MTIME, o + ATTR_MTIMENSEC, a.mtimeNs);
  putTime(dv, o + ATTR_CTIME, o + ATTR_CTIMENSEC, a.ctimeNs);
  dv.setUint32(o + ATTR_MODE, a.mode, true);
  dv.setUint32(o + ATTR_NLINK, a.nlink, true);
  dv.setUint32(o + ATTR_UID, a.uid, true);
  dv.setUint32(o + ATTR_GID, a.gid, true);
  dv.setUint32(o + ATTR_RDEV, a.rdev, true);
  dv.setUint32(o + ATTR_BLKSIZE, a.blksize, true);
  dv.setUint32(o + ATTR_FLAGS, 0, true);
}

/** Cache lifetime as the kernel takes it: whole seconds (u64) and nanoseconds (u32). */
export interface Timeout {
  sec: number;
  nsec: number;
}

export function timeoutOf(ms: number): Timeout {
  const m = Math.max(0, ms);
  return { sec: Math.floor(m / 1000), nsec: Math.round((m % 1000) * 1e6) };
}

/** fuse_entry_out for a positive entry; nodeid is the filesystem's inode number. */
export function putEntry(dv: DataView, o: number, a: Attr, t: Timeout): void {
  putU64(dv, o + ENTRY_NODEID, a.ino);
  putU64(dv, o + ENTRY_GENERATION, a.generation);
  putU64(dv, o + ENTRY_VALID, t.sec);
  putU64(dv, o + ENTRY_ATTR_VALID, t.sec);
  dv.setUint32(o + ENTRY_VALID_NSEC, t.nsec, true);
  dv.setUint32(o + ENTRY_ATTR_VALID_NSEC, t.nsec, true);
  putAttr(dv, o + ENTRY_ATTR, a);
}

/**
 * A NUL-terminated name in a request. Names are UTF-8 in zusd; a name that is not valid UTF-8
 * could not come back unchanged from the filesystem, so it is refused (EILSEQ) rather than mangled.
 */
export function getName(buf: Buffer, start: number, end: number): { name: string; next: number } {
  const nul = buf.indexOf(0, start);
  if (nul < 0 || nul >= end) throw new FsError(E.EINVAL, 'name without NUL in request');
  const name = buf.toString('utf8', start, nul);
  if (name.includes('\ufffd') && !Buffer.from(name, 'utf8').equals(buf.subarray(start, nul))) {
    throw new FsError(E.EILSEQ, 'name is not valid UTF-8');
  }
  return { name, next: nul + 1 };
}

/** The bytes of the unsolicited notification that makes the kernel drop what it caches for `inv`:
 * an inode's attributes (FUSE_NOTIFY_INVAL_INODE with a negative offset, so no page is touched:
 * data is re-read at the next open, close-to-open) or one name in a directory, positive or
 * negative (FUSE_NOTIFY_INVAL_ENTRY). */
export function encodeInvalidation(inv: Invalidation): Buffer {
  if (inv.parent === undefined) {
    const b = Buffer.alloc(OUT_HEADER_SIZE + NOTIFY_INVAL_INODE_OUT_SIZE);
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    dv.setUint32(OUT_LEN, b.length, true);
    dv.setInt32(OUT_ERROR, FUSE_NOTIFY_INVAL_INODE, true);
    putU64(dv, OUT_HEADER_SIZE, inv.ino);
    putU64(dv, OUT_HEADER_SIZE + 8, -1);
    return b;
  }
  const nameLen = Buffer.byteLength(inv.name, 'utf8');
  const b = Buffer.alloc(OUT_HEADER_SIZE + NOTIFY_INVAL_ENTRY_OUT_SIZE + nameLen + 1);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  dv.setUint32(OUT_LEN, b.length, true);
  dv.setInt32(OUT_ERROR, FUSE_NOTIFY_INVAL_ENTRY, true);
  putU64(dv, OUT_HEADER_SIZE, inv.parent);
  dv.setUint32(OUT_HEADER_SIZE + 8, nameLen, true);
  b.write(inv.name, OUT_HEADER_SIZE + NOTIFY_INVAL_ENTRY_OUT_SIZE, nameLen, 'utf8');
  return b;
}
