// SPDX-License-Identifier: GPL-2.0
/*
 * zuf-core.c - ZT channels: per-CPU server threads, the op buffer they mmap, and the dispatch
 * of an application's operation to a free channel of its own CPU.
 *
 * A channel (struct zufc_thread) is owned by one ZT special file. The application side claims
 * a free channel, writes its command (and payload) into the channel's op buffer, wakes the ZT
 * and sleeps. The ZT's next ZU_IOC_WAIT_OPT completes the op and wakes the application, which
 * copies the reply out of the op buffer and only then puts the channel back: the buffer belongs
 * to the application from claim to put, so the ZT can never overwrite a reply being read.
 *
 * A CPU whose channels are all busy asks the server for one more (ZUFS_M_ADD_CHANNEL through
 * the mount thread, not waited for): the server starts a ZT pinned there, up to its own limit.
 *
 * A dying server closes its files: every op posted or running fails with -EIO, a claimed
 * buffer is freed by the application's put, and with no channel left dispatch fails at once.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/bitmap.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include "zuf.h"

struct zufc_thread {
	spinlock_t		lock;
	int			cpu;		/* immutable */
	int			chan;		/* immutable */
	struct zuf_special_file	*zsf;		/* lock: owning ZT file, NULL without server */
	void			*opt_buff;	/* lock: vmalloc_user; freed by the last of zsf/claim */
	size_t			op_buf_size;	/* lock */
	bool			claimed;	/* lock: an application owns the channel */
	bool			abandoned;	/* lock: the owner was killed while waiting */
	bool			broken;		/* lock: BREAK_ALL seen */
	bool			op_posted;	/* lock: op in the buffer, ZT not yet told */
	bool			op_running;	/* lock: ZT is working on the op */
	bool			op_done;	/* lock: reply (or op_err) ready */
	int			op_err;		/* lock: -EIO when the server went away */
	struct task_struct	*op_task;	/* lock: the ZT thread that took the op */
	struct zuf_sb_info	*sbi;		/* owner only: the super block of the claim */
	wait_queue_head_t	zt_wq;		/* the ZT sleeps here in WAIT_OPT */
	wait_queue_head_t	app_wq;		/* the application sleeps here */
};

static struct zufc_thread *zt_array;		/* [nr_cpu_ids * ZUFS_MAX_ZT_CHANNELS] */
static unsigned long *zt_asked;			/* CPUs with an ADD_CHANNEL out or refused */

/* an op the server answered -EZUFS_ASYNC: parked on the application's stack, keyed by op_id */
struct zuf_async_wait {
	u64			op_id;
	struct zuf_sb_info	*sbi;
	size_t			size;		/* the op's struct */
	u32			len;		/* payload room the op asked for */
	void			*reply;		/* completer: kmalloc'd reply struct */
	void			*payload;	/* completer: kvmalloc'd payload */
	u32			payload_len;
	int			err;
	struct completion	done;
};
static DEFINE_XARRAY(zuf_async_xa);			/* op_id -> zuf_async_wait */
static DECLARE_WAIT_QUEUE_HEAD(zuf_async_reg_wq);	/* completers waiting for a registration */
static atomic64_t zufc_op_seq;
struct zuf_stats zuf_stats;

static struct zufc_thread *_zt(int cpu, int chan)
{
	return &zt_array[cpu * ZUFS_MAX_ZT_CHANNELS + chan];
}

int zufc_init(void)
{
	int cpu, chan;

	zt_array = kvcalloc(nr_cpu_ids * ZUFS_MAX_ZT_CHANNELS, sizeof(*zt_array), GFP_KERNEL);
	if (!zt_array)
		return -ENOMEM;
	zt_asked = bitmap_zalloc(nr_cpu_ids, GFP_KERNEL);
	if (!zt_asked) {
		kvfree(zt_array);
		return -ENOMEM;
	}
	for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
		for (chan = 0; chan < ZUFS_MAX_ZT_CHANNELS; chan++) {
			struct zufc_thread *zt = _zt(cpu, chan);

			spin_lock_init(&zt->lock);
			zt->cpu = cpu;
			zt->chan = chan;
			init_waitqueue_head(&zt->zt_wq);
			init_waitqueue_head(&zt->app_wq);
		}
	}
	return 0;
}

