// SPDX-License-Identifier: GPL-2.0
/*
 * super.c - the filesystem types the server registers (zufs-mem, zufs-redis, ...): mount
 * option parsing, the MOUNT/UMOUNT round trip to the server's mount thread, super block
 * operations (statfs, sync_fs, show_options) and the inode cache.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/fs_context.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/statfs.h>
#include <linux/string.h>

#include "zuf.h"

static struct kmem_cache *zuf_inode_cachep;

struct zuf_fs_context {
	char	*config;
	char	*options;		/* "k=v,k2" as given, without config= */
	size_t	options_len;
};

/* ~~~~ inode cache ~~~~ */

static struct inode *zuf_alloc_inode(struct super_block *sb)
{
	struct zuf_inode_info *zii;

	zii = alloc_inode_sb(sb, zuf_inode_cachep, GFP_KERNEL);
	if (!zii)
		return NULL;
	zii->zi = NULL;
	zii->zus_ii = 0;
	zii->_zi = 0;
	zii->pc_mtime = 0;
	zii->pc_size = 0;
	zii->state = 0;
	zii->nio_seq = 0;
	zii->nio_listed = false;
	return &zii->vfs_inode;
}

static void zuf_free_inode(struct inode *inode)
{
	if (S_ISLNK(inode->i_mode))
		kfree(inode->i_link);
	kmem_cache_free(zuf_inode_cachep, ZUII(inode));
}

static void _init_once(void *foo)
{
	struct zuf_inode_info *zii = foo;

	inode_init_once(&zii->vfs_inode);
	init_rwsem(&zii->nio_sem);
	mutex_init(&zii->dax_lock);
	xa_init(&zii->nio_blocks);	/* left empty by zuf_nio_evict */
}

int zuf_init_inodecache(void)
{
	zuf_inode_cachep = kmem_cache_create("zuf_inode_cache", sizeof(struct zuf_inode_info), 0,
					     SLAB_RECLAIM_ACCOUNT | SLAB_MEM_SPREAD | SLAB_ACCOUNT,
					     _init_once);
	return zuf_inode_cachep ? 0 : -ENOMEM;
}

void zuf_destroy_inodecache(void)
{
	rcu_barrier();
	kmem_cache_destroy(zuf_inode_cachep);
}

/* ~~~~ super operations ~~~~ */

static int zuf_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct zufs_ioc_statfs ios = {};
	int err;

	zuf_hdr_init(&ios.hdr, ZUFS_OP_STATFS, sizeof(ios), offsetof(struct zufs_ioc_statfs, st));
	ios.zus_sbi = SBI(sb)->zus_sbi;
	err = zufc_dispatch(SBI(sb), &ios.hdr, sizeof(ios));
	if (err)
		return err;
	buf->f_type = sb->s_magic;
	buf->f_bsize = ios.st.f_bsize ? ios.st.f_bsize : PAGE_SIZE;
	buf->f_frsize = ios.st.f_frsize ? ios.st.f_frsize : buf->f_bsize;
	buf->f_blocks = ios.st.f_blocks;
	buf->f_bfree = min(ios.st.f_bfree, ios.st.f_blocks);
	buf->f_bavail = min(ios.st.f_bavail, buf->f_bfree);
	buf->f_files = ios.st.f_files;
	buf->f_ffree = min(ios.st.f_ffree, ios.st.f_files);
	buf->f_namelen = min_t(u32, ios.st.f_namelen ? ios.st.f_namelen : ZUFS_NAME_LEN,
			       ZUFS_NAME_LEN);
	return 0;
}

static int zuf_sync_fs(struct super_block *sb, int wait)
{
	struct zufs_ioc_sync ioc = {};

	if (!wait)
		return 0;
	if (!sb->s_root)
		return 0;
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_SYNC, sizeof(ioc), sizeof(ioc));
	/* the root's cookie names the super block: a ZT op carries no sb */
	ioc.zus_ii = ZUII(d_inode(sb->s_root))->zus_ii;
	ioc.length = ~0ULL;
	return zufc_dispatch(SBI(sb), &ioc.hdr, sizeof(ioc));
}

