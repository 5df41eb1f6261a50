// SPDX-License-Identifier: GPL-2.0
/*
 * namei.c - the namespace: lookup, create/mknod/mkdir/symlink (ZUFS_OP_NEW_INODE), link
 * (ADD_DENTRY), unlink/rmdir (REMOVE_DENTRY) and rename incl. RENAME_NOREPLACE/EXCHANGE.
 * The server updates the zus_inodes it touched; the kernel refreshes from them after each op.
 */
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/namei.h>
#include <linux/cred.h>

#include "zuf.h"

/*
 * Dentries carry the names_gen of their directory when they were looked up (d_time): the
 * server bumps it when another gateway changed a name there, and only then do they cost a
 * LOOKUP again. Names this kernel changed itself are right in the dcache already.
 */
static u64 _names_gen(struct inode *dir)
{
	struct zus_inode *zi = dir ? READ_ONCE(ZUII(dir)->zi) : NULL;

	return zi ? le64_to_cpu(READ_ONCE(zi->i_dir.names_gen)) : 0;
}

static int zuf_d_revalidate(struct dentry *dentry, unsigned int flags)
{
	struct dentry *parent;
	int valid;

	if (flags & LOOKUP_RCU) {
		parent = READ_ONCE(dentry->d_parent);
		return READ_ONCE(dentry->d_time) == _names_gen(d_inode_rcu(parent)) ? 1 : -ECHILD;
	}
	parent = dget_parent(dentry);
	valid = dentry->d_time == _names_gen(d_inode(parent));
	dput(parent);
	return valid;
}

const struct dentry_operations zuf_dentry_operations = {
	.d_revalidate	= zuf_d_revalidate,
};

static struct dentry *zuf_lookup(struct inode *dir, struct dentry *dentry, unsigned int flags)
{
	struct zufs_ioc_lookup *ioc;
	u64 gen = _names_gen(dir);	/* before asking: a change after it is seen next time */
	struct dentry *alias;
	struct inode *inode;
	int err, tries = 0;

	if (dentry->d_name.len > ZUFS_NAME_LEN)
		return ERR_PTR(-ENAMETOOLONG);
	ioc = kzalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return ERR_PTR(-ENOMEM);
again:
	inode = NULL;
	memset(ioc, 0, sizeof(*ioc));
	zuf_hdr_init(&ioc->hdr, ZUFS_OP_LOOKUP, sizeof(*ioc), offsetof(struct zufs_ioc_lookup, _zi));
	ioc->dir_ii = ZUII(dir)->zus_ii;
	zuf_str_set(&ioc->str, &dentry->d_name);
	err = zufc_dispatch(SBI(dir->i_sb), &ioc->hdr, sizeof(*ioc));
	if (!err)
		inode = zuf_iget(dir->i_sb, ioc->zus_ii, ioc->_zi);
	else if (err != -ENOENT)
		inode = ERR_PTR(err);
	if (inode == ERR_PTR(-EAGAIN) && ++tries < 3)
		goto again;	/* raced with the eviction of the previous instance */
	kfree(ioc);
	dentry->d_time = gen;
	alias = d_splice_alias(inode, dentry);
	if (!IS_ERR_OR_NULL(alias))
		alias->d_time = gen;
	return alias;
}

