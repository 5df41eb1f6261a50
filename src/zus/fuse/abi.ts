// The FUSE kernel ABI (include/uapi/linux/fuse.h) as zusd speaks it: op codes, INIT flags, and the
// byte offsets of every struct the transport reads or writes. Names are the C names, so one grep
// crosses languages. Offsets are little-endian and 64-bit aligned like the kernel's.
//
// Version rules: we answer INIT with min(kernel minor, FUSE_KERNEL_MINOR_VERSION). Every layout
// below is the one of that minor; the compat sizes matter only for minors we refuse (< 12).

export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** Oldest minor whose struct sizes this file describes (create_in with umask, getattr_in, ...). */
export const FUSE_MIN_MINOR = 12;
export const FUSE_ROOT_ID = 1;

// enum fuse_opcode
export const FUSE_LOOKUP = 1;
export const FUSE_FORGET = 2; // no reply
export const FUSE_GETATTR = 3;
export const FUSE_SETATTR = 4;
export const FUSE_READLINK = 5;
export const FUSE_SYMLINK = 6;
export const FUSE_MKNOD = 8;
export const FUSE_MKDIR = 9;
export const FUSE_UNLINK = 10;
export const FUSE_RMDIR = 11;
export const FUSE_RENAME = 12;
export const FUSE_LINK = 13;
export const FUSE_OPEN = 14;
export const FUSE_READ = 15;
export const FUSE_WRITE = 16;
export const FUSE_STATFS = 17;
export const FUSE_RELEASE = 18;
export const FUSE_FSYNC = 20;
export const FUSE_SETXATTR = 21;
export const FUSE_GETXATTR = 22;
export const FUSE_LISTXATTR = 23;
export const FUSE_REMOVEXATTR = 24;
export const FUSE_FLUSH = 25;
export const FUSE_INIT = 26;
export const FUSE_OPENDIR = 27;
export const FUSE_READDIR = 28;
export const FUSE_RELEASEDIR = 29;
export const FUSE_FSYNCDIR = 30;
export const FUSE_GETLK = 31;
export const FUSE_SETLK = 32;
export const FUSE_SETLKW = 33;
export const FUSE_ACCESS = 34;
export const FUSE_CREATE = 35;
export const FUSE_INTERRUPT = 36; // no reply
export const FUSE_BMAP = 37;
export const FUSE_DESTROY = 38;
export const FUSE_IOCTL = 39;
export const FUSE_POLL = 40;
export const FUSE_NOTIFY_REPLY = 41; // no reply
export const FUSE_BATCH_FORGET = 42; // no reply
export const FUSE_FALLOCATE = 43;
export const FUSE_READDIRPLUS = 44;
export const FUSE_RENAME2 = 45;
export const FUSE_LSEEK = 46;
export const FUSE_COPY_FILE_RANGE = 47;
export const FUSE_SETUPMAPPING = 48;
export const FUSE_REMOVEMAPPING = 49;
export const FUSE_SYNCFS = 50;
export const FUSE_TMPFILE = 51;
export const FUSE_STATX = 52;
export const FUSE_OPCODE_MAX = 64; // size of the dispatch table; higher codes get ENOSYS

export const FUSE_OPCODE_NAMES: readonly string[] = (() => {
  const n: string[] = [];
  const named: Record<number, string> = {
    1: 'LOOKUP', 2: 'FORGET', 3: 'GETATTR', 4: 'SETATTR', 5: 'READLINK', 6: 'SYMLINK', 8: 'MKNOD',
    9: 'MKDIR', 10: 'UNLINK', 11: 'RMDIR', 12: 'RENAME', 13: 'LINK', 14: 'OPEN', 15: 'READ', 16: 'WRITE',
    17: 'STATFS', 18: 'RELEASE', 20: 'FSYNC', 21: 'SETXATTR', 22: 'GETXATTR', 23: 'LISTXATTR',
    24: 'REMOVEXATTR', 25: 'FLUSH', 26: 'INIT', 27: 'OPENDIR', 28: 'READDIR', 29: 'RELEASEDIR',
    30: 'FSYNCDIR', 31: 'GETLK', 32: 'SETLK', 33: 'SETLKW', 34: 'ACCESS', 35: 'CREATE', 36: 'INTERRUPT',
    37: 'BMAP', 38: 'DESTROY', 39: 'IOCTL', 40: 'POLL', 41: 'NOTIFY_REPLY', 42: 'BATCH_FORGET',
    43: 'FALLOCATE', 44: 'READDIRPLUS', 45: 'RENAME2', 46: 'LSEEK', 47: 'COPY_FILE_RANGE',
    48: 'SETUPMAPPING', 49: 'REMOVEMAPPING', 50: 'SYNCFS', 51: 'TMPFILE', 52: 'STATX',
  };
  for (let i = 0; i < FUSE_OPCODE_MAX; i++) n.push(named[i] ?? `OP${i}`);
  return n;
})();

