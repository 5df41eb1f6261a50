// SPDX-License-Identifier: GPL-2.0
/*
 * acl.c - POSIX ACLs (SB_POSIXACL), stored by the server as the xattrs system.posix_acl_access
 * and system.posix_acl_default in the Linux xattr format, through ZUFS_OP_XATTR_GET/SET.
 *
 * The split with the server (the FUSE_POSIX_ACL split): the kernel enforces (generic_permission
 * with ->get_acl; the VFS caches the ACLs) and the server keeps mode and ACL consistent:
 * - setting an access ACL: the server applies posix_acl_update_mode (mode from the ACL, ACL dropped
 *   when the mode says it all); the kernel then rereads the mode from the shared zus_inode. Only
 *   the S_ISGID drop for a caller outside the group is the kernel's (only it knows the caller's
 *   groups): a SETATTR of the mode afterwards.
 * - chmod: the server rewrites the access ACL (posix_acl_chmod); zuf_setattr forgets the cached one.
 * - create: the server applies the parent's default ACL (posix_acl_create); with SB_POSIXACL the
 *   VFS leaves the umask to us and NEW_INODE has no umask field, so _new_inode applies the umask
 *   itself exactly when the parent has no default ACL (zuf_apply_umask).
 */
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/xattr.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>

#include "zuf.h"

static const char *_acl_name(int type)
{
	switch (type) {
	case ACL_TYPE_ACCESS:
		return XATTR_NAME_POSIX_ACL_ACCESS;
	case ACL_TYPE_DEFAULT:
		return XATTR_NAME_POSIX_ACL_DEFAULT;
	default:
		return NULL;
	}
}

struct posix_acl *zuf_get_acl(struct inode *inode, int type, bool rcu)
{
	const char *name = _acl_name(type);
	struct posix_acl *acl;
	void *value = NULL;
	int size, retry = 0;

	if (rcu)
		return ERR_PTR(-ECHILD);
	if (!name)
		return ERR_PTR(-EINVAL);
again:
	size = zuf_xattr_get_raw(inode, "", name, NULL, 0);
	if (size > 0) {
		value = kmalloc(size, GFP_KERNEL);
		if (!value)
			return ERR_PTR(-ENOMEM);
		size = zuf_xattr_get_raw(inode, "", name, value, size);
		if (size == -ERANGE && retry++ < 3) {	/* grew in between */
			kfree(value);
			value = NULL;
			goto again;
		}
	}
	if (size > 0)
		acl = posix_acl_from_xattr(&init_user_ns, value, size);
	else if (!size || size == -ENODATA || size == -EOPNOTSUPP)
		acl = NULL;
	else
		acl = ERR_PTR(size);
	kfree(value);
	return acl;
}

int zuf_set_acl(struct user_namespace *mnt_userns, struct inode *inode, struct posix_acl *acl,
		int type)
{
	const char *name = _acl_name(type);
	struct posix_acl *cached = acl;
	umode_t mode = inode->i_mode;
	void *value = NULL;
	size_t size = 0;
	int err;

	if (!name)
		return -EINVAL;
	if (type == ACL_TYPE_ACCESS && acl) {
		/* only for the S_ISGID rule and what to cache; the server does the same to the mode */
		err = posix_acl_update_mode(mnt_userns, inode, &mode, &cached);
		if (err)
			return err;
	} else if (type == ACL_TYPE_DEFAULT && !S_ISDIR(inode->i_mode)) {
		return acl ? -EACCES : 0;
	}
	if (acl) {
		size = posix_acl_xattr_size(acl->a_count);
		value = kmalloc(size, GFP_KERNEL);
		if (!value)
			return -ENOMEM;
		err = posix_acl_to_xattr(&init_user_ns, acl, value, size);
		if (err < 0)
			goto out;
	}
	err = zuf_xattr_set_raw(inode, "", name, value, size, 0);
	if (!acl && err == -ENODATA)
		err = 0;
	if (err) {
		forget_cached_acl(inode, type);
		goto out;
	}
	if (type == ACL_TYPE_ACCESS && (inode->i_mode & S_ISGID) && !(mode & S_ISGID))
		err = zuf_set_mode(inode, inode->i_mode & ~S_ISGID);
	if (err)
		forget_cached_acl(inode, type);
	else
		set_cached_acl(inode, type, cached);
out:
	kfree(value);
	return err;
}

/*
 * With SB_POSIXACL the VFS does not apply the umask. The server applies the parent's default ACL
 * (which replaces the umask); without one the umask is ours to apply, before NEW_INODE.
 */
int zuf_apply_umask(struct inode *dir, umode_t *mode)
{
	struct posix_acl *dflt;

	if (S_ISLNK(*mode) || !IS_POSIXACL(dir))
		return 0;
	dflt = get_acl(dir, ACL_TYPE_DEFAULT);
	if (IS_ERR(dflt))
		return PTR_ERR(dflt);
	if (!dflt)
		*mode &= ~current_umask();
	posix_acl_release(dflt);
	return 0;
}
