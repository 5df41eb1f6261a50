/*
 * memfs_ll — the C reference for zufs benchmarks: a minimal libfuse3 LOW-LEVEL server with
 * in-memory inodes and the same semantics as zusd's posix layout on the ops the benchmarks use
 * (lookup, forget, getattr, setattr, mknod, mkdir, unlink, rmdir, create, open, read, write,
 * flush, fsync, release, readdir, statfs, and getxattr/listxattr of a file with no xattrs).
 * It exists so that "zufs FUSE vs libfuse" is measured
 * against a server doing the same work, not against a null server.
 *
 * Usage: memfs_ll MOUNTPOINT [-f] [-s] [-o timeout=SECONDS] [-o counters=FILE] [-o clone_fd] [-o max_threads=N]
 *   timeout   attr and entry cache lifetime given to the kernel (default 1.0; 0 disables caching)
 *   counters  a file of 64 little-endian u64 request counters indexed by FUSE opcode, shared
 *             (mmap) so the benchmark can read requests per operation while the server runs
 *   -s        single-threaded session loop; without it libfuse's multi-threaded loop
 *
 * One mutex guards all state so the multi-threaded loop is safe; with -s it is never contended.
 * Build: cc -O2 memfs_ll.c $(pkg-config --cflags --libs fuse3) -o memfs_ll
 */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <fuse_lowlevel.h>

#include <linux/fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dentry {
	struct dentry *next;
	fuse_ino_t ino;
	char name[];
};

struct inode {
	struct stat st;     /* st_ino, st_mode, st_nlink, st_size, times, owner */
	uint64_t nlookup;   /* kernel references (lookup/create/mknod/mkdir minus forget) */
	uint32_t nopen;     /* open file handles */
	char *data;         /* regular files: st_size bytes valid, cap allocated */
	size_t cap;
	struct dentry *kids; /* directories: entries, newest first */
	size_t nkids;
};

static struct {
	pthread_mutex_t lock;
	struct inode **tab; /* indexed by inode number; NULL once freed */
	size_t ntab;
	size_t next_ino;    /* numbers are never reused, so no generation is needed */
	double timeout;
	uint64_t *counters; /* [FUSE opcode], or NULL */
} fs = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_ino = FUSE_ROOT_ID, .timeout = 1.0 };

#define NCOUNTERS 64

static inline void count(unsigned op)
{
	if (fs.counters && op < NCOUNTERS)
		__atomic_fetch_add(&fs.counters[op], 1, __ATOMIC_RELAXED);
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static struct inode *iget(fuse_ino_t ino)
{
	return ino < fs.ntab ? fs.tab[ino] : NULL;
}

static struct inode *inew(mode_t mode, const struct fuse_ctx *ctx)
{
	struct inode *in = calloc(1, sizeof(*in));
	size_t ino;

	if (!in)
		return NULL;
	ino = fs.next_ino;
	if (ino >= fs.ntab) {
		size_t n = fs.ntab ? fs.ntab * 2 : 1024;
		struct inode **t = realloc(fs.tab, n * sizeof(*t));

		if (!t) {
			free(in);
			return NULL;
		}
		memset(t + fs.ntab, 0, (n - fs.ntab) * sizeof(*t));
		fs.tab = t;
		fs.ntab = n;
	}
	in->st.st_ino = ino;
	in->st.st_mode = mode;
	in->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	in->st.st_uid = ctx ? ctx->uid : 0;
	in->st.st_gid = ctx ? ctx->gid : 0;
	in->st.st_blksize = 4096;
	now(&in->st.st_atim);
	in->st.st_mtim = in->st.st_ctim = in->st.st_atim;
	fs.tab[ino] = in;
	fs.next_ino++;
	return in;
}

/* Frees an inode once nothing names it and the kernel holds no reference. */
static void imaybe_free(struct inode *in)
{
	if (in->st.st_nlink || in->nlookup || in->nopen)
		return;
	fs.tab[in->st.st_ino] = NULL;
	free(in->data);
	free(in);
}

static struct dentry **dfind(struct inode *dir, const char *name)
{
	struct dentry **pp;

	for (pp = &dir->kids; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return pp;
	return NULL;
}

static void fill_entry(struct fuse_entry_param *e, struct inode *in)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->st.st_ino;
	e->attr = in->st;
	e->attr.st_blocks = (in->st.st_size + 511) / 512;
	e->attr_timeout = fs.timeout;
	e->entry_timeout = fs.timeout;
	in->nlookup++;
}

static void reply_attr(fuse_req_t req, struct inode *in)
{
	struct stat st = in->st;

	st.st_blocks = (st.st_size + 511) / 512;
	fuse_reply_attr(req, &st, fs.timeout);
}

static int resize(struct inode *in, off_t size)
{
	if ((size_t)size > in->cap) {
		size_t cap = in->cap ? in->cap : 65536;
		char *d;

		while (cap < (size_t)size)
			cap *= 2;
		d = realloc(in->data, cap);
		if (!d)
			return ENOSPC;
		in->data = d;
		in->cap = cap;
	}
	if (size > in->st.st_size)
		memset(in->data + in->st.st_size, 0, size - in->st.st_size);
	in->st.st_size = size;
	return 0;
}

static void m_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	(void)conn;
	struct inode *root = inew(S_IFDIR | 0777, NULL); /* the first number: FUSE_ROOT_ID */

	if (!root)
		abort();
	root->nlookup = 1;
}