/** Name for stats and logs, for any opcode the kernel may send. */
export function opcodeName(op: number): string {
  return op < FUSE_OPCODE_MAX ? FUSE_OPCODE_NAMES[op]! : `OP${op}`;
}

// INIT flags (fuse_init_in.flags / fuse_init_out.flags; bits 32+ live in flags2 with FUSE_INIT_EXT)
export const FUSE_ASYNC_READ = 1 << 0;
export const FUSE_POSIX_LOCKS = 1 << 1;
export const FUSE_FILE_OPS = 1 << 2;
export const FUSE_ATOMIC_O_TRUNC = 1 << 3;
export const FUSE_EXPORT_SUPPORT = 1 << 4;
export const FUSE_BIG_WRITES = 1 << 5;
export const FUSE_DONT_MASK = 1 << 6;
export const FUSE_SPLICE_WRITE = 1 << 7;
export const FUSE_SPLICE_MOVE = 1 << 8;
export const FUSE_SPLICE_READ = 1 << 9;
export const FUSE_FLOCK_LOCKS = 1 << 10;
export const FUSE_HAS_IOCTL_DIR = 1 << 11;
export const FUSE_AUTO_INVAL_DATA = 1 << 12;
export const FUSE_DO_READDIRPLUS = 1 << 13;
export const FUSE_READDIRPLUS_AUTO = 1 << 14;
export const FUSE_ASYNC_DIO = 1 << 15;
export const FUSE_WRITEBACK_CACHE = 1 << 16;
export const FUSE_NO_OPEN_SUPPORT = 1 << 17;
export const FUSE_PARALLEL_DIROPS = 1 << 18;
export const FUSE_HANDLE_KILLPRIV = 1 << 19;
export const FUSE_POSIX_ACL = 1 << 20;
export const FUSE_ABORT_ERROR = 1 << 21;
export const FUSE_MAX_PAGES = 1 << 22;
export const FUSE_CACHE_SYMLINKS = 1 << 23;
export const FUSE_NO_OPENDIR_SUPPORT = 1 << 24;
export const FUSE_EXPLICIT_INVAL_DATA = 1 << 25;
export const FUSE_MAP_ALIGNMENT = 1 << 26;
export const FUSE_SUBMOUNTS = 1 << 27;
export const FUSE_HANDLE_KILLPRIV_V2 = 1 << 28;
export const FUSE_SETXATTR_EXT = 1 << 29;
export const FUSE_INIT_EXT = 1 << 30;

// fuse_setattr_in.valid
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;
export const FATTR_ATIME = 1 << 4;
export const FATTR_MTIME = 1 << 5;
export const FATTR_FH = 1 << 6;
export const FATTR_ATIME_NOW = 1 << 7;
export const FATTR_MTIME_NOW = 1 << 8;
export const FATTR_LOCKOWNER = 1 << 9;
export const FATTR_CTIME = 1 << 10;
export const FATTR_KILL_SUIDGID = 1 << 11;

// fuse_open_out.open_flags
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NONSEEKABLE = 1 << 2;
export const FOPEN_CACHE_DIR = 1 << 3;

export const FUSE_FSYNC_FDATASYNC = 1 << 0;
export const FUSE_GETATTR_FH = 1 << 0;
export const FUSE_IOCTL_COMPAT = 1 << 0;
export const FUSE_IOCTL_UNRESTRICTED = 1 << 1;
export const FUSE_IOCTL_DIR = 1 << 4;

/** _IOR(229, 0, uint32_t): makes a fresh /dev/fuse fd a channel of an existing connection. */
export const FUSE_DEV_IOC_CLONE = 0x8004e500;
export const FUSE_MIN_READ_BUFFER = 8192;

