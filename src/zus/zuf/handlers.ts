// ZUFS_OP_* → ZusOperations: one handler per op code, each decoding its request from the channel's
// op buffer (a DataView over the kernel's mmap'd memory) and writing its reply in place. The table
// is an array indexed by op code; an unknown op is answered -ENOSYS.
import type { Attr, Caller, ZusOperations } from '../../fs/operations.js';
import { FsError, errno } from '../../fs/errors.js';
import {
  ZUFS_ATTR_ATIME, ZUFS_ATTR_CTIME, ZUFS_ATTR_GID, ZUFS_ATTR_MODE, ZUFS_ATTR_MTIME, ZUFS_ATTR_SIZE, ZUFS_ATTR_UID,
  ZUFS_DF_DIR, ZUFS_INLINE_SYMLINK_MAX, ZUFS_OP_ADD_DENTRY, ZUFS_OP_EVICT_INODE, ZUFS_OP_FALLOCATE, ZUFS_OP_FREE_INODE,
  IOM_T1_WRITE, ZUFS_OP_GET_MULTY, ZUFS_OP_GET_SYMLINK, ZUFS_OP_IOCTL, ZUFS_OP_LLSEEK, ZUFS_OP_LOOKUP, ZUFS_OP_MAX_OPT, ZUFS_OP_NEW_INODE, ZUFS_OP_NOOP,
  ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_PUT_MULTY, ZUFS_OP_READ, ZUFS_OP_READDIR, ZUFS_OP_REMOVE_DENTRY, ZUFS_OP_RENAME, ZUFS_OP_SETATTR,
  ZUFS_OP_STATFS, ZUFS_OP_SYNC, ZUFS_OP_WRITE, ZUFS_OP_XATTR_GET, ZUFS_OP_XATTR_LIST, ZUFS_OP_XATTR_SET,
  ZUFS_RW_MMAP, ZUFS_RW_MMAP_OPEN, ZUFS_RW_WRITE, ZUFS_SF_CLOSE, ZUFS_SF_DATASYNC, ZUFS_XF_REMOVE, zufs_dir_entry, zufs_ioc_IO, zufs_ioc_attr, zufs_ioc_dentry, zufs_ioc_evict_inode,
  zufs_ioc_fallocate, zufs_ioc_get_link, zufs_ioc_hdr, zufs_ioc_ioctl, zufs_ioc_lookup, zufs_ioc_new_inode,
  zufs_ioc_readdir, zufs_ioc_rename, zufs_ioc_seek, zufs_ioc_statfs, zufs_ioc_sync, zufs_ioc_xattr, zufs_statfs,
  zufs_iom_type, zufs_iom_val, zus_inode,
} from '../abi/zus-api.js';
import { getU64, readZufsStr, readZusInode, setU64 } from '../abi/codec.js';
import type { ZiPool } from './pool.js';
import { NIO_PAGE, type NioGrab, type NioMount } from './nio.js';

/** One mounted super block as the handlers see it. */
export interface SbState {
  readonly idx: number;
  readonly fs: ZusOperations;
  readonly pool: ZiPool;
  readonly fsType: string;
  readonly sbId: bigint;
  readonly sbKey: bigint;
  /** -o config= of the mount ('' if none), for status. */
  readonly config?: string;
  /** Set when t1 is grabbed and GET_MULTY is answered from it (nio.ts). */
  readonly nio?: NioMount;
  /** The special file that grabbed t1 (closed at umount, after the filesystem). */
  readonly t1Grab?: NioGrab;
}

/** zus_ii cookies carry the super block: (sb index << 40) | ino. */
export const COOKIE_SHIFT = 40n;
export const makeCookie = (sbIdx: number, ino: number): bigint => (BigInt(sbIdx) << COOKIE_SHIFT) | BigInt(ino);

export interface Ctx {
  dv: DataView;
  u8: Uint8Array;
  sbs: Map<number, SbState>;
}

const ROOT_CALLER: Caller = { uid: 0, gid: 0, pid: 0, umask: 0 };
const enc = new TextEncoder();
const H = zufs_ioc_hdr.fields;

function resolve(ctx: Ctx, at: number): { sb: SbState; ino: number } {
  const c = ctx.dv.getBigUint64(at, true);
  const sb = ctx.sbs.get(Number(c >> COOKIE_SHIFT));
  if (!sb) throw new FsError(errno.ESTALE, 'cookie of an unknown super block');
  return { sb, ino: Number(c & ((1n << COOKIE_SHIFT) - 1n)) };
}

