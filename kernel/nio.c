// SPDX-License-Identifier: GPL-2.0
/*
 * nio.c - reads and writes straight from and to t1. GET_MULTY asks the server which t1 block
 * holds each page of a range (it fills the blocks first); the answer is kept per inode as a
 * block map, so the next read of those pages copies from t1 to the reader with no round trip at
 * all. A mapping is a lease the server revokes with ZU_IOC_UNMAP (eviction, truncate, a peer
 * gateway's change) before it reuses the block: revocation waits for a copy in progress and
 * voids any GET_MULTY answer still in flight (nio_seq). Pages the server does not map (holes,
 * bytes not cached) go through the op buffer as before (rw.c).
 *
 * Writes (write-back tiers only, ZUFS_FSC_NIO_WRITES): a GET_MULTY for writing maps pages
 * writable; write(2) copies the application's bytes into their blocks and then tells the server
 * with PUT_MULTY, which makes them the file's (dirty in t1, new size and mtime) - one round trip
 * and one copy. If the server revoked the blocks between the copy and the PUT_MULTY it answers
 * -ESTALE and the range is written again through the op buffer.
 */
#include <linux/fs.h>
#include <linux/uio.h>
#include <linux/uaccess.h>
#include <linux/pagemap.h>
#include <linux/mm.h>
#include <linux/pfn_t.h>

#include "zuf.h"

#define ZUF_NIO_MAX_PAGES	256	/* pages asked per GET_MULTY: 1 MiB */
#define ZUF_NIO_MIN_PAGES	16	/* ... and at least 64 KiB (up to EOF): a cold small read
					 * maps its neighbours in the same round trip */

/* a block map entry: the t1 block, and whether the kernel may write it */
#define NIO_WRITABLE	1UL
static inline void *_nio_entry(u64 bn, bool writable)
{
	return xa_mk_value((bn << 1) | (writable ? NIO_WRITABLE : 0));
}

static inline u64 _nio_bn(void *entry)
{
	return xa_to_value(entry) >> 1;
}

/* block map mark: stores through a shared mapping opened the page, not committed yet (dax.c) */
#define ZUF_NIO_MMAP_OPEN	XA_MARK_1

static inline bool _nio_writable(void *entry)
{
	return entry && (xa_to_value(entry) & NIO_WRITABLE);
}

static struct zuf_t1 *_t1(struct inode *inode)
{
	return READ_ONCE(SBI(inode->i_sb)->t1);
}

/* the inode joins t1->inodes once, before its first GET_MULTY, so ZU_IOC_UNMAP can find it */
static int _nio_list(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = _t1(inode);
	int err = 0;

	if (READ_ONCE(zii->nio_listed))
		return 0;
	mutex_lock(&t1->unmap_lock);
	if (!zii->nio_listed) {
		err = xa_err(xa_store(&t1->inodes, inode->i_ino, zii, GFP_NOFS));
		if (!err)
			WRITE_ONCE(zii->nio_listed, true);
	}
	mutex_unlock(&t1->unmap_lock);
	return err;
}

/* drops mapped pages [first, last] and the ptes that map them (dax.c); nio_sem held for write */
static u64 _nio_drop(struct zuf_inode_info *zii, pgoff_t first, pgoff_t last)
{
	struct address_space *mapping = zii->vfs_inode.i_mapping;
	unsigned long index;
	void *entry;
	u64 n = 0;

	zii->nio_seq++;
	if (mapping_mapped(mapping))	/* nr 0 = to the end */
		unmap_mapping_pages(mapping, first, last == ULONG_MAX ? 0 : last - first + 1, false);
	xa_for_each_range(&zii->nio_blocks, index, entry, first, last) {
		xa_erase(&zii->nio_blocks, index);
		n++;
	}
	atomic64_add(n, &zuf_stats.nio_unmapped);
	return n;
}

/*
 * GET_MULTY for pages [index, index + want), for reading or for writing: records the blocks the
 * server mapped and returns how many pages from @index it did not map (0 when @index is mapped
 * now, writable if @write), or an errno.
 */
