// The device table: 4096 bytes at offset 0 of every tier member (t1 pmem/DAX/shared-memory file,
// t2 block device or regular file) naming the volume, this member, and every member of the set.
// Any member identifies the whole set; a member of another set is refused. This file is the
// reference for kernel/zus_api.h (struct zufs_dev_table), which mirrors the layout below byte for byte.
//
// All integers little-endian; offsets in bytes; a "block" is 4 KiB (ZUFS_DT_BLOCK_SHIFT 12).
//
//   struct zufs_dev_member {            /* 32 bytes */
//     0  __u8   uuid[16];
//     16 __le64 blocks;                 /* member size in blocks, a multiple of 512 (2 MiB) */
//     24 __u8   role;                   /* ZUFS_DEV_ROLE_T1 1, ZUFS_DEV_ROLE_T2 2 */
//     25 __u8   numa;                   /* NUMA node, ZUFS_DEV_NUMA_NONE 0xff when unknown */
//     26 __le16 flags;                  /* none defined, 0 */
//     28 __le32 reserved;               /* 0 */
//   };
//
//   struct zufs_dev_table {             /* ZUFS_DT_SIZE 4096 bytes, offset 0 of each member */
//     0    __le32 magic;                /* ZUFS_DT_MAGIC 0x5446535a, "ZSFT" on disk */
//     4    __le16 version_major;        /* ZUFS_DT_VERSION_MAJOR 1: another major is refused */
//     6    __le16 version_minor;        /* ZUFS_DT_VERSION_MINOR 0: newer minors only add fields in reserved space */
//     8    __le32 crc;                  /* CRC32C of all 4096 bytes with this field read as 0 */
//     12   __le32 size;                 /* ZUFS_DT_SIZE */
//     16   __u8   volume_uuid[16];      /* the same on every member of the set */
//     32   __u8   dev_uuid[16];         /* this member; equals members[dev_index].uuid */
//     48   __le64 flags;                /* none defined, 0 */
//     56   __le64 t1_blocks;            /* sum of the t1 members' blocks */
//     64   __le64 t2_blocks;            /* sum of the t2 members' blocks */
//     72   __le16 dev_index;            /* this member's index in members[] */
//     74   __le16 t1_count;             /* members[0 .. t1_count) are t1 */
//     76   __le16 t2_count;             /* members[t1_count .. t1_count + t2_count) are t2 */
//     78   __le16 block_shift;          /* ZUFS_DT_BLOCK_SHIFT 12 */
//     80   __le64 ctime_ns;             /* format time, ns since the epoch */
//     88   __le64 journal_blocks;       /* write-back journal at the start of t1 member 0's data area */
//     96   __u8   store_id[16];         /* the store volume the set caches; all zero until first mount */
//     112  __u8   reserved1[16];
//     128  struct zufs_dev_member members[ZUFS_DT_MAX_MEMBERS 64];
//     2176 char   label[64];            /* NUL-padded UTF-8, for humans (mount or volume name) */
//     2240 __u8   reserved2[1856];      /* 0 */
//   };
//
// Every member: [0, 4 KiB) this table; [4 KiB, 2 MiB) reserved; data from ZUFS_DT_DATA_OFFSET
// (2 MiB). t1 members form one linear space in members[] order, and so do t2 members. The journal
// (src/pools/journal.ts) takes the first journal_blocks of t1 member 0's data area.
import { randomUUID } from 'node:crypto';
import { errno, FsError } from '../fs/errors.js';
import { crc32c } from './crc32c.js';

import {
  ZUFS_DEV_NUMA_NONE, ZUFS_DEV_ROLE_T1, ZUFS_DEV_ROLE_T2, ZUFS_DT_BLOCK_SHIFT, ZUFS_DT_DATA_OFFSET, ZUFS_DT_MAGIC, ZUFS_DT_MAX_MEMBERS,
  ZUFS_DT_SIZE, ZUFS_DT_VERSION_MAJOR,
} from '../zus/abi/zus-api.js';

// the shared constants live in the ABI mirror (kernel/zus_api.h reads the same table)
export { ZUFS_DEV_NUMA_NONE, ZUFS_DEV_ROLE_T1, ZUFS_DEV_ROLE_T2, ZUFS_DT_BLOCK_SHIFT, ZUFS_DT_DATA_OFFSET, ZUFS_DT_MAGIC, ZUFS_DT_MAX_MEMBERS, ZUFS_DT_SIZE, ZUFS_DT_VERSION_MAJOR };
export const ZUFS_DT_VERSION_MINOR = 0;
export const ZUFS_DT_BLOCK_SIZE = 1 << ZUFS_DT_BLOCK_SHIFT;
export const ZUFS_DT_ALIGN = 2 * 1024 * 1024;