/** Writes an inode's attributes into its pool slot (symlink targets of ≤31 bytes inline). */
export async function publish(sb: SbState, a: Attr): Promise<bigint> {
  let sym: Uint8Array | undefined;
  if ((a.mode & 0o170000) === 0o120000 && a.size <= ZUFS_INLINE_SYMLINK_MAX) sym = enc.encode(await sb.fs.readlink(a.ino));
  return sb.pool.put(a, sym);
}

/** Re-publishes an inode the kernel holds; a vanished inode shows nlink 0. */
export async function refresh(sb: SbState, ino: number): Promise<void> {
  if (!sb.pool.has(ino)) return;
  try {
    await publish(sb, await sb.fs.getattr(ino));
  } catch {
    const off = sb.pool.offsetOf(ino);
    if (off !== undefined) sb.pool.dv.setUint32(off + zus_inode.fields.i_nlink, 0, true);
  }
}

type Handler = (ctx: Ctx) => Promise<void>;
const table: (Handler | undefined)[] = new Array(ZUFS_OP_MAX_OPT);

function payload(ctx: Ctx, len: number): Buffer {
  return Buffer.from(ctx.u8.buffer, ctx.u8.byteOffset + ZUFS_OP_PAYLOAD_OFF, len);
}

async function answerInode(ctx: Ctx, sb: SbState, a: Attr, dppAt: number, iiAt: number): Promise<void> {
  setU64(ctx.dv, dppAt, await publish(sb, a));
  setU64(ctx.dv, iiAt, makeCookie(sb.idx, a.ino));
}

table[ZUFS_OP_LOOKUP] = async (ctx) => {
  const F = zufs_ioc_lookup.fields;
  const { sb, ino: dir } = resolve(ctx, F.dir_ii);
  const a = await sb.fs.lookup(ROOT_CALLER, dir, readZufsStr(ctx.dv, F.str));
  await answerInode(ctx, sb, a, F._zi, F.zus_ii);
};

table[ZUFS_OP_NEW_INODE] = async (ctx) => {
  const F = zufs_ioc_new_inode.fields;
  const { sb, ino: dir } = resolve(ctx, F.dir_ii);
  const zi = readZusInode(ctx.dv, F.zi);
  const caller: Caller = { uid: zi.uid, gid: zi.gid, pid: 0, umask: 0 };
  const symLen = ctx.dv.getUint32(H.len, true);
  const symlink = (zi.mode & 0o170000) === 0o120000 ? payload(ctx, symLen).toString('utf8') : undefined;
  const a = await sb.fs.newInode(caller, dir, readZufsStr(ctx.dv, F.str), { mode: zi.mode, rdev: zi.rdev, symlink });
  await answerInode(ctx, sb, a, F._zi, F.zus_ii);
  await refresh(sb, dir);
  ctx.dv.setUint32(H.len, 0, true);
};

table[ZUFS_OP_ADD_DENTRY] = async (ctx) => {
  const F = zufs_ioc_dentry.fields;
  const { sb, ino: dir } = resolve(ctx, F.dir_ii);
  const { ino } = resolve(ctx, F.zus_ii);
  await sb.fs.addDentry(ROOT_CALLER, dir, readZufsStr(ctx.dv, F.str), ino);
  await refresh(sb, ino);
  await refresh(sb, dir);
};

table[ZUFS_OP_REMOVE_DENTRY] = async (ctx) => {
  const F = zufs_ioc_dentry.fields;
  const { sb, ino: dir } = resolve(ctx, F.dir_ii);
  const { ino } = resolve(ctx, F.zus_ii);
  const isDir = (ctx.dv.getUint32(F.flags, true) & ZUFS_DF_DIR) !== 0;
  await sb.fs.removeDentry(ROOT_CALLER, dir, readZufsStr(ctx.dv, F.str), isDir);
  await refresh(sb, ino);
  await refresh(sb, dir);
};