static long _nio_get(struct inode *inode, pgoff_t index, unsigned long want, bool write)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = _t1(inode);
	struct zufs_ioc_IO ioc;
	struct zufc_thread *zt;
	unsigned long seq, n, i, unmapped = 0;
	bool leading = true;
	u64 *words;
	int err;

	err = _nio_list(inode);
	if (err)
		return err;
	down_read(&zii->nio_sem);
	seq = zii->nio_seq;
	up_read(&zii->nio_sem);

	zt = zufc_get_channel(SBI(inode->i_sb), &err);
	if (!zt)
		return err;
	want = min3(want, (unsigned long)ZUF_NIO_MAX_PAGES, zufc_payload_max(zt) / sizeof(u64));
	memset(&ioc, 0, sizeof(ioc));
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_GET_MULTY, sizeof(ioc),
		     offsetof(struct zufs_ioc_IO, ret_flags));
	ioc.zus_ii = zii->zus_ii;
	ioc.filepos = (u64)index << PAGE_SHIFT;
	ioc.hdr.len = want << PAGE_SHIFT;
	if (write)
		ioc.rw = ZUFS_RW_WRITE;
	err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
	if (err)
		goto out;
	atomic64_inc(&zuf_stats.nio_gets);
	n = ioc.hdr.len / sizeof(u64);
	err = -EIO;
	if (ioc.hdr.len % sizeof(u64) || n < 1 || n > want)
		goto bad;
	words = zufc_payload(zt);
	for (i = 0; i < n; i++) {
		u64 w = words[i];

		u32 type = ZUFS_IOM_TYPE(w);

		if (w && ((type != IOM_T1_READ && !(write && type == IOM_T1_WRITE)) ||
			  ZUFS_IOM_VAL(w) < t1->data_first || ZUFS_IOM_VAL(w) >= t1->data_end))
			goto bad;
	}

	down_write(&zii->nio_sem);
	for (i = 0; i < n; i++) {
		u64 w = words[i], bn = ZUFS_IOM_VAL(w);
		bool writable = ZUFS_IOM_TYPE(w) == IOM_T1_WRITE;
		void *old;

		if (!w) {
			if (leading)
				unmapped++;
			continue;
		}
		leading = false;
		if (zii->nio_seq != seq)
			continue;	/* revoked while in flight: through the op buffer */
		old = xa_load(&zii->nio_blocks, index + i);
		if (old && _nio_bn(old) == bn && (_nio_writable(old) || !writable))
			continue;	/* a read does not take a page's write lease away */
		if (xa_is_err(xa_store(&zii->nio_blocks, index + i, _nio_entry(bn, writable),
				       GFP_NOFS)))
			break;
		atomic64_inc(&zuf_stats.nio_pages_mapped);
	}
	if (!unmapped) {
		void *entry = xa_load(&zii->nio_blocks, index);

		/* mapped, but revoked already or no memory to keep it */
		if (!entry || (write && !_nio_writable(entry)))
			unmapped = 1;
	}
	up_write(&zii->nio_sem);
	err = 0;
	goto out;
bad:
	atomic64_inc(&zuf_stats.bad_replies);
	zuf_warn("GET_MULTY: bad answer (len %u for %lu pages)\n", ioc.hdr.len, want);
out:
	zufc_put_channel(zt);
	return err ? err : unmapped;
}


/*
 * copies mapped pages from @pos on while they stay mapped, at most @count bytes, pages whose
 * blocks follow each other in t1 (a chunk's slot) in one copy; returns the bytes copied (0 when
 * the page at @pos is not mapped) or -EFAULT.
 */
static ssize_t _nio_copy(struct inode *inode, loff_t pos, size_t count, struct iov_iter *ii)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = _t1(inode);
	size_t copied = 0, n = 0;
	ssize_t done = 0;

