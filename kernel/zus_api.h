/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause */
/*
 * zus_api.h - THE contract between zuf.ko (kernel) and zusd (the user-mode server).
 *
 * Dual licensed so that user space may include it: GPL-2.0 WITH Linux-syscall-note, or BSD-3-Clause.
 * It must compile in user space with nothing but <linux/types.h> and <linux/ioctl.h>.
 *
 * Rules for this file (read before editing)
 * -----------------------------------------
 * - Fixed-width types only (__u8..__u64, __s32). No pointers, no long, no bool, no enums as
 *   struct members: a server object is an opaque __u64 "cookie" the kernel hands back.
 * - Every struct has explicit padding (no compiler-inserted holes) and a size that is a multiple
 *   of 8. Structs that may grow end with a reserved tail that must be zero on input.
 * - The TypeScript mirror (src/zus/abi/) keeps every name verbatim and test/abi/ compares every
 *   size, offset and constant below against it. Change both in one commit.
 * - All multi-byte values are little endian (x86-64/arm64 hosts); zus_inode is documented __le.
 *
 * Versioning
 * ----------
 * ZUFS_MAJOR_VERSION changes when a layout, an ioctl number or an op code's meaning changes:
 * the kernel refuses a server with another major (REGISTER_FS fails with -EPROTO).
 * ZUFS_MINOR_VERSION grows when something is only added (a new op code, a new feature bit, a
 * reserved field given a meaning whose zero value keeps the old behaviour). A server of minor N
 * works with a kernel of minor M != N; it learns what the kernel does from kern_features
 * (ZUFS_FEATURE_*), never from the minor number.
 *
 * Changelog
 * ---------
 * 1.0 (2026-11) first version of this project's ABI. Follows NetApp's ZUFS (2017-2020) in ideas,
 *     not in bytes: 32-byte op header with an op id, fixed-size per-op structs, payload in a
 *     per-ZT op buffer (mmap'd by the server), server-allocated shared pools (dpp_t pools 1..6)
 *     holding struct zus_inode, a per-super-block random key for pool ioctls.
 *     Kernel 1.0 features: ZUFS_FEATURE_POOLS | ZUFS_FEATURE_OPBUF_IO | ZUFS_FEATURE_ASYNC
 *     (an op answered -EZUFS_ASYNC frees its channel; ZU_IOC_ASYNC_DONE completes it).
 *     Reserved (defined here, not yet served by the kernel): t1 pmem (GRAB_PMEM), NIO
 *     (GET_MULTY/PUT_MULTY/IOMAP words), IOMAP_EXEC.
 * 1.1 (2026-12) t1 and NIO reads: ZU_IOC_GRAB_PMEM takes the fd of a DAX block device (the t1
 *     member) and maps it for both sides; ZUFS_OP_GET_MULTY answers one IOMAP word per page;
 *     the kernel keeps the answer as a per-inode block map (a lease, not a pin: PUT_MULTY stays
 *     reserved) until the server revokes it with ZU_IOC_UNMAP. Kernel features add
 *     ZUFS_FEATURE_T1 | ZUFS_FEATURE_NIO. Writes still go through ZUFS_OP_WRITE.
 *     ZUFS_OP_SYNC flag ZUFS_SF_CLOSE: a file written since its last such sync is being closed
 *     (close-to-open for other gateways), sent only to a super block whose server set
 *     ZUFS_FSC_CLOSE_SYNC (it holds written bytes back: write-back tiers on a shared store).
 *     zus_inode.i_dir.names_gen (was padding, zero): the server bumps it when another gateway
 *     changed a name in the directory; the kernel's dentries of that directory carry the value
 *     they were looked up under and are looked up again once it moved (d_revalidate).
 *     The device table of tier members (struct zufs_dev_table), so far only in src/pools.
 * 1.2 (2026-12) NIO writes: GET_MULTY with ZUFS_RW_WRITE maps pages writable (IOM_T1_WRITE), and
 *     PUT_MULTY is no longer reserved: it hands bytes the kernel wrote into t1 to the server
 *     (see struct zufs_ioc_IO). Only for a super block whose server set ZUFS_FSC_NIO_WRITES.
 *     ZUFS_RW_MMAP_OPEN and PUT_MULTY's ZUFS_RW_MMAP: stores through shared mappings of t1.
 *     The t2 engine: ZU_IOC_GRAB_T2 and ZU_IOC_IOMAP_EXEC (no longer reserved), kernel feature
 *     ZUFS_FEATURE_IOMAP_EXEC.
 */
#ifndef _LINUX_ZUS_API_H
#define _LINUX_ZUS_API_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define ZUFS_MAJOR_VERSION 1
#define ZUFS_MINOR_VERSION 2

/* Feature bits: kern_features in REGISTER_FS reply; a server sets the ones it uses in rfi.features */
#define ZUFS_FEATURE_POOLS	(1ULL << 0)	/* ZU_IOC_ALLOC_POOL, zus_inode in pools 1..6 */
#define ZUFS_FEATURE_OPBUF_IO	(1ULL << 1)	/* READ/WRITE/READDIR payload in the op buffer */
#define ZUFS_FEATURE_T1		(1ULL << 2)	/* ZU_IOC_GRAB_PMEM, dpp pool 0 */
#define ZUFS_FEATURE_NIO	(1ULL << 3)	/* GET_MULTY/PUT_MULTY with IOMAP words */
#define ZUFS_FEATURE_IOMAP_EXEC	(1ULL << 4)	/* ZU_IOC_IOMAP_EXEC, t2 engine */
#define ZUFS_FEATURE_ASYNC	(1ULL << 5)	/* EZUFS_ASYNC replies + ZU_IOC_ASYNC_DONE */

