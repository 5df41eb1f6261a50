// The TypeScript mirror of kernel/zus_api.h: every constant under its C name, every struct as an
// offset table (byte offsets of each field, size of the whole). test/abi/abi.test.ts compiles a C
// program against the header and checks every name, value, size and offset here.

export const ZUFS_MAJOR_VERSION = 1;
export const ZUFS_MINOR_VERSION = 2;

export const ZUFS_FEATURE_POOLS = 1n << 0n;
export const ZUFS_FEATURE_OPBUF_IO = 1n << 1n;
export const ZUFS_FEATURE_T1 = 1n << 2n;
export const ZUFS_FEATURE_NIO = 1n << 3n;
export const ZUFS_FEATURE_IOMAP_EXEC = 1n << 4n;
export const ZUFS_FEATURE_ASYNC = 1n << 5n;

export const ZUFS_NAME_LEN = 255;
export const ZUFS_LINK_MAX = 32000;
export const ZUFS_MAX_SYMLINK = 4096;
export const ZUFS_FSNAME_LEN = 16;
export const ZUFS_MO_MAX = 512;
export const ZUFS_CONFIG_MAX = 256;
export const ZUFS_XATTR_NAME_MAX = 256;
export const ZUFS_XATTR_SIZE_MAX = 65536;
export const ZUFS_MAX_ZT_CHANNELS = 8;
export const ZUFS_DEF_ZT_CHANNELS = 3;
export const ZUFS_BACK_CHAN_NO = 2;
export const ZUFS_NUMA_MAX_CPUS = 512;
export const ZUFS_MAX_POOLS = 8;
export const ZUFS_POOL_MAX_SIZE = 64 * 1024 * 1024;

export const ZUFS_OP_HDR_MAX = 4096;
export const ZUFS_OP_PAYLOAD_OFF = 4096;
export const ZUFS_OP_BUF_MIN = 64 * 1024;
export const ZUFS_OP_BUF_DEF = 256 * 1024;
export const ZUFS_OP_BUF_MAX = 4 * 1024 * 1024;

export const ZUFS_ERRNO_MAX = 133;
export const EZUFS_RETRY = 531;
export const EZUFS_ASYNC = 532;

export const ZUFS_DPP_POOL_MASK = 7;
export const ZUFS_DPP_POOL_T1 = 0;
export const ZUFS_DPP_POOL_FIRST = 1;
export const ZUFS_DPP_POOL_LAST = 6;
export const ZUFS_DPP_POOL_APP = 7;

/** dpp_t helpers (the C macros zu_dpp_t_pool / zu_dpp_t_val / zu_enc_dpp_t). Offsets stay < 2^53. */
export const zu_dpp_t_pool = (dpp: bigint): number => Number(dpp & 7n);
export const zu_dpp_t_val = (dpp: bigint): bigint => dpp & ~7n;
export const zu_enc_dpp_t = (off: number, pool: number): bigint => (BigInt(off) & ~7n) | BigInt(pool & 7);

// the device table of tier members (src/pools/device-table.ts reads and writes it)
export const ZUFS_DT_MAGIC = 0x5446535a;
export const ZUFS_DT_VERSION_MAJOR = 1;
export const ZUFS_DT_SIZE = 4096;
export const ZUFS_DT_BLOCK_SHIFT = 12;
export const ZUFS_DT_MAX_MEMBERS = 64;
export const ZUFS_DT_DATA_OFFSET = 2 * 1024 * 1024;
export const ZUFS_DEV_ROLE_T1 = 1;
export const ZUFS_DEV_ROLE_T2 = 2;
export const ZUFS_DEV_NUMA_NONE = 0xff;

export const ZUFS_INODE_SIZE = 128;
export const ZUFS_S_IMMUTABLE = 0o4000;
export const ZUFS_S_APPEND = 0o10000;
export const ZUFS_INLINE_SYMLINK_MAX = 31;

export const ZU_IOC_MAGIC = 'Z'.charCodeAt(0);

export const ZUFS_H_INTR = 1 << 0;
export const ZUFS_H_HAS_PIGY_PUT = 1 << 1;

