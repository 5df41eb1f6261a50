// SPDX-License-Identifier: GPL-2.0
/*
 * t2.c - the t2 engine. The server hands the kernel its t2 members (block devices that zufs
 * format made part of the same tier volume as t1) with ZU_IOC_GRAB_T2; zuf holds them exclusively
 * until t1 goes. To spill a chunk from t1 to t2, or bring one back, the server sends IOMAP words
 * with ZU_IOC_IOMAP_EXEC and the kernel moves the blocks itself, between the t1 memory it maps
 * and the device: one copy, and the server never reads or writes t2.
 */
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "zuf.h"

#define ZUF_T2_MODE		(FMODE_READ | FMODE_WRITE | FMODE_EXCL)
#define ZUF_T2_REF_BITS		40	/* a t2 ref: member << 40 | block in the member */
#define ZUF_T2_EXEC_MAX		(3 * 64)	/* words per ZU_IOC_IOMAP_EXEC */

struct zuf_t2_member {
	struct file		*file;		/* kernel_read/kernel_write go through it */
	struct block_device	*bdev;		/* held exclusively */
	u64			data_end;	/* blocks of the member the table gives */
};

static void _t2_free(struct zuf_t2_member *m)
{
	blkdev_put(m->bdev, ZUF_T2_MODE);
	fput(m->file);
	kfree(m);
}

/* t1 goes: its t2 members with it */
void zuf_t2_release(struct zuf_t1 *t1)
{
	int i;

	for (i = 0; i < ZUFS_DT_MAX_MEMBERS; i++)
		if (t1->t2[i])
			_t2_free(t1->t2[i]);
}

/* the member's table must name it t2 member @dev_index of t1's volume, with t1's uuid for it */
static int _t2_check(struct zuf_t1 *t1, struct zuf_t2_member *m, u32 dev_index)
{
	const struct zufs_dev_table *t1dt = t1->kaddr;
	struct zufs_dev_table *dt;
	loff_t pos = 0;
	u64 blocks;
	ssize_t n;
	int err;

	dt = kmalloc(ZUFS_DT_SIZE, GFP_KERNEL);
	if (!dt)
		return -ENOMEM;
	n = kernel_read(m->file, dt, ZUFS_DT_SIZE, &pos);
	err = n < 0 ? n : -EIO;
	if (n != ZUFS_DT_SIZE)
		goto out;
	err = -EMEDIUMTYPE;
	if (le32_to_cpu(dt->magic) != ZUFS_DT_MAGIC || le32_to_cpu(dt->size) != ZUFS_DT_SIZE ||
	    le16_to_cpu(dt->version_major) != ZUFS_DT_VERSION_MAJOR ||
	    le16_to_cpu(dt->block_shift) != ZUFS_DT_BLOCK_SHIFT) {
		zuf_warn("t2: no zufs device table on the device (run zufs format)\n");
		goto out;
	}
	err = -EINVAL;
	blocks = le64_to_cpu(dt->members[dev_index].blocks);
	if (le16_to_cpu(dt->dev_index) != dev_index ||
	    dt->members[dev_index].role != ZUFS_DEV_ROLE_T2 ||
	    memcmp(dt->volume_uuid, t1dt->volume_uuid, sizeof(dt->volume_uuid)) ||
	    memcmp(dt->dev_uuid, t1dt->members[dev_index].uuid, sizeof(dt->dev_uuid))) {
		zuf_warn("t2: the device is not t2 member %u of t1's tier volume\n", dev_index);
		goto out;
	}
	if (blocks > (bdev_nr_bytes(m->bdev) >> ZUFS_DT_BLOCK_SHIFT) ||
	    blocks <= (ZUFS_DT_DATA_OFFSET >> ZUFS_DT_BLOCK_SHIFT)) {
		zuf_warn("t2: the table gives %llu blocks, the device has %llu\n", blocks,
			 bdev_nr_bytes(m->bdev) >> ZUFS_DT_BLOCK_SHIFT);
		goto out;
	}
	m->data_end = blocks;
	err = 0;
out:
	kfree(dt);
	return err;
}

