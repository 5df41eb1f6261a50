// FUSE request → ZusOperations call → FUSE reply, one function per opcode, collected in a table
// indexed by opcode. Only byte layouts live here: every filesystem rule is the filesystem's.
import { constants as C } from 'node:fs';
import { FsError, errno as E } from '../../fs/errors.js';
import { F_UNLCK, LOCK_END_MAX, type FileLock, type SetAttr } from '../../fs/operations.js';
import * as A from './abi.js';
import { getName, getTime, getU64, putEntry, putU64 } from './codec.js';
import { BODY, type FuseRequest, type Handler, type Session } from './session.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const { O_CREAT, O_EXCL, O_NOCTTY } = C;
const OUT = A.OUT_HEADER_SIZE;

/** What zusd asks of the kernel at INIT (granted only where the kernel offers it). */
export const WANTED_INIT_FLAGS =
  A.FUSE_ASYNC_READ |
  A.FUSE_BIG_WRITES |
  A.FUSE_EXPORT_SUPPORT |
  A.FUSE_DONT_MASK | // with POSIX ACLs the filesystem applies the umask (not when a default ACL exists)
  A.FUSE_HAS_IOCTL_DIR |
  A.FUSE_AUTO_INVAL_DATA |
  A.FUSE_DO_READDIRPLUS |
  A.FUSE_READDIRPLUS_AUTO |
  A.FUSE_PARALLEL_DIROPS |
  A.FUSE_POSIX_ACL |
  A.FUSE_MAX_PAGES |
  A.FUSE_CACHE_SYMLINKS;
/** Asked for when the filesystem implements getlk/setlk (locks that hold across gateways);
 * otherwise the kernel keeps fcntl and flock locks itself, which is right for one gateway. */
export const LOCK_INIT_FLAGS = A.FUSE_POSIX_LOCKS | A.FUSE_FLOCK_LOCKS;
// Not asked for: // ATOMIC_O_TRUNC and HANDLE_KILLPRIV (the kernel then sends SETATTR for O_TRUNC and for clearing
// setuid/setgid on write/truncate/chown, which keeps both rules in one place); SETXATTR_EXT
// (setxattr_in stays 8 bytes); WRITEBACK_CACHE (several gateways may share a volume).

const DEFAULT_MAX_PAGES = 32; // the kernel's limit when FUSE_MAX_PAGES is not negotiated

function u32(r: FuseRequest, o: number): number {
  return r.dv.getUint32(o, true);
}

function need(r: FuseRequest, bytes: number): void {
  if (BODY + bytes > r.end) throw new FsError(E.EINVAL, `short ${A.opcodeName(r.opcode)} request`);
}

function name(r: FuseRequest, at: number): { name: string; next: number } {
  return getName(r.buf, at, r.end);
}

function init(s: Session, r: FuseRequest): void {
  need(r, 16);
  const major = u32(r, BODY + A.INIT_IN_MAJOR);
  const minor = u32(r, BODY + A.INIT_IN_MINOR);
  const maxReadahead = u32(r, BODY + A.INIT_IN_MAX_READAHEAD);
  const offered = u32(r, BODY + A.INIT_IN_FLAGS);
  if (major !== A.FUSE_KERNEL_VERSION || minor < A.FUSE_MIN_MINOR) {
    s.log.error({ major, minor }, `kernel speaks FUSE ${major}.${minor}; zusd needs 7.${A.FUSE_MIN_MINOR}+`);
    s.replyError(r, E.EPROTO);
    s.onInit(false);
    return;
  }
  const flags = (WANTED_INIT_FLAGS | (s.fs.setlk && s.fs.getlk ? LOCK_INIT_FLAGS : 0)) & offered;
  const limit = s.out.length - 4096; // the channel buffers hold max_write plus headers
  const maxPages = flags & A.FUSE_MAX_PAGES ? Math.min(limit / 4096, 0xffff) : DEFAULT_MAX_PAGES;
  const maxWrite = Math.min(limit, maxPages * 4096);
  const ourMinor = Math.min(minor, A.FUSE_KERNEL_MINOR_VERSION);
  const dv = s.odv;
  s.out.fill(0, OUT, OUT + A.INIT_OUT_SIZE);
  dv.setUint32(OUT + A.INIT_OUT_MAJOR, A.FUSE_KERNEL_VERSION, true);
  dv.setUint32(OUT + A.INIT_OUT_MINOR, ourMinor, true);
  dv.setUint32(OUT + A.INIT_OUT_MAX_READAHEAD, maxReadahead, true);
  dv.setUint32(OUT + A.INIT_OUT_FLAGS, flags, true);
  dv.setUint16(OUT + A.INIT_OUT_MAX_BACKGROUND, 64, true);
  dv.setUint16(OUT + A.INIT_OUT_CONGESTION_THRESHOLD, 48, true);
  dv.setUint32(OUT + A.INIT_OUT_MAX_WRITE, maxWrite, true);
  dv.setUint32(OUT + A.INIT_OUT_TIME_GRAN, 1, true);
  dv.setUint16(OUT + A.INIT_OUT_MAX_PAGES, maxPages, true);
  s.proto = { major, minor: ourMinor, flags, maxWrite, initialized: true };
  s.log.info({ kernel: `${major}.${minor}`, speaking: `7.${ourMinor}`, flags: flags.toString(16), maxWrite }, 'FUSE INIT');
  // Kernels before 7.23 know only the first 24 bytes of fuse_init_out.
  s.onInit(s.reply(r, minor < 23 ? 24 : A.INIT_OUT_SIZE));
}