again:
	down_read(&zii->nio_sem);
	while (count) {
		size_t off = pos & ~PAGE_MASK;
		pgoff_t index = pos >> PAGE_SHIFT;
		void *entry = xa_load(&zii->nio_blocks, index);
		unsigned long pages = 1;
		u64 bn;

		if (!entry)
			break;
		bn = _nio_bn(entry);
		for (n = PAGE_SIZE - off; n < count; n += PAGE_SIZE, pages++) {
			void *next = xa_load(&zii->nio_blocks, index + pages);

			if (!next || _nio_bn(next) != bn + pages)
				break;
		}
		n = min(n, count);
		/* no fault under nio_sem: the buffer may be a mapping of this very file */
		pagefault_disable();
		copied = copy_to_iter(t1->kaddr + (bn << PAGE_SHIFT) + off, n, ii);
		pagefault_enable();
		done += copied;
		pos += copied;
		count -= copied;
		if (copied)
			atomic64_add(DIV_ROUND_UP(off + copied, PAGE_SIZE), &zuf_stats.nio_pages_hit);
		atomic64_add(copied, &zuf_stats.bytes_from_t1);
		if (copied < n)
			break;
	}
	up_read(&zii->nio_sem);
	if (count && copied < n) {
		/* the buffer was not there: fault it in outside the lock, then go on */
		if (fault_in_iov_iter_writeable(ii, n - copied) == n - copied)
			return done ? done : -EFAULT;
		copied = n = 0;
		goto again;
	}
	return done;
}

/* pages to ask for from @pos: the read's, at least ZUF_NIO_MIN_PAGES, never past EOF */
static unsigned long _nio_want(loff_t pos, size_t count, loff_t size)
{
	unsigned long read = DIV_ROUND_UP((pos & ~PAGE_MASK) + count, PAGE_SIZE);
	unsigned long to_eof = DIV_ROUND_UP(size, PAGE_SIZE) - (pos >> PAGE_SHIFT);

	return max(read, min_t(unsigned long, ZUF_NIO_MIN_PAGES, to_eof));
}

/* reads [pos, pos + count) into @ii, from t1 where the server maps it */
ssize_t zuf_nio_read(struct inode *inode, loff_t pos, struct iov_iter *ii)
{
	struct zuf_inode_info *zii = ZUII(inode);
	ssize_t done = 0, ret = 0;

	while (iov_iter_count(ii)) {
		loff_t size = le64_to_cpu(READ_ONCE(zii->zi->i_size));
		size_t count, rest;
		long unmapped;

		if (pos >= size)
			break;
		count = min_t(u64, iov_iter_count(ii), size - pos);
		ret = _nio_copy(inode, pos, count, ii);
		if (ret < 0)
			break;
		if (ret) {
			pos += ret;
			done += ret;
			continue;
		}
		unmapped = _nio_get(inode, pos >> PAGE_SHIFT, _nio_want(pos, count, size), false);
		if (unmapped < 0) {
			ret = unmapped;
			break;
		}
		if (!unmapped)
			continue;
		/* not mapped: through the op buffer, up to the next page that may be */
		count = min_t(u64, count, ((u64)unmapped << PAGE_SHIFT) - (pos & ~PAGE_MASK));
		atomic64_inc(&zuf_stats.nio_fallback);
		rest = iov_iter_count(ii) - count;
		iov_iter_truncate(ii, count);
		ret = zuf_rw_read_opbuf(inode, pos, ii);
		iov_iter_reexpand(ii, iov_iter_count(ii) + rest);
		if (ret <= 0)
			break;
		pos += ret;
		done += ret;
		if (ret < count)
			break;	/* end of file on the server's side */
	}
	return done ? done : ret;
}

/*
 * copies from @ii into writable mapped pages from @pos on, while they stay mapped and their
 * blocks follow each other (so the server finds them as one run from *@bn, the first page's
 * block), at most @count bytes; returns the bytes copied (0 when the page at @pos is not mapped
 * writable) or -EFAULT.
 */
static ssize_t _nio_copy_in(struct inode *inode, loff_t pos, size_t count, struct iov_iter *ii,
			    u64 *bn)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = _t1(inode);
	pgoff_t first = pos >> PAGE_SHIFT;
	size_t copied = 0, n = 0;
	ssize_t done = 0;

