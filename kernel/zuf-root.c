// SPDX-License-Identifier: GPL-2.0
/*
 * zuf-root.c - the "zuf" pseudo filesystem the server mounts at /sys/fs/zuf, its special
 * files (O_TMPFILE; one role each, fixed by the first ioctl, released on close), filesystem
 * type registration, the mount thread's channel, and the module's init/exit.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/fs_context.h>
#include <linux/sysfs.h>
#include <linux/kobject.h>
#include <linux/uaccess.h>
#include <linux/cpumask.h>
#include <linux/topology.h>
#include <linux/nodemask.h>
#include <linux/pagemap.h>
#include <linux/ctype.h>

#include "zuf.h"

#define ZUF_ROOT_MAGIC 0x5a554652	/* "ZUFR" */

struct zuf_root_info zri;

bool zuf_server_alive(u64 gen)
{
	bool alive;

	spin_lock(&zri.lock);
	alive = zri.mount_thread && zri.server_gen == gen;
	spin_unlock(&zri.lock);
	return alive;
}

/* ~~~~ registration ~~~~ */

static bool _fsname_ok(const char *name)
{
	size_t i, len = strnlen(name, ZUFS_FSNAME_LEN);

	if (!len || len >= ZUFS_FSNAME_LEN)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!(islower(c) || isdigit(c) || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int _register_fs(struct zuf_special_file *zsf, struct zufs_ioc_register_fs __user *arg)
{
	struct zufs_ioc_register_fs rf;
	struct zuf_fs_type *zft = NULL, *new_zft = NULL;
	int i, err;

	err = -EFAULT;
	if (copy_from_user(&rf, arg, sizeof(rf)))
		return err;

	rf.kern_major = ZUFS_MAJOR_VERSION;
	rf.kern_minor = ZUFS_MINOR_VERSION;
	rf.kern_features = ZUFS_FEATURE_POOLS | ZUFS_FEATURE_OPBUF_IO | ZUFS_FEATURE_ASYNC |
			  ZUFS_FEATURE_T1 | ZUFS_FEATURE_NIO | ZUFS_FEATURE_IOMAP_EXEC;
	err = -EPROTO;
	if (rf.rfi.api_major != ZUFS_MAJOR_VERSION)
		goto out;
	err = -EINVAL;
	if (!_fsname_ok(rf.rfi.fsname))
		goto out;
	err = -EOPNOTSUPP;
	if (rf.rfi.features & ~rf.kern_features)
		goto out;

	err = -ENOMEM;
	new_zft = kzalloc(sizeof(*new_zft), GFP_KERNEL);
	if (!new_zft)
		goto out;

	spin_lock(&zri.lock);
	err = -EBUSY;
	if (zri.mount_thread && zri.mount_thread != zsf) {
		spin_unlock(&zri.lock);
		goto out;
	}
	for (i = 0; i < zri.num_fs_types; i++)
		if (!strcmp(zri.fs_types[i]->name, rf.rfi.fsname))
			zft = zri.fs_types[i];
	if (!zft) {
		err = -ENOSPC;
		if (zri.num_fs_types >= ZUF_MAX_FS_TYPES) {
			spin_unlock(&zri.lock);
			goto out;
		}
		zft = new_zft;
		new_zft = NULL;
		strscpy(zft->name, rf.rfi.fsname, sizeof(zft->name));
		zri.fs_types[zri.num_fs_types++] = zft;
	}
	/* a restarted server re-registers the same names with new cookies */
	zft->rfi = rf.rfi;
	zft->zus_zfi = rf.zus_zfi;
	if (!zri.mount_thread) {
		zri.mount_thread = zsf;
		zri.mount_break = false;
	}
	spin_unlock(&zri.lock);
	zsf->role = ZUF_SF_MOUNT_THREAD;

	err = 0;
	if (!zft->registered) {
		err = zuf_register_fs_type(zft);
		if (!err)
			zft->registered = true;
	}
out:
	kfree(new_zft);
	rf.hdr.err = err;
	if (copy_to_user(arg, &rf, sizeof(rf)))
		return -EFAULT;
	return err;
}

static int _numa_map(struct zufs_ioc_numa_map __user *arg)
{
	struct zufs_ioc_numa_map *nm;
	int cpu, err;

	nm = kzalloc(sizeof(*nm), GFP_KERNEL);
	if (!nm)
		return -ENOMEM;
	nm->possible_cpus = num_possible_cpus();
	nm->online_cpus = num_online_cpus();
	nm->possible_nodes = num_possible_nodes();
	nm->online_nodes = num_online_nodes();
	for_each_possible_cpu(cpu)
		if (cpu < ZUFS_NUMA_MAX_CPUS)
			nm->cpu_to_node[cpu] = cpu_to_node(cpu);
	err = copy_to_user(arg, nm, sizeof(*nm)) ? -EFAULT : 0;
	kfree(nm);
	return err;
}

/* ~~~~ the mount thread ~~~~ */

/* called by super.c: hand @zmw to the mount thread and wait for its answer */
int zuf_mount_thread_call(struct zuf_mount_work *zmw)
{
	init_completion(&zmw->done);
	zmw->err = 0;
	spin_lock(&zri.lock);
	if (!zri.mount_thread || zri.mount_break) {
		spin_unlock(&zri.lock);
		return -EIO;
	}
	list_add_tail(&zmw->list, &zri.mount_pending);
	spin_unlock(&zri.lock);
	wake_up(&zri.mount_wq);

	/* the mount thread's release completes every job, so this cannot hang on a dead server */
	wait_for_completion(&zmw->done);
	return zmw->err;
}

/* hand a detached job to the mount thread; nobody waits for it. Frees @zmw on failure. */
int zuf_mount_thread_post(struct zuf_mount_work *zmw)
{
	zmw->detached = true;
	zmw->err = 0;
	spin_lock(&zri.lock);
	if (!zri.mount_thread || zri.mount_break) {
		spin_unlock(&zri.lock);
		kfree(zmw->zmi);
		kfree(zmw);
		return -EIO;
	}
	list_add_tail(&zmw->list, &zri.mount_pending);
	spin_unlock(&zri.lock);
	wake_up(&zri.mount_wq);
	return 0;
}

/* a job is answered (or failed): wake its caller, or finish a detached one */
static void _mount_work_done_locked(struct zuf_mount_work *zmw, int err)
{
	lockdep_assert_held(&zri.lock);
	zmw->err = err;
	if (!zmw->detached) {
		complete(&zmw->done);
		return;
	}
	if (zmw->operation == ZUFS_M_ADD_CHANNEL)
		zufc_add_channel_done(zmw->zmi->cpu, err);
	kfree(zmw->zmi);
	kfree(zmw);
}

static void _mount_fail_all_locked(int err)
{
	struct zuf_mount_work *zmw, *n;

	lockdep_assert_held(&zri.lock);
	if (zri.mount_cur) {
		_mount_work_done_locked(zri.mount_cur, err);
		zri.mount_cur = NULL;
	}
	list_for_each_entry_safe(zmw, n, &zri.mount_pending, list) {
		list_del_init(&zmw->list);
		_mount_work_done_locked(zmw, err);
	}
}

static bool _mount_has_work(void)
{
	bool ret;

	spin_lock(&zri.lock);
	ret = !list_empty(&zri.mount_pending) || zri.mount_break;
	spin_unlock(&zri.lock);
	return ret;
}

static int _mount_ioctl(struct zuf_special_file *zsf, struct zufs_ioc_mount __user *arg)
{
	struct zufs_ioc_mount *zim;
	struct zuf_mount_work *zmw;
	int err;

	if (zsf->role != ZUF_SF_MOUNT_THREAD)
		return -EINVAL;
	zim = kmalloc(sizeof(*zim), GFP_KERNEL);
	if (!zim)
		return -ENOMEM;
	err = -EFAULT;
	if (copy_from_user(zim, arg, sizeof(*zim)))
		goto out;

	/* the previous job's result */
	spin_lock(&zri.lock);
	zmw = zri.mount_cur;
	zri.mount_cur = NULL;
	if (zmw) {
		int res = zim->hdr.err;

		if (res > 0 || res < -ZUFS_ERRNO_MAX) {
			atomic64_inc(&zuf_stats.bad_replies);
			res = -EIO;
		}
		/* only the OUT fields are taken from the server */
		zmw->zmi->zus_sbi = zim->zmi.zus_sbi;
		zmw->zmi->zus_ii = zim->zmi.zus_ii;
		zmw->zmi->_zi = zim->zmi._zi;
		zmw->zmi->fs_caps = zim->zmi.fs_caps;
		zmw->zmi->s_blocksize_bits = zim->zmi.s_blocksize_bits;
		_mount_work_done_locked(zmw, res);
	}
	spin_unlock(&zri.lock);

	err = wait_event_interruptible(zri.mount_wq, _mount_has_work());
	if (err) {
		err = -EINTR;
		goto out;
	}

	spin_lock(&zri.lock);
	if (zri.mount_break) {
		spin_unlock(&zri.lock);
		memset(zim, 0, sizeof(*zim));
		zim->hdr.operation = ZUFS_M_BREAK;
		goto copy_out;
	}
	zmw = list_first_entry(&zri.mount_pending, struct zuf_mount_work, list);
	list_del_init(&zmw->list);
	zri.mount_cur = zmw;
	/* copied under the lock: a BREAK_ALL from elsewhere may finish (free) the job any time */
	memset(zim, 0, sizeof(*zim));
	zuf_hdr_init(&zim->hdr, zmw->operation, sizeof(*zim),
		     offsetof(struct zufs_ioc_mount, zmi.zus_sbi));
	zim->zmi = *zmw->zmi;
	spin_unlock(&zri.lock);
copy_out:
	err = copy_to_user(arg, zim, sizeof(*zim)) ? -EFAULT : 0;
out:
	kfree(zim);
	return err;
}

static void _mount_thread_release(struct zuf_special_file *zsf)
{
	spin_lock(&zri.lock);
	if (zri.mount_thread == zsf) {
		zri.mount_thread = NULL;
		zri.server_gen++;
		_mount_fail_all_locked(-EIO);
	}
	spin_unlock(&zri.lock);
	zufc_add_channel_reset();	/* the next server is asked afresh */
	/* super blocks of the dead server fail their ops from now on */
	zufc_async_fail_all();
	wake_up(&zri.free_wq);
}

static int _break_all(void)
{
	spin_lock(&zri.lock);
	zri.mount_break = true;
	_mount_fail_all_locked(-EIO);
	spin_unlock(&zri.lock);
	wake_up(&zri.mount_wq);
	zufc_break_all();
	zufc_async_fail_all();
	return 0;
}

/* ~~~~ special files ~~~~ */

static long zuf_special_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct zuf_special_file *zsf = file->private_data;
	void __user *uarg = (void __user *)arg;
	long err;

	switch (cmd) {
	case ZU_IOC_WAIT_OPT:
		/* the hot path: no lock, the role never changes once ZT */
		if (READ_ONCE(zsf->role) != ZUF_SF_ZT)
			return -EINVAL;
		return zufc_wait_opt(zsf);
	case ZU_IOC_MOUNT:
		return _mount_ioctl(zsf, uarg);
	case ZU_IOC_BREAK_ALL:
		return _break_all();
	case ZU_IOC_NUMA_MAP:
		return _numa_map(uarg);
	case ZU_IOC_ASYNC_DONE:
		return zufc_async_done(uarg);
	case ZU_IOC_UNMAP:
		return zuf_nio_unmap_ioctl(uarg);
	case ZU_IOC_GRAB_T2:
		return zuf_t2_grab(uarg);
	case ZU_IOC_IOMAP_EXEC:
		return zuf_t2_exec(uarg);
	default:
		break;
	}

	mutex_lock(&zsf->lock);
	switch (cmd) {
	case ZU_IOC_REGISTER_FS:
		err = -EINVAL;
		if (zsf->role == ZUF_SF_NONE || zsf->role == ZUF_SF_MOUNT_THREAD)
			err = _register_fs(zsf, uarg);
		break;
	case ZU_IOC_INIT_THREAD:
		err = -EINVAL;
		if (zsf->role == ZUF_SF_NONE)
			err = zufc_zt_init(zsf, uarg);
		break;
	case ZU_IOC_ALLOC_POOL:
		err = -EINVAL;
		if (zsf->role == ZUF_SF_NONE)
			err = zuf_pool_alloc(zsf, uarg);
		break;
	case ZU_IOC_GRAB_PMEM:
		err = -EINVAL;
		if (zsf->role == ZUF_SF_NONE)
			err = zuf_t1_grab(zsf, uarg);
		break;
	case ZU_IOC_IOMAP_EXEC:
		err = -EOPNOTSUPP;
		break;
	default:
		err = -ENOTTY;
		break;
	}
	mutex_unlock(&zsf->lock);
	return err;
}

static int zuf_special_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct zuf_special_file *zsf = file->private_data;
	int err;

	mutex_lock(&zsf->lock);
	switch (zsf->role) {
	case ZUF_SF_ZT:
		err = zufc_zt_mmap(zsf, vma);
		break;
	case ZUF_SF_POOL:
		err = zuf_pool_mmap(zsf, vma);
		break;
	case ZUF_SF_T1:
		err = zuf_t1_mmap(zsf, vma);
		break;
	default:
		err = -EINVAL;
		break;
	}
	mutex_unlock(&zsf->lock);
	return err;
}

