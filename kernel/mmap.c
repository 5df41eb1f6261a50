// SPDX-License-Identifier: GPL-2.0
/*
 * mmap.c - mmap through the page cache, the way fs/fuse does it for direct-I/O files: a fault
 * reads the page from the server (ZUFS_OP_READ), writeback sends dirty pages back
 * (ZUFS_OP_WRITE with ZUFS_RW_MMAP). read(2)/write(2) bypass the cache (rw.c) and keep it
 * coherent; open revalidates it against the shared zus_inode (close-to-open), so a change made
 * by another gateway is not served from stale pages. DAX mapping of t1 blocks replaces this
 * once the kernel owns the pool devices.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/writeback.h>
#include <linux/uio.h>
#include <linux/sched.h>

#include "zuf.h"

/* the (mtime, size) of the file as the cached pages know it */
void zuf_pc_note(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);

	if (!zii->zi)
		return;
	WRITE_ONCE(zii->pc_mtime, le64_to_cpu(READ_ONCE(zii->zi->i_mtime)));
	WRITE_ONCE(zii->pc_size, le64_to_cpu(READ_ONCE(zii->zi->i_size)));
}

/* at open: drops cached pages if the file changed behind them (another gateway) */
void zuf_pc_revalidate(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct address_space *mapping = inode->i_mapping;

	if (!zii->zi)
		return;
	if (!mapping->nrpages) {	/* pages cached from now on are cut from this version */
		zuf_pc_note(inode);
		return;
	}
	if (READ_ONCE(zii->pc_mtime) == le64_to_cpu(READ_ONCE(zii->zi->i_mtime)) &&
	    READ_ONCE(zii->pc_size) == le64_to_cpu(READ_ONCE(zii->zi->i_size)))
		return;
	filemap_write_and_wait(mapping);
	invalidate_inode_pages2(mapping);
	zuf_pc_note(inode);
}

static int zuf_read_folio(struct file *file, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	size_t len = folio_size(folio);
	struct iov_iter iter;
	struct kvec kv;
	ssize_t ret;

	kv.iov_base = kmap_local_folio(folio, 0);
	kv.iov_len = len;
	iov_iter_kvec(&iter, ITER_DEST, &kv, 1, len);
	ret = zuf_rw_read(inode, folio_pos(folio), &iter);
	if (ret >= 0)
		memset(kv.iov_base + ret, 0, len - ret);
	kunmap_local(kv.iov_base);
	if (ret >= 0) {
		flush_dcache_folio(folio);
		folio_mark_uptodate(folio);
		ret = 0;
	}
	folio_unlock(folio);
	return ret;
}

/* writes the part of a locked or under-writeback folio that is inside i_size */
static int _write_folio(struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	loff_t pos = folio_pos(folio), size = i_size_read(inode);
	struct iov_iter iter;
	struct kvec kv;
	ssize_t ret;
	size_t len;

	if (pos >= size)
		return 0;	/* truncated away since it was dirtied */
	len = min_t(loff_t, size - pos, folio_size(folio));
	kv.iov_base = kmap_local_folio(folio, 0);
	kv.iov_len = len;
	iov_iter_kvec(&iter, ITER_SOURCE, &kv, 1, len);
	ret = zuf_rw_write(inode, pos, &iter, ZUFS_RW_MMAP);
	kunmap_local(kv.iov_base);
	if (ret >= 0 && ret != len)
		ret = -EIO;
	if (ret < 0)
		return ret;
	zuf_pc_note(inode);	/* our own write moved mtime; the cache still holds the truth */
	return 0;
}

static int zuf_writepage(struct page *page, struct writeback_control *wbc)
{
	struct folio *folio = page_folio(page);
	int err;

	/* reclaim must not wait for the server: it may need memory to answer */
	if (current->flags & PF_MEMALLOC) {
		folio_redirty_for_writepage(wbc, folio);
		folio_unlock(folio);
		return 0;
	}
	folio_start_writeback(folio);
	folio_unlock(folio);
	err = _write_folio(folio);
	if (err)
		mapping_set_error(folio->mapping, err);
	folio_end_writeback(folio);
	return err;
}

/* invalidate_inode_pages2() met a dirty page: it goes to the server first */
static int zuf_launder_folio(struct folio *folio)
{
	if (!folio_clear_dirty_for_io(folio))
		return 0;
	return _write_folio(folio);
}

const struct address_space_operations zuf_aops = {
	.read_folio	= zuf_read_folio,
	.writepage	= zuf_writepage,
	.dirty_folio	= filemap_dirty_folio,
	.launder_folio	= zuf_launder_folio,
	.direct_IO	= noop_direct_IO,	/* read/write never use the cache anyway */
};
