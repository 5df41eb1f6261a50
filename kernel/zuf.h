/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zuf.h - private declarations of zuf.ko shared by its files.
 */
#ifndef __ZUF_H
#define __ZUF_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/wait.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/atomic.h>
#include <linux/xattr.h>
#include <linux/xarray.h>
#include <linux/rwsem.h>

#include "zus_api.h"

#define zuf_err(fmt, ...)  pr_err("zuf: " fmt, ##__VA_ARGS__)
#define zuf_warn(fmt, ...) pr_warn_ratelimited("zuf: " fmt, ##__VA_ARGS__)
#define zuf_dbg(fmt, ...)  pr_debug("zuf: " fmt, ##__VA_ARGS__)

#define ZUF_MAX_FS_TYPES 16

/* roles a special file takes with its first ioctl */
enum zuf_special_role {
	ZUF_SF_NONE = 0,
	ZUF_SF_MOUNT_THREAD,	/* REGISTER_FS / MOUNT / NUMA_MAP */
	ZUF_SF_ZT,		/* INIT_THREAD / WAIT_OPT / mmap of the op buffer */
	ZUF_SF_POOL,		/* ALLOC_POOL / mmap of the pool */
	ZUF_SF_T1,		/* GRAB_PMEM / mmap of the t1 device */
};

struct zuf_pool {
	struct kref	kref;
	void		*addr;		/* vmalloc_user(); immutable after creation */
	size_t		size;
};

/*
 * t1 of one super block (t1.c): a DAX block device held exclusively and mapped whole. Shared by
 * the super block and the server's special file (its mapping); freed when both are gone.
 * inodes (ino -> zuf_inode_info) lists the inodes with a NIO block map, for ZU_IOC_UNMAP;
 * unmap_lock serialises revocations against an inode leaving that list.
 */
struct zuf_t1 {
	struct kref		kref;
	struct block_device	*bdev;
	struct dax_device	*dax;
	void			*kaddr;		/* the whole device, immutable */
	unsigned long		pfn;		/* of block 0 */
	u64			nblocks;	/* 4 KiB blocks of the device */
	u64			data_first;	/* blocks a GET_MULTY may name: after the table */
	u64			data_end;	/* and the journal, inside the member's size */
	struct mutex		unmap_lock;
	struct xarray		inodes;		/* unmap_lock */
	struct zuf_t2_member	*t2[ZUFS_DT_MAX_MEMBERS];	/* t2.c; set once, unmap_lock */
};

struct zufc_thread;

/* one special file; file->private_data */
struct zuf_special_file {
	struct mutex		lock;	/* serialises role changes (first ioctl vs release) */
	enum zuf_special_role	role;	/* lock */
	struct zufc_thread	*zt;	/* ZUF_SF_ZT: the channel this file owns */
	struct zuf_pool		*pool;	/* ZUF_SF_POOL */
	struct zuf_t1		*t1;	/* ZUF_SF_T1 */
};

/* one registered filesystem type; lives until rmmod (a super block points at it) */
struct zuf_fs_type {
	struct file_system_type	vfs_fst;
	struct register_fs_info	rfi;
	__u64			zus_zfi;	/* zri.lock */
	bool			registered;	/* register_filesystem() done */
	char			name[ZUFS_FSNAME_LEN];
};

/* a job for the mount thread */
struct zuf_mount_work {
	struct list_head	list;		/* zri.lock */
	__u16			operation;	/* ZUFS_M_* */
	bool			detached;	/* nobody waits: freed when answered (ADD_CHANNEL) */
	int			err;
	struct zufs_mount_info	*zmi;
	struct completion	done;
};

/* the one zuf root (the server's side) */
struct zuf_root_info {
	spinlock_t		lock;		/* protects everything below */
	struct zuf_fs_type	*fs_types[ZUF_MAX_FS_TYPES];
	int			num_fs_types;
	struct zuf_special_file	*mount_thread;	/* the registered mount thread, or NULL */
	u64			server_gen;	/* ++ each time a mount thread goes away */
	struct list_head	mount_pending;	/* of zuf_mount_work */
	struct zuf_mount_work	*mount_cur;	/* handed to the mount thread, awaiting result */
	wait_queue_head_t	mount_wq;	/* the mount thread sleeps here */
	bool			mount_break;	/* BREAK_ALL given to the mount thread */
	int			num_zts;	/* registered ZT channels */
	wait_queue_head_t	free_wq;	/* apps waiting for any free channel */
};