// struct fuse_in_header (40 bytes)
export const IN_HEADER_SIZE = 40;
export const IN_LEN = 0;
export const IN_OPCODE = 4;
export const IN_UNIQUE = 8;
export const IN_NODEID = 16;
export const IN_UID = 24;
export const IN_GID = 28;
export const IN_PID = 32;
export const IN_TOTAL_EXTLEN = 36; // u16, in 8-byte units (FUSE_SECURITY_CTX, supplementary groups)

// struct fuse_out_header (16 bytes)
export const OUT_HEADER_SIZE = 16;
export const OUT_LEN = 0;
export const OUT_ERROR = 4;
export const OUT_UNIQUE = 8;

// struct fuse_attr (88 bytes)
export const FUSE_ATTR_SIZE = 88;
export const ATTR_INO = 0;
export const ATTR_SIZE = 8;
export const ATTR_BLOCKS = 16;
export const ATTR_ATIME = 24;
export const ATTR_MTIME = 32;
export const ATTR_CTIME = 40;
export const ATTR_ATIMENSEC = 48;
export const ATTR_MTIMENSEC = 52;
export const ATTR_CTIMENSEC = 56;
export const ATTR_MODE = 60;
export const ATTR_NLINK = 64;
export const ATTR_UID = 68;
export const ATTR_GID = 72;
export const ATTR_RDEV = 76;
export const ATTR_BLKSIZE = 80;
export const ATTR_FLAGS = 84;

// struct fuse_entry_out (128 bytes): nodeid, generation, entry_valid, attr_valid, *_nsec, attr
export const ENTRY_OUT_SIZE = 128;
export const ENTRY_NODEID = 0;
export const ENTRY_GENERATION = 8;
export const ENTRY_VALID = 16;
export const ENTRY_ATTR_VALID = 24;
export const ENTRY_VALID_NSEC = 32;
export const ENTRY_ATTR_VALID_NSEC = 36;
export const ENTRY_ATTR = 40;

// struct fuse_attr_out (104 bytes): attr_valid, attr_valid_nsec, dummy, attr
export const ATTR_OUT_SIZE = 104;
export const ATTR_OUT_VALID = 0;
export const ATTR_OUT_VALID_NSEC = 8;
export const ATTR_OUT_ATTR = 16;

// struct fuse_open_out (16 bytes)
export const OPEN_OUT_SIZE = 16;

// struct fuse_init_in: major, minor, max_readahead, flags, flags2 (7.36+), unused[11]
export const INIT_IN_MAJOR = 0;
export const INIT_IN_MINOR = 4;
export const INIT_IN_MAX_READAHEAD = 8;
export const INIT_IN_FLAGS = 12;
export const INIT_IN_FLAGS2 = 16;

// struct fuse_init_out (64 bytes)
export const INIT_OUT_SIZE = 64;
export const INIT_OUT_MAJOR = 0;
export const INIT_OUT_MINOR = 4;
export const INIT_OUT_MAX_READAHEAD = 8;
export const INIT_OUT_FLAGS = 12;
export const INIT_OUT_MAX_BACKGROUND = 16; // u16
export const INIT_OUT_CONGESTION_THRESHOLD = 18; // u16
export const INIT_OUT_MAX_WRITE = 20;
export const INIT_OUT_TIME_GRAN = 24;
export const INIT_OUT_MAX_PAGES = 28; // u16
export const INIT_OUT_MAP_ALIGNMENT = 30; // u16
export const INIT_OUT_FLAGS2 = 32;

