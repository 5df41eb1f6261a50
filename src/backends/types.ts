// The small interfaces every posix-layout store implements: a metadata store with atomic
// conditional transactions, and a chunk store for file data. src/fs builds POSIX on top of these.
// Backends never import src/fs, src/zus or src/pools; errors they throw are mapped with toErrno().

/** One inode as stored. Times are nanoseconds since the epoch. */
export interface InodeRecord {
  ino: number;
  mode: number; // S_IFMT type bits | permission bits
  uid: number;
  gid: number;
  nlink: number;
  size: number; // bytes; files up to 2^53 - 1
  rdev: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  btimeNs: bigint;
  flags: number; // FS_IOC_GETFLAGS bits kept for the kernel (immutable, append-only, ...)
  generation: number;
  target?: string; // symlink target (S_IFLNK only)
}

/** A directory entry. `cookie` is its position: unique within the directory, never reused, and
 * increasing in creation order, so a readdir resumed at a cookie survives concurrent changes. */
export interface DirEntry {
  name: string;
  ino: number;
  cookie: number;
}

export type MetaOp =
  | { op: 'putInode'; inode: InodeRecord }
  | { op: 'delInode'; ino: number } // also drops its xattrs
  | { op: 'putDentry'; parent: number; name: string; ino: number; cookie: number }
  | { op: 'delDentry'; parent: number; name: string }
  | { op: 'setXattr'; ino: number; name: string; value: Buffer }
  | { op: 'delXattr'; ino: number; name: string };

/** A precondition checked atomically with the ops: the entry (parent, name) must currently map to
 * `ino`, or be absent when `ino` is null. This is what makes create/rename/link safe when several
 * gateways share one volume. */
export interface DentryCheck {
  parent: number;
  name: string;
  ino: number | null;
}

export interface MetaTxn {
  checks: DentryCheck[];
  ops: MetaOp[];
}

export interface MetaStats {
  inodes: number;
  bytes: number; // bytes held by chunks, as the store counts them
}

/** One change another gateway committed: an inode record (or its xattrs), or one name in a
 * directory. Delivered by MetaStore.watch. 'reset': changes may have been missed (the feed was
 * down): drop every cached record. */
export type MetaChange = { kind: 'inode'; ino: number } | { kind: 'dir'; ino: number; name: string } | { kind: 'reset' };

export interface MetaStore {
  /** Optional change feed for several gateways on one volume: calls `onChange` for every change
   * committed by another gateway (at most once; late or lost deliveries only delay coherence, they
   * never break the store). Returns the unsubscribe function. */
  watch?(onChange: (change: MetaChange) => void): () => void;
  getInode(ino: number): Promise<InodeRecord | undefined>;
  lookup(parent: number, name: string): Promise<number | undefined>;
  /** Entries of `parent` with cookie > afterCookie, ascending by cookie, at most `limit`. */
  readdir(parent: number, afterCookie: number, limit: number): Promise<DirEntry[]>;
  getXattr(ino: number, name: string): Promise<Buffer | undefined>;
  listXattrs(ino: number): Promise<string[]>;
  /** Applies every op atomically if every check holds; returns false (and changes nothing) if not. */
  commit(txn: MetaTxn): Promise<boolean>;
  /** Reserves `count` consecutive fresh ids (used for inode numbers and directory cookies) and
   * returns the first. Ids start at 2 (inode 1 is the root) and are never handed out twice. */
  allocIds(count: number): Promise<number>;
  stats(): Promise<MetaStats>;
}

/** File data in fixed-size chunks: chunk `idx` of inode `ino` covers bytes
 * [idx * chunkSize, (idx + 1) * chunkSize). A missing chunk, or bytes past a chunk's stored
 * length, read as zeros (holes). */
export interface ChunkStore {
  readonly chunkSize: number;
  /** Up to `len` bytes from offset `off` in the chunk; shorter (possibly empty) where the chunk ends. */
  read(ino: number, idx: number, off: number, len: number): Promise<Buffer>;
  /** Writes `data` at `off` in the chunk, zero-filling any gap; off + data.length <= chunkSize. */
  write(ino: number, idx: number, off: number, data: Buffer): Promise<void>;
  /** Shortens a chunk to `len` bytes (0 removes it). */
  truncate(ino: number, idx: number, len: number): Promise<void>;
  /** Removes whole chunks with fromIdx <= idx < toIdx. */
  remove(ino: number, fromIdx: number, toIdx?: number): Promise<void>;
  /** Indices of the chunks that exist, ascending. */
  list(ino: number): Promise<number[]>;
}

/** One fcntl or flock lock as stored. `owner` is unique across gateways; `gw` names the gateway
 * whose lease keeps it alive. `end` is inclusive (Number.MAX_SAFE_INTEGER: to end of file). */
export interface LockRecord {
  gw: string;
  owner: string;
  pid: number;
  type: 'r' | 'w';
  start: number;
  end: number;
  flock: boolean;
  /** Only in the table of LOCK_WAITS_INO: the inode this waiting request is for. */
  ino?: number;
}

/** No inode has this number: its lock table holds the volume's blocked F_SETLKW requests instead,
 * one record per waiting owner, so any gateway can follow who waits for whom (EDEADLK). Its records
 * go with their gateway's lease like any lock. */
export const LOCK_WAITS_INO = 0;

/** The locks of one inode, and an opaque version for a compare-and-set. */
export interface LockTable {
  version: string;
  locks: LockRecord[];
}

/** Locks shared by every gateway of a volume. The lock rules live in src/fs; a store only keeps one
 * table per inode, replaces it atomically, and forgets records of gateways whose lease ran out
 * (a gateway that crashed or lost the store), so nobody waits forever on a dead holder. */
export interface LockStore {
  /** This gateway's lease id (renewed by the store while open). */
  readonly gateway: string;
  /** The table of `ino`, without records of gateways whose lease expired. */
  get(ino: number): Promise<LockTable>;
  /** Replaces the table if it still has `version`; false (nothing changed) if not. */
  put(ino: number, version: string, locks: LockRecord[]): Promise<boolean>;
  /** Optional wake-up: calls `fn(ino)` when another gateway changed a table. Returns the unsubscribe. */
  watch?(fn: (ino: number) => void): () => void;
}

export interface Backend {
  readonly kind: string; // 'memory' | 'local' | 'redis' | ...
  readonly meta: MetaStore;
  readonly chunks: ChunkStore;
  /** Cross-gateway locks; absent: the filesystem keeps locks in this process (one gateway). */
  readonly locks?: LockStore;
  /** Makes everything acknowledged so far durable (fsync of the store). */
  sync(): Promise<void>;
  close(): Promise<void>;
}