/* ~~~~ limits ~~~~ */
#define ZUFS_NAME_LEN		255
#define ZUFS_LINK_MAX		32000
#define ZUFS_MAX_SYMLINK	4096
#define ZUFS_FSNAME_LEN		16	/* incl. the NUL: "zufs-redis" */
#define ZUFS_MO_MAX		512	/* mount options text the kernel did not consume */
#define ZUFS_CONFIG_MAX		256	/* -o config=PATH */
#define ZUFS_XATTR_NAME_MAX	256	/* incl. the NUL */
#define ZUFS_XATTR_SIZE_MAX	65536
#define ZUFS_MAX_ZT_CHANNELS	8	/* per CPU: the back channel and up to 7 foreground */
#define ZUFS_DEF_ZT_CHANNELS	3	/* 2 foreground + 1 back channel */
#define ZUFS_BACK_CHAN_NO	2
#define ZUFS_NUMA_MAX_CPUS	512
#define ZUFS_MAX_POOLS		8	/* dpp_t pool ids 0..7 */
#define ZUFS_POOL_MAX_SIZE	(64ULL << 20)

/*
 * The op buffer: one per ZT channel, allocated by the kernel at ZU_IOC_INIT_THREAD and mapped
 * by the server with mmap(fd, offset 0, op_buf_size). The command struct (header + params,
 * at most ZUFS_OP_HDR_MAX bytes) sits at offset 0; the payload (write data, read buffer,
 * readdir records, xattr values, symlink text, ioctl args) starts at ZUFS_OP_PAYLOAD_OFF.
 * The kernel never sends more payload than op_buf_size - ZUFS_OP_PAYLOAD_OFF: bigger I/O is split.
 */
#define ZUFS_OP_HDR_MAX		4096
#define ZUFS_OP_PAYLOAD_OFF	4096
#define ZUFS_OP_BUF_MIN		(64 * 1024)
#define ZUFS_OP_BUF_DEF		(256 * 1024)
#define ZUFS_OP_BUF_MAX		(4 * 1024 * 1024)

/*
 * Errno range rule. hdr.err from the server must be 0, or -e with 1 <= e <= ZUFS_ERRNO_MAX
 * (the user-visible Linux errno range; kernel-internal codes such as ERESTARTSYS are refused),
 * or one of the private codes below. Anything else becomes -EIO and is counted as a bad reply.
 */
#define ZUFS_ERRNO_MAX		133	/* EHWPOISON */
#define EZUFS_RETRY		531	/* reserved: execute the returned iomap and retry */
#define EZUFS_ASYNC		532	/* "async, cookie = hdr.op_id"; completed by ZU_IOC_ASYNC_DONE */

/* ~~~~ dpp_t: dual-port pointer, a 64-bit offset whose low 3 bits name the pool ~~~~ */
typedef __u64 zu_dpp_t;

#define ZUFS_DPP_POOL_MASK	7ULL
#define ZUFS_DPP_POOL_T1	0	/* pmem (t1) linear space */
#define ZUFS_DPP_POOL_FIRST	1	/* 1..6: private shared-memory pools */
#define ZUFS_DPP_POOL_LAST	6
#define ZUFS_DPP_POOL_APP	7	/* offset into the application buffer of this op */

#define zu_dpp_t_pool(dpp)	((__u32)((dpp) & ZUFS_DPP_POOL_MASK))
#define zu_dpp_t_val(dpp)	((dpp) & ~ZUFS_DPP_POOL_MASK)
#define zu_enc_dpp_t(off, pool)	(((__u64)(off) & ~ZUFS_DPP_POOL_MASK) | ((pool) & ZUFS_DPP_POOL_MASK))
#define zu_dpp_t_bn(dpp)	((dpp) >> 3)
#define zu_enc_dpp_t_bn(bn, pool) (((__u64)(bn) << 3) | ((pool) & ZUFS_DPP_POOL_MASK))

/*
 * ~~~~ the device table: ZUFS_DT_SIZE bytes at offset 0 of every tier member ~~~~
 * Written by `zufs format` (src/pools/device-table.ts, which documents every field); the kernel
 * reads it from a grabbed t1 device and refuses one that is not member 0 of a t1 set. Data starts
 * at ZUFS_DT_DATA_OFFSET; member 0's first journal_blocks of data are the write-back journal.
 */
#define ZUFS_DT_MAGIC		0x5446535a	/* "ZSFT" on disk */
#define ZUFS_DT_VERSION_MAJOR	1
#define ZUFS_DT_SIZE		4096
#define ZUFS_DT_BLOCK_SHIFT	12
#define ZUFS_DT_MAX_MEMBERS	64
#define ZUFS_DT_DATA_OFFSET	(2 * 1024 * 1024)
#define ZUFS_DEV_ROLE_T1	1
#define ZUFS_DEV_ROLE_T2	2
#define ZUFS_DEV_NUMA_NONE	0xff