extern struct zuf_root_info zri;

/* counters exposed in /sys/fs/zuf/stats */
struct zuf_stats {
	atomic64_t	round_trips[ZUFS_OP_MAX_OPT];
	atomic64_t	errors[ZUFS_OP_MAX_OPT];
	atomic64_t	bytes_to_server;	/* payload copied app -> op buffer */
	atomic64_t	bytes_from_server;	/* payload copied op buffer -> app */
	atomic64_t	cross_cpu;		/* dispatched to a channel of another CPU */
	atomic64_t	channel_waits;		/* had to sleep for a free channel */
	atomic64_t	bad_replies;		/* replies rejected by validation */
	atomic64_t	zi_getattr;		/* getattr answered from the shared zus_inode */
	atomic64_t	dead_server;		/* ops failed because no server was there */
	atomic64_t	async_ops;		/* ops the server answered -EZUFS_ASYNC */
	atomic64_t	channels_asked;		/* ADD_CHANNEL requests to the server */
	atomic64_t	channels_added;		/* ... it granted */
	atomic64_t	nio_gets;		/* GET_MULTY round trips */
	atomic64_t	nio_pages_mapped;	/* pages the server mapped to t1 blocks */
	atomic64_t	nio_pages_hit;		/* pages read from t1 with no round trip */
	atomic64_t	nio_unmapped;		/* mapped pages revoked (ZU_IOC_UNMAP, truncate) */
	atomic64_t	nio_fallback;		/* READ/WRITE ops for pages the server did not map */
	atomic64_t	nio_puts;		/* PUT_MULTY round trips (writes into t1) */
	atomic64_t	nio_put_stale;		/* ... answered -ESTALE and written again */
	atomic64_t	bytes_from_t1;		/* copied t1 -> app by the kernel */
	atomic64_t	bytes_to_t1;		/* copied app -> t1 by the kernel */
	atomic64_t	dax_faults;		/* ptes of t1 blocks inserted (dax.c) */
	atomic64_t	dax_opens;		/* pages opened by a store through a mapping */
	atomic64_t	dax_commits;		/* runs of such pages committed (msync, munmap) */
	atomic64_t	t2_bytes_written;	/* t1 -> t2 by the t2 engine */
	atomic64_t	t2_bytes_read;		/* t2 -> t1 */
};
extern struct zuf_stats zuf_stats;

/* per mounted super block */
struct zuf_sb_info {
	struct super_block	*sb;
	struct zuf_fs_type	*zft;
	u64			sb_id;		/* immutable */
	u64			sb_key;		/* immutable, random */
	u64			server_gen;	/* immutable: the server that mounted us */
	__u64			zus_sbi;	/* immutable after mount */
	__u32			fs_caps;
	spinlock_t		pool_lock;
	struct zuf_pool		*pools[ZUFS_MAX_POOLS];	/* pool_lock; set once by ALLOC_POOL */
	struct zuf_t1		*t1;		/* pool_lock; set once by GRAB_PMEM */
	char			*config;	/* -o config= */
	char			*options;	/* the rest of -o */
	bool			ro;
	bool			no_xattr;	/* server answered ENOSYS/EOPNOTSUPP */
};

static inline struct zuf_sb_info *SBI(struct super_block *sb)
{
	return sb->s_fs_info;
}

struct zuf_inode_info {
	struct inode		vfs_inode;
	struct zus_inode	*zi;		/* in a pool of the sb; immutable after iget */
	__u64			zus_ii;		/* server cookie; immutable after iget */
	zu_dpp_t		_zi;
	u64			pc_mtime;	/* mmap.c: the version the page cache holds */
	u64			pc_size;
	unsigned long		state;		/* ZUF_I_* bits */
	/* nio.c: t1 block of each mapped page, revoked by the server (ZU_IOC_UNMAP) */
	struct rw_semaphore	nio_sem;	/* readers copy under it; revocation takes it */
	struct xarray		nio_blocks;	/* page index -> xa_mk_value(block << 1 | writable) */
	unsigned long		nio_seq;	/* nio_sem: ++ per revocation */
	bool			nio_listed;	/* in t1->inodes */
	struct mutex		dax_lock;	/* dax.c: orders stores' opens and commits */
};

