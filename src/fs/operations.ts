// The operation vector a mounted filesystem implements, in ZUFS terms (ZUFS_OP_*). Transports
// (FUSE today, zuf.ko next) translate their requests into these calls and never contain
// filesystem rules; filesystems never see kernel or FUSE bytes. Errors: throw FsError (positive errno).

/** Who is asking: taken from the request header by the transport. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  umask: number; // applied by the filesystem where the kernel leaves it to us (POSIX ACLs)
}

/** What stat(2) shows. Times are nanoseconds since the epoch. */
export interface Attr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number; // 512-byte units actually stored
  blksize: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  btimeNs: bigint;
  generation: number;
}

/** Fields to change in ZUFS_OP_SETATTR; absent fields stay. 'now' is the server's clock. */
export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
  ctimeNs?: bigint;
  fh?: number; // set when the change comes through an open file (ftruncate)
}

export interface NewInode {
  mode: number; // type bits + permissions, before umask/ACL inheritance
  rdev?: number;
  symlink?: string; // target, for S_IFLNK
}

export interface DirentOut {
  name: string;
  ino: number;
  type: number; // S_IFMT bits of the entry
  next: number; // the cookie to resume after this entry
  attr?: Attr; // filled when readdir is asked for attributes (readdirplus)
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  frsize: number;
  namelen: number;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** A byte-range (fcntl) or whole-file (flock) lock as the transport passes it. `end` is inclusive;
 * Number.MAX_SAFE_INTEGER stands for "to the end of any file" (the kernel's OFFSET_MAX). */
export interface FileLock {
  type: number; // F_RDLCK | F_WRLCK | F_UNLCK
  start: number;
  end: number;
  pid: number; // holder, in the caller's view; 0 when the holder is on another gateway
}

export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
export const LOCK_END_MAX = Number.MAX_SAFE_INTEGER;

export interface SetLockOptions {
  /** flock(2) semantics (whole file, owner = the open file description) instead of fcntl. */
  flock: boolean;
  /** F_SETLKW / LOCK_EX without LOCK_NB: wait until granted (or `signal` aborts: EINTR). */
  wait: boolean;
  signal?: AbortSignal | undefined;
}

/** What another gateway changed that the kernel may have cached: an inode's attributes, or one
 * name in a directory (created, removed or renamed). */
export type Invalidation = { ino: number; parent?: undefined; name?: undefined } | { ino?: undefined; parent: number; name: string };

export interface ZusOperations {
  /** Root inode number (1). */
  readonly rootIno: number;

  /** Set by the transport while mounted: the filesystem calls it when a change made elsewhere
   * (another gateway on the same volume) invalidates what the kernel may cache. It never throws;
   * the notification is queued, and the promise settles once the kernel has taken it (a caller
   * that must not answer before that, like open for close-to-open, waits for it, bounded). */
  onInvalidate?: ((inv: Invalidation) => Promise<void>) | undefined;

  /** ZUFS_OP_LOOKUP: the attributes of `name` in `dir`; ENOENT if absent. */
  lookup(caller: Caller, dir: number, name: string): Promise<Attr>;
  /** Attributes of an inode (zuf keeps them in the shared zus_inode; FUSE asks). */
  getattr(ino: number): Promise<Attr>;
  /** ZUFS_OP_NEW_INODE: creates a file, directory, symlink or special node and its entry. */
  newInode(caller: Caller, dir: number, name: string, req: NewInode): Promise<Attr>;
  /** ZUFS_OP_ADD_DENTRY: a hard link to an existing inode. */
  addDentry(caller: Caller, dir: number, name: string, ino: number): Promise<Attr>;
  /** ZUFS_OP_REMOVE_DENTRY: unlink (isDir false) or rmdir (isDir true). */
  removeDentry(caller: Caller, dir: number, name: string, isDir: boolean): Promise<void>;
  /** ZUFS_OP_RENAME with RENAME_NOREPLACE / RENAME_EXCHANGE flags. */
  rename(caller: Caller, oldDir: number, oldName: string, newDir: number, newName: string, flags: number): Promise<void>;
  /** ZUFS_OP_READDIR: entries after `cookie` (0 = start, including "." and ".."). */
  readdir(caller: Caller, dir: number, cookie: number, maxEntries: number, plus: boolean): Promise<DirentOut[]>;
  /** ZUFS_OP_GET_SYMLINK */
  readlink(ino: number): Promise<string>;
  /** ZUFS_OP_SETATTR */
  setattr(caller: Caller, ino: number, req: SetAttr): Promise<Attr>;

  /** Open a file or directory; returns a handle number passed back to read/write/release. */
  open(caller: Caller, ino: number, flags: number): Promise<number>;
  /** Last close of an open file. `flockOwner`: the flock owner whose locks on the inode go with it. */
  release(ino: number, fh: number, flockOwner?: string): Promise<void>;
  /** close(2) of one descriptor (FUSE FLUSH); native layouts upload staged data here. `lockOwner`:
   * the closing process's fcntl lock owner, whose locks on the inode POSIX drops at any close. */
  flush(ino: number, fh: number, lockOwner?: string): Promise<void>;

  /** F_GETLK: the first lock that would conflict with `lock` held by `owner`, or type F_UNLCK.
   * Optional: without getlk/setlk the transport leaves locking to the kernel (one gateway only). */
  getlk?(caller: Caller, ino: number, fh: number, owner: string, lock: FileLock): Promise<FileLock>;
  /** F_SETLK/F_SETLKW and flock(2): sets or clears (F_UNLCK) a lock; EAGAIN on conflict without wait. */
  setlk?(caller: Caller, ino: number, fh: number, owner: string, lock: FileLock, opts: SetLockOptions): Promise<void>;

  /** ZUFS_OP_READ: up to `len` bytes; shorter only at end of file. */
  read(ino: number, fh: number, offset: number, len: number): Promise<Buffer>;
  /** ZUFS_OP_WRITE: returns the number of bytes written (all of them, or an error). */
  write(ino: number, fh: number, offset: number, data: Buffer): Promise<number>;
  /** ZUFS_OP_SYNC: returns once data (and metadata unless datasync) is durable in the store. */
  sync(ino: number, fh: number, datasync: boolean): Promise<void>;
  /** ZUFS_OP_FALLOCATE: FALLOC_FL_* mode bits. */
  fallocate(ino: number, fh: number, mode: number, offset: number, len: number): Promise<void>;
  /** ZUFS_OP_LLSEEK for SEEK_DATA / SEEK_HOLE; ENXIO past the end. */
  llseek(ino: number, fh: number, offset: number, whence: number): Promise<number>;
  /** ZUFS_OP_IOCTL: FS_IOC_GETFLAGS / FS_IOC_SETFLAGS; others ENOTTY. Returns the output bytes. */
  ioctl(ino: number, fh: number, cmd: number, arg: Buffer): Promise<Buffer>;

  /** ZUFS_OP_XATTR_GET: ENODATA if absent. */
  getxattr(caller: Caller, ino: number, name: string): Promise<Buffer>;
  /** ZUFS_OP_XATTR_SET with XATTR_CREATE / XATTR_REPLACE. */
  setxattr(caller: Caller, ino: number, name: string, value: Buffer, flags: number): Promise<void>;
  /** ZUFS_OP_XATTR_LIST */
  listxattr(caller: Caller, ino: number): Promise<string[]>;
  removexattr(caller: Caller, ino: number, name: string): Promise<void>;

  /** ZUFS_OP_STATFS */
  statfs(): Promise<StatFs>;
  /** ZUFS_OP_EVICT_INODE: the kernel dropped its last reference; free the inode if it has no links. */
  evict(ino: number): Promise<void>;
  /** ZUFS_OP_SYNC of the whole volume (syncfs, unmount). */
  syncfs(): Promise<void>;
  /** Unmount: drain and release the backend. */
  destroy(): Promise<void>;
}