void zufc_exit(void)
{
	/* module refcount: no special file is open and no super block exists here */
	kvfree(zt_array);
	zt_array = NULL;
	bitmap_free(zt_asked);
	zt_asked = NULL;
}

void zuf_hdr_init(struct zufs_ioc_hdr *hdr, u16 op, size_t size, size_t out_start)
{
	hdr->err = 0;
	hdr->in_len = size;
	hdr->out_max = size;
	hdr->out_start = out_start;
	hdr->out_len = 0;
	hdr->operation = op;
	hdr->flags = 0;
	hdr->offset = ZUFS_OP_PAYLOAD_OFF;
	hdr->len = 0;
	hdr->op_id = 0;
}

static bool _try_claim(struct zufc_thread *zt)
{
	bool ok;

	if (!READ_ONCE(zt->zsf))
		return false;	/* an unregistered slot: no lock taken */
	spin_lock(&zt->lock);
	ok = zt->zsf && !zt->claimed && !zt->broken;
	if (ok) {
		zt->claimed = true;
		zt->op_done = false;
		zt->op_err = 0;
	}
	spin_unlock(&zt->lock);
	return ok;
}

/* a foreground channel of this CPU first, then of any CPU */
static struct zufc_thread *_claim_any(void)
{
	int cpu = get_cpu();
	int chan, c;

	put_cpu();
	for (chan = 0; chan < ZUFS_MAX_ZT_CHANNELS; chan++)
		if (chan != ZUFS_BACK_CHAN_NO && _try_claim(_zt(cpu, chan)))
			return _zt(cpu, chan);
	for_each_online_cpu(c) {
		if (c == cpu)
			continue;
		for (chan = 0; chan < ZUFS_MAX_ZT_CHANNELS; chan++) {
			if (chan == ZUFS_BACK_CHAN_NO)
				continue;
			if (_try_claim(_zt(c, chan))) {
				atomic64_inc(&zuf_stats.cross_cpu);
				return _zt(c, chan);
			}
		}
	}
	return NULL;
}

/* this CPU's channels were all busy: ask the server for another one there (once at a time) */
static void _want_channel(int cpu)
{
	struct zuf_mount_work *zmw;
	int chan;

	for (chan = 0; chan < ZUFS_MAX_ZT_CHANNELS; chan++)
		if (chan != ZUFS_BACK_CHAN_NO && !READ_ONCE(_zt(cpu, chan)->zsf))
			break;
	if (chan == ZUFS_MAX_ZT_CHANNELS || test_and_set_bit(cpu, zt_asked))
		return;
	zmw = kzalloc(sizeof(*zmw), GFP_KERNEL);
	if (zmw)
		zmw->zmi = kzalloc(sizeof(*zmw->zmi), GFP_KERNEL);
	if (!zmw || !zmw->zmi) {
		kfree(zmw);
		clear_bit(cpu, zt_asked);
		return;
	}
	INIT_LIST_HEAD(&zmw->list);
	zmw->operation = ZUFS_M_ADD_CHANNEL;
	zmw->zmi->cpu = cpu;
	zmw->zmi->channel_no = chan;
	if (zuf_mount_thread_post(zmw)) {
		clear_bit(cpu, zt_asked);
		return;
	}
	atomic64_inc(&zuf_stats.channels_asked);
}

/* the server answered ADD_CHANNEL: granted, the CPU may ask again; refused, it may not */
void zufc_add_channel_done(unsigned int cpu, int err)
{
	if (cpu >= nr_cpu_ids)
		return;
	if (!err) {
		atomic64_inc(&zuf_stats.channels_added);
		clear_bit(cpu, zt_asked);
	}
}

void zufc_add_channel_reset(void)
{
	bitmap_zero(zt_asked, nr_cpu_ids);
}

static bool _no_server(struct zuf_sb_info *sbi)
{
	return !READ_ONCE(zri.num_zts) || !zuf_server_alive(sbi->server_gen);
}