static int _new_inode(struct inode *dir, struct dentry *dentry, umode_t mode, dev_t rdev,
		      const char *symname, struct inode **out)
{
	struct zuf_sb_info *sbi = SBI(dir->i_sb);
	struct zufs_ioc_new_inode *ioc;
	struct zufc_thread *zt;
	struct inode *inode;
	size_t symlen = 0;
	int err;

	if (dentry->d_name.len > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	if (symname) {
		symlen = strlen(symname);
		if (symlen >= ZUFS_MAX_SYMLINK)
			return -ENAMETOOLONG;
	}

	err = zuf_apply_umask(dir, &mode);
	if (err)
		return err;
	err = -ENOMEM;
	ioc = kzalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return err;
	zuf_hdr_init(&ioc->hdr, ZUFS_OP_NEW_INODE, sizeof(*ioc),
		     offsetof(struct zufs_ioc_new_inode, _zi));
	ioc->dir_ii = ZUII(dir)->zus_ii;
	zuf_str_set(&ioc->str, &dentry->d_name);

	ioc->zi.i_uid = cpu_to_le32(from_kuid(&init_user_ns, current_fsuid()));
	if (dir->i_mode & S_ISGID) {
		ioc->zi.i_gid = cpu_to_le32(i_gid_read(dir));
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	} else {
		ioc->zi.i_gid = cpu_to_le32(from_kgid(&init_user_ns, current_fsgid()));
	}
	ioc->zi.i_mode = cpu_to_le16(mode);
	ioc->zi.i_nlink = cpu_to_le32(S_ISDIR(mode) ? 2 : 1);
	ioc->zi.i_rdev = cpu_to_le32(new_encode_dev(rdev));
	ioc->zi.i_size = cpu_to_le64(symlen);
	zuf_fill_zi_times_now(&ioc->zi);

	zt = zufc_get_channel(sbi, &err);
	if (!zt)
		goto free_ioc;
	if (symlen) {
		if (symlen > zufc_payload_max(zt)) {
			zufc_put_channel(zt);
			err = -ENAMETOOLONG;
			goto free_ioc;
		}
		memcpy(zufc_payload(zt), symname, symlen);
		ioc->hdr.len = symlen;
		atomic64_add(symlen, &zuf_stats.bytes_to_server);
	}
	err = zufc_call(&zt, &ioc->hdr, sizeof(*ioc));
	zufc_put_channel(zt);
	if (err)
		goto free_ioc;

	inode = zuf_iget(dir->i_sb, ioc->zus_ii, ioc->_zi);
	if (IS_ERR(inode)) {
		err = PTR_ERR(inode);
		goto free_ioc;
	}
	if ((inode->i_mode & S_IFMT) != (mode & S_IFMT)) {
		atomic64_inc(&zuf_stats.bad_replies);
		iput(inode);
		err = -EIO;
		goto free_ioc;
	}
	zuf_refresh_inode(dir);
	*out = inode;
free_ioc:
	kfree(ioc);
	return err;
}

static int zuf_mknod(struct user_namespace *mnt_userns, struct inode *dir, struct dentry *dentry,
		     umode_t mode, dev_t rdev)
{
	struct inode *inode;
	int err;

	err = _new_inode(dir, dentry, mode, rdev, NULL, &inode);
	if (err)
		return err;
	dentry->d_time = _names_gen(dir);
	d_instantiate(dentry, inode);
	return 0;
}

static int zuf_create(struct user_namespace *mnt_userns, struct inode *dir, struct dentry *dentry,
		      umode_t mode, bool excl)
{
	return zuf_mknod(mnt_userns, dir, dentry, (mode & ~S_IFMT) | S_IFREG, 0);
}

static int zuf_mkdir(struct user_namespace *mnt_userns, struct inode *dir, struct dentry *dentry,
		     umode_t mode)
{
	return zuf_mknod(mnt_userns, dir, dentry, (mode & ~S_IFMT) | S_IFDIR, 0);
}

static int zuf_symlink(struct user_namespace *mnt_userns, struct inode *dir,
		       struct dentry *dentry, const char *symname)
{
	struct inode *inode;
	int err;

	err = _new_inode(dir, dentry, S_IFLNK | 0777, 0, symname, &inode);
	if (err)
		return err;
	dentry->d_time = _names_gen(dir);
	d_instantiate(dentry, inode);
	return 0;
}

static int _dentry_op(struct inode *dir, struct dentry *dentry, struct inode *inode, u16 op,
		      u32 flags)
{
	struct zufs_ioc_dentry *ioc;
	int err;

	if (dentry->d_name.len > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	ioc = kzalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return -ENOMEM;
	zuf_hdr_init(&ioc->hdr, op, sizeof(*ioc), sizeof(*ioc));
	ioc->dir_ii = ZUII(dir)->zus_ii;
	ioc->zus_ii = ZUII(inode)->zus_ii;
	ioc->time = cpu_to_le64(zuf_now_ns(dir));
	ioc->flags = flags;
	zuf_str_set(&ioc->str, &dentry->d_name);
	err = zufc_dispatch(SBI(dir->i_sb), &ioc->hdr, sizeof(*ioc));
	kfree(ioc);
	zuf_refresh_inode(dir);
	zuf_refresh_inode(inode);
	return err;
}

static int zuf_link(struct dentry *old_dentry, struct inode *dir, struct dentry *dentry)
{
	struct inode *inode = d_inode(old_dentry);
	int err;

	err = _dentry_op(dir, dentry, inode, ZUFS_OP_ADD_DENTRY, 0);
	if (err)
		return err;
	ihold(inode);
	dentry->d_time = _names_gen(dir);
	d_instantiate(dentry, inode);
	return 0;
}

static int zuf_unlink(struct inode *dir, struct dentry *dentry)
{
	return _dentry_op(dir, dentry, d_inode(dentry), ZUFS_OP_REMOVE_DENTRY, 0);
}

static int zuf_rmdir(struct inode *dir, struct dentry *dentry)
{
	struct inode *inode = d_inode(dentry);
	int err;

	err = _dentry_op(dir, dentry, inode, ZUFS_OP_REMOVE_DENTRY, ZUFS_DF_DIR);
	if (!err)
		clear_nlink(inode);	/* whatever the server says, the directory is gone */
	return err;
}

static int zuf_rename(struct user_namespace *mnt_userns, struct inode *old_dir,
		      struct dentry *old_dentry, struct inode *new_dir, struct dentry *new_dentry,
		      unsigned int flags)
{
	struct inode *old_inode = d_inode(old_dentry);
	struct inode *new_inode = d_inode(new_dentry);
	struct zufs_ioc_rename *ioc;
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (new_dentry->d_name.len > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	ioc = kzalloc(sizeof(*ioc), GFP_KERNEL);
	if (!ioc)
		return -ENOMEM;
	zuf_hdr_init(&ioc->hdr, ZUFS_OP_RENAME, sizeof(*ioc), sizeof(*ioc));
	ioc->old_dir_ii = ZUII(old_dir)->zus_ii;
	ioc->new_dir_ii = ZUII(new_dir)->zus_ii;
	ioc->old_zus_ii = ZUII(old_inode)->zus_ii;
	ioc->new_zus_ii = new_inode ? ZUII(new_inode)->zus_ii : 0;
	ioc->time = cpu_to_le64(zuf_now_ns(old_dir));
	ioc->flags = flags;
	zuf_str_set(&ioc->old_d_str, &old_dentry->d_name);
	zuf_str_set(&ioc->new_d_str, &new_dentry->d_name);
	err = zufc_dispatch(SBI(old_dir->i_sb), &ioc->hdr, sizeof(*ioc));
	kfree(ioc);

	zuf_refresh_inode(old_dir);
	if (new_dir != old_dir)
		zuf_refresh_inode(new_dir);
	zuf_refresh_inode(old_inode);
	if (new_inode) {
		zuf_refresh_inode(new_inode);
		if (!err && !(flags & RENAME_EXCHANGE) && S_ISDIR(new_inode->i_mode))
			clear_nlink(new_inode);
	}
	return err;
}

const struct inode_operations zuf_dir_inode_operations = {
	.lookup		= zuf_lookup,
	.create		= zuf_create,
	.mknod		= zuf_mknod,
	.mkdir		= zuf_mkdir,
	.symlink	= zuf_symlink,
	.link		= zuf_link,
	.unlink		= zuf_unlink,
	.rmdir		= zuf_rmdir,
	.rename		= zuf_rename,
	.getattr	= zuf_getattr,
	.setattr	= zuf_setattr,
	.listxattr	= zuf_listxattr,
	.get_acl	= zuf_get_acl,
	.set_acl	= zuf_set_acl,
};