static void m_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct dentry **d;
	struct inode *dir;

	count(FUSE_LOOKUP);
	pthread_mutex_lock(&fs.lock);
	dir = iget(parent);
	if (!dir || !S_ISDIR(dir->st.st_mode)) {
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, dir ? ENOTDIR : ENOENT);
		return;
	}
	d = dfind(dir, name);
	if (!d) {
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_entry(&e, iget((*d)->ino));
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_entry(req, &e);
}

static void forget_one(fuse_ino_t ino, uint64_t n)
{
	struct inode *in = iget(ino);

	if (!in)
		return;
	in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
	imaybe_free(in);
}

static void m_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	count(FUSE_FORGET);
	pthread_mutex_lock(&fs.lock);
	forget_one(ino, nlookup);
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_none(req);
}

static void m_forget_multi(fuse_req_t req, size_t n, struct fuse_forget_data *f)
{
	size_t i;

	count(FUSE_BATCH_FORGET);
	pthread_mutex_lock(&fs.lock);
	for (i = 0; i < n; i++)
		forget_one(f[i].ino, f[i].nlookup);
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_none(req);
}

static void m_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in;

	count(FUSE_GETATTR);
	(void)fi;
	pthread_mutex_lock(&fs.lock);
	in = iget(ino);
	if (!in) {
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_attr(req, in);
	pthread_mutex_unlock(&fs.lock);
}

static void m_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		      struct fuse_file_info *fi)
{
	struct timespec t;
	struct inode *in;
	int err = 0;

	count(FUSE_SETATTR);
	(void)fi;
	pthread_mutex_lock(&fs.lock);
	in = iget(ino);
	if (!in) {
		err = ENOENT;
		goto out;
	}
	now(&t);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = EISDIR;
		if (S_ISDIR(in->st.st_mode))
			goto out;
		err = resize(in, attr->st_size);
		if (err)
			goto out;
		in->st.st_mtim = t;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		in->st.st_mode = (in->st.st_mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		in->st.st_uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		in->st.st_gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		in->st.st_atim = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		in->st.st_atim = t;
	if (to_set & FUSE_SET_ATTR_MTIME)
		in->st.st_mtim = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		in->st.st_mtim = t;
	in->st.st_ctim = t;
	reply_attr(req, in);
out:
	pthread_mutex_unlock(&fs.lock);
	if (err)
		fuse_reply_err(req, err);
}

/* Creates NAME in PARENT; on success fills E (taking a lookup reference) and returns 0. */
static int make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		struct fuse_entry_param *e)
{
	size_t len = strlen(name);
	struct inode *dir, *in;
	struct dentry *d;

	if (len > 255)
		return ENAMETOOLONG;
	dir = iget(parent);
	if (!dir)
		return ENOENT;
	if (!S_ISDIR(dir->st.st_mode))
		return ENOTDIR;
	if (dfind(dir, name))
		return EEXIST;
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return ENOMEM;
	in = inew(mode, fuse_req_ctx(req));
	if (!in) {
		free(d);
		return ENOMEM;
	}
	in->st.st_rdev = rdev;
	memcpy(d->name, name, len + 1);
	d->ino = in->st.st_ino;
	d->next = dir->kids;
	dir->kids = d;
	dir->nkids++;
	if (S_ISDIR(mode))
		dir->st.st_nlink++;
	now(&dir->st.st_mtim);
	dir->st.st_ctim = dir->st.st_mtim;
	fill_entry(e, in);
	return 0;
}