export const ZUFS_M_NONE = 0;
export const ZUFS_M_MOUNT = 1;
export const ZUFS_M_UMOUNT = 2;
export const ZUFS_M_REMOUNT = 3;
export const ZUFS_M_BREAK = 4;
export const ZUFS_M_ADD_CHANNEL = 5;
export const ZUFS_M_RDONLY = 1 << 0;
export const ZUFS_M_SILENT = 1 << 2;
export const ZUFS_FSC_ACL_ON = 1 << 0;
export const ZUFS_FSC_NIO_READS = 1 << 1;
export const ZUFS_FSC_NIO_WRITES = 1 << 2;
export const ZUFS_FSC_XATTR = 1 << 3;
export const ZUFS_FSC_CLOSE_SYNC = 1 << 4;

export const ZUFS_IOM_VAL_BITS = 56;
export const IOM_NONE = 0;
export const IOM_T1_WRITE = 1;
export const IOM_T1_READ = 2;
export const IOM_T2_WRITE = 3;
export const IOM_T2_READ = 4;
export const IOM_T2_WRITE_LEN = 5;
export const IOM_T2_READ_LEN = 6;
export const IOM_T2_ZUSMEM_WRITE = 7;
export const IOM_T2_ZUSMEM_READ = 8;
export const IOM_UNMAP = 9;
export const IOM_WBINV = 10;
export const IOM_REPEAT = 11;
export const IOM_DISCARD = 12;
export const IOM_NUM_LEGAL_OPT = 13;
/** The C macros ZUFS_IOM_WORD / ZUFS_IOM_TYPE / ZUFS_IOM_VAL: top 8 bits type, low 56 bits value. */
export const zufs_iom_word = (type: number, val: bigint): bigint => (BigInt(type) << 56n) | (val & ((1n << 56n) - 1n));
export const zufs_iom_type = (w: bigint): number => Number(w >> 56n);
export const zufs_iom_val = (w: bigint): bigint => w & ((1n << 56n) - 1n);

export const ZUFS_OP_NULL = 0;
export const ZUFS_OP_BREAK = 1;
export const ZUFS_OP_STATFS = 2;
export const ZUFS_OP_SHOW_OPTIONS = 3;
export const ZUFS_OP_NEW_INODE = 4;
export const ZUFS_OP_FREE_INODE = 5;
export const ZUFS_OP_EVICT_INODE = 6;
export const ZUFS_OP_LOOKUP = 7;
export const ZUFS_OP_ADD_DENTRY = 8;
export const ZUFS_OP_REMOVE_DENTRY = 9;
export const ZUFS_OP_RENAME = 10;
export const ZUFS_OP_READDIR = 11;
export const ZUFS_OP_CLONE = 12;
export const ZUFS_OP_COPY = 13;
export const ZUFS_OP_READ = 14;
export const ZUFS_OP_PRE_READ = 15;
export const ZUFS_OP_WRITE = 16;
export const ZUFS_OP_MMAP_CLOSE = 17;
export const ZUFS_OP_GET_SYMLINK = 18;
export const ZUFS_OP_SETATTR = 19;
export const ZUFS_OP_SYNC = 20;
export const ZUFS_OP_FALLOCATE = 21;
export const ZUFS_OP_LLSEEK = 22;
export const ZUFS_OP_IOCTL = 23;
export const ZUFS_OP_XATTR_GET = 24;
export const ZUFS_OP_XATTR_SET = 25;
export const ZUFS_OP_GET_BLOCK = 26;
export const ZUFS_OP_XATTR_LIST = 27;
export const ZUFS_OP_FIEMAP = 28;
export const ZUFS_OP_GET_MULTY = 29;
export const ZUFS_OP_PUT_MULTY = 30;
export const ZUFS_OP_NOOP = 31;
export const ZUFS_OP_PUT_BLOCK = 32;
export const ZUFS_OP_IOM_DONE = 33;
export const ZUFS_OP_MAX_OPT = 34;