again:
	down_read(&zii->nio_sem);
	while (count) {
		size_t off = pos & ~PAGE_MASK;
		void *entry = xa_load(&zii->nio_blocks, pos >> PAGE_SHIFT);
		u64 b;

		if (!_nio_writable(entry))
			break;
		b = _nio_bn(entry);
		if (!done && (pos >> PAGE_SHIFT) == first)
			*bn = b;
		else if (b != *bn + ((pos >> PAGE_SHIFT) - first))
			break;	/* another slot: the next PUT_MULTY */
		n = min_t(size_t, PAGE_SIZE - off, count);
		pagefault_disable();
		copied = copy_from_iter(t1->kaddr + (b << PAGE_SHIFT) + off, n, ii);
		pagefault_enable();
		done += copied;
		pos += copied;
		count -= copied;
		atomic64_add(copied, &zuf_stats.bytes_to_t1);
		if (copied < n)
			break;
	}
	up_read(&zii->nio_sem);
	if (count && copied < n) {
		if (fault_in_iov_iter_readable(ii, n - copied) == n - copied)
			return done ? done : -EFAULT;
		copied = n = 0;
		goto again;
	}
	return done;
}

/*
 * PUT_MULTY: bytes [pos, pos + len) are in t1 from block @bn on; the server makes them the file's.
 * -ESTALE: it had revoked those blocks first, the bytes are not the file's.
 */
static int _nio_put(struct inode *inode, loff_t pos, size_t len, u64 bn, u64 rw)
{
	struct zufs_ioc_IO ioc;
	struct zufc_thread *zt;
	int err;

	zt = zufc_get_channel(SBI(inode->i_sb), &err);
	if (!zt)
		return err;
	memset(&ioc, 0, sizeof(ioc));
	zuf_hdr_init(&ioc.hdr, ZUFS_OP_PUT_MULTY, sizeof(ioc),
		     offsetof(struct zufs_ioc_IO, ret_flags));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.filepos = pos;
	ioc.hdr.len = len;
	ioc.rw = ZUFS_RW_WRITE | rw;
	ioc.iom_n = 1;
	ioc.iom_e[0] = ZUFS_IOM_WORD(IOM_T1_WRITE, bn);
	err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
	zufc_put_channel(zt);
	if (!err && ioc.last_pos != pos + len) {
		atomic64_inc(&zuf_stats.bad_replies);
		zuf_warn("PUT_MULTY: bad answer (last_pos %llu for %llu + %zu)\n",
			 ioc.last_pos, pos, len);
		err = -EIO;
	}
	return err;
}

/* writes @ii at @pos (the caller holds the inode lock), into t1 where the server maps it */
ssize_t zuf_nio_write(struct inode *inode, loff_t pos, struct iov_iter *ii, u64 rw)
{
	ssize_t done = 0, ret = 0;

	while (iov_iter_count(ii)) {
		size_t count = iov_iter_count(ii), rest;
		long unmapped;
		u64 bn = 0;

		ret = _nio_copy_in(inode, pos, count, ii, &bn);
		if (ret < 0)
			break;
		if (ret) {
			int err = _nio_put(inode, pos, ret, bn, rw);

			if (!err) {
				atomic64_inc(&zuf_stats.nio_puts);
				pos += ret;
				done += ret;
				continue;
			}
			iov_iter_revert(ii, ret);
			if (err != -ESTALE) {
				ret = err;
				break;
			}
			/* revoked under us: these bytes again, through the op buffer */
			atomic64_inc(&zuf_stats.nio_put_stale);
			count = ret;
		} else {
			/* the write's pages, rounded up to a 64 KiB group: neighbours come mapped */
			pgoff_t index = pos >> PAGE_SHIFT;
			pgoff_t end = DIV_ROUND_UP(pos + count, PAGE_SIZE);

			end = round_up(end, ZUF_NIO_MIN_PAGES);
			unmapped = _nio_get(inode, index, end - index, true);
			if (unmapped < 0) {
				ret = unmapped;
				break;
			}
			if (!unmapped)
				continue;
			count = min_t(u64, count, ((u64)unmapped << PAGE_SHIFT) - (pos & ~PAGE_MASK));
		}
		atomic64_inc(&zuf_stats.nio_fallback);
		rest = iov_iter_count(ii) - count;
		iov_iter_truncate(ii, count);
		ret = zuf_rw_write(inode, pos, ii, rw);
		iov_iter_reexpand(ii, iov_iter_count(ii) + rest);
		if (ret <= 0)
			break;
		pos += ret;
		done += ret;
		if (ret < count)
			break;
	}
	if (done)	/* the next close tells the server (zuf_flush) */
		set_bit(ZUF_I_WRITTEN, &ZUII(inode)->state);
	return done ? done : ret;
}