struct zufs_dev_member {
	__u8	uuid[16];
	__le64	blocks;			/* 4 KiB blocks, a multiple of 512 (2 MiB) */
	__u8	role;			/* ZUFS_DEV_ROLE_* */
	__u8	numa;			/* NUMA node or ZUFS_DEV_NUMA_NONE */
	__le16	flags;
	__le32	reserved;
};

struct zufs_dev_table {
	__le32	magic;
	__le16	version_major;
	__le16	version_minor;
	__le32	crc;			/* CRC32C of the table with this field read as 0 */
	__le32	size;			/* ZUFS_DT_SIZE */
	__u8	volume_uuid[16];
	__u8	dev_uuid[16];		/* == members[dev_index].uuid */
	__le64	flags;
	__le64	t1_blocks;
	__le64	t2_blocks;
	__le16	dev_index;
	__le16	t1_count;		/* members[0 .. t1_count) are t1 */
	__le16	t2_count;
	__le16	block_shift;		/* ZUFS_DT_BLOCK_SHIFT */
	__le64	ctime_ns;
	__le64	journal_blocks;
	__u8	store_id[16];
	__u8	reserved1[16];
	struct zufs_dev_member members[ZUFS_DT_MAX_MEMBERS];
	char	label[64];
	__u8	reserved2[1856];
};

/* ~~~~ struct zus_inode: 128 bytes, shared live between kernel and server ~~~~ */
#define ZUFS_INODE_SIZE		128
#define ZUFS_S_IMMUTABLE	04000	/* i_flags */
#define ZUFS_S_APPEND		010000	/* i_flags */
#define ZUFS_INLINE_SYMLINK_MAX	31	/* i_size <= this: target in i_symlink, NUL terminated */

struct __zi_on_disk_desc {
	__le64 a[2];
};

struct zus_inode {
	__le16	i_flags;
	__le16	i_mode;
	__le32	i_nlink;
	__le64	i_size;
	struct __zi_on_disk_desc i_on_disk;	/* FS private */
	__le64	i_blocks;			/* 512-byte units */
	__le64	i_mtime;			/* ns since the epoch */
	__le64	i_ctime;
	__le64	i_atime;
	/* 64 - cache line */
	__le64	i_ino;
	__le32	i_uid;
	__le32	i_gid;
	__le64	i_xattr;			/* FS private */
	__le64	i_generation;
	/* 96 */
	union {
		__le32	i_rdev;
		__u8	i_symlink[32];
		__le64	i_sym_dpp;
		struct {
			__le64 dir_root;
			__le64 parent;
			__le64 names_gen;	/* ++ by the server when another gateway
						 * changed a name in this directory */
			__le64 __pad;
		} i_dir;
	};
};

/* ~~~~ ioctls: all on O_TMPFILE special files of the zuf root; the first one fixes the role ~~~~ */
#define ZU_IOC_MAGIC 'Z'

/* every command and every op starts with this header (32 bytes) */
struct zufs_ioc_hdr {
	__s32	err;		/* OUT: 0, -errno (see the errno range rule) */
	__u16	in_len;		/* bytes of the command struct, header included */
	__u16	out_max;	/* bytes the kernel reads back (the same struct: in place) */
	__u16	out_start;	/* offset of the first output field */
	__u16	out_len;	/* server: bytes of output written (0 is accepted = out_max) */
	__u16	operation;	/* ZUFS_OP_* (ZT) or ZUFS_M_* (mount thread) */
	__u16	flags;		/* ZUFS_H_* */
	__u32	offset;		/* payload offset in the op buffer (ZUFS_OP_PAYLOAD_OFF) */
	__u32	len;		/* IN: payload bytes sent / room for reply; OUT: payload bytes produced */
	__u64	op_id;		/* kernel: unique per super block; the async cookie names it */
};

#define ZUFS_H_INTR		(1 << 0)	/* the application got a signal */
#define ZUFS_H_HAS_PIGY_PUT	(1 << 1)	/* reserved (NIO) */

/* --- ZU_IOC_REGISTER_FS: one call per filesystem type --- */
struct register_fs_info {
	char	fsname[ZUFS_FSNAME_LEN];	/* "zufs-mem": [a-z0-9_-], NUL terminated */
	__u32	FS_magic;
	__u16	api_major;			/* ZUFS_MAJOR_VERSION of the server */
	__u16	api_minor;
	__u64	features;			/* ZUFS_FEATURE_* the server will use */
	__u64	s_maxbytes;
	__u32	s_time_gran;			/* ns; 1 = ns resolution */
	__u32	def_mode;
	__u64	reserved[4];
};

struct zufs_ioc_register_fs {
	struct zufs_ioc_hdr hdr;
	__u64	zus_zfi;			/* IN: server cookie of the fs type */
	struct register_fs_info rfi;
	/* OUT */
	__u16	kern_major;
	__u16	kern_minor;
	__u32	__pad;
	__u64	kern_features;
};
#define ZU_IOC_REGISTER_FS	_IOWR(ZU_IOC_MAGIC, 10, struct zufs_ioc_register_fs)

