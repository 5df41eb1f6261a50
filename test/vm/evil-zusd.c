// evil-zusd: a hostile zuf server for the VM hardening test. It registers "zufs-evil" and answers
// ops with replies that break the rules of zus_api.h (pointers out of its pool, foreign pools,
// bad inode types, errnos out of range, oversized payload lengths, corrupt readdir records,
// read lengths past the request). The kernel must turn each into -EIO and stay healthy.
// LOOKUP of a name selects the misbehaviour; "good" is a well-formed regular file.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "zus_api.h"

static const char *root = "/sys/fs/zuf";
static struct zus_inode *pool;		/* pool 1 of the one super block */
#define POOL_SIZE (64 * 1024)

static int special(void)
{
	int fd = open(root, O_TMPFILE | O_RDWR, 0600);

	if (fd < 0) { perror("open tmpfile"); exit(1); }
	return fd;
}

static zu_dpp_t put_zi(int slot, __u64 ino, __u16 mode, __u64 size)
{
	struct zus_inode *zi = &pool[slot];

	memset(zi, 0, sizeof(*zi));
	zi->i_ino = ino;
	zi->i_mode = mode;
	zi->i_nlink = (mode & 0170000) == 0040000 ? 2 : 1;
	zi->i_size = size;
	return zu_enc_dpp_t(slot * ZUFS_INODE_SIZE, 1);
}

static void lookup(struct zufs_ioc_lookup *l)
{
	char name[256];

	memcpy(name, l->str.name, l->str.len);
	name[l->str.len] = 0;
	l->zus_ii = 2;
	if (!strcmp(name, "good")) { l->_zi = put_zi(2, 2, 0100644, 10); return; }
	if (!strcmp(name, "baddpp")) { l->_zi = zu_enc_dpp_t(1ULL << 40, 1); return; }
	if (!strcmp(name, "pastend")) { l->_zi = zu_enc_dpp_t(POOL_SIZE, 1); return; }
	if (!strcmp(name, "unaligned")) { l->_zi = zu_enc_dpp_t(128 + 64, 1); return; }
	if (!strcmp(name, "badpool")) { l->_zi = zu_enc_dpp_t(128, 5); return; }
	if (!strcmp(name, "t1pool")) { l->_zi = zu_enc_dpp_t(128, 0); return; }
	if (!strcmp(name, "apppool")) { l->_zi = zu_enc_dpp_t(128, 7); return; }
	if (!strcmp(name, "badtype")) { l->_zi = put_zi(3, 3, 0170644, 0); return; }
	if (!strcmp(name, "zeroino")) { l->_zi = put_zi(4, 0, 0100644, 0); return; }
	if (!strcmp(name, "bigerr")) { l->hdr.err = -600; return; }
	if (!strcmp(name, "poserr")) { l->hdr.err = 5; return; }
	if (!strcmp(name, "restartsys")) { l->hdr.err = -512; return; }
	if (!strcmp(name, "badlen")) { l->_zi = put_zi(2, 2, 0100644, 10); l->hdr.len = 1 << 20; return; }
	l->hdr.err = -ENOENT;
}

static void *zt(void *arg)
{
	long cpu = (long)arg;
	struct zufs_ioc_init init = { .channel_no = 0, .max_command = ZUFS_OP_BUF_MIN };
	struct zufs_ioc_wait_operation w;
	cpu_set_t set;
	char *buf;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	fd = special();
	if (ioctl(fd, ZU_IOC_INIT_THREAD, &init)) { perror("INIT_THREAD"); exit(1); }
	buf = mmap(NULL, init.op_buf_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) { perror("mmap op buffer"); exit(1); }
	for (;;) {
		struct zufs_ioc_hdr *hdr = (void *)buf;

		if (ioctl(fd, ZU_IOC_WAIT_OPT, &w)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("WAIT_OPT");
			exit(1);
		}
		hdr->err = 0;
		switch (hdr->operation) {
		case ZUFS_OP_BREAK:
			return NULL;
		case ZUFS_OP_LOOKUP:
			lookup((void *)buf);
			break;
		case ZUFS_OP_READDIR: {
			struct zufs_ioc_readdir *rd = (void *)buf;
			struct zufs_dir_entry *de = (void *)(buf + ZUFS_OP_PAYLOAD_OFF);

			memset(de, 0, sizeof(*de));
			de->ino = 9;
			de->rec_len = 3;	/* corrupt */
			de->name_len = 1;
			rd->count = 1;
			rd->more = 0;
			hdr->len = 32;
			break;
		}
		case ZUFS_OP_READ: {
			struct zufs_ioc_IO *io = (void *)buf;

			io->last_pos = io->filepos + hdr->len + 100;	/* more than asked */
			break;
		}
		case ZUFS_OP_STATFS: {
			struct zufs_ioc_statfs *s = (void *)buf;

			s->st.f_blocks = 10;
			s->st.f_bfree = 1000;	/* more free than total: clamped */
			s->st.f_bsize = 4096;
			break;
		}
		case ZUFS_OP_EVICT_INODE:
		case ZUFS_OP_FREE_INODE:
		case ZUFS_OP_SYNC:
			break;
		default:
			hdr->err = -ENOSYS;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct zufs_ioc_register_fs rf = { .zus_zfi = 1 };
	static struct zufs_ioc_mount zim;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), c;
	pthread_t th;
	int mfd;

	if (argc > 1)
		root = argv[1];
	mfd = special();
	strcpy(rf.rfi.fsname, "zufs-evil");
	rf.rfi.api_major = ZUFS_MAJOR_VERSION;
	rf.rfi.api_minor = ZUFS_MINOR_VERSION;
	rf.rfi.s_time_gran = 1;
	if (ioctl(mfd, ZU_IOC_REGISTER_FS, &rf)) { perror("REGISTER_FS"); return 1; }
	for (c = 0; c < ncpu; c++)
		pthread_create(&th, NULL, zt, (void *)c);
	printf("evil-zusd: ready\n");
	fflush(stdout);
	for (;;) {
		if (ioctl(mfd, ZU_IOC_MOUNT, &zim)) {
			if (errno == EINTR)
				continue;
			perror("MOUNT");
			return 1;
		}
		zim.hdr.err = 0;
		if (zim.hdr.operation == ZUFS_M_BREAK)
			return 0;
		if (zim.hdr.operation == ZUFS_M_MOUNT) {
			struct zufs_ioc_alloc_pool ap = { .sb_id = zim.zmi.sb_id, .sb_key = zim.zmi.sb_key,
							  .pool_no = 1, .size = POOL_SIZE };
			struct zufs_ioc_alloc_pool wrong = ap;
			int pfd = special(), wfd = special();

			wrong.sb_key ^= 1;	/* a wrong key must be refused */
			if (!ioctl(wfd, ZU_IOC_ALLOC_POOL, &wrong)) {
				fprintf(stderr, "evil-zusd: ALLOC_POOL with a wrong key succeeded\n");
				return 3;
			}
			close(wfd);
			if (ioctl(pfd, ZU_IOC_ALLOC_POOL, &ap)) { perror("ALLOC_POOL"); return 1; }
			pool = mmap(NULL, POOL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
			if (pool == MAP_FAILED) { perror("mmap pool"); return 1; }
			zim.zmi._zi = put_zi(1, 1, 0040755, 0);
			zim.zmi.zus_ii = 1;
			zim.zmi.zus_sbi = 1;
		}
	}
}