table[ZUFS_OP_RENAME] = async (ctx) => {
  const F = zufs_ioc_rename.fields;
  const { sb, ino: oldDir } = resolve(ctx, F.old_dir_ii);
  const { ino: newDir } = resolve(ctx, F.new_dir_ii);
  const { ino: oldIno } = resolve(ctx, F.old_zus_ii);
  const newCookie = ctx.dv.getBigUint64(F.new_zus_ii, true);
  await sb.fs.rename(ROOT_CALLER, oldDir, readZufsStr(ctx.dv, F.old_d_str), newDir, readZufsStr(ctx.dv, F.new_d_str), ctx.dv.getUint32(F.flags, true));
  await refresh(sb, oldDir);
  if (newDir !== oldDir) await refresh(sb, newDir);
  await refresh(sb, oldIno);
  if (newCookie) await refresh(sb, resolve(ctx, F.new_zus_ii).ino);
};

table[ZUFS_OP_READDIR] = async (ctx) => {
  const F = zufs_ioc_readdir.fields;
  const { sb, ino: dir } = resolve(ctx, F.dir_ii);
  const room = ctx.dv.getUint32(H.len, true);
  const want = Math.max(1, Math.min(4096, Math.floor(room / 32)));
  const ents = await sb.fs.readdir(ROOT_CALLER, dir, getU64(ctx.dv, F.pos), want, false);
  let off = 0;
  let count = 0;
  let next = getU64(ctx.dv, F.pos);
  for (const e of ents) {
    const name = enc.encode(e.name);
    const rec = (zufs_dir_entry.size + name.length + 7) & ~7;
    if (off + rec > room) break;
    const at = ZUFS_OP_PAYLOAD_OFF + off;
    setU64(ctx.dv, at + zufs_dir_entry.fields.ino, e.ino);
    setU64(ctx.dv, at + zufs_dir_entry.fields.pos, e.next);
    ctx.dv.setUint16(at + zufs_dir_entry.fields.rec_len, rec, true);
    ctx.dv.setUint8(at + zufs_dir_entry.fields.type, (e.type >> 12) & 15);
    ctx.dv.setUint8(at + zufs_dir_entry.fields.name_len, name.length);
    ctx.dv.setUint32(at + 20, 0, true);
    ctx.u8.set(name, at + zufs_dir_entry.size);
    off += rec;
    count++;
    next = e.next;
  }
  const more = count < ents.length || ents.length >= want;
  setU64(ctx.dv, F.next_pos, next);
  ctx.dv.setUint32(F.more, more && count > 0 ? 1 : 0, true);
  ctx.dv.setUint32(F.count, count, true);
  ctx.dv.setUint32(H.len, off, true);
};

table[ZUFS_OP_READ] = async (ctx) => {
  const F = zufs_ioc_IO.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const pos = getU64(ctx.dv, F.filepos);
  const len = ctx.dv.getUint32(H.len, true);
  const data = await sb.fs.read(ino, 0, pos, len);
  const n = Math.min(data.length, len);
  ctx.u8.set(data.subarray(0, n), ZUFS_OP_PAYLOAD_OFF);
  setU64(ctx.dv, F.last_pos, pos + n);
  ctx.dv.setUint32(H.len, n, true);
};

/** NIO: one IOMAP word per page from filepos (hdr.len = 4096 * pages asked); 0 = read it with READ. */
table[ZUFS_OP_GET_MULTY] = async (ctx) => {
  const F = zufs_ioc_IO.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const pos = getU64(ctx.dv, F.filepos);
  const asked = Math.floor(ctx.dv.getUint32(H.len, true) / NIO_PAGE);
  if (pos % NIO_PAGE !== 0 || asked < 1) throw new FsError(errno.EINVAL, `GET_MULTY at ${pos} for ${asked} pages`);
  const write = (getU64(ctx.dv, F.rw) & ZUFS_RW_WRITE) !== 0;
  const a = await sb.fs.getattr(ino); // the record first, as READ does (a re-read record of a file a peer changed drops its chunks)
  const words = sb.nio && (a.mode & 0o170000) === 0o100000 ? await sb.nio.map(ino, pos / NIO_PAGE, asked, a.size, write) : [0n];
  words.forEach((w, i) => ctx.dv.setBigUint64(ZUFS_OP_PAYLOAD_OFF + 8 * i, w, true));
  ctx.dv.setUint32(H.len, 8 * words.length, true);
};

/** NIO writes: the kernel wrote [filepos, filepos + len) into t1 from the block in iom_e[0] on
 * (ZUFS_RW_MMAP: stores through a shared mapping, opened or committed). */