static int zuf_special_open(struct inode *inode, struct file *file)
{
	struct zuf_special_file *zsf;

	zsf = kzalloc(sizeof(*zsf), GFP_KERNEL);
	if (!zsf)
		return -ENOMEM;
	mutex_init(&zsf->lock);
	file->private_data = zsf;
	return 0;
}

static int zuf_special_release(struct inode *inode, struct file *file)
{
	struct zuf_special_file *zsf = file->private_data;

	switch (zsf->role) {
	case ZUF_SF_ZT:
		zufc_zt_release(zsf);
		break;
	case ZUF_SF_MOUNT_THREAD:
		_mount_thread_release(zsf);
		break;
	case ZUF_SF_POOL:
		zuf_pool_put(zsf->pool);
		break;
	case ZUF_SF_T1:
		zuf_t1_put(zsf->t1);
		break;
	default:
		break;
	}
	kfree(zsf);
	return 0;
}

static const struct file_operations zuf_special_fops = {
	.owner		= THIS_MODULE,
	.open		= zuf_special_open,
	.release	= zuf_special_release,
	.unlocked_ioctl	= zuf_special_ioctl,
	.compat_ioctl	= zuf_special_ioctl,
	.mmap		= zuf_special_mmap,
	.llseek		= noop_llseek,
};