export const ZI_TMPFILE = 1 << 0;
export const ZI_LOOKUP_RACE = 1 << 0;
export const ZUFS_DF_DIR = 1 << 0;

export const ZUFS_RW_WRITE = 1 << 0;
export const ZUFS_RW_MMAP = 1 << 1;
export const ZUFS_RW_RAND = 1 << 4;
export const ZUFS_RW_MMAP_OPEN = 1 << 6;
export const ZUFS_RW_APPEND = 1 << 9;
export const ZUFS_RW_DIRECT = 1 << 10;
export const ZUFS_RW_DSYNC = 1 << 12;
export const ZUFS_RW_SYNC = 1 << 13;
export const ZUFS_RW_NOWAIT = 1 << 15;
export const ZUFS_RET_NEW = 1 << 1;
export const ZUFS_RET_PUT_NOW = 1 << 3;

export const ZUFS_ATTR_MODE = 1 << 0;
export const ZUFS_ATTR_UID = 1 << 1;
export const ZUFS_ATTR_GID = 1 << 2;
export const ZUFS_ATTR_SIZE = 1 << 3;
export const ZUFS_ATTR_ATIME = 1 << 4;
export const ZUFS_ATTR_MTIME = 1 << 5;
export const ZUFS_ATTR_CTIME = 1 << 6;

export const ZUFS_SF_DATASYNC = 1 << 0;
export const ZUFS_SF_DONTNEED = 1 << 1;
export const ZUFS_SF_CLOSE = 1 << 2;
export const ZUFS_IOC_KF_CAP_ADMIN = 1 << 0;
export const ZUFS_XF_CREATE = 1 << 0;
export const ZUFS_XF_REPLACE = 1 << 1;
export const ZUFS_XF_REMOVE = 1 << 8;

/** Offset tables: `size` of the struct and the byte offset of every field (nested: "a.b"). */
export interface Layout {
  readonly size: number;
  readonly fields: Readonly<Record<string, number>>;
}

const HDR = { err: 0, in_len: 4, out_max: 6, out_start: 8, out_len: 10, operation: 12, flags: 14, offset: 16, len: 20, op_id: 24 } as const;
const withHdr = <T extends Record<string, number>>(rest: T) => ({ hdr: 0, ...rest });

export const zufs_ioc_hdr = { size: 32, fields: HDR } as const satisfies Layout;

export const zus_inode = {
  size: 128,
  fields: {
    i_flags: 0, i_mode: 2, i_nlink: 4, i_size: 8, i_on_disk: 16, i_blocks: 32, i_mtime: 40, i_ctime: 48, i_atime: 56,
    i_ino: 64, i_uid: 72, i_gid: 76, i_xattr: 80, i_generation: 88, i_rdev: 96, i_symlink: 96, i_sym_dpp: 96,
    'i_dir.dir_root': 96, 'i_dir.parent': 104, 'i_dir.names_gen': 112,
  },
} as const satisfies Layout;

export const zufs_dev_member = {
  size: 32,
  fields: { uuid: 0, blocks: 16, role: 24, numa: 25, flags: 26, reserved: 28 },
} as const satisfies Layout;

export const zufs_dev_table = {
  size: 4096,
  fields: {
    magic: 0, version_major: 4, version_minor: 6, crc: 8, size: 12, volume_uuid: 16, dev_uuid: 32, flags: 48, t1_blocks: 56,
    t2_blocks: 64, dev_index: 72, t1_count: 74, t2_count: 76, block_shift: 78, ctime_ns: 80, journal_blocks: 88, store_id: 96,
    reserved1: 112, members: 128, label: 2176, reserved2: 2240,
  },
} as const satisfies Layout;

export const zufs_str = { size: 256, fields: { len: 0, name: 1 } } as const satisfies Layout;

export const register_fs_info = {
  size: 80,
  fields: { fsname: 0, FS_magic: 16, api_major: 20, api_minor: 22, features: 24, s_maxbytes: 32, s_time_gran: 40, def_mode: 44, reserved: 48 },
} as const satisfies Layout;