table[ZUFS_OP_PUT_MULTY] = async (ctx) => {
  const F = zufs_ioc_IO.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const pos = getU64(ctx.dv, F.filepos);
  const len = ctx.dv.getUint32(H.len, true);
  const w = ctx.dv.getBigUint64(F.iom_e, true);
  if (!sb.nio || ctx.dv.getUint32(F.iom_n, true) !== 1 || zufs_iom_type(w) !== IOM_T1_WRITE || len < 1) {
    throw new FsError(errno.EINVAL, `PUT_MULTY at ${pos} for ${len} bytes (word 0x${w.toString(16)})`);
  }
  const rw = getU64(ctx.dv, F.rw);
  let n = len;
  if (rw & ZUFS_RW_MMAP) n = Math.min(len, (await sb.fs.getattr(ino)).size - pos); // stores through a mapping never extend the file
  if (n > 0) await sb.nio.put(sb.fs, ino, pos, n, Number(zufs_iom_val(w)), rw & ZUFS_RW_MMAP ? (rw & ZUFS_RW_MMAP_OPEN ? 'open' : 'commit') : undefined);
  setU64(ctx.dv, F.last_pos, pos + len);
  ctx.dv.setUint32(H.len, 0, true);
  await refresh(sb, ino);
};

table[ZUFS_OP_WRITE] = async (ctx) => {
  const F = zufs_ioc_IO.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const pos = getU64(ctx.dv, F.filepos);
  const len = ctx.dv.getUint32(H.len, true);
  // a copy: the op buffer is reused the moment we reply, the filesystem may keep the bytes
  const n = await sb.fs.write(ino, 0, pos, Buffer.from(payload(ctx, len)));
  setU64(ctx.dv, F.last_pos, pos + Math.min(n, len));
  ctx.dv.setUint32(H.len, 0, true);
  await refresh(sb, ino);
};

table[ZUFS_OP_GET_SYMLINK] = async (ctx) => {
  const F = zufs_ioc_get_link.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const t = enc.encode(await sb.fs.readlink(ino));
  const room = ctx.dv.getUint32(H.len, true);
  if (t.length > room) throw new FsError(errno.ENAMETOOLONG);
  ctx.u8.set(t, ZUFS_OP_PAYLOAD_OFF);
  ctx.dv.setUint32(H.len, t.length, true);
};

table[ZUFS_OP_SETATTR] = async (ctx) => {
  const F = zufs_ioc_attr.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const mask = ctx.dv.getUint32(F.zuf_attr, true);
  const off = sb.pool.offsetOf(ino);
  if (off === undefined) throw new FsError(errno.ESTALE);
  const zi = readZusInode(sb.pool.dv, off);
  const a = await sb.fs.setattr(ROOT_CALLER, ino, {
    mode: mask & ZUFS_ATTR_MODE ? zi.mode & 0o7777 : undefined,
    uid: mask & ZUFS_ATTR_UID ? zi.uid : undefined,
    gid: mask & ZUFS_ATTR_GID ? zi.gid : undefined,
    size: mask & ZUFS_ATTR_SIZE ? getU64(ctx.dv, F.truncate_size) : undefined,
    atimeNs: mask & ZUFS_ATTR_ATIME ? zi.atimeNs : undefined,
    mtimeNs: mask & ZUFS_ATTR_MTIME ? zi.mtimeNs : undefined,
    ctimeNs: mask & ZUFS_ATTR_CTIME ? zi.ctimeNs : undefined,
  });
  await publish(sb, a);
};

table[ZUFS_OP_SYNC] = async (ctx) => {
  const F = zufs_ioc_sync.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const flags = ctx.dv.getUint32(F.flags, true);
  // a close after writes: the bytes reach the store now, for the next open on another gateway
  if (flags & ZUFS_SF_CLOSE) await sb.fs.flush(ino, 0);
  else await sb.fs.sync(ino, 0, (flags & ZUFS_SF_DATASYNC) !== 0);
};

table[ZUFS_OP_FALLOCATE] = async (ctx) => {
  const F = zufs_ioc_fallocate.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  await sb.fs.fallocate(ino, 0, ctx.dv.getUint32(F.mode, true), getU64(ctx.dv, F.offset), getU64(ctx.dv, F.len));
  await refresh(sb, ino);
};

table[ZUFS_OP_LLSEEK] = async (ctx) => {
  const F = zufs_ioc_seek.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const r = await sb.fs.llseek(ino, 0, getU64(ctx.dv, F.offset_in), ctx.dv.getUint32(F.whence, true));
  setU64(ctx.dv, F.offset_out, r);
};