static int zuf_root_tmpfile(struct user_namespace *mnt_userns, struct inode *dir,
			    struct file *file, umode_t mode)
{
	struct inode *inode;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	inode = new_inode(dir->i_sb);
	if (!inode)
		return -ENOMEM;
	inode->i_ino = get_next_ino();
	inode->i_mode = S_IFREG | 0600;
	inode->i_atime = inode->i_mtime = inode->i_ctime = current_time(inode);
	inode->i_fop = &zuf_special_fops;
	d_tmpfile(file, inode);
	return finish_open_simple(file, 0);
}

static const struct inode_operations zuf_root_dir_iops = {
	.lookup		= simple_lookup,
	.tmpfile	= zuf_root_tmpfile,
};

/* ~~~~ /sys/fs/zuf/{stats,state,registered_fs} ~~~~ */

static const char * const zuf_op_names[ZUFS_OP_MAX_OPT] = {
	[ZUFS_OP_NULL] = "NULL", [ZUFS_OP_BREAK] = "BREAK", [ZUFS_OP_STATFS] = "STATFS",
	[ZUFS_OP_SHOW_OPTIONS] = "SHOW_OPTIONS", [ZUFS_OP_NEW_INODE] = "NEW_INODE",
	[ZUFS_OP_FREE_INODE] = "FREE_INODE", [ZUFS_OP_EVICT_INODE] = "EVICT_INODE",
	[ZUFS_OP_LOOKUP] = "LOOKUP", [ZUFS_OP_ADD_DENTRY] = "ADD_DENTRY",
	[ZUFS_OP_REMOVE_DENTRY] = "REMOVE_DENTRY", [ZUFS_OP_RENAME] = "RENAME",
	[ZUFS_OP_READDIR] = "READDIR", [ZUFS_OP_CLONE] = "CLONE", [ZUFS_OP_COPY] = "COPY",
	[ZUFS_OP_READ] = "READ", [ZUFS_OP_PRE_READ] = "PRE_READ", [ZUFS_OP_WRITE] = "WRITE",
	[ZUFS_OP_MMAP_CLOSE] = "MMAP_CLOSE", [ZUFS_OP_GET_SYMLINK] = "GET_SYMLINK",
	[ZUFS_OP_SETATTR] = "SETATTR", [ZUFS_OP_SYNC] = "SYNC", [ZUFS_OP_FALLOCATE] = "FALLOCATE",
	[ZUFS_OP_LLSEEK] = "LLSEEK", [ZUFS_OP_IOCTL] = "IOCTL", [ZUFS_OP_XATTR_GET] = "XATTR_GET",
	[ZUFS_OP_XATTR_SET] = "XATTR_SET", [ZUFS_OP_GET_BLOCK] = "GET_BLOCK",
	[ZUFS_OP_XATTR_LIST] = "XATTR_LIST", [ZUFS_OP_FIEMAP] = "FIEMAP",
	[ZUFS_OP_GET_MULTY] = "GET_MULTY", [ZUFS_OP_PUT_MULTY] = "PUT_MULTY",
	[ZUFS_OP_NOOP] = "NOOP", [ZUFS_OP_PUT_BLOCK] = "PUT_BLOCK", [ZUFS_OP_IOM_DONE] = "IOM_DONE",
};

