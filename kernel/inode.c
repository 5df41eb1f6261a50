// SPDX-License-Identifier: GPL-2.0
/*
 * inode.c - kernel inodes over the shared struct zus_inode: iget from a server-given
 * (cookie, dpp_t) pair, attributes refreshed from the zus_inode (getattr never leaves the
 * kernel), setattr written into it before ZUFS_OP_SETATTR, and eviction.
 */
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/posix_acl.h>

#include "zuf.h"

static struct timespec64 _ns_to_ts(__le64 v)
{
	return ns_to_timespec64((s64)le64_to_cpu(v));
}

static __le64 _ts_to_ns(struct timespec64 ts)
{
	return cpu_to_le64((u64)timespec64_to_ns(&ts));
}

void zuf_fill_zi_times_now(struct zus_inode *zi)
{
	struct timespec64 ts;

	ktime_get_coarse_real_ts64(&ts);
	zi->i_atime = zi->i_mtime = zi->i_ctime = _ts_to_ns(ts);
}

/* the server may change its zus_inode at any time: read each field once, keep the type */
void zuf_refresh_inode(struct inode *inode)
{
	struct zus_inode *zi = ZUII(inode)->zi;
	u32 nlink;
	u64 size;

	if (!zi)
		return;
	inode->i_mode = (inode->i_mode & S_IFMT) | (le16_to_cpu(READ_ONCE(zi->i_mode)) & ~S_IFMT);
	nlink = le32_to_cpu(READ_ONCE(zi->i_nlink));
	set_nlink(inode, min_t(u32, nlink, ZUFS_LINK_MAX));
	i_uid_write(inode, le32_to_cpu(READ_ONCE(zi->i_uid)));
	i_gid_write(inode, le32_to_cpu(READ_ONCE(zi->i_gid)));
	size = le64_to_cpu(READ_ONCE(zi->i_size));
	i_size_write(inode, min_t(u64, size, inode->i_sb->s_maxbytes));
	inode->i_blocks = le64_to_cpu(READ_ONCE(zi->i_blocks));
	inode->i_atime = _ns_to_ts(READ_ONCE(zi->i_atime));
	inode->i_mtime = _ns_to_ts(READ_ONCE(zi->i_mtime));
	inode->i_ctime = _ns_to_ts(READ_ONCE(zi->i_ctime));
	inode->i_generation = le64_to_cpu(READ_ONCE(zi->i_generation));
}

static bool _valid_type(umode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK:
	case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

static void _set_ops(struct inode *inode, struct zus_inode *zi)
{
	switch (inode->i_mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &zuf_file_inode_operations;
		inode->i_fop = &zuf_file_operations;
		inode->i_data.a_ops = &zuf_aops;
		break;
	case S_IFDIR:
		inode->i_op = &zuf_dir_inode_operations;
		inode->i_fop = &zuf_dir_operations;
		break;
	case S_IFLNK:
		inode->i_op = &zuf_symlink_inode_operations;
		inode_nohighmem(inode);
		break;
	default:
		inode->i_op = &zuf_special_inode_operations;
		init_special_inode(inode, inode->i_mode,
				   new_decode_dev(le32_to_cpu(READ_ONCE(zi->i_rdev))));
		break;
	}
}

struct inode *zuf_iget(struct super_block *sb, __u64 zus_ii, zu_dpp_t _zi)
{
	struct zuf_sb_info *sbi = SBI(sb);
	struct zus_inode *zi;
	struct inode *inode;
	umode_t mode;
	u64 ino;

	zi = zuf_dpp_to_zi(sbi, _zi);
	if (!zi)
		return ERR_PTR(-EIO);
	ino = le64_to_cpu(READ_ONCE(zi->i_ino));
	mode = le16_to_cpu(READ_ONCE(zi->i_mode));
	if (!ino || !_valid_type(mode)) {
		atomic64_inc(&zuf_stats.bad_replies);
		zuf_warn("bad zus_inode from the server: ino %llu mode 0%o\n", ino, mode);
		return ERR_PTR(-EIO);
	}

	inode = iget_locked(sb, ino);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW)) {
		if (ZUII(inode)->zi != zi || (inode->i_mode & S_IFMT) != (mode & S_IFMT)) {
			atomic64_inc(&zuf_stats.bad_replies);
			zuf_warn("ino %llu: the server changed its zus_inode or type\n", ino);
			iput(inode);
			return ERR_PTR(-EIO);
		}
		zuf_refresh_inode(inode);
		return inode;
	}

	/*
	 * Lookup vs evict race: the server may have answered our lookup with the slot of an
	 * instance that was being evicted, and released it since. It zeroes released slots.
	 */
	if (le64_to_cpu(READ_ONCE(zi->i_ino)) != ino) {
		iget_failed(inode);
		return ERR_PTR(-EAGAIN);
	}
	ZUII(inode)->zi = zi;
	ZUII(inode)->zus_ii = zus_ii;
	ZUII(inode)->_zi = _zi;
	inode->i_mode = mode;
	zuf_refresh_inode(inode);
	_set_ops(inode, zi);
	unlock_new_inode(inode);
	return inode;
}