async function lookup(s: Session, r: FuseRequest): Promise<void> {
  const n = name(r, BODY);
  s.replyEntry(r, await s.fs.lookup(r, r.nodeid, n.name));
}

function forget(s: Session, r: FuseRequest): void {
  need(r, A.FORGET_IN_SIZE);
  s.forget(r.nodeid, getU64(r.dv, BODY));
}

function batchForget(s: Session, r: FuseRequest): void {
  need(r, A.BATCH_FORGET_IN_SIZE);
  const count = u32(r, BODY);
  need(r, A.BATCH_FORGET_IN_SIZE + count * A.FORGET_ONE_SIZE);
  for (let i = 0, o = BODY + A.BATCH_FORGET_IN_SIZE; i < count; i++, o += A.FORGET_ONE_SIZE) {
    s.forget(getU64(r.dv, o), getU64(r.dv, o + 8));
  }
}

async function getattr(s: Session, r: FuseRequest): Promise<void> {
  s.replyAttr(r, await s.fs.getattr(r.nodeid));
}

async function setattr(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.SETATTR_IN_SIZE);
  const dv = r.dv;
  const b = BODY;
  const valid = u32(r, b + A.SETATTR_VALID);
  const req: SetAttr = {};
  if (valid & A.FATTR_MODE) req.mode = u32(r, b + A.SETATTR_MODE);
  if (valid & A.FATTR_UID) req.uid = u32(r, b + A.SETATTR_UID);
  if (valid & A.FATTR_GID) req.gid = u32(r, b + A.SETATTR_GID);
  if (valid & A.FATTR_SIZE) req.size = getU64(dv, b + A.SETATTR_SIZE);
  if (valid & A.FATTR_ATIME_NOW) req.atimeNs = 'now';
  else if (valid & A.FATTR_ATIME) req.atimeNs = getTime(dv, b + A.SETATTR_ATIME, b + A.SETATTR_ATIMENSEC);
  if (valid & A.FATTR_MTIME_NOW) req.mtimeNs = 'now';
  else if (valid & A.FATTR_MTIME) req.mtimeNs = getTime(dv, b + A.SETATTR_MTIME, b + A.SETATTR_MTIMENSEC);
  if (valid & A.FATTR_CTIME) req.ctimeNs = getTime(dv, b + A.SETATTR_CTIME, b + A.SETATTR_CTIMENSEC);
  if (valid & A.FATTR_FH) req.fh = getU64(dv, b + A.SETATTR_FH);
  s.replyAttr(r, await s.fs.setattr(r, r.nodeid, req));
}

async function readlink(s: Session, r: FuseRequest): Promise<void> {
  const target = Buffer.from(await s.fs.readlink(r.nodeid), 'utf8');
  if (target.length > s.out.length - OUT) throw new FsError(E.ENAMETOOLONG);
  s.replyData(r, target, target.length);
}