/* zuf_inode_info.state */
#define ZUF_I_WRITTEN	0	/* written since the last close told the server (ZUFS_SF_CLOSE) */

static inline struct zuf_inode_info *ZUII(struct inode *inode)
{
	return container_of(inode, struct zuf_inode_info, vfs_inode);
}

/* zuf-core.c: channels and dispatch */
int zufc_init(void);
void zufc_exit(void);
struct zufc_thread *zufc_get_channel(struct zuf_sb_info *sbi, int *err);
void *zufc_op_buf(struct zufc_thread *zt);
size_t zufc_payload_max(struct zufc_thread *zt);
void *zufc_payload(struct zufc_thread *zt);
int zufc_call(struct zufc_thread **pzt, struct zufs_ioc_hdr *hdr, size_t size);
int zufc_async_done(struct zufs_ioc_async_done __user *arg);
void zufc_async_fail_all(void);
void zufc_put_channel(struct zufc_thread *zt);
int zufc_dispatch(struct zuf_sb_info *sbi, struct zufs_ioc_hdr *hdr, size_t size);
int zufc_zt_init(struct zuf_special_file *zsf, struct zufs_ioc_init __user *arg);
int zufc_wait_opt(struct zuf_special_file *zsf);
int zufc_zt_mmap(struct zuf_special_file *zsf, struct vm_area_struct *vma);
void zufc_zt_release(struct zuf_special_file *zsf);
void zufc_break_all(void);
void zufc_add_channel_done(unsigned int cpu, int err);
void zufc_add_channel_reset(void);
void zuf_hdr_init(struct zufs_ioc_hdr *hdr, u16 op, size_t size, size_t out_start);

/* zuf-root.c */
int zuf_root_init(void);
void zuf_root_exit(void);
int zuf_mount_thread_call(struct zuf_mount_work *zmw);
int zuf_mount_thread_post(struct zuf_mount_work *zmw);
bool zuf_server_alive(u64 gen);

/* pools.c */
int zuf_pool_alloc(struct zuf_special_file *zsf, struct zufs_ioc_alloc_pool __user *arg);
int zuf_pool_mmap(struct zuf_special_file *zsf, struct vm_area_struct *vma);
void zuf_pool_put(struct zuf_pool *pool);
struct zus_inode *zuf_dpp_to_zi(struct zuf_sb_info *sbi, zu_dpp_t dpp);
int zuf_sb_id_alloc(struct zuf_sb_info *sbi);
void zuf_sb_id_free(struct zuf_sb_info *sbi);
void zuf_sbi_put_pools(struct zuf_sb_info *sbi);
void zuf_pools_exit(void);
int zuf_sb_install_t1(u64 sb_id, u64 sb_key, struct zuf_t1 *t1);
struct zuf_t1 *zuf_sb_get_t1(u64 sb_id, u64 sb_key);

/* t1.c */
int zuf_t1_grab(struct zuf_special_file *zsf, struct zufs_ioc_pmem __user *arg);
int zuf_t1_mmap(struct zuf_special_file *zsf, struct vm_area_struct *vma);
void zuf_t1_put(struct zuf_t1 *t1);

/* t2.c */
struct zuf_t2_member;
int zuf_t2_grab(struct zufs_ioc_t2 __user *arg);
int zuf_t2_exec(struct zufs_ioc_iomap_exec __user *arg);
void zuf_t2_release(struct zuf_t1 *t1);

/* nio.c */
static inline bool zuf_nio_on(struct inode *inode)
{
	struct zuf_sb_info *sbi = SBI(inode->i_sb);

	return READ_ONCE(sbi->t1) && (sbi->fs_caps & ZUFS_FSC_NIO_READS) && S_ISREG(inode->i_mode);
}
/* write(2) into t1 too: write-back tiers; append-only and immutable files ask the server */
static inline bool zuf_nio_writes_on(struct inode *inode)
{
	return zuf_nio_on(inode) && (SBI(inode->i_sb)->fs_caps & ZUFS_FSC_NIO_WRITES) &&
	       !IS_APPEND(inode) && !IS_IMMUTABLE(inode);
}
ssize_t zuf_nio_read(struct inode *inode, loff_t pos, struct iov_iter *ii);
bool zuf_nio_lookup(struct inode *inode, pgoff_t index, bool writable);
long zuf_nio_map(struct inode *inode, pgoff_t index, unsigned long want, bool write);
int zuf_nio_mmap_open(struct inode *inode, pgoff_t index);
vm_fault_t zuf_nio_mmap_insert(struct vm_fault *vmf, bool store, bool present);
int zuf_nio_mmap_commit(struct inode *inode);

