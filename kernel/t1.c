// SPDX-License-Identifier: GPL-2.0
/*
 * t1.c - the t1 tier in the kernel. The server hands over the t1 device it formatted (a DAX
 * block device: pmem) with ZU_IOC_GRAB_PMEM; zuf opens it exclusively, maps all of it with
 * dax_direct_access and keeps it until both the super block and the server's mapping are gone.
 * The server maps the same pages through its special file, so kernel and server address one
 * memory: what the server fills, the kernel copies to readers (nio.c) with no copy in between.
 * The device must be member 0 of a t1 set that `zufs format` made (struct zufs_dev_table).
 */
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/pfn_t.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "zuf.h"

#define ZUF_T1_MODE	(FMODE_READ | FMODE_WRITE | FMODE_EXCL)

static void _t1_free(struct kref *kref)
{
	struct zuf_t1 *t1 = container_of(kref, struct zuf_t1, kref);

	xa_destroy(&t1->inodes);
	zuf_t2_release(t1);
	fs_put_dax(t1->dax, t1);
	blkdev_put(t1->bdev, ZUF_T1_MODE);
	kfree(t1);
}

void zuf_t1_put(struct zuf_t1 *t1)
{
	if (t1)
		kref_put(&t1->kref, _t1_free);
}

/* opens the block device behind @fd and maps it whole; on error nothing is held */
static int _t1_open(struct zuf_t1 *t1, int fd)
{
	struct file *file = fget(fd);
	u64 start_off, pages;
	void *kaddr;
	pfn_t pfn;
	dev_t dev;
	long got;
	int id, err;

	if (!file)
		return -EBADF;
	dev = S_ISBLK(file_inode(file)->i_mode) ? file_inode(file)->i_rdev : 0;
	fput(file);
	if (!dev)
		return -ENOTBLK;

	t1->bdev = blkdev_get_by_dev(dev, ZUF_T1_MODE, t1);
	if (IS_ERR(t1->bdev))
		return PTR_ERR(t1->bdev);
	err = -EOPNOTSUPP;
	t1->dax = fs_dax_get_by_bdev(t1->bdev, &start_off, t1, NULL);
	if (!t1->dax)
		goto put_bdev;
	pages = bdev_nr_bytes(t1->bdev) >> PAGE_SHIFT;
	id = dax_read_lock();
	got = dax_direct_access(t1->dax, PHYS_PFN(start_off), pages, DAX_ACCESS, &kaddr, &pfn);
	dax_read_unlock(id);
	if (got < 0 || (u64)got < pages) {
		zuf_warn("t1: DAX maps %ld of %llu pages of the device: refused\n", got, pages);
		err = got < 0 ? got : -EOPNOTSUPP;
		goto put_dax;
	}
	t1->kaddr = kaddr;
	t1->pfn = pfn_t_to_pfn(pfn);
	t1->nblocks = pages;
	return 0;

put_dax:
	fs_put_dax(t1->dax, t1);
put_bdev:
	blkdev_put(t1->bdev, ZUF_T1_MODE);
	return err;
}

/*
 * The device must carry the table `zufs format` wrote, as member 0 of a t1 set: GET_MULTY may
 * then name only blocks of its data area, never the table or the journal. (The CRC is the
 * server's to check: the kernel would need libcrc32c for it.)
 */
static int _t1_check_table(struct zuf_t1 *t1)
{
	const struct zufs_dev_table *dt = t1->kaddr;
	u64 blocks = le64_to_cpu(dt->members[0].blocks);
	u64 first = (ZUFS_DT_DATA_OFFSET >> ZUFS_DT_BLOCK_SHIFT) + le64_to_cpu(dt->journal_blocks);

	BUILD_BUG_ON(sizeof(*dt) != ZUFS_DT_SIZE || PAGE_SHIFT != ZUFS_DT_BLOCK_SHIFT);
	if (le32_to_cpu(dt->magic) != ZUFS_DT_MAGIC || le32_to_cpu(dt->size) != ZUFS_DT_SIZE ||
	    le16_to_cpu(dt->version_major) != ZUFS_DT_VERSION_MAJOR ||
	    le16_to_cpu(dt->block_shift) != ZUFS_DT_BLOCK_SHIFT) {
		zuf_warn("t1: no zufs device table on the device (run zufs format)\n");
		return -EMEDIUMTYPE;
	}
	if (le16_to_cpu(dt->dev_index) != 0 || !le16_to_cpu(dt->t1_count) ||
	    dt->members[0].role != ZUFS_DEV_ROLE_T1 ||
	    memcmp(dt->dev_uuid, dt->members[0].uuid, sizeof(dt->dev_uuid))) {
		zuf_warn("t1: the device is not t1 member 0 of its tier set\n");
		return -EINVAL;
	}
	if (blocks > t1->nblocks || first >= blocks) {
		zuf_warn("t1: the table gives %llu blocks (data from %llu), the device has %llu\n",
			 blocks, first, t1->nblocks);
		return -EINVAL;
	}
	t1->data_first = first;
	t1->data_end = blocks;
	return 0;
}

/* ZU_IOC_GRAB_PMEM: this special file becomes t1 of a super block */
int zuf_t1_grab(struct zuf_special_file *zsf, struct zufs_ioc_pmem __user *arg)
{
	struct zufs_ioc_pmem zp;
	struct zuf_t1 *t1;
	int err;

	if (copy_from_user(&zp, arg, sizeof(zp)))
		return -EFAULT;
	if (zp.dev_index != 0)
		return -EINVAL;	/* one member in this version */

	t1 = kzalloc(sizeof(*t1), GFP_KERNEL);
	if (!t1)
		return -ENOMEM;
	kref_init(&t1->kref);
	mutex_init(&t1->unmap_lock);
	xa_init(&t1->inodes);
	err = _t1_open(t1, zp.fd);
	if (err) {
		kfree(t1);
		return err;
	}
	err = _t1_check_table(t1);
	if (err) {
		zuf_t1_put(t1);
		return err;
	}
	err = zuf_sb_install_t1(zp.sb_id, zp.sb_key, t1);	/* takes the super block's ref */
	if (err) {
		zuf_t1_put(t1);
		return err;
	}
	zsf->t1 = t1;
	zsf->role = ZUF_SF_T1;
	zp.t1_size = t1->nblocks << PAGE_SHIFT;
	zp.hdr.err = 0;
	if (copy_to_user(arg, &zp, sizeof(zp)))
		return -EFAULT;
	return 0;
}

/* the server's view of t1: offset = byte offset in the device */
int zuf_t1_mmap(struct zuf_special_file *zsf, struct vm_area_struct *vma)
{
	struct zuf_t1 *t1 = zsf->t1;
	unsigned long pages = vma_pages(vma);

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff > t1->nblocks || pages > t1->nblocks - vma->vm_pgoff)
		return -EINVAL;
	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND;
	return remap_pfn_range(vma, vma->vm_start, t1->pfn + vma->vm_pgoff,
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}