async function symlink(s: Session, r: FuseRequest): Promise<void> {
  const n = name(r, BODY);
  const target = name(r, n.next);
  s.replyEntry(r, await s.fs.newInode(r, r.nodeid, n.name, { mode: S_IFLNK | 0o777, symlink: target.name }));
}

async function mknod(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.MKNOD_IN_SIZE);
  const mode = u32(r, BODY);
  const rdev = u32(r, BODY + 4);
  r.umask = u32(r, BODY + 8);
  const n = name(r, BODY + A.MKNOD_IN_SIZE);
  s.replyEntry(r, await s.fs.newInode(r, r.nodeid, n.name, { mode, rdev }));
}

async function mkdir(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.MKDIR_IN_SIZE);
  const mode = (u32(r, BODY) & ~S_IFMT) | S_IFDIR; // the kernel sends permission bits only
  r.umask = u32(r, BODY + 4);
  const n = name(r, BODY + A.MKDIR_IN_SIZE);
  s.replyEntry(r, await s.fs.newInode(r, r.nodeid, n.name, { mode }));
}

async function unlink(s: Session, r: FuseRequest): Promise<void> {
  await s.fs.removeDentry(r, r.nodeid, name(r, BODY).name, false);
  s.reply(r, 0);
}

async function rmdir(s: Session, r: FuseRequest): Promise<void> {
  await s.fs.removeDentry(r, r.nodeid, name(r, BODY).name, true);
  s.reply(r, 0);
}

async function rename(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.RENAME_IN_SIZE);
  const newDir = getU64(r.dv, BODY);
  const from = name(r, BODY + A.RENAME_IN_SIZE);
  const to = name(r, from.next);
  await s.fs.rename(r, r.nodeid, from.name, newDir, to.name, 0);
  s.reply(r, 0);
}

async function rename2(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.RENAME2_IN_SIZE);
  const newDir = getU64(r.dv, BODY);
  const flags = u32(r, BODY + 8);
  const from = name(r, BODY + A.RENAME2_IN_SIZE);
  const to = name(r, from.next);
  await s.fs.rename(r, r.nodeid, from.name, newDir, to.name, flags);
  s.reply(r, 0);
}

async function link(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.LINK_IN_SIZE);
  const target = getU64(r.dv, BODY);
  const n = name(r, BODY + A.LINK_IN_SIZE);
  s.replyEntry(r, await s.fs.addDentry(r, r.nodeid, n.name, target));
}

function putOpenOut(s: Session, at: number, fh: number): void {
  putU64(s.odv, at, fh);
  s.odv.setUint32(at + 8, 0, true); // open_flags: page cache dropped at open (close-to-open)
  s.odv.setUint32(at + 12, 0, true);
}

async function open(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.OPEN_IN_SIZE);
  const fh = await s.fs.open(r, r.nodeid, u32(r, BODY));
  putOpenOut(s, OUT, fh);
  s.reply(r, A.OPEN_OUT_SIZE);
}

async function create(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.CREATE_IN_SIZE);
  const flags = u32(r, BODY);
  const mode = u32(r, BODY + 4);
  r.umask = u32(r, BODY + 8);
  const n = name(r, BODY + A.CREATE_IN_SIZE);
  const attr = await s.fs.newInode(r, r.nodeid, n.name, { mode });
  const fh = await s.fs.open(r, attr.ino, flags & ~(O_CREAT | O_EXCL | O_NOCTTY));
  putOpenOut(s, OUT + A.ENTRY_OUT_SIZE, fh);
  s.replyEntry(r, attr, A.OPEN_OUT_SIZE);
}

async function read(s: Session, r: FuseRequest): Promise<void> {
  need(r, 24);
  const size = u32(r, BODY + 16);
  const data = await s.fs.read(r.nodeid, getU64(r.dv, BODY), getU64(r.dv, BODY + 8), size);
  s.replyData(r, data, size);
}

async function write(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.WRITE_IN_SIZE);
  const size = u32(r, BODY + 16);
  const at = BODY + A.WRITE_IN_SIZE;
  if (at + size > r.end) throw new FsError(E.EINVAL, 'WRITE shorter than its size');
  // The request buffer is never reused, so the filesystem may keep this view.
  const n = await s.fs.write(r.nodeid, getU64(r.dv, BODY), getU64(r.dv, BODY + 8), r.buf.subarray(at, at + size));
  s.odv.setUint32(OUT, n, true);
  s.odv.setUint32(OUT + 4, 0, true);
  s.reply(r, A.WRITE_OUT_SIZE);
}