/* --- ZU_IOC_MOUNT: the mount thread returns the previous result and sleeps for the next job --- */
enum e_mount_operation {
	ZUFS_M_NONE	= 0,	/* first call: no previous result */
	ZUFS_M_MOUNT	= 1,
	ZUFS_M_UMOUNT	= 2,
	ZUFS_M_REMOUNT	= 3,
	ZUFS_M_BREAK	= 4,	/* BREAK_ALL: return to user space and exit */
	/*
	 * Every channel of zmi.cpu was busy: the server may start a ZT on (zmi.cpu,
	 * zmi.channel_no) and answer once it is registered, or refuse (any error: that CPU is
	 * not asked again until the server restarts). The kernel does not wait for the answer.
	 */
	ZUFS_M_ADD_CHANNEL = 5,
};

#define ZUFS_M_RDONLY		(1 << 0)	/* mount_flags */
#define ZUFS_M_SILENT		(1 << 2)

#define ZUFS_FSC_ACL_ON		(1 << 0)	/* fs_caps */
#define ZUFS_FSC_NIO_READS	(1 << 1)
#define ZUFS_FSC_NIO_WRITES	(1 << 2)
#define ZUFS_FSC_XATTR		(1 << 3)
#define ZUFS_FSC_CLOSE_SYNC	(1 << 4)	/* SYNC + ZUFS_SF_CLOSE at a close after writes */

struct zufs_mount_info {
	/* IN */
	__u64	zus_zfi;		/* the fs type's cookie from REGISTER_FS */
	__u64	sb_id;			/* kernel: names the super block in pool ioctls */
	__u64	sb_key;			/* kernel: random; required with sb_id */
	__u32	mount_flags;		/* ZUFS_M_RDONLY ... */
	__u16	num_cpu;
	__u16	num_channels;
	/* OUT (MOUNT); IN (UMOUNT: zus_sbi) */
	__u64	zus_sbi;		/* server cookie of the super block */
	__u64	zus_ii;			/* root inode cookie */
	zu_dpp_t _zi;			/* root zus_inode */
	__u32	fs_caps;		/* ZUFS_FSC_* */
	__u32	s_blocksize_bits;
	/* IN (ADD_CHANNEL) */
	__u32	cpu;
	__u32	channel_no;
	__u64	reserved;
	/* IN */
	__u32	config_len;		/* strlen of config (without NUL) */
	__u32	mount_options_len;
	char	config[ZUFS_CONFIG_MAX];	/* from -o config=PATH, NUL terminated */
	char	mount_options[ZUFS_MO_MAX];	/* the rest of -o, NUL terminated */
};

struct zufs_ioc_mount {
	struct zufs_ioc_hdr hdr;	/* hdr.operation = ZUFS_M_*; hdr.err = previous result */
	struct zufs_mount_info zmi;
};
#define ZU_IOC_MOUNT		_IOWR(ZU_IOC_MAGIC, 11, struct zufs_ioc_mount)

/* --- ZU_IOC_NUMA_MAP: topology to the server --- */
struct zufs_ioc_numa_map {
	struct zufs_ioc_hdr hdr;
	__u32	possible_cpus;
	__u32	online_cpus;
	__u32	possible_nodes;
	__u32	online_nodes;
	__u16	cpu_to_node[ZUFS_NUMA_MAX_CPUS];
};
#define ZU_IOC_NUMA_MAP		_IOWR(ZU_IOC_MAGIC, 13, struct zufs_ioc_numa_map)

/*
 * --- ZU_IOC_GRAB_PMEM: this special file becomes t1 member dev_index of super block sb_id ---
 * fd is an open file of a DAX-capable block device (pmem) that zufs format made a t1 member.
 * The kernel holds the device exclusively until the super block goes, maps all of it with DAX
 * and answers its size; mmap(this special file, MAP_SHARED, offset = byte offset in the device)
 * then maps the same memory into the server. One member (dev_index 0) in this version; a second
 * grab for the same super block fails with EEXIST, a device without DAX with EOPNOTSUPP.
 */
struct zufs_ioc_pmem {
	struct zufs_ioc_hdr hdr;
	__u64	sb_id;
	__u64	sb_key;
	__u64	t1_size;		/* OUT: bytes */
	__u32	dev_index;
	__s32	fd;
};
#define ZU_IOC_GRAB_PMEM	_IOWR(ZU_IOC_MAGIC, 14, struct zufs_ioc_pmem)

/* --- ZU_IOC_INIT_THREAD (ZT_INIT): the calling thread becomes ZT (current cpu, channel_no) --- */
struct zufs_ioc_init {
	struct zufs_ioc_hdr hdr;
	__u32	channel_no;		/* < ZUFS_MAX_ZT_CHANNELS */
	__u32	max_command;		/* op buffer bytes wanted; kernel clamps to [MIN, MAX] */
	/* OUT */
	__u32	cpu;			/* the CPU the channel was bound to */
	__u32	op_buf_size;		/* mmap this many bytes at offset 0 */
};
#define ZU_IOC_INIT_THREAD	_IOWR(ZU_IOC_MAGIC, 15, struct zufs_ioc_init)
#define ZU_IOC_ZT_INIT		ZU_IOC_INIT_THREAD