static ssize_t zuf_stats_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	const size_t max = PAGE_SIZE * 2;
	size_t n = 0;
	ssize_t ret;
	char *buf;
	int i;

	buf = kmalloc(max, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
#define ZS(name) n += scnprintf(buf + n, max - n, "%s %lld\n", #name, \
				 (long long)atomic64_read(&zuf_stats.name))
	ZS(bytes_to_server);
	ZS(bytes_from_server);
	ZS(cross_cpu);
	ZS(channel_waits);
	ZS(bad_replies);
	ZS(zi_getattr);
	ZS(dead_server);
	ZS(async_ops);
	ZS(channels_asked);
	ZS(channels_added);
	ZS(nio_gets);
	ZS(nio_pages_mapped);
	ZS(nio_pages_hit);
	ZS(nio_unmapped);
	ZS(nio_fallback);
	ZS(nio_puts);
	ZS(nio_put_stale);
	ZS(bytes_from_t1);
	ZS(bytes_to_t1);
	ZS(dax_faults);
	ZS(dax_opens);
	ZS(dax_commits);
	ZS(t2_bytes_written);
	ZS(t2_bytes_read);
#undef ZS
	n += scnprintf(buf + n, max - n, "channels %d\n", READ_ONCE(zri.num_zts));
	for (i = 0; i < ZUFS_OP_MAX_OPT; i++) {
		long long rt = atomic64_read(&zuf_stats.round_trips[i]);

		if (rt)
			n += scnprintf(buf + n, max - n, "op %s %lld %lld\n", zuf_op_names[i], rt,
				       (long long)atomic64_read(&zuf_stats.errors[i]));
	}
	ret = simple_read_from_buffer(ubuf, count, ppos, buf, n);
	kfree(buf);
	return ret;
}

