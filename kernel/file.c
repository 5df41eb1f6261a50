// SPDX-License-Identifier: GPL-2.0
/*
 * file.c - regular file operations other than the data path: open and close (the page
 * cache's close-to-open, mmap.c), fsync (ZUFS_OP_SYNC), fallocate (ZUFS_OP_FALLOCATE) and
 * SEEK_DATA/SEEK_HOLE (ZUFS_OP_LLSEEK).
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/falloc.h>

#include "zuf.h"

static int zuf_file_open(struct inode *inode, struct file *file)
{
	int err = generic_file_open(inode, file);

	if (!err)
		zuf_pc_revalidate(inode);
	return err;
}

/*
 * Close-to-open: a file written since the last close is synced with ZUFS_SF_CLOSE when the server
 * asked for it (ZUFS_FSC_CLOSE_SYNC: it holds written bytes back), so another gateway that opens
 * it next sees them.
 */
static int zuf_close_sync(struct inode *inode)
{
	struct zufs_ioc_sync ioc = {};
	int err;

	if (!(SBI(inode->i_sb)->fs_caps & ZUFS_FSC_CLOSE_SYNC))
		return 0;
	if (!test_and_clear_bit(ZUF_I_WRITTEN, &ZUII(inode)->state))
		return 0;
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_SYNC, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.length = ~0ULL;
	ioc.flags = ZUFS_SF_CLOSE;
	err = zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	if (err)
		set_bit(ZUF_I_WRITTEN, &ZUII(inode)->state);	/* the next close tries again */
	return err;
}

/* close(2): what a shared mapping dirtied in the page cache reaches the server, then the sync */
static int zuf_flush(struct file *file, fl_owner_t id)
{
	int err = filemap_write_and_wait(file->f_mapping);

	if (err || !(file->f_mode & FMODE_WRITE))
		return err;
	return zuf_close_sync(file_inode(file));
}

/*
 * The last reference to an open file: a shared mapping may outlive the close(2) of its fd, and its
 * munmap committed stores after that close's sync (the VMA is closed before its file is put), so
 * the close's work is due again. Nobody is left to see an error here.
 */
static int zuf_release(struct inode *inode, struct file *file)
{
	if (file->f_mode & FMODE_WRITE)
		zuf_flush(file, NULL);
	return 0;
}

static int zuf_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	struct inode *inode = file_inode(file);
	struct zufs_ioc_sync ioc = {};
	int err;

	err = file_write_and_wait_range(file, start, end);
	if (!err)
		err = zuf_dax_commit(inode);	/* stores through t1 mappings (msync) */
	if (err)
		return err;

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
	err = filemap_write_and_wait_range(inode->i_mapping, offset, offset + len - 1);
	if (err)
		goto out;
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_FALLOCATE, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.offset = offset;
	ioc.len = len;
	ioc.mode = mode;
	err = zufc_dispatch(SBI(inode->i_sb), &ioc.hdr, sizeof(ioc));
	zuf_refresh_inode(inode);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		truncate_pagecache_range(inode, offset, offset + len - 1);
	zuf_pc_note(inode);
out:
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
	.open		= zuf_file_open,
	.flush		= zuf_flush,
	.release	= zuf_release,
	.llseek		= zuf_llseek,
	.read_iter	= zuf_read_iter,
	.write_iter	= zuf_write_iter,
	.mmap		= zuf_file_mmap,
	.splice_read	= generic_file_splice_read,
	.splice_write	= iter_file_splice_write,
	.fsync		= zuf_fsync,
	.fallocate	= zuf_fallocate,
	.unlocked_ioctl	= zuf_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};