/* --- ZU_IOC_BREAK_ALL: wake every ZT and the mount thread with ZUFS_OP_BREAK / ZUFS_M_BREAK --- */
struct zufs_ioc_break_all {
	struct zufs_ioc_hdr hdr;
};
#define ZU_IOC_BREAK_ALL	_IOWR(ZU_IOC_MAGIC, 16, struct zufs_ioc_break_all)

/* --- ZU_IOC_ALLOC_POOL: this file becomes pool pool_no of super block sb_id; then mmap it --- */
struct zufs_ioc_alloc_pool {
	struct zufs_ioc_hdr hdr;
	__u64	sb_id;
	__u64	sb_key;
	__u32	pool_no;		/* ZUFS_DPP_POOL_FIRST..ZUFS_DPP_POOL_LAST */
	__u32	flags;
	__u64	size;			/* bytes, <= ZUFS_POOL_MAX_SIZE; rounded up to pages */
	__u64	pool_size;		/* OUT */
};
#define ZU_IOC_ALLOC_POOL	_IOWR(ZU_IOC_MAGIC, 17, struct zufs_ioc_alloc_pool)
#define ZU_IOC_ALLOC_BUFFER	ZU_IOC_ALLOC_POOL

/*
 * --- ZU_IOC_WAIT_OPT: the ZT loop. The op buffer header holds the previous result (err, out
 * fields, payload len); the call delivers it, then sleeps until the next op is in the buffer.
 * Returns 0 with an op, or -EINTR on a signal (call again: nothing is lost).
 */
struct zufs_ioc_wait_operation {
	struct zufs_ioc_hdr hdr;	/* unused: the op buffer is the channel's, not the argument */
};
#define ZU_IOC_WAIT_OPT		_IOWR(ZU_IOC_MAGIC, 18, struct zufs_ioc_wait_operation)

/*
 * --- ZU_IOC_IOMAP_EXEC (any special file): the t2 engine moves blocks between t1 and t2 ---
 * ziom.iom_n IOMAP words follow the struct (at most 192), in threes:
 *   IOM_T2_WRITE(ref), IOM_T1_READ(t1 block),  IOM_T2_WRITE_LEN(blocks): t1 -> t2
 *   IOM_T2_READ(ref),  IOM_T1_WRITE(t1 block), IOM_T2_READ_LEN(blocks):  t2 -> t1
 * where ref = dev_index << 40 | block in that t2 member (ZU_IOC_GRAB_T2). Only blocks of the data
 * areas (t1 from data_first, t2 from ZUFS_DT_DATA_OFFSET) are accepted. wait_for_done must be 1:
 * the ioctl returns when every move is done, or with the first error.
 */
struct zufs_iomap {
	__u64	iomd;			/* server cookie of the async completion */
	__u32	iom_max;
	__u32	iom_n;
	/* __u64 iom_e[iom_max] follows */
};

struct zufs_ioc_iomap_exec {
	struct zufs_ioc_hdr hdr;
	__u64	sb_id;
	__u64	sb_key;
	__u64	zus_sbi;
	__u32	wait_for_done;
	__u32	__pad;
	struct zufs_iomap ziom;
};
#define ZU_IOC_IOMAP_EXEC	_IOWR(ZU_IOC_MAGIC, 19, struct zufs_ioc_iomap_exec)

/*
 * --- ZU_IOC_GRAB_T2 (any special file): t2 member dev_index of super block sb_id's tier volume ---
 * fd is an open (read-write) file of a block device that zufs format made t2 member dev_index (its
 * index in the device table) of the volume of the super block's grabbed t1 (ENOENT without one).
 * The kernel holds the device exclusively until t1 goes and answers its size; from then on only
 * ZU_IOC_IOMAP_EXEC moves data to and from it. EEXIST for a member grabbed already.
 */
struct zufs_ioc_t2 {
	struct zufs_ioc_hdr hdr;
	__u64	sb_id;
	__u64	sb_key;
	__u64	t2_size;		/* OUT: bytes of the member the table gives */
	__u32	dev_index;
	__s32	fd;
};
#define ZU_IOC_GRAB_T2		_IOWR(ZU_IOC_MAGIC, 22, struct zufs_ioc_t2)

/*
 * --- ZU_IOC_ASYNC_DONE: completes op `op_id` that a ZT answered with hdr.err = -EZUFS_ASYNC
 * (only when the server registered with ZUFS_FEATURE_ASYNC). The argument is followed, in the
 * same user buffer, by the op's reply struct (reply_size bytes: exactly the op's struct, its
 * hdr.err/hdr.len set as for a WAIT_OPT reply) and then payload_len bytes of reply payload.
 * Allowed on any special file; sb_id + sb_key must name the op's super block.
 */
struct zufs_ioc_async_done {
	struct zufs_ioc_hdr hdr;
	__u64	sb_id;
	__u64	sb_key;
	__u64	op_id;
	__u32	reply_size;
	__u32	payload_len;
	/* struct zufs_ioc_<op> reply; __u8 payload[payload_len]; follow */
};
#define ZU_IOC_ASYNC_DONE	_IOWR(ZU_IOC_MAGIC, 20, struct zufs_ioc_async_done)