async function statfs(s: Session, r: FuseRequest): Promise<void> {
  const st = await s.fs.statfs();
  const dv = s.odv;
  putU64(dv, OUT, st.blocks);
  putU64(dv, OUT + 8, st.bfree);
  putU64(dv, OUT + 16, st.bavail);
  putU64(dv, OUT + 24, st.files);
  putU64(dv, OUT + 32, st.ffree);
  dv.setUint32(OUT + 40, st.bsize, true);
  dv.setUint32(OUT + 44, st.namelen, true);
  dv.setUint32(OUT + 48, st.frsize, true);
  s.out.fill(0, OUT + 52, OUT + A.STATFS_OUT_SIZE);
  s.reply(r, A.STATFS_OUT_SIZE);
}

/** A kernel lock_owner (an opaque u64) as the filesystem's owner key. */
function ownerAt(r: FuseRequest, o: number): string {
  return u32(r, o + 4).toString(16) + ':' + u32(r, o).toString(16);
}

function locking(s: Session): boolean {
  return (s.proto.flags & LOCK_INIT_FLAGS) !== 0;
}

async function release(s: Session, r: FuseRequest): Promise<void> {
  need(r, 8);
  const flock = locking(s) && BODY + A.RELEASE_IN_SIZE <= r.end && (u32(r, BODY + A.RELEASE_IN_FLAGS) & A.FUSE_RELEASE_FLOCK_UNLOCK) !== 0;
  await s.fs.release(r.nodeid, getU64(r.dv, BODY), flock ? ownerAt(r, BODY + A.RELEASE_IN_LOCK_OWNER) : undefined);
  s.reply(r, 0);
}

async function flush(s: Session, r: FuseRequest): Promise<void> {
  need(r, 8);
  const owner = locking(s) && BODY + A.FLUSH_IN_SIZE <= r.end ? ownerAt(r, BODY + A.FLUSH_IN_LOCK_OWNER) : undefined;
  await s.fs.flush(r.nodeid, getU64(r.dv, BODY), owner);
  s.reply(r, 0);
}

/** u64 lock offset; anything past 2^53 (the kernel's OFFSET_MAX) means "to the end". */
function lockOffset(r: FuseRequest, o: number): number {
  return u32(r, o + 4) >= 0x200000 ? LOCK_END_MAX : getU64(r.dv, o);
}

function lockIn(r: FuseRequest): FileLock {
  need(r, A.LK_IN_SIZE);
  return {
    start: lockOffset(r, BODY + A.LK_IN_START),
    end: lockOffset(r, BODY + A.LK_IN_END),
    type: u32(r, BODY + A.LK_IN_TYPE),
    pid: u32(r, BODY + A.LK_IN_PID),
  };
}

async function getlk(s: Session, r: FuseRequest): Promise<void> {
  if (!s.fs.getlk) throw new FsError(E.ENOSYS);
  const lk = lockIn(r);
  const got = await s.fs.getlk(r, r.nodeid, getU64(r.dv, BODY + A.LK_IN_FH), ownerAt(r, BODY + A.LK_IN_OWNER), lk);
  const dv = s.odv;
  s.out.fill(0, OUT, OUT + A.LK_OUT_SIZE);
  if (got.type !== F_UNLCK) {
    putU64(dv, OUT, got.start);
    if (got.end >= LOCK_END_MAX) {
      dv.setUint32(OUT + 8, A.OFFSET_MAX_LO, true);
      dv.setUint32(OUT + 12, A.OFFSET_MAX_HI, true);
    } else {
      putU64(dv, OUT + 8, got.end);
    }
  }
  dv.setUint32(OUT + 16, got.type, true);
  dv.setUint32(OUT + 20, got.pid, true);
  s.reply(r, A.LK_OUT_SIZE);
}