/* ---- mappings of t1 blocks (dax.c) ---- */

/* page @index is in the block map (writable, if @writable) */
bool zuf_nio_lookup(struct inode *inode, pgoff_t index, bool writable)
{
	struct zuf_inode_info *zii = ZUII(inode);
	void *entry;

	down_read(&zii->nio_sem);
	entry = xa_load(&zii->nio_blocks, index);
	up_read(&zii->nio_sem);
	return writable ? _nio_writable(entry) : entry != NULL;
}

/* GET_MULTY from page @index: the pages not mapped from @index, or an errno */
long zuf_nio_map(struct inode *inode, pgoff_t index, unsigned long want, bool write)
{
	return _nio_get(inode, index, want, write);
}

/*
 * the first store through a shared mapping into writable page @index since its last commit:
 * PUT_MULTY ZUFS_RW_MMAP | ZUFS_RW_MMAP_OPEN, then the page is marked open. -ESTALE: revoked.
 * zii->dax_lock held.
 */
int zuf_nio_mmap_open(struct inode *inode, pgoff_t index)
{
	struct zuf_inode_info *zii = ZUII(inode);
	loff_t pos = (loff_t)index << PAGE_SHIFT;
	loff_t size = le64_to_cpu(READ_ONCE(zii->zi->i_size));
	void *entry;
	bool open;
	u64 bn;
	int err;

	down_read(&zii->nio_sem);
	entry = xa_load(&zii->nio_blocks, index);
	open = _nio_writable(entry) && xa_get_mark(&zii->nio_blocks, index, ZUF_NIO_MMAP_OPEN);
	bn = entry ? _nio_bn(entry) : 0;
	up_read(&zii->nio_sem);
	if (open)
		return 0;
	if (!_nio_writable(entry))
		return -ESTALE;
	if (pos >= size)
		return -ESTALE;	/* truncated meanwhile: the fault sees it */
	err = _nio_put(inode, pos, min_t(loff_t, PAGE_SIZE, size - pos), bn,
		       ZUFS_RW_MMAP | ZUFS_RW_MMAP_OPEN);
	if (err)
		return err;
	atomic64_inc(&zuf_stats.dax_opens);
	down_read(&zii->nio_sem);
	entry = xa_load(&zii->nio_blocks, index);
	if (_nio_writable(entry) && _nio_bn(entry) == bn)
		xa_set_mark(&zii->nio_blocks, index, ZUF_NIO_MMAP_OPEN);
	else
		err = -ESTALE;	/* revoked since: the server forgot the open with the chunk */
	up_read(&zii->nio_sem);
	return err;
}

/*
 * maps page vmf->pgoff to its t1 block: a read-only pte, or for a @store a writable one (the page
 * must be open) or, @present, nothing: the core makes the present pte writable.
 */
vm_fault_t zuf_nio_mmap_insert(struct vm_fault *vmf, bool store, bool present)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = _t1(inode);
	vm_fault_t ret = VM_FAULT_NOPAGE;	/* revoked meanwhile: fault again */
	pfn_t pfn;
	void *entry;

	/* under nio_sem: a revocation zaps after this pte is in, never before */
	down_read(&zii->nio_sem);
	entry = xa_load(&zii->nio_blocks, vmf->pgoff);
	if (!entry || (store && !xa_get_mark(&zii->nio_blocks, vmf->pgoff, ZUF_NIO_MMAP_OPEN)))
		goto out;
	if (present) {
		ret = 0;
		goto out;
	}
	pfn = pfn_to_pfn_t(t1->pfn + _nio_bn(entry));
	ret = store ? vmf_insert_mixed_mkwrite(vmf->vma, vmf->address, pfn) :
		      vmf_insert_mixed(vmf->vma, vmf->address, pfn);
	if (!(ret & VM_FAULT_ERROR))
		atomic64_inc(&zuf_stats.dax_faults);
out:
	up_read(&zii->nio_sem);
	return ret;
}