/*
 * --- ZU_IOC_UNMAP: revokes the kernel's t1 block map of inode ino, pages [first, first + count)
 * (count 0: to the end; ino 0: every inode of the super block). When it returns no reader copies
 * from those blocks any more and no GET_MULTY answer given before it will be kept: the server
 * may reuse the blocks. Allowed on any special file; sb_id + sb_key name the super block.
 */
struct zufs_ioc_unmap {
	struct zufs_ioc_hdr hdr;
	__u64	sb_id;
	__u64	sb_key;
	__u64	ino;
	__u64	first;			/* page index */
	__u64	count;			/* pages; 0 = to the end of the file */
	__u64	unmapped;		/* OUT: pages that were mapped */
};
#define ZU_IOC_UNMAP		_IOWR(ZU_IOC_MAGIC, 21, struct zufs_ioc_unmap)

/* ~~~~ IOMAP words (reserved for NIO/IOMAP_EXEC): top 8 bits type, low 56 bits value ~~~~ */
#define ZUFS_IOM_VAL_BITS	56
#define ZUFS_IOM_FIRST_VAL_MASK	((1ULL << ZUFS_IOM_VAL_BITS) - 1)
enum ZUFS_IOM_TYPE {
	IOM_NONE	= 0,
	IOM_T1_WRITE	= 1,
	IOM_T1_READ	= 2,
	IOM_T2_WRITE	= 3,
	IOM_T2_READ	= 4,
	IOM_T2_WRITE_LEN = 5,
	IOM_T2_READ_LEN	= 6,
	IOM_T2_ZUSMEM_WRITE = 7,
	IOM_T2_ZUSMEM_READ = 8,
	IOM_UNMAP	= 9,
	IOM_WBINV	= 10,
	IOM_REPEAT	= 11,
	IOM_DISCARD	= 12,
	IOM_NUM_LEGAL_OPT,
};
#define ZUFS_IOM_TYPE(w)	((__u32)((w) >> ZUFS_IOM_VAL_BITS))
#define ZUFS_IOM_VAL(w)		((w) & ZUFS_IOM_FIRST_VAL_MASK)
#define ZUFS_IOM_WORD(type, val) (((__u64)(type) << ZUFS_IOM_VAL_BITS) | ((val) & ZUFS_IOM_FIRST_VAL_MASK))

/* ~~~~ operation codes carried in hdr.operation of a ZT op ~~~~ */
enum e_zufs_operation {
	ZUFS_OP_NULL		= 0,
	ZUFS_OP_BREAK		= 1,	/* the ZT must return to user space (shutdown) */
	ZUFS_OP_STATFS		= 2,
	ZUFS_OP_SHOW_OPTIONS	= 3,
	ZUFS_OP_NEW_INODE	= 4,
	ZUFS_OP_FREE_INODE	= 5,
	ZUFS_OP_EVICT_INODE	= 6,
	ZUFS_OP_LOOKUP		= 7,
	ZUFS_OP_ADD_DENTRY	= 8,
	ZUFS_OP_REMOVE_DENTRY	= 9,
	ZUFS_OP_RENAME		= 10,
	ZUFS_OP_READDIR		= 11,
	ZUFS_OP_CLONE		= 12,
	ZUFS_OP_COPY		= 13,
	ZUFS_OP_READ		= 14,
	ZUFS_OP_PRE_READ	= 15,
	ZUFS_OP_WRITE		= 16,
	ZUFS_OP_MMAP_CLOSE	= 17,
	ZUFS_OP_GET_SYMLINK	= 18,
	ZUFS_OP_SETATTR		= 19,
	ZUFS_OP_SYNC		= 20,
	ZUFS_OP_FALLOCATE	= 21,
	ZUFS_OP_LLSEEK		= 22,
	ZUFS_OP_IOCTL		= 23,
	ZUFS_OP_XATTR_GET	= 24,
	ZUFS_OP_XATTR_SET	= 25,
	ZUFS_OP_GET_BLOCK	= 26,
	ZUFS_OP_XATTR_LIST	= 27,
	ZUFS_OP_FIEMAP		= 28,
	ZUFS_OP_GET_MULTY	= 29,
	ZUFS_OP_PUT_MULTY	= 30,
	ZUFS_OP_NOOP		= 31,
	ZUFS_OP_PUT_BLOCK	= 32,
	ZUFS_OP_IOM_DONE	= 33,
	ZUFS_OP_MAX_OPT,
};

/* names travel as a counted string */
struct zufs_str {
	__u8	len;
	char	name[ZUFS_NAME_LEN];
};

/* ZUFS_OP_NEW_INODE: create a file/dir/symlink/node and (unless ZI_TMPFILE) its dentry.
 * IN: zi carries mode/uid/gid/rdev/times; a symlink target is the payload (hdr.len bytes). */
#define ZI_TMPFILE		(1 << 0)
struct zufs_ioc_new_inode {
	struct zufs_ioc_hdr hdr;
	struct zus_inode zi;		/* IN: attributes of the new inode */
	__u64	dir_ii;			/* IN */
	__u32	flags;			/* IN: ZI_* */
	__u32	__pad;
	struct zufs_str str;		/* IN */
	/* OUT */
	zu_dpp_t _zi;
	__u64	zus_ii;
};