struct zufc_thread *zufc_get_channel(struct zuf_sb_info *sbi, int *err)
{
	struct zufc_thread *zt = NULL;
	int ret;

	*err = -EIO;
	if (_no_server(sbi))
		goto dead;
	zt = _claim_any();
	if (!zt || zt->cpu != raw_smp_processor_id())
		_want_channel(raw_smp_processor_id());
	if (zt)
		goto claimed;

	atomic64_inc(&zuf_stats.channel_waits);
	ret = wait_event_killable(zri.free_wq, (zt = _claim_any()) || _no_server(sbi));
	if (ret) {
		*err = -EINTR;
		return NULL;
	}
	if (zt)
		goto claimed;
dead:
	atomic64_inc(&zuf_stats.dead_server);
	return NULL;
claimed:
	zt->sbi = sbi;
	return zt;
}

void *zufc_op_buf(struct zufc_thread *zt)
{
	return zt->opt_buff;
}

void *zufc_payload(struct zufc_thread *zt)
{
	return zt->opt_buff + ZUFS_OP_PAYLOAD_OFF;
}

size_t zufc_payload_max(struct zufc_thread *zt)
{
	return zt->op_buf_size - ZUFS_OP_PAYLOAD_OFF;
}

void zufc_put_channel(struct zufc_thread *zt)
{
	void *buf = NULL;

	if (!zt)
		return;
	spin_lock(&zt->lock);
	if (zt->abandoned) {
		/* killed in zufc_call(): the ZT's reply releases the channel */
		spin_unlock(&zt->lock);
		return;
	}
	zt->claimed = false;
	if (!zt->zsf) {
		buf = zt->opt_buff;
		zt->opt_buff = NULL;
	}
	spin_unlock(&zt->lock);
	vfree(buf);
	if (wq_has_sleeper(&zri.free_wq))
		wake_up(&zri.free_wq);
}

static bool _op_done(struct zufc_thread *zt)
{
	bool done;

	spin_lock(&zt->lock);
	done = zt->op_done;
	spin_unlock(&zt->lock);
	return done;
}

static int _valid_err(int err)
{
	if (err > 0 || err < -ZUFS_ERRNO_MAX) {
		atomic64_inc(&zuf_stats.bad_replies);
		zuf_warn("server replied with err %d: -EIO\n", err);
		return -EIO;
	}
	return err;
}

static void _async_free(struct zuf_async_wait *aw)
{
	kfree(aw->reply);
	kvfree(aw->payload);
}

/*
 * The server answered -EZUFS_ASYNC: free the channel, sleep until ZU_IOC_ASYNC_DONE, then take
 * a channel again and put the reply payload in its buffer, so callers read it as if synchronous.
 */
static int _async_wait(struct zufc_thread **pzt, struct zufs_ioc_hdr *hdr, size_t size, u32 len)
{
	struct zufc_thread *zt = *pzt;
	struct zuf_sb_info *sbi = zt->sbi;
	struct zuf_async_wait aw = {
		.op_id = hdr->op_id, .sbi = sbi, .size = size, .len = len,
	};
	int err;

	init_completion(&aw.done);
	zufc_put_channel(zt);
	*pzt = NULL;
	err = xa_insert(&zuf_async_xa, aw.op_id, &aw, GFP_KERNEL);
	if (err)
		return -EIO;
	atomic64_inc(&zuf_stats.async_ops);
	wake_up_all(&zuf_async_reg_wq);

	if (wait_for_completion_killable(&aw.done)) {
		if (xa_erase(&zuf_async_xa, aw.op_id) == &aw)
			return -EINTR;
		wait_for_completion(&aw.done);	/* a completer owns it: it is only copying */
	}
	err = aw.err;
	if (err)
		goto out;

	zt = zufc_get_channel(sbi, &err);
	if (!zt)
		goto out;
	memcpy(hdr, aw.reply, size);
	hdr->op_id = aw.op_id;
	err = -EIO;
	if (hdr->len != aw.payload_len || hdr->len > len || hdr->len > zufc_payload_max(zt)) {
		atomic64_inc(&zuf_stats.bad_replies);
		*pzt = zt;
		goto out;
	}
	if (hdr->len)
		memcpy(zufc_payload(zt), aw.payload, hdr->len);
	*pzt = zt;
	err = 0;
out:
	_async_free(&aw);
	return err;
}