static int zuf_show_options(struct seq_file *seq, struct dentry *root)
{
	struct zuf_sb_info *sbi = SBI(root->d_sb);

	if (sbi->config)
		seq_show_option(seq, "config", sbi->config);
	if (sbi->options && *sbi->options) {
		seq_putc(seq, ',');
		seq_escape(seq, sbi->options, " \t\n\\");
	}
	return 0;
}

static const struct super_operations zuf_sops = {
	.alloc_inode	= zuf_alloc_inode,
	.free_inode	= zuf_free_inode,
	.evict_inode	= zuf_evict_inode,
	.statfs		= zuf_statfs,
	.sync_fs	= zuf_sync_fs,
	.show_options	= zuf_show_options,
};

/* ~~~~ mount ~~~~ */

static int _send_mount(struct zuf_sb_info *sbi, struct zufs_mount_info *zmi)
{
	struct zuf_mount_work zmw = { .operation = ZUFS_M_MOUNT, .zmi = zmi };

	INIT_LIST_HEAD(&zmw.list);
	zmi->zus_zfi = sbi->zft->zus_zfi;
	zmi->sb_id = sbi->sb_id;
	zmi->sb_key = sbi->sb_key;
	zmi->mount_flags = sbi->ro ? ZUFS_M_RDONLY : 0;
	zmi->num_cpu = min_t(unsigned int, num_possible_cpus(), U16_MAX);
	zmi->num_channels = ZUFS_DEF_ZT_CHANNELS;
	if (sbi->config) {
		zmi->config_len = strscpy(zmi->config, sbi->config, sizeof(zmi->config));
		if ((int)zmi->config_len < 0)
			return -ENAMETOOLONG;
	}
	if (sbi->options) {
		zmi->mount_options_len = strscpy(zmi->mount_options, sbi->options,
						 sizeof(zmi->mount_options));
		if ((int)zmi->mount_options_len < 0)
			return -E2BIG;
	}
	return zuf_mount_thread_call(&zmw);
}

static void _send_umount(struct zuf_sb_info *sbi)
{
	struct zuf_mount_work zmw = { .operation = ZUFS_M_UMOUNT };
	struct zufs_mount_info *zmi;

	if (!zuf_server_alive(sbi->server_gen))
		return;
	zmi = kzalloc(sizeof(*zmi), GFP_KERNEL);
	if (!zmi)
		return;
	INIT_LIST_HEAD(&zmw.list);
	zmw.zmi = zmi;
	zmi->zus_zfi = sbi->zft->zus_zfi;
	zmi->sb_id = sbi->sb_id;
	zmi->sb_key = sbi->sb_key;
	zmi->zus_sbi = sbi->zus_sbi;
	if (zuf_mount_thread_call(&zmw))
		zuf_warn("umount of sb %llu: server error\n", sbi->sb_id);
	kfree(zmi);
}

static int zuf_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct zuf_fs_context *ctx = fc->fs_private;
	struct zuf_fs_type *zft = container_of(fc->fs_type, struct zuf_fs_type, vfs_fst);
	struct zufs_mount_info *zmi;
	struct zuf_sb_info *sbi;
	struct inode *root;
	int err;

	err = -ENOMEM;
	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return err;
	sb->s_fs_info = sbi;	/* zuf_kill_sb() frees it on every path */
	sbi->sb = sb;
	sbi->zft = zft;
	spin_lock_init(&sbi->pool_lock);
	sbi->sb_key = get_random_u64();
	sbi->ro = sb_rdonly(sb);
	sbi->config = ctx->config;
	ctx->config = NULL;
	sbi->options = ctx->options;
	ctx->options = NULL;
	spin_lock(&zri.lock);
	sbi->server_gen = zri.server_gen;
	spin_unlock(&zri.lock);

	err = zuf_sb_id_alloc(sbi);
	if (err)
		return err;
	err = super_setup_bdi(sb);	/* a writeback-capable bdi: mmap dirties pages */
	if (err)
		return err;

	sb->s_magic = zft->rfi.FS_magic;
	sb->s_maxbytes = zft->rfi.s_maxbytes ? min_t(u64, zft->rfi.s_maxbytes, MAX_LFS_FILESIZE) :
					      MAX_LFS_FILESIZE;
	sb->s_time_gran = clamp_t(u32, zft->rfi.s_time_gran, 1, NSEC_PER_SEC);
	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_op = &zuf_sops;
	sb->s_d_op = &zuf_dentry_operations;
	sb->s_xattr = zuf_xattr_handlers;
	sb->s_flags |= SB_NOSEC | SB_POSIXACL;

	err = -ENOMEM;
	zmi = kzalloc(sizeof(*zmi), GFP_KERNEL);
	if (!zmi)
		return err;
	err = _send_mount(sbi, zmi);
	if (err)
		goto free_zmi;
	sbi->zus_sbi = zmi->zus_sbi;
	sbi->fs_caps = zmi->fs_caps;

	root = zuf_iget(sb, zmi->zus_ii, zmi->_zi);
	if (IS_ERR(root)) {
		err = PTR_ERR(root);
		goto free_zmi;
	}
	err = -EIO;
	if (!S_ISDIR(root->i_mode)) {
		zuf_warn("server's root inode is not a directory\n");
		iput(root);
		goto free_zmi;
	}
	err = -ENOMEM;
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		goto free_zmi;
	err = 0;
