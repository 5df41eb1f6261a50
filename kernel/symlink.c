// SPDX-License-Identifier: GPL-2.0
/*
 * symlink.c - symlink targets: inline in the zus_inode when short, else ZUFS_OP_GET_SYMLINK.
 */
#include <linux/fs.h>
#include <linux/slab.h>

#include "zuf.h"

static const char *zuf_get_link(struct dentry *dentry, struct inode *inode,
				struct delayed_call *done)
{
	struct zus_inode *zi = ZUII(inode)->zi;
	struct zufs_ioc_get_link ioc = {};
	struct zufc_thread *zt;
	size_t len;
	char *buf;
	int err;

	if (!dentry)
		return ERR_PTR(-ECHILD);

	len = i_size_read(inode);
	if (len && len <= ZUFS_INLINE_SYMLINK_MAX) {
		buf = kmalloc(len + 1, GFP_KERNEL);
		if (!buf)
			return ERR_PTR(-ENOMEM);
		memcpy(buf, zi->i_symlink, len);
		buf[len] = 0;
		goto check;
	}

	zt = zufc_get_channel(SBI(inode->i_sb), &err);
	if (!zt)
		return ERR_PTR(err);
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_GET_SYMLINK, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.hdr.len = min_t(size_t, ZUFS_MAX_SYMLINK - 1, zufc_payload_max(zt));
	err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
	if (err) {
		zufc_put_channel(zt);
		return ERR_PTR(err);
	}
	len = ioc.hdr.len;
	buf = kmalloc(len + 1, GFP_KERNEL);
	if (!buf) {
		zufc_put_channel(zt);
		return ERR_PTR(-ENOMEM);
	}
	memcpy(buf, zufc_payload(zt), len);
	zufc_put_channel(zt);
	buf[len] = 0;
	atomic64_add(len, &zuf_stats.bytes_from_server);
check:
	if (!len || strlen(buf) != len) {
		atomic64_inc(&zuf_stats.bad_replies);
		kfree(buf);
		return ERR_PTR(-EIO);
	}
	set_delayed_call(done, kfree_link, buf);
	return buf;
}

const struct inode_operations zuf_symlink_inode_operations = {
	.get_link	= zuf_get_link,
	.getattr	= zuf_getattr,
	.setattr	= zuf_setattr,
	.listxattr	= zuf_listxattr,
};