/*
 * Send the command @hdr (@size bytes, payload already in the op buffer) on the claimed channel
 * *@pzt and wait for the reply, which is copied back into @hdr (kernel memory) before any check.
 * After an async reply *@pzt is the channel now holding the payload (or NULL); put it as usual.
 */
int zufc_call(struct zufc_thread **pzt, struct zufs_ioc_hdr *hdr, size_t size)
{
	struct zufc_thread *zt = *pzt;
	u16 op = hdr->operation;
	u32 len = hdr->len;
	u64 op_id;
	int err;

	if (WARN_ON(size > ZUFS_OP_HDR_MAX || size < sizeof(*hdr) || op >= ZUFS_OP_MAX_OPT))
		return -EINVAL;

	op_id = atomic64_inc_return(&zufc_op_seq);
	hdr->op_id = op_id;
	memcpy(zt->opt_buff, hdr, size);
	atomic64_inc(&zuf_stats.round_trips[op]);

	err = -EIO;
	spin_lock(&zt->lock);
	if (!zt->zsf || zt->broken) {
		spin_unlock(&zt->lock);
		goto fail;
	}
	zt->op_posted = true;
	spin_unlock(&zt->lock);
	wake_up(&zt->zt_wq);

	if (wait_event_killable(zt->app_wq, _op_done(zt))) {
		spin_lock(&zt->lock);
		if (!zt->op_done) {
			/* the ZT's reply will release the channel for us */
			zt->abandoned = true;
			spin_unlock(&zt->lock);
			return -EINTR;
		}
		spin_unlock(&zt->lock);
	}

	spin_lock(&zt->lock);
	err = zt->op_err;
	spin_unlock(&zt->lock);
	if (err)
		goto fail;

	memcpy(hdr, zt->opt_buff, size);
	hdr->op_id = op_id;	/* the cookie is ours, whatever the server wrote */
	if (hdr->err == -EZUFS_ASYNC && (zt->sbi->zft->rfi.features & ZUFS_FEATURE_ASYNC)) {
		err = _async_wait(pzt, hdr, size, len);
		if (err)
			goto fail;
		zt = *pzt;
	}
	hdr->operation = op;
	hdr->in_len = size;
	if (hdr->len > len || hdr->len > zufc_payload_max(zt)) {
		atomic64_inc(&zuf_stats.bad_replies);
		zuf_warn("op %u: reply payload %u > %u\n", op, hdr->len, len);
		err = -EIO;
		goto fail;
	}
	err = _valid_err(hdr->err);
	if (err)
		atomic64_inc(&zuf_stats.errors[op]);
	return err;

fail:
	atomic64_inc(&zuf_stats.errors[op]);
	return err;
}