/* dax.c */
#define ZUF_NIO_FAULT_PAGES	16	/* pages asked per fault: 64 KiB around sequential readers */
int zuf_file_mmap(struct file *file, struct vm_area_struct *vma);
int zuf_dax_commit(struct inode *inode);
ssize_t zuf_nio_write(struct inode *inode, loff_t pos, struct iov_iter *ii, u64 rw);
void zuf_nio_forget(struct inode *inode, pgoff_t first);
void zuf_nio_evict(struct inode *inode);
int zuf_nio_unmap_ioctl(struct zufs_ioc_unmap __user *arg);

/* super.c */
int zuf_register_fs_type(struct zuf_fs_type *zft);
int zuf_init_inodecache(void);
void zuf_destroy_inodecache(void);

/* inode.c */
struct inode *zuf_iget(struct super_block *sb, __u64 zus_ii, zu_dpp_t _zi);
void zuf_refresh_inode(struct inode *inode);
void zuf_evict_inode(struct inode *inode);
int zuf_getattr(struct user_namespace *mnt_userns, const struct path *path,
		struct kstat *stat, u32 request_mask, unsigned int flags);
int zuf_setattr(struct user_namespace *mnt_userns, struct dentry *dentry, struct iattr *attr);
void zuf_fill_zi_times_now(struct zus_inode *zi);
int zuf_set_mode(struct inode *inode, umode_t mode);
extern const struct inode_operations zuf_file_inode_operations;
extern const struct inode_operations zuf_special_inode_operations;

/* namei.c */
extern const struct inode_operations zuf_dir_inode_operations;
extern const struct dentry_operations zuf_dentry_operations;

/* dir.c */
extern const struct file_operations zuf_dir_operations;

/* file.c, rw.c */
extern const struct file_operations zuf_file_operations;
ssize_t zuf_rw_read(struct inode *inode, loff_t pos, struct iov_iter *ii);
ssize_t zuf_rw_read_opbuf(struct inode *inode, loff_t pos, struct iov_iter *ii);
ssize_t zuf_rw_write(struct inode *inode, loff_t pos, struct iov_iter *ii, u64 rw);
ssize_t zuf_read_iter(struct kiocb *kiocb, struct iov_iter *ii);
ssize_t zuf_write_iter(struct kiocb *kiocb, struct iov_iter *ii);

/* mmap.c */
extern const struct address_space_operations zuf_aops;
void zuf_pc_note(struct inode *inode);
void zuf_pc_revalidate(struct inode *inode);

/* symlink.c */
extern const struct inode_operations zuf_symlink_inode_operations;

/* xattr.c */
extern const struct xattr_handler *zuf_xattr_handlers[];
ssize_t zuf_listxattr(struct dentry *dentry, char *buffer, size_t size);
int zuf_xattr_get_raw(struct inode *inode, const char *prefix, const char *name,
		      void *buffer, size_t size);
int zuf_xattr_set_raw(struct inode *inode, const char *prefix, const char *name,
		      const void *value, size_t size, int flags);

/* acl.c */
struct posix_acl *zuf_get_acl(struct inode *inode, int type, bool rcu);
int zuf_set_acl(struct user_namespace *mnt_userns, struct inode *inode, struct posix_acl *acl,
		int type);
int zuf_apply_umask(struct inode *dir, umode_t *mode);

/* ioctl.c */
long zuf_ioctl(struct file *filp, unsigned int cmd, unsigned long arg);

/* helpers */
static inline int zuf_str_set(struct zufs_str *zstr, const struct qstr *name)
{
	if (name->len > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	zstr->len = name->len;
	memcpy(zstr->name, name->name, name->len);
	return 0;
}

static inline u64 zuf_now_ns(struct inode *inode)
{
	struct timespec64 ts = current_time(inode);

	return timespec64_to_ns(&ts);
}

#endif /* __ZUF_H */
