// SPDX-License-Identifier: GPL-2.0
/*
 * pools.c - shared-memory pools 1..6: memory the server allocates through the kernel for one
 * super block and mmaps, addressed on both sides by a dpp_t. struct zus_inode lives here.
 *
 * A pool is refcounted by its special file (the server's mapping) and by the super block
 * (kernel inodes point into it), so a crashed server can never free memory an inode still uses.
 * Super blocks are found by (sb_id, sb_key); the key is random per super block.
 */
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/idr.h>
#include <linux/uaccess.h>

#include "zuf.h"

static DEFINE_IDR(zuf_sb_idr);
static DEFINE_SPINLOCK(zuf_sb_idr_lock);	/* zuf_sb_idr and sbi lookups by id */

int zuf_sb_id_alloc(struct zuf_sb_info *sbi)
{
	int id;

	idr_preload(GFP_KERNEL);
	spin_lock(&zuf_sb_idr_lock);
	id = idr_alloc_cyclic(&zuf_sb_idr, sbi, 1, INT_MAX, GFP_NOWAIT);
	spin_unlock(&zuf_sb_idr_lock);
	idr_preload_end();
	if (id < 0)
		return id;
	sbi->sb_id = id;
	return 0;
}

void zuf_sb_id_free(struct zuf_sb_info *sbi)
{
	if (!sbi->sb_id)
		return;
	spin_lock(&zuf_sb_idr_lock);
	idr_remove(&zuf_sb_idr, sbi->sb_id);
	spin_unlock(&zuf_sb_idr_lock);
	sbi->sb_id = 0;
}

static void _pool_free(struct kref *kref)
{
	struct zuf_pool *pool = container_of(kref, struct zuf_pool, kref);

	vfree(pool->addr);
	kfree(pool);
}

void zuf_pool_put(struct zuf_pool *pool)
{
	if (pool)
		kref_put(&pool->kref, _pool_free);
}

void zuf_sbi_put_pools(struct zuf_sb_info *sbi)
{
	int i;

	for (i = 0; i < ZUFS_MAX_POOLS; i++) {
		zuf_pool_put(sbi->pools[i]);
		sbi->pools[i] = NULL;
	}
	zuf_t1_put(sbi->t1);
	sbi->t1 = NULL;
}

int zuf_pool_alloc(struct zuf_special_file *zsf, struct zufs_ioc_alloc_pool __user *arg)
{
	struct zufs_ioc_alloc_pool zap;
	struct zuf_sb_info *sbi;
	struct zuf_pool *pool;
	size_t size;
	int err;

	err = -EFAULT;
	if (copy_from_user(&zap, arg, sizeof(zap)))
		return err;
	err = -EINVAL;
	if (zap.pool_no < ZUFS_DPP_POOL_FIRST || zap.pool_no > ZUFS_DPP_POOL_LAST)
		return err;
	if (!zap.size || zap.size > ZUFS_POOL_MAX_SIZE)
		return err;
	size = PAGE_ALIGN(zap.size);

	err = -ENOMEM;
	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool)
		return err;
	kref_init(&pool->kref);
	pool->size = size;
	pool->addr = vmalloc_user(size);
	if (!pool->addr)
		goto free_pool;

	/* the sbi cannot go away under zuf_sb_idr_lock: put_super removes it first */
	err = -ENOENT;
	spin_lock(&zuf_sb_idr_lock);
	sbi = idr_find(&zuf_sb_idr, zap.sb_id);
	if (!sbi || sbi->sb_key != zap.sb_key)
		goto unlock;
	err = -EEXIST;
	spin_lock(&sbi->pool_lock);
	if (sbi->pools[zap.pool_no]) {
		spin_unlock(&sbi->pool_lock);
		goto unlock;
	}
	kref_get(&pool->kref);
	sbi->pools[zap.pool_no] = pool;
	spin_unlock(&sbi->pool_lock);
	spin_unlock(&zuf_sb_idr_lock);

	zsf->pool = pool;
	zsf->role = ZUF_SF_POOL;
	zap.pool_size = size;
	zap.hdr.err = 0;
	if (copy_to_user(arg, &zap, sizeof(zap)))
		return -EFAULT;
	return 0;

unlock:
	spin_unlock(&zuf_sb_idr_lock);
	vfree(pool->addr);
free_pool:
	kfree(pool);
	return err;
}

int zuf_pool_mmap(struct zuf_special_file *zsf, struct vm_area_struct *vma)
{
	struct zuf_pool *pool = zsf->pool;
	unsigned long len = vma->vm_end - vma->vm_start;

	if (vma->vm_pgoff || len > pool->size)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND;
	return remap_vmalloc_range(vma, pool->addr, 0);
}

/* a zus_inode address from a server-given dpp_t; NULL if it does not lie in one of our pools */
struct zus_inode *zuf_dpp_to_zi(struct zuf_sb_info *sbi, zu_dpp_t dpp)
{
	u32 pool_no = zu_dpp_t_pool(dpp);
	u64 off = zu_dpp_t_val(dpp);
	struct zuf_pool *pool;

	if (pool_no < ZUFS_DPP_POOL_FIRST || pool_no > ZUFS_DPP_POOL_LAST)
		goto bad;
	if (off % ZUFS_INODE_SIZE)
		goto bad;
	spin_lock(&sbi->pool_lock);
	pool = sbi->pools[pool_no];
	spin_unlock(&sbi->pool_lock);
	if (!pool || off > pool->size - ZUFS_INODE_SIZE)
		goto bad;
	return pool->addr + off;
bad:
	atomic64_inc(&zuf_stats.bad_replies);
	zuf_warn("bad zus_inode dpp 0x%llx from the server\n", dpp);
	return NULL;
}

/* GRAB_PMEM: the super block (sb_id, sb_key) takes a reference on @t1; one t1 per super block */
int zuf_sb_install_t1(u64 sb_id, u64 sb_key, struct zuf_t1 *t1)
{
	struct zuf_sb_info *sbi;
	int err = -ENOENT;

	spin_lock(&zuf_sb_idr_lock);
	sbi = idr_find(&zuf_sb_idr, sb_id);
	if (sbi && sbi->sb_key == sb_key) {
		spin_lock(&sbi->pool_lock);
		err = -EEXIST;
		if (!sbi->t1) {
			kref_get(&t1->kref);
			WRITE_ONCE(sbi->t1, t1);
			err = 0;
		}
		spin_unlock(&sbi->pool_lock);
	}
	spin_unlock(&zuf_sb_idr_lock);
	return err;
}

/* the t1 of super block (sb_id, sb_key) with a reference (zuf_t1_put), or NULL */
struct zuf_t1 *zuf_sb_get_t1(u64 sb_id, u64 sb_key)
{
	struct zuf_sb_info *sbi;
	struct zuf_t1 *t1 = NULL;

	spin_lock(&zuf_sb_idr_lock);
	sbi = idr_find(&zuf_sb_idr, sb_id);
	if (sbi && sbi->sb_key == sb_key) {
		spin_lock(&sbi->pool_lock);
		t1 = sbi->t1;
		if (t1)
			kref_get(&t1->kref);
		spin_unlock(&sbi->pool_lock);
	}
	spin_unlock(&zuf_sb_idr_lock);
	return t1;
}

void zuf_pools_exit(void)
{
	idr_destroy(&zuf_sb_idr);
}
