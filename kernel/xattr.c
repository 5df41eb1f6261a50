// SPDX-License-Identifier: GPL-2.0
/*
 * xattr.c - extended attributes "user." and "trusted." through ZUFS_OP_XATTR_GET/SET/LIST;
 * "system.posix_acl_*" go through the VFS's posix_acl handlers to acl.c, which uses the raw calls.
 * "security." is not offered, so the VFS's per-write security.capability probe stays local.
 */
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/xattr.h>
#include <linux/posix_acl_xattr.h>

#include "zuf.h"

static int _xattr_init(struct zufs_ioc_xattr *ioc, struct inode *inode, u16 op,
		       const char *prefix, const char *name)
{
	int len;

	memset(ioc, 0, sizeof(*ioc));
	zuf_hdr_init(&ioc->hdr, op, sizeof(*ioc), offsetof(struct zufs_ioc_xattr, value_size));
	ioc->zus_ii = ZUII(inode)->zus_ii;
	if (name) {
		len = snprintf(ioc->name, sizeof(ioc->name), "%s%s", prefix, name);
		if (len >= (int)sizeof(ioc->name))
			return -ERANGE;
		ioc->name_len = len;
	}
	return 0;
}

static int _no_xattr(struct zuf_sb_info *sbi, int err)
{
	if (err == -ENOSYS || err == -EOPNOTSUPP) {
		WRITE_ONCE(sbi->no_xattr, true);
		return -EOPNOTSUPP;
	}
	return err;
}

/* @prefix + @name as one xattr name; @size 0 asks for the value's size */
int zuf_xattr_get_raw(struct inode *inode, const char *prefix, const char *name,
		      void *buffer, size_t size)
{
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_xattr *ioc;
	struct zufc_thread *zt;
	int err;

	if (READ_ONCE(sbi->no_xattr))
		return -EOPNOTSUPP;
	ioc = kmalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return -ENOMEM;
	err = _xattr_init(ioc, inode, ZUFS_OP_XATTR_GET, prefix, name);
	if (err)
		goto free;
	zt = zufc_get_channel(sbi, &err);
	if (!zt)
		goto free;
	ioc->hdr.len = min_t(size_t, size, zufc_payload_max(zt));
	err = zufc_call(&zt, &ioc->hdr, sizeof(*ioc));
	if (!err) {
		if (!size) {
			err = min_t(u32, ioc->value_size, ZUFS_XATTR_SIZE_MAX);
		} else {
			memcpy(buffer, zufc_payload(zt), ioc->hdr.len);
			atomic64_add(ioc->hdr.len, &zuf_stats.bytes_from_server);
			err = ioc->hdr.len;
		}
	}
	zufc_put_channel(zt);
	err = _no_xattr(sbi, err);
free:
	kfree(ioc);
	return err;
}

/* a NULL @value removes the xattr; the inode is refreshed from its zus_inode after success */
int zuf_xattr_set_raw(struct inode *inode, const char *prefix, const char *name,
		      const void *value, size_t size, int flags)
{
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_xattr *ioc;
	struct zufc_thread *zt;
	int err;

	if (READ_ONCE(sbi->no_xattr))
		return -EOPNOTSUPP;
	if (size > ZUFS_XATTR_SIZE_MAX)
		return -E2BIG;
	ioc = kmalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return -ENOMEM;
	err = _xattr_init(ioc, inode, ZUFS_OP_XATTR_SET, prefix, name);
	if (err)
		goto free;
	if (flags & XATTR_CREATE)
		ioc->flags |= ZUFS_XF_CREATE;
	if (flags & XATTR_REPLACE)
		ioc->flags |= ZUFS_XF_REPLACE;
	if (!value)
		ioc->flags |= ZUFS_XF_REMOVE;
	zt = zufc_get_channel(sbi, &err);
	if (!zt)
		goto free;
	err = -E2BIG;
	if (value && size > zufc_payload_max(zt)) {
		zufc_put_channel(zt);
		goto free;
	}
	if (value) {
		memcpy(zufc_payload(zt), value, size);
		ioc->hdr.len = size;
		atomic64_add(size, &zuf_stats.bytes_to_server);
	}
	err = zufc_call(&zt, &ioc->hdr, sizeof(*ioc));
	zufc_put_channel(zt);
	err = _no_xattr(sbi, err);
	if (!err)
		zuf_refresh_inode(inode);
free:
	kfree(ioc);
	return err;
}

ssize_t zuf_listxattr(struct dentry *dentry, char *buffer, size_t size)
{
	struct inode *inode = d_inode(dentry);
	struct zuf_sb_info *sbi = SBI(inode->i_sb);
	struct zufs_ioc_xattr *ioc;
	struct zufc_thread *zt;
	ssize_t ret;
	int err;

	if (READ_ONCE(sbi->no_xattr))
		return 0;
	ioc = kmalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return -ENOMEM;
	_xattr_init(ioc, inode, ZUFS_OP_XATTR_LIST, NULL, NULL);
	zt = zufc_get_channel(sbi, &err);
	if (!zt) {
		ret = err;
		goto free;
	}
	ioc->hdr.len = min_t(size_t, size, zufc_payload_max(zt));
	err = zufc_call(&zt, &ioc->hdr, sizeof(*ioc));
	if (err) {
		ret = _no_xattr(sbi, err);
		if (ret == -EOPNOTSUPP)
			ret = 0;
	} else if (!size) {
		ret = min_t(u32, ioc->value_size, XATTR_LIST_MAX);
	} else {
		ret = ioc->hdr.len;
		memcpy(buffer, zufc_payload(zt), ret);
		if (ret && buffer[ret - 1]) {
			atomic64_inc(&zuf_stats.bad_replies);
			ret = -EIO;
		}
	}
	zufc_put_channel(zt);
free:
	kfree(ioc);
	return ret;
}

static int zuf_xattr_get(const struct xattr_handler *handler, struct dentry *dentry,
			 struct inode *inode, const char *name, void *buffer, size_t size)
{
	return zuf_xattr_get_raw(inode, handler->prefix, name, buffer, size);
}

static int zuf_xattr_set(const struct xattr_handler *handler, struct user_namespace *mnt_userns,
			 struct dentry *dentry, struct inode *inode, const char *name,
			 const void *value, size_t size, int flags)
{
	return zuf_xattr_set_raw(inode, handler->prefix, name, value, size, flags);
}

static const struct xattr_handler zuf_xattr_user_handler = {
	.prefix	= XATTR_USER_PREFIX,
	.get	= zuf_xattr_get,
	.set	= zuf_xattr_set,
};

static const struct xattr_handler zuf_xattr_trusted_handler = {
	.prefix	= XATTR_TRUSTED_PREFIX,
	.get	= zuf_xattr_get,
	.set	= zuf_xattr_set,
};

const struct xattr_handler *zuf_xattr_handlers[] = {
	&zuf_xattr_user_handler,
	&zuf_xattr_trusted_handler,
	&posix_acl_access_xattr_handler,	/* system.posix_acl_*: acl.c through ->get/set_acl */
	&posix_acl_default_xattr_handler,
	NULL,
};
