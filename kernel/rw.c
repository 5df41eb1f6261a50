// SPDX-License-Identifier: GPL-2.0
/*
 * rw.c - read and write through the channel's op buffer: the kernel copies between an
 * iov_iter and the payload area; I/O bigger than the payload area is split. read(2) and
 * write(2) go straight to the server (no page cache); pages that mmap cached are written
 * back before and invalidated after, so both views stay coherent (mmap.c). With t1 grabbed,
 * reads (and, on write-back tiers, writes) copy from and to t1 instead (nio.c) and come here
 * only for pages the server does not map.
 */
#include <linux/fs.h>
#include <linux/uio.h>
#include <linux/pagemap.h>

#include "zuf.h"

static void _io_init(struct zufs_ioc_IO *ioc, struct inode *inode, u16 op, loff_t pos, u32 len)
{
	memset(ioc, 0, sizeof(*ioc));
	zuf_hdr_init(&ioc->hdr, op, sizeof(*ioc), offsetof(struct zufs_ioc_IO, ret_flags));
	ioc->zus_ii = ZUII(inode)->zus_ii;
	ioc->filepos = pos;
	ioc->hdr.len = len;
}

/*
 * Faults the next part of a user buffer in before a channel is held: the buffer may be a
 * mapping of a zuf file whose fault needs a channel itself. True when nothing could be.
 */
static bool _fault_in(struct iov_iter *ii, size_t (*fault_in)(const struct iov_iter *, size_t))
{
	size_t want = min_t(size_t, iov_iter_count(ii), SZ_1M);

	return user_backed_iter(ii) && fault_in(ii, want) == want;
}

/* reads [pos, pos + count) into @ii; returns the bytes read (short at EOF) or an errno */
ssize_t zuf_rw_read(struct inode *inode, loff_t pos, struct iov_iter *ii)
{
	return zuf_nio_on(inode) ? zuf_nio_read(inode, pos, ii) : zuf_rw_read_opbuf(inode, pos, ii);
}

/* zuf_rw_read through the channel's op buffer */
ssize_t zuf_rw_read_opbuf(struct inode *inode, loff_t pos, struct iov_iter *ii)
{
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_IO ioc;
	struct zufc_thread *zt;
	ssize_t done = 0;
	int err = 0;

	while (iov_iter_count(ii)) {
		size_t chunk, n, copied;

		/* fault the destination in before holding a channel: it may be a zuf mapping */
		if (_fault_in(ii, fault_in_iov_iter_writeable)) {
			err = -EFAULT;
			break;
		}
		zt = zufc_get_channel(sbi, &err);
		if (!zt)
			break;
		chunk = min(iov_iter_count(ii), zufc_payload_max(zt));
		_io_init(&ioc, inode, ZUFS_OP_READ, pos, chunk);
		err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
		if (err) {
			zufc_put_channel(zt);
			break;
		}
		n = ioc.last_pos - pos;
		if (ioc.last_pos < pos || n > chunk) {
			atomic64_inc(&zuf_stats.bad_replies);
			zufc_put_channel(zt);
			err = -EIO;
			break;
		}
		copied = copy_to_iter(zufc_payload(zt), n, ii);
		zufc_put_channel(zt);
		atomic64_add(copied, &zuf_stats.bytes_from_server);
		pos += copied;
		done += copied;
		if (copied < n) {
			err = -EFAULT;
			break;
		}
		if (n < chunk)
			break;	/* end of file */
	}
	return done ? done : err;
}

