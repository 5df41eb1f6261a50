// zuf-probe: the few syscalls the guest suite needs that coreutils does not expose.
//   zuf-probe rename FLAGS OLD NEW     renameat2(2); FLAGS: noreplace | exchange
//   zuf-probe seek FILE data|hole OFF  prints lseek(SEEK_DATA/SEEK_HOLE) result or the errno name
//   zuf-probe getflags FILE            FS_IOC_GETFLAGS: prints the flags or the errno name
//   zuf-probe mmap-read FILE OFF LEN   prints LEN bytes at OFF read through a private mapping
//   zuf-probe mmap-write FILE OFF STR  stores STR at OFF through a shared mapping, msync, munmap
//   zuf-probe mmap-cow FILE OFF STR    stores STR through a private mapping; prints what the
//                                      mapping holds, then what read(2) of the file holds there
//   zuf-probe pread-check FILE REF BS N SECS
//                                      preads BS bytes of FILE and compares each with the same
//                                      range of REF (a copy elsewhere): N > 0 reads at a fixed
//                                      pseudo-random sequence of BS-aligned offsets, N = 0 one
//                                      sequential pass; SECS > 0 repeats that until SECS elapse.
//                                      Stops at the first EIO. Prints "reads R bytes B eio 0|1"
//                                      and the deltas of /sys/fs/zuf/stats over the loop only
//                                      (after open): rt (sum of the op lines) and every counter.
//                                      rc 1 on a mismatch, a short read or another error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("%s %s\n", what, strerrorname_np(errno));
	return 1;
}

/* maps [0, off + len) of FILE; returns the mapping or NULL (errno set) */
static char *map(const char *file, int flags, int prot, off_t off, size_t len, int *fdp)
{
	int fd = open(file, prot & PROT_WRITE && flags == MAP_SHARED ? O_RDWR : O_RDONLY);
	char *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, off + len, prot, flags, fd, 0);
	*fdp = fd;
	return p == MAP_FAILED ? NULL : p;
}

static int mmap_cmd(const char *cmd, const char *file, off_t off, const char *arg)
{
	size_t len = !strcmp(cmd, "mmap-read") ? (size_t)atoll(arg) : strlen(arg);
	int fd, shared = !strcmp(cmd, "mmap-write");
	char *p = map(file, shared ? MAP_SHARED : MAP_PRIVATE,
		      !strcmp(cmd, "mmap-read") ? PROT_READ : PROT_READ | PROT_WRITE, off, len, &fd);
	char back[4096];

	if (!p)
		return fail("mmap");
	if (!strcmp(cmd, "mmap-read")) {
		fwrite(p + off, 1, len, stdout);
	} else if (shared) {
		memcpy(p + off, arg, len);
		if (msync(p, off + len, MS_SYNC))
			return fail("msync");
	} else {
		if (len > sizeof(back))
			return 2;
		memcpy(p + off, arg, len);
		printf("%.*s\n", (int)len, p + off);
		if (pread(fd, back, len, off) != (ssize_t)len)
			return fail("pread");
		printf("%.*s\n", (int)len, back);
	}
	if (munmap(p, off + len))
		return fail("munmap");
	return close(fd) ? fail("close") : 0;
}

/* /sys/fs/zuf/stats as name/value pairs; "rt" is the sum of the op lines' round trips */
#define NSTAT 64
struct stats {
	int n;
	char name[NSTAT][48];
	long long v[NSTAT];
};

static void stats_read(struct stats *st)
{
	FILE *f = fopen("/sys/fs/zuf/stats", "r");
	char line[256], a[48], b[48];
	long long x, y;

	st->n = 1;
	strcpy(st->name[0], "rt");
	st->v[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "op %47s %lld %lld", a, &x, &y) == 3)
			st->v[0] += x;
		else if (sscanf(line, "%47s %lld", b, &x) == 2 && st->n < NSTAT) {
			strcpy(st->name[st->n], b);
			st->v[st->n++] = x;
		}
	}
	fclose(f);
}