async function setlk(s: Session, r: FuseRequest, wait: boolean): Promise<void> {
  if (!s.fs.setlk) throw new FsError(E.ENOSYS);
  const lk = lockIn(r);
  const flock = (u32(r, BODY + A.LK_IN_FLAGS) & A.FUSE_LK_FLOCK) !== 0;
  const owner = ownerAt(r, BODY + A.LK_IN_OWNER);
  const fh = getU64(r.dv, BODY + A.LK_IN_FH);
  // Only a waiting request can be interrupted (the kernel sends INTERRUPT on a signal).
  const signal = wait ? s.interruptible(r) : undefined;
  try {
    await s.fs.setlk(r, r.nodeid, fh, owner, lk, { flock, wait, signal });
  } finally {
    if (wait) s.settled(r);
  }
  s.reply(r, 0);
}

function interrupt(s: Session, r: FuseRequest): void {
  need(r, A.INTERRUPT_IN_SIZE);
  s.interrupt(u32(r, BODY), u32(r, BODY + 4));
}

async function fsync(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.FSYNC_IN_SIZE);
  await s.fs.sync(r.nodeid, getU64(r.dv, BODY), (u32(r, BODY + 8) & A.FUSE_FSYNC_FDATASYNC) !== 0);
  s.reply(r, 0);
}

async function setxattr(s: Session, r: FuseRequest): Promise<void> {
  const head = s.proto.flags & A.FUSE_SETXATTR_EXT ? A.SETXATTR_IN_SIZE : A.SETXATTR_IN_COMPAT_SIZE;
  need(r, head);
  const size = u32(r, BODY);
  const flags = u32(r, BODY + 4);
  const n = name(r, BODY + head);
  if (n.next + size > r.end) throw new FsError(E.EINVAL, 'SETXATTR shorter than its size');
  await s.fs.setxattr(r, r.nodeid, n.name, r.buf.subarray(n.next, n.next + size), flags);
  s.reply(r, 0);
}

/** getxattr/listxattr size protocol: size 0 asks for the length; a short buffer is ERANGE. */
function replySized(s: Session, r: FuseRequest, size: number, value: Buffer): void {
  if (size === 0) {
    s.odv.setUint32(OUT, value.length, true);
    s.odv.setUint32(OUT + 4, 0, true);
    s.reply(r, A.GETXATTR_OUT_SIZE);
  } else if (value.length > size) {
    s.replyError(r, E.ERANGE);
  } else {
    s.replyData(r, value, value.length);
  }
}

async function getxattr(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.GETXATTR_IN_SIZE);
  const size = u32(r, BODY);
  const n = name(r, BODY + A.GETXATTR_IN_SIZE);
  replySized(s, r, size, await s.fs.getxattr(r, r.nodeid, n.name));
}

async function listxattr(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.GETXATTR_IN_SIZE);
  const size = u32(r, BODY);
  const names = await s.fs.listxattr(r, r.nodeid);
  replySized(s, r, size, Buffer.from(names.map((x) => x + '\0').join(''), 'utf8'));
}

async function removexattr(s: Session, r: FuseRequest): Promise<void> {
  await s.fs.removexattr(r, r.nodeid, name(r, BODY).name);
  s.reply(r, 0);
}

function access(s: Session, r: FuseRequest): void {
  // With default_permissions the kernel checks access itself and does not send ACCESS.
  s.reply(r, 0);
}

async function readdir(s: Session, r: FuseRequest, plus: boolean): Promise<void> {
  need(r, 24);
  const cookie = getU64(r.dv, BODY + 8);
  const size = Math.min(u32(r, BODY + 16), s.out.length - OUT);
  const minRec = plus ? A.DIRENTPLUS_NAME_OFFSET + 8 : A.DIRENT_NAME_OFFSET + 8;
  const entries = await s.fs.readdir(r, r.nodeid, cookie, Math.max(1, Math.floor(size / minRec)), plus);
  const dv = s.odv;
  const out = s.out;
  const limit = OUT + size;
  let pos = OUT;
  const counted: number[] = [];
  for (const e of entries) {
    const nameLen = Buffer.byteLength(e.name, 'utf8');
    const head = plus ? A.DIRENTPLUS_NAME_OFFSET : A.DIRENT_NAME_OFFSET;
    const rec = A.direntAlign(head + nameLen);
    if (pos + rec > limit) break;
    let d = pos;
    if (plus) {
      const dot = e.name === '.' || e.name === '..';
      if (e.attr && !dot) {
        putEntry(dv, pos, e.attr, s.timeout);
        counted.push(e.attr.ino);
      } else {
        out.fill(0, pos, pos + A.ENTRY_OUT_SIZE); // nodeid 0: the kernel lists the name without an inode
      }
      d = pos + A.ENTRY_OUT_SIZE;
    }
    putU64(dv, d, e.ino);
    putU64(dv, d + 8, e.next);
    dv.setUint32(d + 16, nameLen, true);
    dv.setUint32(d + 20, (e.type & S_IFMT) >>> 12, true);
    out.write(e.name, d + A.DIRENT_NAME_OFFSET, nameLen, 'utf8');
    out.fill(0, d + A.DIRENT_NAME_OFFSET + nameLen, pos + rec);
    pos += rec;
  }
  if (s.reply(r, pos - OUT)) for (const ino of counted) s.addLookup(ino);
}