static ssize_t zuf_state_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	char buf[64];
	int n;
	bool up;

	spin_lock(&zri.lock);
	up = zri.mount_thread != NULL;
	spin_unlock(&zri.lock);
	n = scnprintf(buf, sizeof(buf), "%s\n", up ? (READ_ONCE(zri.num_zts) ? "mount_ready" :
						      "registering_fs") : "initializing");
	return simple_read_from_buffer(ubuf, count, ppos, buf, n);
}

static ssize_t zuf_registered_read(struct file *file, char __user *ubuf, size_t count,
				   loff_t *ppos)
{
	char buf[ZUF_MAX_FS_TYPES * (ZUFS_FSNAME_LEN + 1) + 1];
	int i, n = 0;

	spin_lock(&zri.lock);
	for (i = 0; i < zri.num_fs_types; i++)
		n += scnprintf(buf + n, sizeof(buf) - n, "%s\n", zri.fs_types[i]->name);
	spin_unlock(&zri.lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, n);
}

static const struct file_operations zuf_stats_fops = {
	.owner = THIS_MODULE, .read = zuf_stats_read, .llseek = default_llseek,
};
static const struct file_operations zuf_state_fops = {
	.owner = THIS_MODULE, .read = zuf_state_read, .llseek = default_llseek,
};
static const struct file_operations zuf_registered_fops = {
	.owner = THIS_MODULE, .read = zuf_registered_read, .llseek = default_llseek,
};