free_zmi:
	kfree(zmi);
	return err;
}

static void zuf_kill_sb(struct super_block *sb)
{
	struct zuf_sb_info *sbi = SBI(sb);

	kill_anon_super(sb);	/* evicts every inode while the pools are still ours */
	if (!sbi)
		return;
	if (sbi->zus_sbi)
		_send_umount(sbi);
	zuf_sb_id_free(sbi);
	zuf_sbi_put_pools(sbi);
	kfree(sbi->config);
	kfree(sbi->options);
	kfree(sbi);
}

static int zuf_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct zuf_fs_context *ctx = fc->fs_private;
	size_t klen, vlen = 0, need;
	char *p;

	if (!strcmp(param->key, "source"))
		return -ENOPARAM;	/* the VFS keeps it */
	if (param->type != fs_value_is_string && param->type != fs_value_is_flag)
		return invalfc(fc, "%s: unsupported value type", param->key);

	if (!strcmp(param->key, "config")) {
		if (param->type != fs_value_is_string || !*param->string)
			return invalfc(fc, "config= needs a path");
		if (strlen(param->string) >= ZUFS_CONFIG_MAX)
			return invalfc(fc, "config path too long");
		kfree(ctx->config);
		ctx->config = param->string;
		param->string = NULL;
		return 0;
	}

	/* everything else goes verbatim to the server */
	klen = strlen(param->key);
	if (param->type == fs_value_is_string)
		vlen = strlen(param->string) + 1;
	need = ctx->options_len + (ctx->options_len ? 1 : 0) + klen + vlen + 1;
	if (need > ZUFS_MO_MAX)
		return invalfc(fc, "mount options too long");
	p = krealloc(ctx->options, need, GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	ctx->options = p;
	p += ctx->options_len;
	if (ctx->options_len)
		*p++ = ',';
	memcpy(p, param->key, klen);
	p += klen;
	if (vlen) {
		*p++ = '=';
		memcpy(p, param->string, vlen - 1);
		p += vlen - 1;
	}
	*p = 0;
	ctx->options_len = p - ctx->options;
	return 0;
}

static int zuf_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, zuf_fill_super);
}

static void zuf_free_fc(struct fs_context *fc)
{
	struct zuf_fs_context *ctx = fc->fs_private;

	if (!ctx)
		return;
	kfree(ctx->config);
	kfree(ctx->options);
	kfree(ctx);
}

static const struct fs_context_operations zuf_context_ops = {
	.parse_param	= zuf_parse_param,
	.get_tree	= zuf_get_tree,
	.free		= zuf_free_fc,
};

static int zuf_init_fs_context(struct fs_context *fc)
{
	struct zuf_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	fc->fs_private = ctx;
	fc->ops = &zuf_context_ops;
	return 0;
}

int zuf_register_fs_type(struct zuf_fs_type *zft)
{
	zft->vfs_fst.owner = THIS_MODULE;
	zft->vfs_fst.name = zft->name;
	zft->vfs_fst.init_fs_context = zuf_init_fs_context;
	zft->vfs_fst.kill_sb = zuf_kill_sb;
	return register_filesystem(&zft->vfs_fst);
}