// Request bodies (offsets from the end of fuse_in_header)
export const FORGET_IN_SIZE = 8; // nlookup
export const BATCH_FORGET_IN_SIZE = 8; // count, dummy; then count × fuse_forget_one {nodeid, nlookup}
export const FORGET_ONE_SIZE = 16;
export const GETATTR_IN_SIZE = 16; // getattr_flags, dummy, fh
export const SETATTR_IN_SIZE = 88;
export const SETATTR_VALID = 0;
export const SETATTR_FH = 8;
export const SETATTR_SIZE = 16;
export const SETATTR_LOCK_OWNER = 24;
export const SETATTR_ATIME = 32;
export const SETATTR_MTIME = 40;
export const SETATTR_CTIME = 48;
export const SETATTR_ATIMENSEC = 56;
export const SETATTR_MTIMENSEC = 60;
export const SETATTR_CTIMENSEC = 64;
export const SETATTR_MODE = 68;
export const SETATTR_UID = 76;
export const SETATTR_GID = 80;
export const MKNOD_IN_SIZE = 16; // mode, rdev, umask, padding
export const MKDIR_IN_SIZE = 8; // mode, umask
export const RENAME_IN_SIZE = 8; // newdir
export const RENAME2_IN_SIZE = 16; // newdir, flags, padding
export const LINK_IN_SIZE = 8; // oldnodeid
export const OPEN_IN_SIZE = 8; // flags, open_flags
export const CREATE_IN_SIZE = 16; // flags, mode, umask, open_flags
export const RELEASE_IN_SIZE = 24; // fh, flags, release_flags, lock_owner
export const FLUSH_IN_SIZE = 24; // fh, unused, padding, lock_owner
export const READ_IN_SIZE = 40; // fh, offset, size, read_flags, lock_owner, flags, padding
export const WRITE_IN_SIZE = 40; // fh, offset, size, write_flags, lock_owner, flags, padding
export const WRITE_OUT_SIZE = 8;
export const STATFS_OUT_SIZE = 80; // fuse_kstatfs
export const FSYNC_IN_SIZE = 16; // fh, fsync_flags, padding
export const SETXATTR_IN_COMPAT_SIZE = 8; // size, flags (without FUSE_SETXATTR_EXT)
export const SETXATTR_IN_SIZE = 16; // size, flags, setxattr_flags, padding
export const GETXATTR_IN_SIZE = 8; // size, padding
export const GETXATTR_OUT_SIZE = 8;
export const ACCESS_IN_SIZE = 8;
export const INTERRUPT_IN_SIZE = 8;
export const IOCTL_IN_SIZE = 32; // fh, flags, cmd, arg, in_size, out_size
export const IOCTL_OUT_SIZE = 16; // result, flags, in_iovs, out_iovs
export const FALLOCATE_IN_SIZE = 32; // fh, offset, length, mode, padding
export const LSEEK_IN_SIZE = 24; // fh, offset, whence, padding
export const LSEEK_OUT_SIZE = 8;

// struct fuse_dirent: ino, off, namelen, type, name[] — records 8-byte aligned
export const DIRENT_NAME_OFFSET = 24;
// struct fuse_direntplus: entry_out then dirent
export const DIRENTPLUS_NAME_OFFSET = ENTRY_OUT_SIZE + DIRENT_NAME_OFFSET;
export const direntAlign = (n: number): number => (n + 7) & ~7;

// Locks (negotiated with FUSE_POSIX_LOCKS / FUSE_FLOCK_LOCKS)
// struct fuse_lk_in: fh, owner, fuse_file_lock lk {start, end, type, pid}, lk_flags, padding
export const LK_IN_SIZE = 48;
export const LK_IN_FH = 0;
export const LK_IN_OWNER = 8;
export const LK_IN_START = 16;
export const LK_IN_END = 24;
export const LK_IN_TYPE = 32;
export const LK_IN_PID = 36;
export const LK_IN_FLAGS = 40;
export const LK_OUT_SIZE = 24; // struct fuse_lk_out { fuse_file_lock lk }
export const FUSE_LK_FLOCK = 1 << 0;
/** The kernel's OFFSET_MAX: "to the end of the file" in a lock range. */
export const OFFSET_MAX_LO = 0xffffffff;
export const OFFSET_MAX_HI = 0x7fffffff;
// fuse_release_in.release_flags
export const FUSE_RELEASE_FLUSH = 1 << 0;
export const FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1;
export const RELEASE_IN_FLAGS = 12; // release_flags
export const RELEASE_IN_LOCK_OWNER = 16;
export const FLUSH_IN_LOCK_OWNER = 16;

// Unsolicited notifications (enum fuse_notify_code): written to /dev/fuse with unique 0 and the
// code in fuse_out_header.error.
export const FUSE_NOTIFY_INVAL_INODE = 2;
export const FUSE_NOTIFY_INVAL_ENTRY = 3;
export const NOTIFY_INVAL_INODE_OUT_SIZE = 24; // ino, off (i64; < 0: attributes only), len
export const NOTIFY_INVAL_ENTRY_OUT_SIZE = 16; // parent, namelen, flags; then name and a NUL