/* ZU_IOC_ASYNC_DONE, on any special file */
int zufc_async_done(struct zufs_ioc_async_done __user *arg)
{
	struct zufs_ioc_async_done ad;
	struct zuf_async_wait *aw;
	void *reply = NULL, *payload = NULL;
	int err;

	err = -EFAULT;
	if (copy_from_user(&ad, arg, sizeof(ad)))
		return err;
	err = -EINVAL;
	if (ad.reply_size < sizeof(struct zufs_ioc_hdr) || ad.reply_size > ZUFS_OP_HDR_MAX ||
	    ad.payload_len > ZUFS_OP_BUF_MAX)
		return err;

	/* the application registers right after the ZT's reply: give it a moment */
	wait_event_interruptible_timeout(zuf_async_reg_wq, xa_load(&zuf_async_xa, ad.op_id),
					 5 * HZ);
	xa_lock(&zuf_async_xa);
	aw = xa_load(&zuf_async_xa, ad.op_id);
	if (aw && (aw->sbi->sb_id != ad.sb_id || aw->sbi->sb_key != ad.sb_key))
		aw = NULL;
	if (aw)
		__xa_erase(&zuf_async_xa, ad.op_id);
	xa_unlock(&zuf_async_xa);
	if (!aw)
		return -ENOENT;

	/* from here on the op is ours: it completes whatever happens */
	err = -EIO;
	if (ad.reply_size != aw->size || ad.payload_len > aw->len)
		goto complete;
	err = -ENOMEM;
	reply = kmalloc(ad.reply_size, GFP_KERNEL);
	payload = ad.payload_len ? kvmalloc(ad.payload_len, GFP_KERNEL) : NULL;
	if (!reply || (ad.payload_len && !payload))
		goto complete;
	err = -EFAULT;
	if (copy_from_user(reply, (void __user *)(arg + 1), ad.reply_size) ||
	    copy_from_user(payload, (void __user *)(arg + 1) + ad.reply_size, ad.payload_len))
		goto complete;
	aw->reply = reply;
	aw->payload = payload;
	aw->payload_len = ad.payload_len;
	reply = payload = NULL;
	atomic64_add(ad.payload_len, &zuf_stats.bytes_from_server);
	err = 0;
complete:
	if (err)
		atomic64_inc(&zuf_stats.bad_replies);
	aw->err = err ? -EIO : 0;
	complete(&aw->done);	/* aw may be gone right after this */
	kfree(reply);
	kvfree(payload);
	return err;
}

/* the server is gone: fail every parked async op */
void zufc_async_fail_all(void)
{
	struct zuf_async_wait *aw;
	unsigned long id;

	xa_lock(&zuf_async_xa);
	xa_for_each(&zuf_async_xa, id, aw) {
		__xa_erase(&zuf_async_xa, id);
		aw->err = -EIO;
		complete(&aw->done);
	}
	xa_unlock(&zuf_async_xa);
}

int zufc_dispatch(struct zuf_sb_info *sbi, struct zufs_ioc_hdr *hdr, size_t size)
{
	struct zufc_thread *zt;
	int err;

	zt = zufc_get_channel(sbi, &err);
	if (!zt)
		return err;
	err = zufc_call(&zt, hdr, size);
	zufc_put_channel(zt);
	return err;
}

/* ~~~~ the ZT (server) side ~~~~ */

int zufc_zt_init(struct zuf_special_file *zsf, struct zufs_ioc_init __user *arg)
{
	struct zufs_ioc_init zi;
	struct zufc_thread *zt;
	size_t size;
	void *buf;
	int cpu, err;

	err = -EFAULT;
	if (copy_from_user(&zi, arg, sizeof(zi)))
		return err;
	err = -EINVAL;
	if (zi.channel_no >= ZUFS_MAX_ZT_CHANNELS)
		return err;

	size = zi.max_command ? zi.max_command : ZUFS_OP_BUF_DEF;
	size = clamp_t(size_t, size, ZUFS_OP_BUF_MIN, ZUFS_OP_BUF_MAX);
	size = PAGE_ALIGN(size);
	err = -ENOMEM;
	buf = vmalloc_user(size);
	if (!buf)
		return err;

	cpu = raw_smp_processor_id();
	zt = _zt(cpu, zi.channel_no);
	err = -EBUSY;
	spin_lock(&zt->lock);
	if (zt->zsf || zt->opt_buff) {
		spin_unlock(&zt->lock);
		goto free_buf;
	}
	zt->zsf = zsf;
	zt->opt_buff = buf;
	zt->op_buf_size = size;
	zt->broken = false;
	zt->op_posted = zt->op_running = zt->op_done = false;
	spin_unlock(&zt->lock);

	zsf->zt = zt;
	zsf->role = ZUF_SF_ZT;
	spin_lock(&zri.lock);
	zri.num_zts++;
	spin_unlock(&zri.lock);
	wake_up(&zri.free_wq);

	zi.cpu = cpu;
	zi.op_buf_size = size;
	zi.hdr.err = 0;
	if (copy_to_user(arg, &zi, sizeof(zi)))
		return -EFAULT;	/* the role stays; the file's release undoes it */
	return 0;

free_buf:
	vfree(buf);
	return err;
}