static void make_reply(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fuse_entry_param e;
	int err;

	pthread_mutex_lock(&fs.lock);
	err = make(req, parent, name, mode, rdev, &e);
	pthread_mutex_unlock(&fs.lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void m_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	count(FUSE_MKNOD);
	make_reply(req, parent, name, mode, rdev);
}

static void m_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	count(FUSE_MKDIR);
	make_reply(req, parent, name, S_IFDIR | (mode & 07777), 0);
}

static void m_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int err;

	count(FUSE_CREATE);
	pthread_mutex_lock(&fs.lock);
	err = make(req, parent, name, S_IFREG | (mode & 07777), 0, &e);
	if (!err)
		iget(e.ino)->nopen++;
	pthread_mutex_unlock(&fs.lock);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = e.ino;
	fuse_reply_create(req, &e, fi);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int isdir)
{
	struct inode *dir, *in;
	struct dentry **pp, *d;
	int err = 0;

	pthread_mutex_lock(&fs.lock);
	dir = iget(parent);
	err = ENOENT;
	if (!dir)
		goto out;
	pp = dfind(dir, name);
	if (!pp)
		goto out;
	in = iget((*pp)->ino);
	err = isdir ? ENOTDIR : EISDIR;
	if ((S_ISDIR(in->st.st_mode) ? 1 : 0) != isdir)
		goto out;
	err = ENOTEMPTY;
	if (isdir && in->nkids)
		goto out;
	err = 0;
	d = *pp;
	*pp = d->next;
	free(d);
	dir->nkids--;
	now(&dir->st.st_mtim);
	dir->st.st_ctim = dir->st.st_mtim;
	in->st.st_ctim = dir->st.st_mtim;
	if (isdir) {
		dir->st.st_nlink--;
		in->st.st_nlink = 0;
	} else {
		in->st.st_nlink--;
	}
	imaybe_free(in);
out:
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_err(req, err);
}

static void m_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	count(FUSE_UNLINK);
	remove_entry(req, parent, name, 0);
}

static void m_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	count(FUSE_RMDIR);
	remove_entry(req, parent, name, 1);
}

static void m_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in;
	int err = 0;

	count(FUSE_OPEN);
	pthread_mutex_lock(&fs.lock);
	in = iget(ino);
	if (!in)
		err = ENOENT;
	else if (S_ISDIR(in->st.st_mode) && (fi->flags & O_ACCMODE) != O_RDONLY)
		err = EISDIR;
	else {
		if ((fi->flags & O_TRUNC) && in->st.st_size) {
			resize(in, 0);
			now(&in->st.st_mtim);
			in->st.st_ctim = in->st.st_mtim;
		}
		in->nopen++;
	}
	pthread_mutex_unlock(&fs.lock);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = ino;
	fuse_reply_open(req, fi);
}

static void m_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in;

	count(FUSE_RELEASE);
	(void)fi;
	pthread_mutex_lock(&fs.lock);
	in = iget(ino);
	if (in && in->nopen) {
		in->nopen--;
		imaybe_free(in);
	}
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_err(req, 0);
}

static void m_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count(FUSE_FLUSH);
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void m_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	count(FUSE_FSYNC);
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void m_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct inode *in;

	count(FUSE_READ);
	(void)fi;
	pthread_mutex_lock(&fs.lock);
	in = iget(ino);
	if (!in) {
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off >= in->st.st_size)
		size = 0;
	else if ((off_t)size > in->st.st_size - off)
		size = in->st.st_size - off;
	fuse_reply_buf(req, size ? in->data + off : NULL, size);
	pthread_mutex_unlock(&fs.lock);
}

