// The FS_IOC_SETFLAGS bits this layer enforces itself: the kernel only enforces S_IMMUTABLE and
// S_APPEND on inodes whose flags it knows, and FUSE never tells it, so the checks the VFS makes
// for ext4 (may_delete, vfs_link, notify_change, xattr_permission, may_open, vfs_fallocate) are
// made here, with the same EPERM. Changing the flags themselves is not restricted here (the
// CAP_LINUX_IMMUTABLE check needs the caller, which ioctl does not carry).
import type { InodeRecord } from '../backends/types.js';
import { errno, fsError } from './errors.js';

export const FS_IMMUTABLE_FL = 0x00000010;
export const FS_APPEND_FL = 0x00000020;

const O_ACCMODE = 0o3;
const O_RDONLY = 0o0;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

export const isImmutable = (r: InodeRecord): boolean => (r.flags & FS_IMMUTABLE_FL) !== 0;
export const isAppendOnly = (r: InodeRecord): boolean => (r.flags & FS_APPEND_FL) !== 0;

/** Immutable or append-only inodes cannot be unlinked, renamed, linked to, or get xattrs. */
export function checkNotPinned(r: InodeRecord): void {
  if (r.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) throw fsError(errno.EPERM, `inode ${r.ino} is immutable or append-only`);
}

/** A directory's entries can be added unless it is immutable. */
export function checkDirAdd(dir: InodeRecord): void {
  if (isImmutable(dir)) throw fsError(errno.EPERM, `directory ${dir.ino} is immutable`);
}

/** A directory's entries can be removed unless it is immutable or append-only. */
export function checkDirRemove(dir: InodeRecord): void {
  checkNotPinned(dir);
}

/** may_open: no writing or truncating an immutable file; append-only needs O_APPEND, no O_TRUNC. */
export function checkOpen(r: InodeRecord, flags: number): void {
  const writing = (flags & O_ACCMODE) !== O_RDONLY;
  if (isImmutable(r) && (writing || flags & O_TRUNC)) throw fsError(errno.EPERM);
  if (isAppendOnly(r) && ((writing && !(flags & O_APPEND)) || flags & O_TRUNC)) throw fsError(errno.EPERM);
}