/* writes @ii at pos with ZUFS_RW_* flags @rw; returns the bytes written or an errno */
ssize_t zuf_rw_write(struct inode *inode, loff_t pos, struct iov_iter *ii, u64 rw)
{
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_IO ioc;
	struct zufc_thread *zt;
	ssize_t done = 0;
	int err = 0;

	while (iov_iter_count(ii)) {
		size_t chunk, n, copied;

		if (_fault_in(ii, fault_in_iov_iter_readable)) {
			err = -EFAULT;
			break;
		}
		zt = zufc_get_channel(sbi, &err);
		if (!zt)
			break;
		chunk = min(iov_iter_count(ii), zufc_payload_max(zt));
		copied = copy_from_iter(zufc_payload(zt), chunk, ii);
		if (!copied) {
			zufc_put_channel(zt);
			err = -EFAULT;
			break;
		}
		_io_init(&ioc, inode, ZUFS_OP_WRITE, pos, copied);
		ioc.rw = ZUFS_RW_WRITE | rw;
		err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
		zufc_put_channel(zt);
		if (err) {
			iov_iter_revert(ii, copied);
			break;
		}
		atomic64_add(copied, &zuf_stats.bytes_to_server);
		n = ioc.last_pos - pos;
		if (ioc.last_pos < pos || n > copied) {
			atomic64_inc(&zuf_stats.bad_replies);
			iov_iter_revert(ii, copied);
			err = -EIO;
			break;
		}
		pos += n;
		done += n;
		if (n < copied) {
			iov_iter_revert(ii, copied - n);
			break;
		}
	}
	if (done)	/* the next close tells the server (zuf_flush) */
		set_bit(ZUF_I_WRITTEN, &ZUII(inode)->state);
	return done ? done : err;
}

ssize_t zuf_read_iter(struct kiocb *kiocb, struct iov_iter *ii)
{
	struct file *file = kiocb->ki_filp;
	struct inode *inode = file_inode(file);
	size_t count = iov_iter_count(ii);
	ssize_t ret;

	if (!count)
		return 0;
	/* what a shared mapping dirtied reaches the server before we ask it */
	if (file->f_mapping->nrpages) {
		ret = filemap_write_and_wait_range(file->f_mapping, kiocb->ki_pos,
						   kiocb->ki_pos + count - 1);
		if (ret)
			return ret;
	}
	ret = zuf_rw_read(inode, kiocb->ki_pos, ii);
	if (ret > 0)
		kiocb->ki_pos += ret;
	file_accessed(file);
	return ret;
}

ssize_t zuf_write_iter(struct kiocb *kiocb, struct iov_iter *ii)
{
	struct file *file = kiocb->ki_filp;
	struct address_space *mapping = file->f_mapping;
	struct inode *inode = file_inode(file);
	loff_t pos;
	ssize_t ret;
	size_t count;
	u64 rw = 0;

	inode_lock(inode);
	zuf_refresh_inode(inode);	/* O_APPEND needs the size the server has */
	ret = generic_write_checks(kiocb, ii);
	if (ret <= 0)
		goto out;
	ret = file_remove_privs(file);	/* suid/sgid go on write, via setattr */
	if (ret)
		goto out;
	pos = kiocb->ki_pos;
	count = iov_iter_count(ii);
	if (mapping->nrpages) {
		ret = filemap_write_and_wait_range(mapping, pos, pos + count - 1);
		if (ret)
			goto out;
	}
	if (kiocb->ki_flags & IOCB_APPEND)
		rw |= ZUFS_RW_APPEND;
	if (kiocb->ki_flags & IOCB_DSYNC)
		rw |= ZUFS_RW_DSYNC;
	if (zuf_nio_writes_on(inode))
		ret = zuf_nio_write(inode, pos, ii, rw);
	else
		ret = zuf_rw_write(inode, pos, ii, rw);
	if (mapping->nrpages)	/* cached pages of the range are stale now */
		invalidate_inode_pages2_range(mapping, pos >> PAGE_SHIFT,
					      (pos + count - 1) >> PAGE_SHIFT);
	if (ret > 0) {
		kiocb->ki_pos = pos + ret;
		if (kiocb->ki_pos > i_size_read(inode))
			i_size_write(inode, kiocb->ki_pos);
	}
	zuf_refresh_inode(inode);
	zuf_pc_note(inode);
out:
	inode_unlock(inode);
	if (ret > 0)
		ret = generic_write_sync(kiocb, ret);
	return ret;
}