/* ZU_IOC_GRAB_T2 (any special file): a t2 member for the super block's t1 */
int zuf_t2_grab(struct zufs_ioc_t2 __user *arg)
{
	struct zuf_t2_member *m = NULL;
	struct zufs_ioc_t2 zt;
	struct zuf_t1 *t1;
	int err;

	if (copy_from_user(&zt, arg, sizeof(zt)))
		return -EFAULT;
	if (zt.dev_index < 1 || zt.dev_index >= ZUFS_DT_MAX_MEMBERS)
		return -EINVAL;
	t1 = zuf_sb_get_t1(zt.sb_id, zt.sb_key);
	if (!t1)
		return -ENOENT;	/* t1 first: t2 only ever holds what t1 spills */
	err = -ENOMEM;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		goto out;
	err = -EBADF;
	m->file = fget(zt.fd);
	if (!m->file)
		goto out_free;
	err = -ENOTBLK;
	if (!S_ISBLK(file_inode(m->file)->i_mode) || !(m->file->f_mode & FMODE_WRITE))
		goto out_fput;
	m->bdev = blkdev_get_by_dev(file_inode(m->file)->i_rdev, ZUF_T2_MODE, t1);
	if (IS_ERR(m->bdev)) {
		err = PTR_ERR(m->bdev);
		goto out_fput;
	}
	err = _t2_check(t1, m, zt.dev_index);
	if (!err) {
		mutex_lock(&t1->unmap_lock);
		if (t1->t2[zt.dev_index])
			err = -EEXIST;
		else
			WRITE_ONCE(t1->t2[zt.dev_index], m);
		mutex_unlock(&t1->unmap_lock);
	}
	if (err) {
		_t2_free(m);
		goto out;
	}
	zt.t2_size = m->data_end << ZUFS_DT_BLOCK_SHIFT;
	zt.hdr.err = 0;
	err = copy_to_user(arg, &zt, sizeof(zt)) ? -EFAULT : 0;
	goto out;

out_fput:
	fput(m->file);
out_free:
	kfree(m);
out:
	zuf_t1_put(t1);
	return err;
}

/* one move: words IOM_T2_WRITE|READ(ref), IOM_T1_READ|WRITE(t1 block), IOM_T2_*_LEN(blocks) */
static int _t2_move(struct zuf_t1 *t1, const u64 *w)
{
	bool write = ZUFS_IOM_TYPE(w[0]) == IOM_T2_WRITE;
	u64 ref = ZUFS_IOM_VAL(w[0]), t1b = ZUFS_IOM_VAL(w[1]), n = ZUFS_IOM_VAL(w[2]);
	u64 dev = ref >> ZUF_T2_REF_BITS, t2b = ref & ((1ULL << ZUF_T2_REF_BITS) - 1);
	struct zuf_t2_member *m;
	size_t len = n << ZUFS_DT_BLOCK_SHIFT;
	loff_t pos = t2b << ZUFS_DT_BLOCK_SHIFT;
	void *buf = t1->kaddr + (t1b << ZUFS_DT_BLOCK_SHIFT);
	ssize_t done;

	if ((!write && ZUFS_IOM_TYPE(w[0]) != IOM_T2_READ) ||
	    ZUFS_IOM_TYPE(w[1]) != (write ? IOM_T1_READ : IOM_T1_WRITE) ||
	    ZUFS_IOM_TYPE(w[2]) != (write ? IOM_T2_WRITE_LEN : IOM_T2_READ_LEN))
		return -EINVAL;
	if (dev >= ZUFS_DT_MAX_MEMBERS)
		return -EINVAL;
	m = READ_ONCE(t1->t2[dev]);
	if (!m || !n || t1b < t1->data_first || n > t1->data_end - t1b ||
	    t2b < (ZUFS_DT_DATA_OFFSET >> ZUFS_DT_BLOCK_SHIFT) || n > m->data_end - t2b)
		return -EINVAL;	/* only data areas: never a table or the journal */
	done = write ? kernel_write(m->file, buf, len, &pos) : kernel_read(m->file, buf, len, &pos);
	if (done != len)
		return done < 0 ? done : -EIO;
	atomic64_add(len, write ? &zuf_stats.t2_bytes_written : &zuf_stats.t2_bytes_read);
	return 0;
}

/* ZU_IOC_IOMAP_EXEC (any special file): moves between t1 and t2, synchronously */
int zuf_t2_exec(struct zufs_ioc_iomap_exec __user *arg)
{
	const u64 __user *uw = (const u64 __user *)(arg + 1);
	struct zufs_ioc_iomap_exec ie;
	struct zuf_t1 *t1;
	u64 w[3];
	u32 i;
	int err = 0;

	if (copy_from_user(&ie, arg, sizeof(ie)))
		return -EFAULT;
	if (!ie.wait_for_done || ie.ziom.iom_n % 3 || ie.ziom.iom_n > ZUF_T2_EXEC_MAX)
		return -EINVAL;
	t1 = zuf_sb_get_t1(ie.sb_id, ie.sb_key);
	if (!t1)
		return -ENOENT;
	for (i = 0; i < ie.ziom.iom_n && !err; i += 3) {
		err = copy_from_user(w, uw + i, sizeof(w)) ? -EFAULT : _t2_move(t1, w);
		if (fatal_signal_pending(current) && !err)
			err = -EINTR;
	}
	zuf_t1_put(t1);
	return err;
}