export const zufs_ioc_register_fs = {
  size: 136,
  fields: withHdr({ zus_zfi: 32, rfi: 40, kern_major: 120, kern_minor: 122, kern_features: 128 }),
} as const satisfies Layout;

export const zufs_mount_info = {
  size: 856,
  fields: {
    zus_zfi: 0, sb_id: 8, sb_key: 16, mount_flags: 24, num_cpu: 28, num_channels: 30, zus_sbi: 32, zus_ii: 40, _zi: 48,
    fs_caps: 56, s_blocksize_bits: 60, cpu: 64, channel_no: 68, reserved: 72, config_len: 80, mount_options_len: 84, config: 88, mount_options: 344,
  },
} as const satisfies Layout;

export const zufs_ioc_mount = { size: 888, fields: withHdr({ zmi: 32 }) } as const satisfies Layout;

export const zufs_ioc_numa_map = {
  size: 1072,
  fields: withHdr({ possible_cpus: 32, online_cpus: 36, possible_nodes: 40, online_nodes: 44, cpu_to_node: 48 }),
} as const satisfies Layout;

export const zufs_ioc_pmem = { size: 64, fields: withHdr({ sb_id: 32, sb_key: 40, t1_size: 48, dev_index: 56, fd: 60 }) } as const satisfies Layout;
export const zufs_ioc_init = { size: 48, fields: withHdr({ channel_no: 32, max_command: 36, cpu: 40, op_buf_size: 44 }) } as const satisfies Layout;
export const zufs_ioc_break_all = { size: 32, fields: withHdr({}) } as const satisfies Layout;
export const zufs_ioc_alloc_pool = {
  size: 72,
  fields: withHdr({ sb_id: 32, sb_key: 40, pool_no: 48, flags: 52, size: 56, pool_size: 64 }),
} as const satisfies Layout;
export const zufs_ioc_wait_operation = { size: 32, fields: withHdr({}) } as const satisfies Layout;
export const zufs_iomap = { size: 16, fields: { iomd: 0, iom_max: 8, iom_n: 12 } } as const satisfies Layout;
export const zufs_ioc_iomap_exec = {
  size: 80,
  fields: withHdr({ sb_id: 32, sb_key: 40, zus_sbi: 48, wait_for_done: 56, ziom: 64 }),
} as const satisfies Layout;
export const zufs_ioc_async_done = {
  size: 64,
  fields: withHdr({ sb_id: 32, sb_key: 40, op_id: 48, reply_size: 56, payload_len: 60 }),
} as const satisfies Layout;
export const zufs_ioc_unmap = {
  size: 80,
  fields: withHdr({ sb_id: 32, sb_key: 40, ino: 48, first: 56, count: 64, unmapped: 72 }),
} as const satisfies Layout;
export const zufs_ioc_t2 = { size: 64, fields: withHdr({ sb_id: 32, sb_key: 40, t2_size: 48, dev_index: 56, fd: 60 }) } as const satisfies Layout;