async function destroy(s: Session, r: FuseRequest): Promise<void> {
  await s.fs.syncfs();
  s.reply(r, 0);
}

// FS_IOC_FSGETXATTR/FSSETXATTR (struct fsxattr, 28 bytes) carry the same common inode flags as
// FS_IOC_GETFLAGS/SETFLAGS in other bit positions. The kernel asks FUSE for the fsxattr form before
// every SETFLAGS (vfs_fileattr_set reads the old attributes that way), so a filesystem that only
// knows the flags form gets it translated here, bit for bit as fs/file_attr.c does.
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
const FS_IOC_FSGETXATTR = 0x801c581f;
const FS_IOC_FSSETXATTR = 0x401c5820;
const FSXATTR_SIZE = 28;
/** [FS_*_FL, FS_XFLAG_*] pairs. */
const FLAG_XFLAG: readonly (readonly [number, number])[] = [
  [0x00000008, 0x00000020], // SYNC
  [0x00000010, 0x00000008], // IMMUTABLE
  [0x00000020, 0x00000010], // APPEND
  [0x00000040, 0x00000080], // NODUMP
  [0x00000080, 0x00000040], // NOATIME
  [0x02000000, 0x00008000], // DAX
  [0x20000000, 0x00000200], // PROJINHERIT
];

async function fsIoctl(s: Session, r: FuseRequest, fh: number, cmd: number, input: Buffer): Promise<Buffer> {
  try {
    return await s.fs.ioctl(r.nodeid, fh, cmd, input);
  } catch (e) {
    if (!(e instanceof FsError && e.errno === E.ENOTTY) || (cmd !== FS_IOC_FSGETXATTR && cmd !== FS_IOC_FSSETXATTR)) throw e;
  }
  const flags = (await s.fs.ioctl(r.nodeid, fh, FS_IOC_GETFLAGS, Buffer.alloc(4))).readUInt32LE(0);
  if (cmd === FS_IOC_FSGETXATTR) {
    const out = Buffer.alloc(FSXATTR_SIZE);
    let x = 0;
    for (const [f, xf] of FLAG_XFLAG) if (flags & f) x |= xf;
    out.writeUInt32LE(x >>> 0, 0);
    return out;
  }
  if (input.length < 4) throw new FsError(E.EINVAL, 'FS_IOC_FSSETXATTR needs struct fsxattr');
  const x = input.readUInt32LE(0);
  let next = flags;
  for (const [f, xf] of FLAG_XFLAG) next = x & xf ? next | f : next & ~f;
  const arg = Buffer.alloc(4);
  arg.writeUInt32LE(next >>> 0, 0);
  await s.fs.ioctl(r.nodeid, fh, FS_IOC_SETFLAGS, arg);
  return Buffer.alloc(0);
}

async function ioctl(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.IOCTL_IN_SIZE);
  const flags = u32(r, BODY + 8);
  const cmd = u32(r, BODY + 12);
  const inSize = u32(r, BODY + 24);
  const outSize = u32(r, BODY + 28);
  // Unrestricted ioctls (CUSE only) would need the retry protocol with user addresses.
  if (flags & A.FUSE_IOCTL_UNRESTRICTED) throw new FsError(E.ENOSYS);
  const at = BODY + A.IOCTL_IN_SIZE;
  if (at + inSize > r.end) throw new FsError(E.EINVAL, 'IOCTL shorter than its in_size');
  const res = await fsIoctl(s, r, getU64(r.dv, BODY), cmd, r.buf.subarray(at, at + inSize));
  const n = Math.min(res.length, outSize, s.out.length - OUT - A.IOCTL_OUT_SIZE);
  s.out.fill(0, OUT, OUT + A.IOCTL_OUT_SIZE);
  res.copy(s.out, OUT + A.IOCTL_OUT_SIZE, 0, n);
  s.reply(r, A.IOCTL_OUT_SIZE + n);
}