static void m_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct inode *in;
	int err = 0;

	(void)fi;
	count(FUSE_WRITE);
	pthread_mutex_lock(&fs.lock);
	in = iget(ino);
	if (!in)
		err = EBADF;
	else if (off + (off_t)size > in->st.st_size)
		err = resize(in, off + size);
	if (!err && size) {
		memcpy(in->data + off, buf, size);
		now(&in->st.st_mtim);
		in->st.st_ctim = in->st.st_mtim;
	}
	pthread_mutex_unlock(&fs.lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

static void m_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count(FUSE_OPENDIR);
	fi->fh = ino;
	fuse_reply_open(req, fi);
}

static void m_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count(FUSE_RELEASEDIR);
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void m_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	char *buf = malloc(size);
	struct dentry *d;
	struct inode *dir;
	size_t used = 0;
	off_t i;

	count(FUSE_READDIR);
	(void)fi;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs.lock);
	dir = iget(ino);
	if (!dir || !S_ISDIR(dir->st.st_mode)) {
		pthread_mutex_unlock(&fs.lock);
		free(buf);
		fuse_reply_err(req, dir ? ENOTDIR : ENOENT);
		return;
	}
	/* Offsets are positions in the list: 1 ".", 2 "..", 3.. entries. */
	d = dir->kids;
	for (i = 0; d || i < 2; i++) {
		struct stat st = { 0 };
		const char *name;
		size_t len;

		if (i == 0) {
			name = ".";
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			st.st_ino = FUSE_ROOT_ID;
			st.st_mode = S_IFDIR;
		} else {
			name = d->name;
			st.st_ino = d->ino;
			st.st_mode = iget(d->ino)->st.st_mode;
			d = d->next;
		}
		if (i < off)
			continue;
		len = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (len > size - used)
			break;
		used += len;
	}
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/*
 * zusd supports xattrs, so the kernel asks it for security.capability before every write (to
 * strip file capabilities). Answering "no such attribute" here, instead of ENOSYS (which makes
 * the kernel stop asking), keeps that round trip in both servers' costs.
 */
static void m_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	count(FUSE_GETXATTR);
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENODATA);
}

static void m_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	count(FUSE_LISTXATTR);
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void m_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = {
		.f_bsize = 4096, .f_frsize = 4096, .f_blocks = 1 << 24, .f_bfree = 1 << 23,
		.f_bavail = 1 << 23, .f_files = 1 << 20, .f_ffree = 1 << 19, .f_namemax = 255,
	};

	count(FUSE_STATFS);
	(void)ino;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = m_init,
	.lookup = m_lookup,
	.forget = m_forget,
	.forget_multi = m_forget_multi,
	.getattr = m_getattr,
	.setattr = m_setattr,
	.mknod = m_mknod,
	.mkdir = m_mkdir,
	.unlink = m_unlink,
	.rmdir = m_rmdir,
	.create = m_create,
	.open = m_open,
	.read = m_read,
	.write = m_write,
	.flush = m_flush,
	.fsync = m_fsync,
	.release = m_release,
	.opendir = m_opendir,
	.readdir = m_readdir,
	.releasedir = m_releasedir,
	.statfs = m_statfs,
	.getxattr = m_getxattr,
	.listxattr = m_listxattr,
};

struct memfs_opts {
	char *timeout;
	char *counters;
};

static const struct fuse_opt memfs_optspec[] = {
	{ "timeout=%s", offsetof(struct memfs_opts, timeout), 0 },
	{ "counters=%s", offsetof(struct memfs_opts, counters), 0 },
	FUSE_OPT_END
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct memfs_opts mo = { 0 };
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_help || !opts.mountpoint) {
		printf("usage: %s MOUNTPOINT [-f] [-s] [-o timeout=SECONDS] [-o counters=FILE] [-o clone_fd] [-o max_threads=N]\n", argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return opts.show_help ? 0 : 1;
	}
	if (fuse_opt_parse(&args, &mo, memfs_optspec, NULL) == -1)
		return 1;
	if (mo.timeout)
		fs.timeout = strtod(mo.timeout, NULL);
	if (mo.counters) {
		size_t len = NCOUNTERS * sizeof(uint64_t);
		int fd = open(mo.counters, O_RDWR | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || ftruncate(fd, len) != 0) {
			perror(mo.counters);
			return 1;
		}
		fs.counters = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (fs.counters == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
	}

	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(opts.foreground);
	if (opts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(cfg, opts.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, opts.max_threads);
		fuse_loop_cfg_set_idle_threads(cfg, opts.max_idle_threads);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
