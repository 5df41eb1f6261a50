// SPDX-License-Identifier: GPL-2.0
/*
 * dax.c - mappings that cannot write the file map its t1 blocks straight into the process: no
 * page cache, no copy. A fault finds the page in the NIO block map (nio.c), asking GET_MULTY when
 * it is not there, and inserts the block's pfn as a special pte (get_user_pages refuses such ptes,
 * so nothing can pin a t1 block the server may reuse). Revocation (ZU_IOC_UNMAP, truncate) zaps
 * these ptes before the block is reused. A page the server does not map (a hole, bytes not cached)
 * comes from the page cache instead (filemap_fault, read through nio.c). A private mapping's write
 * copies the page (COW) as for any pfn mapping.
 *
 * Shared writable mappings keep going through the page cache (mmap.c): a store through a t1 pte
 * would change the file behind the server, which learns of written bytes only from PUT_MULTY.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pfn_t.h>

#include "zuf.h"

static vm_fault_t zuf_dax_fault(struct vm_fault *vmf)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = READ_ONCE(SBI(inode->i_sb)->t1);
	pgoff_t index = vmf->pgoff;
	vm_fault_t ret;
	long unmapped;
	void *entry;

	if (index >= DIV_ROUND_UP(le64_to_cpu(READ_ONCE(zii->zi->i_size)), PAGE_SIZE))
		return VM_FAULT_SIGBUS;
	/* what a shared writable mapping (page cache) dirtied reaches t1 first, as for read(2) */
	if (inode->i_mapping->nrpages &&
	    filemap_write_and_wait_range(inode->i_mapping, (loff_t)index << PAGE_SHIFT,
					 ((loff_t)index << PAGE_SHIFT) + PAGE_SIZE - 1))
		return VM_FAULT_SIGBUS;
	down_read(&zii->nio_sem);
	entry = xa_load(&zii->nio_blocks, index);
	if (!entry) {
		up_read(&zii->nio_sem);
		unmapped = zuf_nio_map(inode, index, ZUF_NIO_FAULT_PAGES);
		if (unmapped < 0)
			return vmf_error(unmapped);
		if (unmapped)
			return filemap_fault(vmf);
		down_read(&zii->nio_sem);
		entry = xa_load(&zii->nio_blocks, index);
		if (!entry) {	/* revoked at once: the next fault asks again */
			up_read(&zii->nio_sem);
			return VM_FAULT_NOPAGE;
		}
	}
	/* under nio_sem: a revocation zaps after this pte is in, never before */
	ret = vmf_insert_mixed(vmf->vma, vmf->address,
			       pfn_to_pfn_t(t1->pfn + zuf_nio_entry_block(entry)));
	up_read(&zii->nio_sem);
	if (!(ret & VM_FAULT_ERROR))
		atomic64_inc(&zuf_stats.dax_faults);
	return ret;
}

static const struct vm_operations_struct zuf_dax_vm_ops = {
	.fault		= zuf_dax_fault,
};

/* a mapping that can never write the file: of a file opened read-only, or private */
static bool _dax_mappable(struct inode *inode, struct vm_area_struct *vma)
{
	bool shared_writable = (vma->vm_flags & VM_SHARED) && (vma->vm_flags & VM_MAYWRITE);

	return zuf_nio_on(inode) && !shared_writable;
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
