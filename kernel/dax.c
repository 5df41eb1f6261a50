// SPDX-License-Identifier: GPL-2.0
/*
 * dax.c - mmap of t1 blocks: a fault finds the page in the NIO block map (nio.c), asking
 * GET_MULTY when it is not there, and inserts the block's pfn as a special pte (no page cache,
 * no copy; get_user_pages refuses such ptes, so nothing pins a t1 block the server may reuse).
 * Revocation (ZU_IOC_UNMAP, truncate) zaps these ptes before the block is reused. A page the
 * server does not map (a hole, bytes not cached) comes from the page cache instead (filemap_fault,
 * read through nio.c). A private mapping's store copies the page (COW) as for any pfn mapping.
 *
 * Shared writable mappings (write-back tiers, ZUFS_FSC_NIO_WRITES): ptes start read-only. The
 * first store into a page since its last commit maps it writable and opens it with the server
 * (PUT_MULTY, ZUFS_RW_MMAP | ZUFS_RW_MMAP_OPEN): the page counts as written and its chunk stays in
 * t1 until the page is committed. msync, fsync and munmap commit every page opened since: its ptes
 * are zapped first (the next store faults and opens it again), then PUT_MULTY ZUFS_RW_MMAP hands
 * the bytes over as a write of them. zii->dax_lock orders opens and commits of an inode. Without
 * NIO writes, shared writable mappings go through the page cache (mmap.c).
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pfn_t.h>

#include "zuf.h"

static bool _past_eof(struct inode *inode, pgoff_t index)
{
	loff_t size = le64_to_cpu(READ_ONCE(ZUII(inode)->zi->i_size));

	return index >= DIV_ROUND_UP(size, PAGE_SIZE);
}

/*
 * a store into page vmf->pgoff of a shared writable mapping: maps the page writable, opens it
 * with the server unless it is open already, then inserts a writable pte or, @present (the pte is
 * there, read-only: pfn_mkwrite), lets the core make it writable.
 */
static vm_fault_t _dax_store(struct vm_fault *vmf, bool present)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct zuf_inode_info *zii = ZUII(inode);
	pgoff_t index = vmf->pgoff;
	vm_fault_t ret = VM_FAULT_NOPAGE;	/* revoked under us: the store faults again */
	long unmapped;
	int err;

	mutex_lock(&zii->dax_lock);
	if (!zuf_nio_lookup(inode, index, true)) {
		unmapped = zuf_nio_map(inode, index, ZUF_NIO_FAULT_PAGES, true);
		if (unmapped < 0) {
			ret = vmf_error(unmapped);
			goto out;
		}
		if (unmapped) {
			/* the server does not map it for writing: through the page cache */
			mutex_unlock(&zii->dax_lock);
			if (!present)
				return filemap_fault(vmf);
			unmap_mapping_pages(inode->i_mapping, index, 1, false);
			return VM_FAULT_NOPAGE;
		}
	}
	err = zuf_nio_mmap_open(inode, index);
	if (err && err != -ESTALE)
		ret = vmf_error(err);
	else if (!err)
		ret = zuf_nio_mmap_insert(vmf, true, present);
out:
	mutex_unlock(&zii->dax_lock);
	return ret;
}

static vm_fault_t zuf_dax_fault(struct vm_fault *vmf)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	pgoff_t index = vmf->pgoff;
	long unmapped;

	if (_past_eof(inode, index))
		return VM_FAULT_SIGBUS;
	if ((vmf->flags & FAULT_FLAG_WRITE) && (vmf->vma->vm_flags & VM_SHARED))
		return _dax_store(vmf, false);
	/* what a shared mapping through the page cache dirtied reaches t1 first, as for read(2) */
	if (inode->i_mapping->nrpages &&
	    filemap_write_and_wait_range(inode->i_mapping, (loff_t)index << PAGE_SHIFT,
					 ((loff_t)index << PAGE_SHIFT) + PAGE_SIZE - 1))
		return VM_FAULT_SIGBUS;
	if (!zuf_nio_lookup(inode, index, false)) {
		unmapped = zuf_nio_map(inode, index, ZUF_NIO_FAULT_PAGES, false);
		if (unmapped < 0)
			return vmf_error(unmapped);
		if (unmapped)
			return filemap_fault(vmf);
	}
	return zuf_nio_mmap_insert(vmf, false, false);
}

static vm_fault_t zuf_dax_pfn_mkwrite(struct vm_fault *vmf)
{
	if (_past_eof(file_inode(vmf->vma->vm_file), vmf->pgoff))
		return VM_FAULT_SIGBUS;
	return _dax_store(vmf, true);
}

static void zuf_dax_close(struct vm_area_struct *vma)
{
	int err;

	if (!(vma->vm_flags & VM_SHARED) || !(vma->vm_flags & VM_MAYWRITE))
		return;
	err = zuf_dax_commit(file_inode(vma->vm_file));
	if (err)
		zuf_warn("munmap: stores through the mapping were not committed: %d\n", err);
}

static const struct vm_operations_struct zuf_dax_vm_ops = {
	.fault		= zuf_dax_fault,
	.pfn_mkwrite	= zuf_dax_pfn_mkwrite,
	.close		= zuf_dax_close,
};

/*
 * msync, fsync, munmap: the pages stores opened since their last commit go to the server, their
 * ptes zapped first. -EIO when the server had revoked some (a peer's change: those stores lost).
 */
int zuf_dax_commit(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);
	int err;

	if (!READ_ONCE(zii->nio_listed))
		return 0;
	mutex_lock(&zii->dax_lock);
	err = zuf_nio_mmap_commit(inode);
	mutex_unlock(&zii->dax_lock);
	return err;
}

/* with NIO, mappings go to t1; a shared writable one only when writes may go there too */
static bool _dax_mappable(struct inode *inode, struct vm_area_struct *vma)
{
	if ((vma->vm_flags & VM_SHARED) && (vma->vm_flags & VM_MAYWRITE))
		return zuf_nio_writes_on(inode);
	return zuf_nio_on(inode);
}

int zuf_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct inode *inode = file_inode(file);

	if (!_dax_mappable(inode, vma))
		return generic_file_mmap(file, vma);
	file_accessed(file);
	vma->vm_ops = &zuf_dax_vm_ops;
	vma->vm_flags |= VM_MIXEDMAP;
	return 0;
}