/* ZUFS_OP_FREE_INODE / ZUFS_OP_EVICT_INODE */
#define ZI_LOOKUP_RACE		(1 << 0)
struct zufs_ioc_evict_inode {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u32	flags;
	__u32	__pad;
};

/* ZUFS_OP_LOOKUP */
struct zufs_ioc_lookup {
	struct zufs_ioc_hdr hdr;
	__u64	dir_ii;			/* IN */
	struct zufs_str str;		/* IN */
	zu_dpp_t _zi;			/* OUT */
	__u64	zus_ii;			/* OUT */
};

/* ZUFS_OP_ADD_DENTRY (link) / ZUFS_OP_REMOVE_DENTRY (unlink, rmdir) */
#define ZUFS_DF_DIR		(1 << 0)	/* REMOVE_DENTRY of a directory (rmdir) */
struct zufs_ioc_dentry {
	struct zufs_ioc_hdr hdr;
	__u64	dir_ii;
	__u64	zus_ii;			/* the inode linked / unlinked */
	__le64	time;			/* ns: new ctime/mtime of dir and inode */
	__u32	flags;			/* ZUFS_DF_* */
	__u32	__pad;
	struct zufs_str str;
};

/* ZUFS_OP_RENAME: flags are RENAME_NOREPLACE (1) / RENAME_EXCHANGE (2) */
struct zufs_ioc_rename {
	struct zufs_ioc_hdr hdr;
	__u64	old_dir_ii;
	__u64	new_dir_ii;
	__u64	old_zus_ii;
	__u64	new_zus_ii;		/* 0 if the target does not exist */
	__le64	time;
	__u32	flags;
	__u32	__pad;
	struct zufs_str old_d_str;
	struct zufs_str new_d_str;
};

/* ZUFS_OP_READDIR: records of struct zufs_dir_entry fill the payload (hdr.len bytes out) */
struct zufs_dir_entry {
	__le64	ino;
	__le64	pos;			/* cookie to resume after this entry */
	__u16	rec_len;		/* 8-byte aligned, header + name */
	__u8	type;			/* DT_* */
	__u8	name_len;
	__u32	__pad;
	/* char name[name_len] follows, not NUL terminated */
};
struct zufs_ioc_readdir {
	struct zufs_ioc_hdr hdr;
	__u64	dir_ii;			/* IN */
	__u64	pos;			/* IN: resume cookie (0 = start, "." and ".." included) */
	/* OUT */
	__u64	next_pos;		/* cookie after the last record */
	__u32	more;			/* 0 = end of directory */
	__u32	count;			/* records in the payload */
};

/*
 * ZUFS_OP_READ / ZUFS_OP_WRITE / ZUFS_OP_PRE_READ / GET_MULTY / PUT_MULTY
 *
 * GET_MULTY (NIO, once t1 is grabbed): filepos is page aligned and hdr.len = 4096 * pages asked.
 * The server answers hdr.len = 8 * n (1 <= n <= pages asked) and n IOMAP words in the payload,
 * one per page from filepos: ZUFS_IOM_WORD(IOM_T1_READ, bn) when t1 block bn (4 KiB units from
 * the start of the device) holds that page of the file, or 0 when it does not map the page (a
 * hole, bytes not cached, no room): the kernel reads such a page with ZUFS_OP_READ. Block 0
 * (the device table) is never a data block. A mapped page stays valid until ZU_IOC_UNMAP
 * revokes it; the kernel never reads a block past i_size, and bytes of a mapped block up to
 * i_size must be the file's (zero where the file has none).
 *
 * GET_MULTY with rw = ZUFS_RW_WRITE (only when the server set ZUFS_FSC_NIO_WRITES) asks to map
 * pages for writing, past EOF too: ZUFS_IOM_WORD(IOM_T1_WRITE, bn) lets the kernel write block bn
 * (IOM_T1_READ or 0: it may not). After writing bytes [filepos, filepos + hdr.len) into such
 * blocks, consecutive from the block in iom_e[0] (iom_n = 1), the kernel sends PUT_MULTY: the
 * server makes the bytes the file's (as a WRITE of them would: size, mtime, dirty for write-back)
 * and answers last_pos = filepos + hdr.len, or -ESTALE when it revoked any of those blocks before
 * the PUT_MULTY: the bytes are then not the file's and the kernel writes them again with WRITE.
 *
 * PUT_MULTY with ZUFS_RW_MMAP: the bytes were stored through a shared mapping of those blocks;
 * they never extend the file (the server clips them at i_size). With ZUFS_RW_MMAP_OPEN too, the
 * kernel is about to let stores into the page: the server counts it written and keeps its blocks
 * (no eviction) until a PUT_MULTY with ZUFS_RW_MMAP alone commits it (msync, munmap) or the
 * server revokes the blocks (truncate, a peer's change), which forgets the open.
 */