/* complete the op the ZT was working on (if any) */
static void _zt_complete(struct zufc_thread *zt)
{
	bool wake_app = false, wake_free = false;

	spin_lock(&zt->lock);
	/* only the thread that took the op may answer it (two threads on one fd: server bug) */
	if (zt->op_running && zt->op_task == current) {
		zt->op_running = false;
		zt->op_done = true;
		if (zt->abandoned) {
			zt->abandoned = false;
			zt->claimed = false;
			wake_free = true;
		} else {
			wake_app = true;
		}
	}
	spin_unlock(&zt->lock);
	if (wake_app)
		wake_up(&zt->app_wq);
	if (wake_free)
		wake_up(&zri.free_wq);
}

/* fail a posted or running op with @err; zt->lock held; returns what to wake */
static int _zt_fail_op_locked(struct zufc_thread *zt, int err)
{
	lockdep_assert_held(&zt->lock);
	if (!zt->op_posted && !zt->op_running)
		return 0;
	zt->op_posted = zt->op_running = false;
	zt->op_done = true;
	zt->op_err = err;
	if (zt->abandoned) {
		zt->abandoned = false;
		zt->claimed = false;
		return 2;
	}
	return 1;
}

static bool _zt_has_work(struct zufc_thread *zt)
{
	bool ret;

	spin_lock(&zt->lock);
	ret = zt->op_posted || zt->broken;
	spin_unlock(&zt->lock);
	return ret;
}

int zufc_wait_opt(struct zuf_special_file *zsf)
{
	struct zufc_thread *zt = zsf->zt;
	struct zufs_ioc_hdr *hdr;
	int err, wake;

	_zt_complete(zt);

	err = wait_event_interruptible(zt->zt_wq, _zt_has_work(zt));
	if (err)
		return -EINTR;

	spin_lock(&zt->lock);
	if (zt->broken) {
		wake = _zt_fail_op_locked(zt, -EIO);
		hdr = zt->opt_buff;
		zuf_hdr_init(hdr, ZUFS_OP_BREAK, sizeof(*hdr), sizeof(*hdr));
		spin_unlock(&zt->lock);
		if (wake == 1)
			wake_up(&zt->app_wq);
		else if (wake == 2)
			wake_up(&zri.free_wq);
		return 0;
	}
	if (!zt->op_posted || zt->op_running) {
		/* another thread of the same file took it */
		spin_unlock(&zt->lock);
		return -EAGAIN;
	}
	zt->op_posted = false;
	zt->op_running = true;
	zt->op_task = current;
	spin_unlock(&zt->lock);
	return 0;
}

int zufc_zt_mmap(struct zuf_special_file *zsf, struct vm_area_struct *vma)
{
	struct zufc_thread *zt = zsf->zt;
	unsigned long len = vma->vm_end - vma->vm_start;

	if (vma->vm_pgoff || len > zt->op_buf_size)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND;
	return remap_vmalloc_range(vma, zt->opt_buff, 0);
}

void zufc_zt_release(struct zuf_special_file *zsf)
{
	struct zufc_thread *zt = zsf->zt;
	void *buf = NULL;
	int wake;

	spin_lock(&zt->lock);
	wake = _zt_fail_op_locked(zt, -EIO);
	zt->zsf = NULL;
	zt->broken = false;
	if (!zt->claimed) {
		buf = zt->opt_buff;
		zt->opt_buff = NULL;
	}
	spin_unlock(&zt->lock);
	vfree(buf);
	zsf->zt = NULL;

	spin_lock(&zri.lock);
	zri.num_zts--;
	spin_unlock(&zri.lock);
	if (wake == 1)
		wake_up(&zt->app_wq);
	wake_up(&zri.free_wq);
}

void zufc_break_all(void)
{
	int cpu, chan;

	for_each_possible_cpu(cpu) {
		for (chan = 0; chan < ZUFS_MAX_ZT_CHANNELS; chan++) {
			struct zufc_thread *zt = _zt(cpu, chan);

			spin_lock(&zt->lock);
			if (zt->zsf)
				zt->broken = true;
			spin_unlock(&zt->lock);
			wake_up(&zt->zt_wq);
		}
	}
	wake_up(&zri.free_wq);
}