export const zufs_ioc_new_inode = {
  size: 448,
  fields: withHdr({ zi: 32, dir_ii: 160, flags: 168, str: 176, _zi: 432, zus_ii: 440 }),
} as const satisfies Layout;
export const zufs_ioc_evict_inode = { size: 48, fields: withHdr({ zus_ii: 32, flags: 40 }) } as const satisfies Layout;
export const zufs_ioc_lookup = { size: 312, fields: withHdr({ dir_ii: 32, str: 40, _zi: 296, zus_ii: 304 }) } as const satisfies Layout;
export const zufs_ioc_dentry = {
  size: 320,
  fields: withHdr({ dir_ii: 32, zus_ii: 40, time: 48, flags: 56, str: 64 }),
} as const satisfies Layout;
export const zufs_ioc_rename = {
  size: 592,
  fields: withHdr({ old_dir_ii: 32, new_dir_ii: 40, old_zus_ii: 48, new_zus_ii: 56, time: 64, flags: 72, old_d_str: 80, new_d_str: 336 }),
} as const satisfies Layout;
export const zufs_dir_entry = { size: 24, fields: { ino: 0, pos: 8, rec_len: 16, type: 18, name_len: 19 } } as const satisfies Layout;
export const zufs_ioc_readdir = {
  size: 64,
  fields: withHdr({ dir_ii: 32, pos: 40, next_pos: 48, more: 56, count: 60 }),
} as const satisfies Layout;
export const zufs_ioc_IO = {
  size: 152,
  fields: withHdr({ zus_ii: 32, filepos: 40, rw: 48, ret_flags: 56, pool: 60, cookie: 64, last_pos: 72, iom_n: 80, iom_e: 88 }),
} as const satisfies Layout;
export const zufs_ioc_get_link = { size: 48, fields: withHdr({ zus_ii: 32, _dpp: 40 }) } as const satisfies Layout;
export const zufs_ioc_attr = { size: 56, fields: withHdr({ zus_ii: 32, zuf_attr: 40, truncate_size: 48 }) } as const satisfies Layout;
export const zufs_ioc_sync = { size: 64, fields: withHdr({ zus_ii: 32, offset: 40, length: 48, flags: 56 }) } as const satisfies Layout;
export const zufs_ioc_fallocate = { size: 64, fields: withHdr({ zus_ii: 32, offset: 40, len: 48, mode: 56 }) } as const satisfies Layout;
export const zufs_ioc_seek = { size: 64, fields: withHdr({ zus_ii: 32, offset_in: 40, whence: 48, offset_out: 56 }) } as const satisfies Layout;
export const zufs_ioc_ioctl = { size: 56, fields: withHdr({ zus_ii: 32, cmd: 40, kflags: 44, time: 48 }) } as const satisfies Layout;
export const zufs_ioc_xattr = {
  size: 312,
  fields: withHdr({ zus_ii: 32, flags: 40, value_size: 44, name_len: 48, name: 56 }),
} as const satisfies Layout;
export const zufs_statfs = {
  size: 56,
  fields: { f_blocks: 0, f_bfree: 8, f_bavail: 16, f_files: 24, f_ffree: 32, f_bsize: 40, f_frsize: 44, f_namelen: 48 },
} as const satisfies Layout;
export const zufs_ioc_statfs = { size: 96, fields: withHdr({ zus_sbi: 32, st: 40 }) } as const satisfies Layout;
export const zufs_ioc_clone = {
  size: 80,
  fields: withHdr({ src_zus_ii: 32, dst_zus_ii: 40, pos_in: 48, pos_out: 56, len: 64, flags: 72 }),
} as const satisfies Layout;
export const zufs_ioc_mmap_close = { size: 48, fields: withHdr({ zus_ii: 32, rw: 40 }) } as const satisfies Layout;

/** Every struct of the header, by its C name (the ABI test walks this). */
export const LAYOUTS: Readonly<Record<string, Layout>> = {
  zufs_dev_member, zufs_dev_table,
  zufs_ioc_hdr, zus_inode, zufs_str, register_fs_info, zufs_ioc_register_fs, zufs_mount_info, zufs_ioc_mount,
  zufs_ioc_numa_map, zufs_ioc_pmem, zufs_ioc_init, zufs_ioc_break_all, zufs_ioc_alloc_pool, zufs_ioc_wait_operation,
  zufs_iomap, zufs_ioc_iomap_exec, zufs_ioc_async_done, zufs_ioc_unmap, zufs_ioc_t2, zufs_ioc_new_inode, zufs_ioc_evict_inode, zufs_ioc_lookup,
  zufs_ioc_dentry, zufs_ioc_rename, zufs_dir_entry, zufs_ioc_readdir, zufs_ioc_IO, zufs_ioc_get_link, zufs_ioc_attr,
  zufs_ioc_sync, zufs_ioc_fallocate, zufs_ioc_seek, zufs_ioc_ioctl, zufs_ioc_xattr, zufs_statfs, zufs_ioc_statfs,
  zufs_ioc_clone, zufs_ioc_mmap_close,
};

/** asm-generic _IOC encoding (x86_64, arm64). */
const _IOWR = (nr: number, size: number): number => ((3 << 30) | (size << 16) | (ZU_IOC_MAGIC << 8) | nr) >>> 0;