const MEMBERS_OFF = 128;
const MEMBER_SIZE = 32;
const LABEL_OFF = 2176;
const LABEL_SIZE = 64;
const BLOCKS_PER_ALIGN = ZUFS_DT_ALIGN / ZUFS_DT_BLOCK_SIZE;

export type DevRole = 't1' | 't2';

export interface DevMember {
  uuid: string;
  /** Size in 4 KiB blocks, a multiple of 512. */
  blocks: number;
  role: DevRole;
  /** NUMA node, or ZUFS_DEV_NUMA_NONE. */
  numa: number;
}

export interface DeviceTable {
  versionMajor: number;
  versionMinor: number;
  volumeUuid: string;
  devUuid: string;
  devIndex: number;
  flags: bigint;
  ctimeNs: bigint;
  journalBlocks: number;
  /** 16 bytes; all zero while the set is not bound to a store. */
  storeId: Buffer;
  label: string;
  /** t1 members first, then t2 members. */
  members: DevMember[];
}

/** Why a device table was refused. Stable codes, for callers and tests. */
export type DeviceTableReason =
  | 'NOT_FORMATTED' // no table (bad magic): never formatted, or not a zufs tier device
  | 'BAD_CHECKSUM' // torn or corrupted table
  | 'BAD_VERSION' // a major version this zusd does not know
  | 'CORRUPT' // checksum fine but fields inconsistent
  | 'FOREIGN_VOLUME' // a member of another volume (or not listed in this one)
  | 'MISSING_MEMBER' // the table lists a member that was not given
  | 'WRONG_STORE' // the set caches another store volume
  | 'BAD_SIZE'; // a size that is not 2 MiB aligned, too small, or larger than the device

export class DeviceTableError extends FsError {
  readonly reason: DeviceTableReason;
  constructor(reason: DeviceTableReason, no: number, message: string) {
    super(no, message);
    this.name = 'DeviceTableError';
    this.reason = reason;
  }
}

export function dtError(reason: DeviceTableReason, message: string): DeviceTableError {
  const no = reason === 'BAD_CHECKSUM' ? errno.EIO : reason === 'BAD_VERSION' ? errno.EPROTONOSUPPORT : errno.EINVAL;
  return new DeviceTableError(reason, no, message);
}

export function newUuid(): string {
  return randomUUID();
}

function uuidToBytes(uuid: string, out: Buffer, at: number): void {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw dtError('CORRUPT', `bad uuid "${uuid}"`);
  out.write(hex, at, 16, 'hex');
}