async function fallocate(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.FALLOCATE_IN_SIZE);
  const dv = r.dv;
  await s.fs.fallocate(r.nodeid, getU64(dv, BODY), u32(r, BODY + 24), getU64(dv, BODY + 8), getU64(dv, BODY + 16));
  s.reply(r, 0);
}

async function lseek(s: Session, r: FuseRequest): Promise<void> {
  need(r, A.LSEEK_IN_SIZE);
  const off = await s.fs.llseek(r.nodeid, getU64(r.dv, BODY), getU64(r.dv, BODY + 8), u32(r, BODY + 16));
  putU64(s.odv, OUT, off);
  s.reply(r, A.LSEEK_OUT_SIZE);
}

async function syncfs(s: Session, r: FuseRequest): Promise<void> {
  await s.fs.syncfs();
  s.reply(r, 0);
}

function ignore(): void {
  // NOTIFY_REPLY: no retrieve is issued.
}

/** The dispatch table. Absent opcodes (STATX, COPY_FILE_RANGE, TMPFILE, BMAP, POLL, DAX) → ENOSYS. */
export function fuseHandlers(): (Handler | undefined)[] {
  const t: (Handler | undefined)[] = new Array<Handler | undefined>(A.FUSE_OPCODE_MAX).fill(undefined);
  t[A.FUSE_INIT] = init;
  t[A.FUSE_LOOKUP] = lookup;
  t[A.FUSE_FORGET] = forget;
  t[A.FUSE_BATCH_FORGET] = batchForget;
  t[A.FUSE_GETATTR] = getattr;
  t[A.FUSE_SETATTR] = setattr;
  t[A.FUSE_READLINK] = readlink;
  t[A.FUSE_SYMLINK] = symlink;
  t[A.FUSE_MKNOD] = mknod;
  t[A.FUSE_MKDIR] = mkdir;
  t[A.FUSE_UNLINK] = unlink;
  t[A.FUSE_RMDIR] = rmdir;
  t[A.FUSE_RENAME] = rename;
  t[A.FUSE_RENAME2] = rename2;
  t[A.FUSE_LINK] = link;
  t[A.FUSE_OPEN] = open;
  t[A.FUSE_OPENDIR] = open;
  t[A.FUSE_CREATE] = create;
  t[A.FUSE_READ] = read;
  t[A.FUSE_WRITE] = write;
  t[A.FUSE_STATFS] = statfs;
  t[A.FUSE_RELEASE] = release;
  t[A.FUSE_RELEASEDIR] = release;
  t[A.FUSE_FLUSH] = flush;
  t[A.FUSE_FSYNC] = fsync;
  t[A.FUSE_FSYNCDIR] = fsync;
  t[A.FUSE_SETXATTR] = setxattr;
  t[A.FUSE_GETXATTR] = getxattr;
  t[A.FUSE_LISTXATTR] = listxattr;
  t[A.FUSE_REMOVEXATTR] = removexattr;
  t[A.FUSE_ACCESS] = access;
  t[A.FUSE_READDIR] = (s, r) => readdir(s, r, false);
  t[A.FUSE_READDIRPLUS] = (s, r) => readdir(s, r, true);
  t[A.FUSE_DESTROY] = destroy;
  t[A.FUSE_IOCTL] = ioctl;
  t[A.FUSE_FALLOCATE] = fallocate;
  t[A.FUSE_LSEEK] = lseek;
  t[A.FUSE_SYNCFS] = syncfs;
  t[A.FUSE_GETLK] = getlk;
  t[A.FUSE_SETLK] = (s, r) => setlk(s, r, false);
  t[A.FUSE_SETLKW] = (s, r) => setlk(s, r, true);
  t[A.FUSE_INTERRUPT] = interrupt;
  t[A.FUSE_NOTIFY_REPLY] = ignore;
  return t;
}
