// SPDX-License-Identifier: GPL-2.0
/*
 * file.c - regular file operations other than the data path: fsync (ZUFS_OP_SYNC),
 * fallocate (ZUFS_OP_FALLOCATE) and SEEK_DATA/SEEK_HOLE (ZUFS_OP_LLSEEK).
 */
#include <linux/fs.h>
#include <linux/falloc.h>

#include "zuf.h"

static int zuf_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	struct inode *inode = file_inode(file);
	struct zufs_ioc_sync ioc = {};

	zuf_hdr_init(&ioc.hdr, ZUFS_OP_SYNC, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.offset = start;
	ioc.length = end >= start ? end - start + 1 : 0;
	ioc.flags = datasync ? ZUFS_SF_DATASYNC : 0;
	return zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
}

static long zuf_fallocate(struct file *file, int mode, loff_t offset, loff_t len)
{
	struct inode *inode = file_inode(file);
	struct zufs_ioc_fallocate ioc = {};
	int err;

	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if (offset < 0 || len <= 0 || offset + len > inode->i_sb->s_maxbytes || offset + len < 0)
		return -EINVAL;

	inode_lock(inode);
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_FALLOCATE, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.offset = offset;
	ioc.len = len;
	ioc.mode = mode;
	err = zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	zuf_refresh_inode(inode);
	inode_unlock(inode);
	return err;
}

static loff_t zuf_llseek(struct file *file, loff_t offset, int whence)
{
	struct inode *inode = file_inode(file);
	struct zufs_ioc_seek ioc = {};
	int err;

	zuf_refresh_inode(inode);
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return generic_file_llseek(file, offset, whence);

	zuf_hdr_init(&ioc.hdr, ZUFS_OP_LLSEEK, sizeof(ioc), offsetof(struct zufs_ioc_seek, offset_out));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.offset_in = offset;
	ioc.whence = whence;
	err = zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	if (err)
		return err;
	if (ioc.offset_out > inode->i_sb->s_maxbytes) {
		atomic64_inc(&zuf_stats.bad_replies);
		return -EIO;
	}
	return vfs_setpos(file, ioc.offset_out, inode->i_sb->s_maxbytes);
}

const struct file_operations zuf_file_operations = {
	.open		= generic_file_open,
	.llseek		= zuf_llseek,
	.read_iter	= zuf_read_iter,
	.write_iter	= zuf_write_iter,
	.splice_read	= generic_file_splice_read,
	.splice_write	= iter_file_splice_write,
	.fsync		= zuf_fsync,
	.fallocate	= zuf_fallocate,
	.unlocked_ioctl	= zuf_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};