static int zuf_root_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr files[] = {
		[2] = { "stats", &zuf_stats_fops, 0444 },
		[3] = { "state", &zuf_state_fops, 0444 },
		[4] = { "registered_fs", &zuf_registered_fops, 0444 },
		{ "" },
	};
	int err;

	err = simple_fill_super(sb, ZUF_ROOT_MAGIC, files);
	if (err)
		return err;
	sb->s_root->d_inode->i_op = &zuf_root_dir_iops;
	return 0;
}

static int zuf_root_get_tree(struct fs_context *fc)
{
	return get_tree_single(fc, zuf_root_fill_super);
}

static const struct fs_context_operations zuf_root_context_ops = {
	.get_tree = zuf_root_get_tree,
};

static int zuf_root_init_fs_context(struct fs_context *fc)
{
	fc->ops = &zuf_root_context_ops;
	return 0;
}

static struct file_system_type zuf_root_fst = {
	.owner			= THIS_MODULE,
	.name			= "zuf",
	.init_fs_context	= zuf_root_init_fs_context,
	.kill_sb		= kill_litter_super,
};

/* ~~~~ module ~~~~ */

int zuf_root_init(void)
{
	int err;

	spin_lock_init(&zri.lock);
	INIT_LIST_HEAD(&zri.mount_pending);
	init_waitqueue_head(&zri.mount_wq);
	init_waitqueue_head(&zri.free_wq);

	err = sysfs_create_mount_point(fs_kobj, "zuf");
	if (err)
		return err;
	err = register_filesystem(&zuf_root_fst);
	if (err)
		goto remove_mp;
	return 0;

remove_mp:
	sysfs_remove_mount_point(fs_kobj, "zuf");
	return err;
}

void zuf_root_exit(void)
{
	int i;

	unregister_filesystem(&zuf_root_fst);
	for (i = 0; i < zri.num_fs_types; i++) {
		if (zri.fs_types[i]->registered)
			unregister_filesystem(&zri.fs_types[i]->vfs_fst);
		kfree(zri.fs_types[i]);
	}
	zri.num_fs_types = 0;
	sysfs_remove_mount_point(fs_kobj, "zuf");
}

static int __init zuf_init(void)
{
	int err;

	err = zufc_init();
	if (err)
		return err;
	err = zuf_init_inodecache();
	if (err)
		goto core_exit;
	err = zuf_root_init();
	if (err)
		goto inodecache;
	pr_info("zuf: ZUFS api %d.%d loaded\n", ZUFS_MAJOR_VERSION, ZUFS_MINOR_VERSION);
	return 0;

inodecache:
	zuf_destroy_inodecache();
core_exit:
	zufc_exit();
	return err;
}

static void __exit zuf_exit(void)
{
	zuf_root_exit();
	zuf_pools_exit();
	zuf_destroy_inodecache();
	zufc_exit();
}

module_init(zuf_init);
module_exit(zuf_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("zufs project");
MODULE_DESCRIPTION("zuf: Zero-copy User-mode Feeder, the kernel half of ZUFS");
MODULE_ALIAS_FS("zuf");