function bytesToUuid(b: Buffer, at: number): string {
  const h = b.toString('hex', at, at + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Checks the fields a table must satisfy whatever device it sits on. `where` names the device in messages. */
export function validateDeviceTable(t: DeviceTable, where: string): void {
  const bad = (why: string): never => {
    throw dtError('CORRUPT', `${where}: device table: ${why}`);
  };
  const n = t.members.length;
  if (n < 1 || n > ZUFS_DT_MAX_MEMBERS) bad(`${n} members (1..${ZUFS_DT_MAX_MEMBERS})`);
  const t1 = t.members.filter((m) => m.role === 't1').length;
  if (t1 < 1) bad('no t1 member');
  if (t.members.slice(0, t1).some((m) => m.role !== 't1')) bad('t1 members must come first');
  if (!Number.isInteger(t.devIndex) || t.devIndex < 0 || t.devIndex >= n) bad(`dev_index ${t.devIndex} outside 0..${n - 1}`);
  if (t.members[t.devIndex]!.uuid !== t.devUuid) bad(`dev_uuid ${t.devUuid} is not members[${t.devIndex}]`);
  const seen = new Set<string>();
  for (const [i, m] of t.members.entries()) {
    if (seen.has(m.uuid)) bad(`member uuid ${m.uuid} listed twice`);
    seen.add(m.uuid);
    if (!Number.isSafeInteger(m.blocks) || m.blocks <= 0 || m.blocks % BLOCKS_PER_ALIGN !== 0) {
      throw dtError('BAD_SIZE', `${where}: member ${i} (${m.uuid}) has ${m.blocks} blocks: sizes are positive multiples of 2 MiB`);
    }
    if (m.blocks * ZUFS_DT_BLOCK_SIZE < 2 * ZUFS_DT_DATA_OFFSET) {
      throw dtError('BAD_SIZE', `${where}: member ${i} (${m.uuid}) is smaller than 4 MiB`);
    }
    if (!Number.isInteger(m.numa) || m.numa < 0 || m.numa > 0xff) bad(`member ${i} numa node ${m.numa}`);
  }
  const first = t.members[0]!;
  const dataBlocks = first.blocks - ZUFS_DT_DATA_OFFSET / ZUFS_DT_BLOCK_SIZE;
  if (!Number.isSafeInteger(t.journalBlocks) || t.journalBlocks < 0 || t.journalBlocks % BLOCKS_PER_ALIGN !== 0 || t.journalBlocks >= dataBlocks) {
    throw dtError('BAD_SIZE', `${where}: journal of ${t.journalBlocks} blocks does not fit t1 member 0 (${dataBlocks} data blocks; 2 MiB multiples)`);
  }
  if (t.storeId.length !== 16) bad('store id must be 16 bytes');
  if (Buffer.byteLength(t.label) >= LABEL_SIZE) bad(`label longer than ${LABEL_SIZE - 1} bytes`);
}

export function encodeDeviceTable(t: DeviceTable): Buffer {
  validateDeviceTable(t, 'encode');
  const b = Buffer.alloc(ZUFS_DT_SIZE);
  b.writeUInt32LE(ZUFS_DT_MAGIC, 0);
  b.writeUInt16LE(t.versionMajor, 4);
  b.writeUInt16LE(t.versionMinor, 6);
  b.writeUInt32LE(ZUFS_DT_SIZE, 12);
  uuidToBytes(t.volumeUuid, b, 16);
  uuidToBytes(t.devUuid, b, 32);
  b.writeBigUInt64LE(t.flags, 48);
  const sum = (role: DevRole): number => t.members.filter((m) => m.role === role).reduce((s, m) => s + m.blocks, 0);
  b.writeBigUInt64LE(BigInt(sum('t1')), 56);
  b.writeBigUInt64LE(BigInt(sum('t2')), 64);
  b.writeUInt16LE(t.devIndex, 72);
  b.writeUInt16LE(t.members.filter((m) => m.role === 't1').length, 74);
  b.writeUInt16LE(t.members.filter((m) => m.role === 't2').length, 76);
  b.writeUInt16LE(ZUFS_DT_BLOCK_SHIFT, 78);
  b.writeBigUInt64LE(t.ctimeNs, 80);
  b.writeBigUInt64LE(BigInt(t.journalBlocks), 88);
  t.storeId.copy(b, 96);
  for (const [i, m] of t.members.entries()) {
    const at = MEMBERS_OFF + i * MEMBER_SIZE;
    uuidToBytes(m.uuid, b, at);
    b.writeBigUInt64LE(BigInt(m.blocks), at + 16);
    b.writeUInt8(m.role === 't1' ? ZUFS_DEV_ROLE_T1 : ZUFS_DEV_ROLE_T2, at + 24);
    b.writeUInt8(m.numa, at + 25);
  }
  b.write(t.label, LABEL_OFF, LABEL_SIZE - 1, 'utf8');
  b.writeUInt32LE(crc32c(b), 8);
  return b;
}

/** Decodes and validates the table read from the first 4 KiB of `where`. */
export function decodeDeviceTable(b: Buffer, where: string): DeviceTable {
  if (b.length < ZUFS_DT_SIZE || b.readUInt32LE(0) !== ZUFS_DT_MAGIC) {
    throw dtError('NOT_FORMATTED', `${where} is not a zufs tier device (no device table): run "zufs format"`);
  }
  const stored = b.readUInt32LE(8);
  const copy = Buffer.from(b.subarray(0, ZUFS_DT_SIZE));
  copy.writeUInt32LE(0, 8);
  if (crc32c(copy) !== stored) throw dtError('BAD_CHECKSUM', `${where}: device table checksum mismatch (torn or corrupted)`);
  const major = b.readUInt16LE(4);
  const minor = b.readUInt16LE(6);
  if (major !== ZUFS_DT_VERSION_MAJOR) {
    throw dtError('BAD_VERSION', `${where}: device table version ${major}.${minor}; this zusd reads version ${ZUFS_DT_VERSION_MAJOR}.x`);
  }
  if (b.readUInt32LE(12) !== ZUFS_DT_SIZE) throw dtError('CORRUPT', `${where}: device table size ${b.readUInt32LE(12)}`);
  if (b.readUInt16LE(78) !== ZUFS_DT_BLOCK_SHIFT) throw dtError('CORRUPT', `${where}: block shift ${b.readUInt16LE(78)}`);
  const t1Count = b.readUInt16LE(74);
  const t2Count = b.readUInt16LE(76);
  if (t1Count + t2Count > ZUFS_DT_MAX_MEMBERS) throw dtError('CORRUPT', `${where}: ${t1Count} + ${t2Count} members`);
  const members: DevMember[] = [];
  for (let i = 0; i < t1Count + t2Count; i++) {
    const at = MEMBERS_OFF + i * MEMBER_SIZE;
    const role = b.readUInt8(at + 24);
    const want = i < t1Count ? ZUFS_DEV_ROLE_T1 : ZUFS_DEV_ROLE_T2;
    if (role !== want) throw dtError('CORRUPT', `${where}: member ${i} has role ${role}, expected ${want}`);
    const blocks = b.readBigUInt64LE(at + 16);
    if (blocks > BigInt(Number.MAX_SAFE_INTEGER)) throw dtError('CORRUPT', `${where}: member ${i} size`);
    members.push({ uuid: bytesToUuid(b, at), blocks: Number(blocks), role: role === ZUFS_DEV_ROLE_T1 ? 't1' : 't2', numa: b.readUInt8(at + 25) });
  }
  const labelBytes = b.subarray(LABEL_OFF, LABEL_OFF + LABEL_SIZE);
  const nul = labelBytes.indexOf(0);
  const t: DeviceTable = {
    versionMajor: major,
    versionMinor: minor,
    volumeUuid: bytesToUuid(b, 16),
    devUuid: bytesToUuid(b, 32),
    devIndex: b.readUInt16LE(72),
    flags: b.readBigUInt64LE(48),
    ctimeNs: b.readBigUInt64LE(80),
    journalBlocks: Number(b.readBigUInt64LE(88)),
    storeId: Buffer.from(b.subarray(96, 112)),
    label: labelBytes.toString('utf8', 0, nul < 0 ? LABEL_SIZE : nul),
    members,
  };
  validateDeviceTable(t, where);
  const sum = (role: DevRole): bigint => BigInt(members.filter((m) => m.role === role).reduce((s, m) => s + m.blocks, 0));
  if (b.readBigUInt64LE(56) !== sum('t1') || b.readBigUInt64LE(64) !== sum('t2')) {
    throw dtError('CORRUPT', `${where}: t1_blocks/t2_blocks do not match the member list`);
  }
  return t;
}

/** Checks that `t`, read from `where`, belongs to the set described by `main` (read from t1 member 0)
 * and sits at the expected role. */
export function checkSameVolume(main: DeviceTable, t: DeviceTable, where: string, role: DevRole): void {
  if (t.volumeUuid !== main.volumeUuid) {
    throw dtError(
      'FOREIGN_VOLUME',
      `${where} belongs to tier volume ${t.volumeUuid}${t.label ? ` ("${t.label}")` : ''}, not ${main.volumeUuid}${main.label ? ` ("${main.label}")` : ''}: refusing it; run "zufs format" to reuse it`,
    );
  }
  const m = main.members.findIndex((x) => x.uuid === t.devUuid);
  if (m < 0) throw dtError('FOREIGN_VOLUME', `${where}: device ${t.devUuid} is not a member of tier volume ${main.volumeUuid}`);
  if (main.members[m]!.role !== role) throw dtError('FOREIGN_VOLUME', `${where}: device ${t.devUuid} is a ${main.members[m]!.role} member, configured as ${role}`);
  // An unbound member 0 with a bound member is a binding that a crash interrupted: openTiers finishes it.
  const unbound = main.storeId.every((x) => x === 0);
  if (encodeMembers(t) !== encodeMembers(main) || t.journalBlocks !== main.journalBlocks || (!unbound && !t.storeId.equals(main.storeId))) {
    throw dtError('CORRUPT', `${where}: device table disagrees with t1 member 0's (an interrupted format or rebind?): run "zufs format"`);
  }
}

function encodeMembers(t: DeviceTable): string {
  return t.members.map((m) => `${m.uuid}/${m.blocks}/${m.role}/${m.numa}`).join(',');
}