int zuf_getattr(struct user_namespace *mnt_userns, const struct path *path,
		struct kstat *stat, u32 request_mask, unsigned int flags)
{
	struct inode *inode = d_inode(path->dentry);

	zuf_refresh_inode(inode);
	atomic64_inc(&zuf_stats.zi_getattr);
	generic_fillattr(mnt_userns, inode, stat);
	stat->blksize = PAGE_SIZE;
	return 0;
}

int zuf_setattr(struct user_namespace *mnt_userns, struct dentry *dentry, struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct zus_inode *zi = ZUII(inode)->zi;
	struct zufs_ioc_attr ioc = {};
	unsigned int ia = attr->ia_valid;
	int err;

	err = setattr_prepare(mnt_userns, dentry, attr);
	if (err)
		return err;
	err = -EINVAL;
	if ((ia & ATTR_SIZE) && !S_ISREG(inode->i_mode))
		return err;

	zuf_hdr_init(&ioc.hdr, ZUFS_OP_SETATTR, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	if (ia & ATTR_MODE) {
		umode_t mode = attr->ia_mode;

		if (!in_group_p(i_gid_into_mnt(mnt_userns, inode)) && !capable(CAP_FSETID))
			mode &= ~S_ISGID;
		zi->i_mode = cpu_to_le16((inode->i_mode & S_IFMT) | (mode & ~S_IFMT));
		ioc.zuf_attr |= ZUFS_ATTR_MODE;
	}
	if (ia & ATTR_UID) {
		zi->i_uid = cpu_to_le32(from_kuid(&init_user_ns, attr->ia_uid));
		ioc.zuf_attr |= ZUFS_ATTR_UID;
	}
	if (ia & ATTR_GID) {
		zi->i_gid = cpu_to_le32(from_kgid(&init_user_ns, attr->ia_gid));
		ioc.zuf_attr |= ZUFS_ATTR_GID;
	}
	if (ia & ATTR_SIZE) {
		/* dirty pages go first: writeback must not race the server's truncate */
		err = filemap_write_and_wait(inode->i_mapping);
		if (err)
			return err;
		ioc.truncate_size = attr->ia_size;
		ioc.zuf_attr |= ZUFS_ATTR_SIZE;
	}
	if (ia & ATTR_ATIME) {
		zi->i_atime = _ts_to_ns(attr->ia_atime);
		ioc.zuf_attr |= ZUFS_ATTR_ATIME;
	}
	if (ia & ATTR_MTIME) {
		zi->i_mtime = _ts_to_ns(attr->ia_mtime);
		ioc.zuf_attr |= ZUFS_ATTR_MTIME;
	}
	if (ia & ATTR_CTIME) {
		zi->i_ctime = _ts_to_ns(attr->ia_ctime);
		ioc.zuf_attr |= ZUFS_ATTR_CTIME;
	}
	if (!ioc.zuf_attr)
		return 0;

	err = zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	zuf_refresh_inode(inode);
	if (!err && (ia & ATTR_SIZE)) {
		truncate_pagecache(inode, i_size_read(inode));
		zuf_nio_forget(inode, i_size_read(inode) >> PAGE_SHIFT);
		zuf_pc_note(inode);
	}
	if (ia & ATTR_MODE)	/* the server rewrote the access ACL (posix_acl_chmod) */
		forget_cached_acl(inode, ACL_TYPE_ACCESS);
	return err;
}

/* a mode change decided by the kernel (acl.c: S_ISGID dropped on set_acl) */
int zuf_set_mode(struct inode *inode, umode_t mode)
{
	struct zus_inode *zi = ZUII(inode)->zi;
	struct zufs_ioc_attr ioc = {};
	int err;

	if (!zi)
		return -EIO;
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_SETATTR, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	zi->i_mode = cpu_to_le16((inode->i_mode & S_IFMT) | (mode & ~S_IFMT));
	ioc.zuf_attr = ZUFS_ATTR_MODE;
	err = zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	zuf_refresh_inode(inode);
	return err;
}

void zuf_evict_inode(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct zufs_ioc_evict_inode ioc = {};
	u16 op = inode->i_nlink ? ZUFS_OP_EVICT_INODE : ZUFS_OP_FREE_INODE;

	truncate_inode_pages_final(&inode->i_data);
	zuf_nio_evict(inode);
	clear_inode(inode);
	if (!zii->zus_ii)
		return;
	zuf_hdr_init(&ioc.hdr, op, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = zii->zus_ii;
	/* nothing to do on error: a dead server is cleaned up by its own exit */
	zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	zii->zus_ii = 0;
	zii->zi = NULL;
}

const struct inode_operations zuf_file_inode_operations = {
	.getattr	= zuf_getattr,
	.setattr	= zuf_setattr,
	.listxattr	= zuf_listxattr,
	.get_acl	= zuf_get_acl,
	.set_acl	= zuf_set_acl,
};

const struct inode_operations zuf_special_inode_operations = {
	.getattr	= zuf_getattr,
	.setattr	= zuf_setattr,
	.listxattr	= zuf_listxattr,
	.get_acl	= zuf_get_acl,
	.set_acl	= zuf_set_acl,
};
