// DataView helpers for the zus_api.h structs on the hot path: fixed offsets from the layout
// tables, no allocation beyond the decoded values. Little endian, as the header says.
import { FsError, errno } from '../../fs/errors.js';
import { ZUFS_NAME_LEN, zufs_ioc_hdr, zus_inode } from './zus-api.js';

export interface ZufsHdr {
  err: number;
  in_len: number;
  out_max: number;
  out_start: number;
  out_len: number;
  operation: number;
  flags: number;
  offset: number;
  len: number;
  op_id: bigint;
}

const H = zufs_ioc_hdr.fields;

export function decodeHdr(dv: DataView, at: number): ZufsHdr {
  return {
    err: dv.getInt32(at + H.err, true),
    in_len: dv.getUint16(at + H.in_len, true),
    out_max: dv.getUint16(at + H.out_max, true),
    out_start: dv.getUint16(at + H.out_start, true),
    out_len: dv.getUint16(at + H.out_len, true),
    operation: dv.getUint16(at + H.operation, true),
    flags: dv.getUint16(at + H.flags, true),
    offset: dv.getUint32(at + H.offset, true),
    len: dv.getUint32(at + H.len, true),
    op_id: dv.getBigUint64(at + H.op_id, true),
  };
}

export function encodeHdr(dv: DataView, at: number, h: ZufsHdr): void {
  dv.setInt32(at + H.err, h.err, true);
  dv.setUint16(at + H.in_len, h.in_len, true);
  dv.setUint16(at + H.out_max, h.out_max, true);
  dv.setUint16(at + H.out_start, h.out_start, true);
  dv.setUint16(at + H.out_len, h.out_len, true);
  dv.setUint16(at + H.operation, h.operation, true);
  dv.setUint16(at + H.flags, h.flags, true);
  dv.setUint32(at + H.offset, h.offset, true);
  dv.setUint32(at + H.len, h.len, true);
  dv.setBigUint64(at + H.op_id, h.op_id, true);
}

/** The reply fields every op sets: err (negative errno or 0) and the payload length produced. */
export function setReply(dv: DataView, err: number, payloadLen: number): void {
  dv.setInt32(H.err, err, true);
  dv.setUint32(H.len, payloadLen, true);
}

/** A u64 the kernel may send up to 2^64-1; numbers are exact below 2^53, which inode numbers and offsets are. */
export function getU64(dv: DataView, at: number): number {
  return Number(dv.getBigUint64(at, true));
}

export function setU64(dv: DataView, at: number, v: number | bigint): void {
  dv.setBigUint64(at, BigInt(v), true);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const enc = new TextEncoder();

/** struct zufs_str { __u8 len; char name[255]; } */
export function readZufsStr(dv: DataView, at: number): string {
  const len = dv.getUint8(at);
  return utf8.decode(new Uint8Array(dv.buffer, dv.byteOffset + at + 1, len));
}

export function writeZufsStr(dv: DataView, at: number, s: string): void {
  const b = enc.encode(s);
  if (b.length > ZUFS_NAME_LEN) throw new FsError(errno.ENAMETOOLONG);
  dv.setUint8(at, b.length);
  new Uint8Array(dv.buffer, dv.byteOffset + at + 1, b.length).set(b);
}

/** What a zus_inode holds, in the units of src/fs/operations.ts Attr. */
export interface ZiAttr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  generation: number;
}

const Z = zus_inode.fields;

export function writeZusInode(dv: DataView, at: number, a: ZiAttr, symlink?: Uint8Array): void {
  dv.setUint16(at + Z.i_flags, 0, true);
  dv.setUint16(at + Z.i_mode, a.mode & 0xffff, true);
  dv.setUint32(at + Z.i_nlink, a.nlink, true);
  dv.setBigUint64(at + Z.i_size, BigInt(a.size), true);
  dv.setBigUint64(at + Z.i_blocks, BigInt(a.blocks), true);
  dv.setBigInt64(at + Z.i_mtime, a.mtimeNs, true);
  dv.setBigInt64(at + Z.i_ctime, a.ctimeNs, true);
  dv.setBigInt64(at + Z.i_atime, a.atimeNs, true);
  dv.setBigUint64(at + Z.i_ino, BigInt(a.ino), true);
  dv.setUint32(at + Z.i_uid, a.uid >>> 0, true);
  dv.setUint32(at + Z.i_gid, a.gid >>> 0, true);
  dv.setBigUint64(at + Z.i_generation, BigInt(a.generation), true);
  const u = new Uint8Array(dv.buffer, dv.byteOffset + at + Z.i_rdev, 32);
  if ((a.mode & 0o170000) === 0o040000) {
    // a directory keeps its names_gen: the kernel's dentries were looked up under it
    u.subarray(0, Z['i_dir.names_gen'] - Z.i_rdev).fill(0);
    u.subarray(Z['i_dir.names_gen'] - Z.i_rdev + 8).fill(0);
    return;
  }
  u.fill(0);
  if (symlink) u.set(symlink.subarray(0, 31));
  else dv.setUint32(at + Z.i_rdev, a.rdev >>> 0, true);
}

export function readZusInode(dv: DataView, at: number): ZiAttr {
  return {
    ino: Number(dv.getBigUint64(at + Z.i_ino, true)),
    mode: dv.getUint16(at + Z.i_mode, true),
    nlink: dv.getUint32(at + Z.i_nlink, true),
    uid: dv.getUint32(at + Z.i_uid, true),
    gid: dv.getUint32(at + Z.i_gid, true),
    rdev: dv.getUint32(at + Z.i_rdev, true),
    size: Number(dv.getBigUint64(at + Z.i_size, true)),
    blocks: Number(dv.getBigUint64(at + Z.i_blocks, true)),
    atimeNs: dv.getBigInt64(at + Z.i_atime, true),
    mtimeNs: dv.getBigInt64(at + Z.i_mtime, true),
    ctimeNs: dv.getBigInt64(at + Z.i_ctime, true),
    generation: Number(dv.getBigUint64(at + Z.i_generation, true)),
  };
}