export const ZU_IOC_REGISTER_FS = _IOWR(10, zufs_ioc_register_fs.size);
export const ZU_IOC_MOUNT = _IOWR(11, zufs_ioc_mount.size);
export const ZU_IOC_NUMA_MAP = _IOWR(13, zufs_ioc_numa_map.size);
export const ZU_IOC_GRAB_PMEM = _IOWR(14, zufs_ioc_pmem.size);
export const ZU_IOC_INIT_THREAD = _IOWR(15, zufs_ioc_init.size);
export const ZU_IOC_ZT_INIT = ZU_IOC_INIT_THREAD;
export const ZU_IOC_BREAK_ALL = _IOWR(16, zufs_ioc_break_all.size);
export const ZU_IOC_ALLOC_POOL = _IOWR(17, zufs_ioc_alloc_pool.size);
export const ZU_IOC_ALLOC_BUFFER = ZU_IOC_ALLOC_POOL;
export const ZU_IOC_WAIT_OPT = _IOWR(18, zufs_ioc_wait_operation.size);
export const ZU_IOC_IOMAP_EXEC = _IOWR(19, zufs_ioc_iomap_exec.size);
export const ZU_IOC_ASYNC_DONE = _IOWR(20, zufs_ioc_async_done.size);
export const ZU_IOC_UNMAP = _IOWR(21, zufs_ioc_unmap.size);
export const ZU_IOC_GRAB_T2 = _IOWR(22, zufs_ioc_t2.size);

