// SPDX-License-Identifier: GPL-2.0
/*
 * dir.c - readdir: ZUFS_OP_READDIR fills the op buffer's payload with zufs_dir_entry records,
 * each validated (and copied out of the shared buffer) before it reaches dir_emit().
 */
#include <linux/fs.h>
#include <linux/slab.h>

#include "zuf.h"

#define ZUF_READDIR_MAX (64 * 1024)

static int _emit(struct dir_context *ctx, const void *buf, u32 len, u32 count, bool *stop)
{
	char name[ZUFS_NAME_LEN + 1];
	u32 off = 0;

	*stop = false;
	while (count--) {
		struct zufs_dir_entry de;

		if (len - off < sizeof(de))
			return -EIO;
		memcpy(&de, buf + off, sizeof(de));
		if (de.rec_len < sizeof(de) || de.rec_len % 8 || de.rec_len > len - off ||
		    !de.name_len || de.name_len > de.rec_len - sizeof(de) || de.type > 15)
			return -EIO;
		memcpy(name, buf + off + sizeof(de), de.name_len);
		if (memchr(name, '/', de.name_len) || memchr(name, 0, de.name_len))
			return -EIO;
		if (!dir_emit(ctx, name, de.name_len, le64_to_cpu(de.ino), de.type)) {
			*stop = true;
			return 0;
		}
		ctx->pos = le64_to_cpu(de.pos);
		off += de.rec_len;
	}
	return 0;
}

static int zuf_readdir(struct file *file, struct dir_context *ctx)
{
	struct inode *dir = file_inode(file);
	struct zuf_sb_info *sbi = SBI(dir->i_sb);
	struct zufs_ioc_readdir ioc;
	struct zufc_thread *zt;
	bool stop = false;
	int err;

	do {
		zt = zufc_get_channel(sbi, &err);
		if (!zt)
			return err;
		memset(&ioc, 0, sizeof(ioc));
		zuf_hdr_init(&ioc.hdr, ZUFS_OP_READDIR, sizeof(ioc),
			     offsetof(struct zufs_ioc_readdir, next_pos));
		ioc.dir_ii = ZUII(dir)->zus_ii;
		ioc.pos = ctx->pos;
		ioc.hdr.len = min_t(size_t, zufc_payload_max(zt), ZUF_READDIR_MAX);
		err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
		if (!err) {
			atomic64_add(ioc.hdr.len, &zuf_stats.bytes_from_server);
			if (ioc.more && !ioc.count)
				err = -EIO;	/* no progress */
			else
				err = _emit(ctx, zufc_payload(zt), ioc.hdr.len, ioc.count, &stop);
			if (err == -EIO)
				atomic64_inc(&zuf_stats.bad_replies);
		}
		zufc_put_channel(zt);
		if (err)
			return err;
	} while (ioc.more && !stop);
	return 0;
}

const struct file_operations zuf_dir_operations = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= zuf_readdir,
	.fsync		= noop_fsync,
	.unlocked_ioctl	= zuf_ioctl,
};