table[ZUFS_OP_IOCTL] = async (ctx) => {
  const F = zufs_ioc_ioctl.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const len = ctx.dv.getUint32(H.len, true);
  const out = await sb.fs.ioctl(ino, 0, ctx.dv.getUint32(F.cmd, true), Buffer.from(payload(ctx, len)));
  const n = Math.min(out.length, len);
  ctx.u8.set(out.subarray(0, n), ZUFS_OP_PAYLOAD_OFF);
  ctx.dv.setUint32(H.len, n, true);
  await refresh(sb, ino);
};

function xattrName(ctx: Ctx): string {
  const F = zufs_ioc_xattr.fields;
  const n = Math.min(ctx.dv.getUint16(F.name_len, true), 255);
  return Buffer.from(ctx.u8.buffer, ctx.u8.byteOffset + F.name, n).toString('utf8');
}

/** GET/LIST share the "size only when hdr.len is 0, ERANGE when it does not fit" rule. */
function answerValue(ctx: Ctx, v: Buffer): void {
  const room = ctx.dv.getUint32(H.len, true);
  ctx.dv.setUint32(zufs_ioc_xattr.fields.value_size, v.length, true);
  if (room === 0) {
    ctx.dv.setUint32(H.len, 0, true);
    return;
  }
  if (v.length > room) throw new FsError(errno.ERANGE);
  ctx.u8.set(v, ZUFS_OP_PAYLOAD_OFF);
  ctx.dv.setUint32(H.len, v.length, true);
}

table[ZUFS_OP_XATTR_GET] = async (ctx) => {
  const { sb, ino } = resolve(ctx, zufs_ioc_xattr.fields.zus_ii);
  answerValue(ctx, await sb.fs.getxattr(ROOT_CALLER, ino, xattrName(ctx)));
};

table[ZUFS_OP_XATTR_SET] = async (ctx) => {
  const F = zufs_ioc_xattr.fields;
  const { sb, ino } = resolve(ctx, F.zus_ii);
  const flags = ctx.dv.getUint32(F.flags, true);
  if (flags & ZUFS_XF_REMOVE) await sb.fs.removexattr(ROOT_CALLER, ino, xattrName(ctx));
  else await sb.fs.setxattr(ROOT_CALLER, ino, xattrName(ctx), Buffer.from(payload(ctx, ctx.dv.getUint32(H.len, true))), flags & 3);
  ctx.dv.setUint32(H.len, 0, true);
  await refresh(sb, ino);
};

table[ZUFS_OP_XATTR_LIST] = async (ctx) => {
  const { sb, ino } = resolve(ctx, zufs_ioc_xattr.fields.zus_ii);
  const names = await sb.fs.listxattr(ROOT_CALLER, ino);
  answerValue(ctx, Buffer.from(names.map((n) => `${n}\0`).join(''), 'utf8'));
};

table[ZUFS_OP_STATFS] = async (ctx) => {
  const F = zufs_ioc_statfs.fields;
  const sb = ctx.sbs.get(getU64(ctx.dv, F.zus_sbi));
  if (!sb) throw new FsError(errno.ESTALE);
  const s = await sb.fs.statfs();
  const S = zufs_statfs.fields;
  const at = F.st;
  setU64(ctx.dv, at + S.f_blocks, s.blocks);
  setU64(ctx.dv, at + S.f_bfree, s.bfree);
  setU64(ctx.dv, at + S.f_bavail, s.bavail);
  setU64(ctx.dv, at + S.f_files, s.files);
  setU64(ctx.dv, at + S.f_ffree, s.ffree);
  ctx.dv.setUint32(at + S.f_bsize, s.bsize, true);
  ctx.dv.setUint32(at + S.f_frsize, s.frsize, true);
  ctx.dv.setUint32(at + S.f_namelen, s.namelen, true);
};

const evict: Handler = async (ctx) => {
  const { sb, ino } = resolve(ctx, zufs_ioc_evict_inode.fields.zus_ii);
  sb.pool.release(ino);
  await sb.fs.evict(ino);
};
table[ZUFS_OP_EVICT_INODE] = evict;
table[ZUFS_OP_FREE_INODE] = evict;
table[ZUFS_OP_NOOP] = async () => undefined;

export const opTable: readonly (Handler | undefined)[] = table;