#define ZUFS_RW_WRITE		(1 << 0)
#define ZUFS_RW_MMAP		(1 << 1)
#define ZUFS_RW_RAND		(1 << 4)
#define ZUFS_RW_MMAP_OPEN	(1 << 6)	/* PUT_MULTY: see struct zufs_ioc_IO */
#define ZUFS_RW_APPEND		(1 << 9)
#define ZUFS_RW_DIRECT		(1 << 10)
#define ZUFS_RW_DSYNC		(1 << 12)
#define ZUFS_RW_SYNC		(1 << 13)
#define ZUFS_RW_NOWAIT		(1 << 15)
#define ZUFS_RET_NEW		(1 << 1)
#define ZUFS_RET_PUT_NOW	(1 << 3)
struct zufs_ioc_IO {
	struct zufs_ioc_hdr hdr;	/* payload: the data (hdr.len bytes) */
	__u64	zus_ii;
	__u64	filepos;
	__u64	rw;			/* ZUFS_RW_* */
	__u32	ret_flags;		/* OUT: ZUFS_RET_* */
	__u32	pool;
	__u64	cookie;			/* FS private */
	__u64	last_pos;		/* OUT: filepos + bytes done */
	__u32	iom_n;			/* NIO: words in iom_e */
	__u32	__pad;
	__u64	iom_e[8];		/* NIO: IOMAP words */
};

/* ZUFS_OP_GET_SYMLINK: the target is the payload (hdr.len bytes out) */
struct zufs_ioc_get_link {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	zu_dpp_t _dpp;			/* OUT: reserved (target in a pool) */
};

/* ZUFS_OP_SETATTR: the kernel already wrote the new values into the shared zus_inode */
#define ZUFS_ATTR_MODE		(1 << 0)
#define ZUFS_ATTR_UID		(1 << 1)
#define ZUFS_ATTR_GID		(1 << 2)
#define ZUFS_ATTR_SIZE		(1 << 3)
#define ZUFS_ATTR_ATIME		(1 << 4)
#define ZUFS_ATTR_MTIME		(1 << 5)
#define ZUFS_ATTR_CTIME		(1 << 6)
struct zufs_ioc_attr {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u32	zuf_attr;		/* ZUFS_ATTR_* */
	__u32	__pad;
	__u64	truncate_size;
};

/* ZUFS_OP_SYNC; length == ~0 on the root inode means the whole super block (syncfs) */
#define ZUFS_SF_DATASYNC	(1 << 0)
#define ZUFS_SF_DONTNEED	(1 << 1)
#define ZUFS_SF_CLOSE		(1 << 2)	/* a close after writes: bytes reach the store */
struct zufs_ioc_sync {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u64	offset;
	__u64	length;
	__u32	flags;
	__u32	__pad;
};

/* ZUFS_OP_FALLOCATE: mode is FALLOC_FL_* */
struct zufs_ioc_fallocate {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u64	offset;
	__u64	len;
	__u32	mode;
	__u32	__pad;
};

/* ZUFS_OP_LLSEEK: SEEK_DATA / SEEK_HOLE */
struct zufs_ioc_seek {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u64	offset_in;
	__u32	whence;
	__u32	__pad;
	__u64	offset_out;		/* OUT */
};

/* ZUFS_OP_IOCTL: _IOC_SIZE(cmd) bytes of argument in/out as payload */
#define ZUFS_IOC_KF_CAP_ADMIN	(1 << 0)
struct zufs_ioc_ioctl {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u32	cmd;
	__u32	kflags;
	__le64	time;
};

/* ZUFS_OP_XATTR_GET / SET / LIST. Value (or the name list) is the payload.
 * GET/LIST with hdr.len == 0 ask for the size only: the server answers in value_size. */
#define ZUFS_XF_CREATE		(1 << 0)	/* XATTR_CREATE */
#define ZUFS_XF_REPLACE		(1 << 1)	/* XATTR_REPLACE */
#define ZUFS_XF_REMOVE		(1 << 8)	/* SET: remove the name */
struct zufs_ioc_xattr {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u32	flags;			/* ZUFS_XF_* */
	__u32	value_size;		/* OUT: size of the value / list */
	__u16	name_len;
	__u16	__pad[3];
	char	name[ZUFS_XATTR_NAME_MAX];	/* full name incl. prefix ("user.x") */
};

/* ZUFS_OP_STATFS */
struct zufs_statfs {
	__u64	f_blocks;
	__u64	f_bfree;
	__u64	f_bavail;
	__u64	f_files;
	__u64	f_ffree;
	__u32	f_bsize;
	__u32	f_frsize;
	__u32	f_namelen;
	__u32	__pad;
};
struct zufs_ioc_statfs {
	struct zufs_ioc_hdr hdr;
	__u64	zus_sbi;
	struct zufs_statfs st;		/* OUT */
};

/* ZUFS_OP_CLONE / ZUFS_OP_COPY (reserved) */
struct zufs_ioc_clone {
	struct zufs_ioc_hdr hdr;
	__u64	src_zus_ii;
	__u64	dst_zus_ii;
	__u64	pos_in;
	__u64	pos_out;
	__u64	len;
	__u32	flags;
	__u32	__pad;
};

/* ZUFS_OP_MMAP_CLOSE (reserved) */
struct zufs_ioc_mmap_close {
	struct zufs_ioc_hdr hdr;
	__u64	zus_ii;
	__u64	rw;
};

#endif /* _LINUX_ZUS_API_H */