static long long stats_get(const struct stats *st, const char *name)
{
	for (int i = 0; i < st->n; i++)
		if (!strcmp(st->name[i], name))
			return st->v[i];
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pread_check(const char *file, const char *ref, size_t bs, long long n, double secs)
{
	int fd = open(file, O_RDONLY), rfd = open(ref, O_RDONLY);
	unsigned long long reads = 0, bytes = 0, x = 88172645463325252ULL;
	char *buf = malloc(bs), *rbuf = malloc(bs);
	struct stats s0, s1;
	struct stat rst;
	long long blocks, i;
	int eio = 0, rc = 0;
	double t0;

	if (fd < 0 || rfd < 0 || !buf || !rbuf || fstat(rfd, &rst))
		return fail("open");
	blocks = (rst.st_size + bs - 1) / bs;
	if (!blocks)
		return fail("empty-ref");
	stats_read(&s0);
	t0 = now();
	do {
		x = 88172645463325252ULL;	/* the same sequence every pass */
		for (i = 0; i < (n ? n : blocks); i++) {
			off_t off;
			size_t want;
			ssize_t r;

			if (n) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				off = (off_t)(x % blocks) * bs;
			} else {
				off = (off_t)i * bs;
			}
			want = off + bs > (size_t)rst.st_size ? rst.st_size - off : bs;
			r = pread(fd, buf, bs, off);
			if (r < 0 && errno == EIO) {
				eio = 1;
				goto out;
			}
			if (r < 0) {
				printf("pread-error %s at %lld\n", strerrorname_np(errno), (long long)off);
				rc = 1;
				goto out;
			}
			if ((size_t)r != want) {
				printf("short-read %zd of %zu at %lld\n", r, want, (long long)off);
				rc = 1;
				goto out;
			}
			if (pread(rfd, rbuf, want, off) != (ssize_t)want)
				return fail("ref-pread");
			if (memcmp(buf, rbuf, want)) {
				size_t k = 0;

				while (buf[k] == rbuf[k])
					k++;
				printf("mismatch at %lld\n", (long long)(off + k));
				rc = 1;
				goto out;
			}
			reads++;
			bytes += r;
		}
	} while (secs > 0 && now() - t0 < secs);
out:
	stats_read(&s1);
	printf("reads %llu bytes %llu eio %d secs %.3f", reads, bytes, eio, now() - t0);
	for (int k = 0; k < s1.n; k++)
		printf(" %s %lld", s1.name[k], s1.v[k] - stats_get(&s0, s1.name[k]));
	printf("\n");
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "pread-check"))
		return pread_check(argv[2], argv[3], atoll(argv[4]), atoll(argv[5]), atof(argv[6]));
	if (argc == 5 && !strncmp(argv[1], "mmap-", 5))
		return mmap_cmd(argv[1], argv[2], atoll(argv[3]), argv[4]);
	if (argc == 5 && !strcmp(argv[1], "rename")) {
		unsigned int fl = !strcmp(argv[2], "exchange") ? RENAME_EXCHANGE : RENAME_NOREPLACE;
		if (renameat2(AT_FDCWD, argv[3], AT_FDCWD, argv[4], fl)) {
			printf("%s\n", strerrorname_np(errno));
			return 1;
		}
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "seek")) {
		int fd = open(argv[2], O_RDONLY);
		off_t r;
		if (fd < 0)
			return 2;
		r = lseek(fd, atoll(argv[4]), !strcmp(argv[3], "data") ? SEEK_DATA : SEEK_HOLE);
		if (r < 0)
			printf("%s\n", strerrorname_np(errno));
		else
			printf("%lld\n", (long long)r);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "getflags")) {
		int fd = open(argv[2], O_RDONLY), flags = 0;
		if (fd < 0)
			return 2;
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags))
			printf("%s\n", strerrorname_np(errno));
		else
			printf("flags %#x\n", flags);
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of zuf-probe.c\n");
	return 2;
}