/*
 * commits the pages stores opened: per run of open pages in consecutive blocks, the marks go,
 * the ptes are zapped (the next store faults and opens again), then PUT_MULTY ZUFS_RW_MMAP.
 * zii->dax_lock held. -EIO if the server had revoked a run (its stores are lost).
 */
int zuf_nio_mmap_commit(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);
	unsigned long index = 0;
	int err = 0;

	for (;;) {
		loff_t pos, size;
		unsigned long n = 0;
		pgoff_t first;
		void *entry;
		u64 bn;
		int e;

		down_read(&zii->nio_sem);
		entry = xa_find(&zii->nio_blocks, &index, ULONG_MAX, ZUF_NIO_MMAP_OPEN);
		if (!entry) {
			up_read(&zii->nio_sem);
			break;
		}
		first = index;
		bn = _nio_bn(entry);
		while (entry && _nio_bn(entry) == bn + n && n < ZUF_NIO_MAX_PAGES &&
		       xa_get_mark(&zii->nio_blocks, first + n, ZUF_NIO_MMAP_OPEN)) {
			xa_clear_mark(&zii->nio_blocks, first + n, ZUF_NIO_MMAP_OPEN);
			n++;
			entry = xa_load(&zii->nio_blocks, first + n);
		}
		up_read(&zii->nio_sem);
		index = first + n;
		unmap_mapping_pages(inode->i_mapping, first, n, false);
		pos = (loff_t)first << PAGE_SHIFT;
		size = le64_to_cpu(READ_ONCE(zii->zi->i_size));
		if (pos >= size)
			continue;	/* truncated away */
		e = _nio_put(inode, pos, min_t(loff_t, (loff_t)n << PAGE_SHIFT, size - pos), bn,
			     ZUFS_RW_MMAP);
		if (e == -ESTALE)
			e = -EIO;
		if (e && !err)
			err = e;
		if (!e) {
			atomic64_inc(&zuf_stats.dax_commits);
			set_bit(ZUF_I_WRITTEN, &zii->state);	/* close-to-open (zuf_flush) */
		}
	}
	return err;
}

/* the kernel's own revocation: pages from @first on (truncate) */
void zuf_nio_forget(struct inode *inode, pgoff_t first)
{
	struct zuf_inode_info *zii = ZUII(inode);

	if (!READ_ONCE(zii->nio_listed))
		return;
	down_write(&zii->nio_sem);
	_nio_drop(zii, first, ULONG_MAX);
	up_write(&zii->nio_sem);
}

void zuf_nio_evict(struct inode *inode)
{
	struct zuf_inode_info *zii = ZUII(inode);
	struct zuf_t1 *t1 = _t1(inode);

	if (!zii->nio_listed)
		return;
	mutex_lock(&t1->unmap_lock);
	xa_cmpxchg(&t1->inodes, inode->i_ino, zii, NULL, GFP_NOFS);
	mutex_unlock(&t1->unmap_lock);
	xa_destroy(&zii->nio_blocks);
	zii->nio_listed = false;
}

/* ZU_IOC_UNMAP, on any special file */
int zuf_nio_unmap_ioctl(struct zufs_ioc_unmap __user *arg)
{
	struct zufs_ioc_unmap zu;
	struct zuf_inode_info *zii;
	struct zuf_t1 *t1;
	unsigned long ino;
	pgoff_t last;

	if (copy_from_user(&zu, arg, sizeof(zu)))
		return -EFAULT;
	t1 = zuf_sb_get_t1(zu.sb_id, zu.sb_key);
	if (!t1)
		return -ENOENT;
	last = zu.count ? zu.first + zu.count - 1 : ULONG_MAX;
	if (last < zu.first)
		last = ULONG_MAX;
	zu.unmapped = 0;
	mutex_lock(&t1->unmap_lock);
	xa_for_each_range(&t1->inodes, ino, zii, zu.ino ? zu.ino : 0, zu.ino ? zu.ino : ULONG_MAX) {
		down_write(&zii->nio_sem);
		zu.unmapped += _nio_drop(zii, zu.first, last);
		up_write(&zii->nio_sem);
	}
	mutex_unlock(&t1->unmap_lock);
	zuf_t1_put(t1);
	zu.hdr.err = 0;
	return copy_to_user(arg, &zu, sizeof(zu)) ? -EFAULT : 0;
}