/** Scalar constants by C name, for the ABI test (bigint where the C value is 64-bit). */
export const CONSTANTS: Readonly<Record<string, number | bigint>> = {
  ZUFS_MAJOR_VERSION, ZUFS_MINOR_VERSION, ZUFS_FEATURE_POOLS, ZUFS_FEATURE_OPBUF_IO, ZUFS_FEATURE_T1, ZUFS_FEATURE_NIO,
  ZUFS_FEATURE_IOMAP_EXEC, ZUFS_FEATURE_ASYNC, ZUFS_NAME_LEN, ZUFS_LINK_MAX, ZUFS_MAX_SYMLINK, ZUFS_FSNAME_LEN, ZUFS_MO_MAX,
  ZUFS_CONFIG_MAX, ZUFS_XATTR_NAME_MAX, ZUFS_XATTR_SIZE_MAX, ZUFS_MAX_ZT_CHANNELS, ZUFS_DEF_ZT_CHANNELS, ZUFS_BACK_CHAN_NO,
  ZUFS_NUMA_MAX_CPUS, ZUFS_MAX_POOLS, ZUFS_POOL_MAX_SIZE, ZUFS_OP_HDR_MAX, ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_BUF_MIN,
  ZUFS_OP_BUF_DEF, ZUFS_OP_BUF_MAX, ZUFS_ERRNO_MAX, EZUFS_RETRY, EZUFS_ASYNC, ZUFS_DPP_POOL_MASK, ZUFS_DPP_POOL_T1,
  ZUFS_DPP_POOL_FIRST, ZUFS_DPP_POOL_LAST, ZUFS_DPP_POOL_APP, ZUFS_INODE_SIZE, ZUFS_S_IMMUTABLE, ZUFS_S_APPEND,
  ZUFS_INLINE_SYMLINK_MAX, ZU_IOC_MAGIC, ZUFS_H_INTR, ZUFS_H_HAS_PIGY_PUT, ZUFS_M_NONE, ZUFS_M_MOUNT, ZUFS_M_UMOUNT,
  ZUFS_M_REMOUNT, ZUFS_M_BREAK, ZUFS_M_ADD_CHANNEL, ZUFS_M_RDONLY, ZUFS_M_SILENT, ZUFS_FSC_ACL_ON, ZUFS_FSC_NIO_READS, ZUFS_FSC_NIO_WRITES,
  ZUFS_FSC_XATTR, ZUFS_FSC_CLOSE_SYNC, ZUFS_IOM_VAL_BITS, IOM_NONE, IOM_T1_WRITE, IOM_T1_READ, IOM_T2_WRITE, IOM_T2_READ, IOM_T2_WRITE_LEN,
  IOM_T2_READ_LEN, IOM_T2_ZUSMEM_WRITE, IOM_T2_ZUSMEM_READ, IOM_UNMAP, IOM_WBINV, IOM_REPEAT, IOM_DISCARD,
  IOM_NUM_LEGAL_OPT, ZUFS_OP_NULL, ZUFS_OP_BREAK, ZUFS_OP_STATFS, ZUFS_OP_SHOW_OPTIONS, ZUFS_OP_NEW_INODE,
  ZUFS_OP_FREE_INODE, ZUFS_OP_EVICT_INODE, ZUFS_OP_LOOKUP, ZUFS_OP_ADD_DENTRY, ZUFS_OP_REMOVE_DENTRY, ZUFS_OP_RENAME,
  ZUFS_OP_READDIR, ZUFS_OP_CLONE, ZUFS_OP_COPY, ZUFS_OP_READ, ZUFS_OP_PRE_READ, ZUFS_OP_WRITE, ZUFS_OP_MMAP_CLOSE,
  ZUFS_OP_GET_SYMLINK, ZUFS_OP_SETATTR, ZUFS_OP_SYNC, ZUFS_OP_FALLOCATE, ZUFS_OP_LLSEEK, ZUFS_OP_IOCTL,
  ZUFS_OP_XATTR_GET, ZUFS_OP_XATTR_SET, ZUFS_OP_GET_BLOCK, ZUFS_OP_XATTR_LIST, ZUFS_OP_FIEMAP, ZUFS_OP_GET_MULTY,
  ZUFS_OP_PUT_MULTY, ZUFS_OP_NOOP, ZUFS_OP_PUT_BLOCK, ZUFS_OP_IOM_DONE, ZUFS_OP_MAX_OPT, ZI_TMPFILE, ZI_LOOKUP_RACE,
  ZUFS_DF_DIR, ZUFS_RW_WRITE, ZUFS_RW_MMAP, ZUFS_RW_RAND, ZUFS_RW_MMAP_OPEN, ZUFS_RW_APPEND, ZUFS_RW_DIRECT, ZUFS_RW_DSYNC, ZUFS_RW_SYNC,
  ZUFS_RW_NOWAIT, ZUFS_RET_NEW, ZUFS_RET_PUT_NOW, ZUFS_ATTR_MODE, ZUFS_ATTR_UID, ZUFS_ATTR_GID, ZUFS_ATTR_SIZE,
  ZUFS_ATTR_ATIME, ZUFS_ATTR_MTIME, ZUFS_ATTR_CTIME, ZUFS_SF_DATASYNC, ZUFS_SF_DONTNEED, ZUFS_SF_CLOSE, ZUFS_IOC_KF_CAP_ADMIN,
  ZUFS_XF_CREATE, ZUFS_XF_REPLACE, ZUFS_XF_REMOVE, ZU_IOC_REGISTER_FS, ZU_IOC_MOUNT, ZU_IOC_NUMA_MAP, ZU_IOC_GRAB_PMEM,
  ZU_IOC_INIT_THREAD, ZU_IOC_ZT_INIT, ZU_IOC_BREAK_ALL, ZU_IOC_ALLOC_POOL, ZU_IOC_ALLOC_BUFFER, ZU_IOC_WAIT_OPT,
  ZU_IOC_IOMAP_EXEC, ZU_IOC_ASYNC_DONE, ZU_IOC_UNMAP, ZU_IOC_GRAB_T2, ZUFS_DT_MAGIC, ZUFS_DT_VERSION_MAJOR, ZUFS_DT_SIZE, ZUFS_DT_BLOCK_SHIFT,
  ZUFS_DT_MAX_MEMBERS, ZUFS_DT_DATA_OFFSET, ZUFS_DEV_ROLE_T1, ZUFS_DEV_ROLE_T2, ZUFS_DEV_NUMA_NONE,
};
