// SPDX-License-Identifier: GPL-2.0
/*
 * rw.c - read and write through the channel's op buffer: the kernel copies between the
 * application's iov and the payload area; I/O bigger than the payload area is split.
 */
#include <linux/fs.h>
#include <linux/uio.h>

#include "zuf.h"

static void _io_init(struct zufs_ioc_IO *ioc, struct inode *inode, u16 op, loff_t pos, u32 len)
{
	memset(ioc, 0, sizeof(*ioc));
	zuf_hdr_init(&ioc->hdr, op, sizeof(*ioc), offsetof(struct zufs_ioc_IO, ret_flags));
	ioc->zus_ii = ZUII(inode)->zus_ii;
	ioc->filepos = pos;
	ioc->hdr.len = len;
}

ssize_t zuf_read_iter(struct kiocb *kiocb, struct iov_iter *ii)
{
	struct inode *inode = file_inode(kiocb->ki_filp);
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_IO ioc;
	struct zufc_thread *zt;
	loff_t pos = kiocb->ki_pos;
	ssize_t done = 0;
	int err = 0;

	while (iov_iter_count(ii)) {
		size_t chunk, n, copied;

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
	kiocb->ki_pos = pos;
	file_accessed(kiocb->ki_filp);
	return done ? done : err;
}

ssize_t zuf_write_iter(struct kiocb *kiocb, struct iov_iter *ii)
{
	struct inode *inode = file_inode(kiocb->ki_filp);
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_IO ioc;
	struct zufc_thread *zt;
	ssize_t done = 0, ret;
	loff_t pos;
	int err = 0;

	inode_lock(inode);
	zuf_refresh_inode(inode);	/* O_APPEND needs the size the server has */
	ret = generic_write_checks(kiocb, ii);
	if (ret <= 0)
		goto out;
	ret = file_remove_privs(kiocb->ki_filp);	/* suid/sgid go on write, via setattr */
	if (ret)
		goto out;
	pos = kiocb->ki_pos;

	while (iov_iter_count(ii)) {
		size_t chunk, n, copied;

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
		ioc.rw = ZUFS_RW_WRITE;
		if (kiocb->ki_flags & IOCB_APPEND)
			ioc.rw |= ZUFS_RW_APPEND;
		if (kiocb->ki_flags & IOCB_DSYNC)
			ioc.rw |= ZUFS_RW_DSYNC;
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
	kiocb->ki_pos = pos;
	if (pos > i_size_read(inode))
		i_size_write(inode, pos);
	zuf_refresh_inode(inode);
	ret = done ? done : err;
out:
	inode_unlock(inode);
	if (ret > 0)
		ret = generic_write_sync(kiocb, ret);
	return ret;
}
