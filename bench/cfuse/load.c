/*
 * load — the client side of every zufs benchmark. One small C program drives every target
 * (tmpfs, memfs_ll, zusd) so the client costs the same everywhere; it pins itself to one CPU
 * and prints one JSON line per run.
 *
 * Usage: load [-c CPU] [-D] [-n] OP PATH ARG
 *   stat      PATH SECS   stat(PATH) in a loop (PATH is created first if missing)
 *   fstat     PATH SECS   fstat() of PATH opened once: one GETATTR round trip with the attr cache off
 *   creat     DIR  SECS   pairs of open(O_CREAT|O_EXCL)+close and unlink in DIR
 *   randread  PATH SECS   4 KiB pread at random 4 KiB-aligned offsets within PATH's size
 *   randwrite PATH SECS   4 KiB pwrite at random 4 KiB-aligned offsets within PATH's size
 *   seqwrite  PATH BYTES  1 MiB writes to PATH (created/truncated), then fsync and close
 *   seqread   PATH BYTES  1 MiB reads of PATH to BYTES, checking the offset stamped in each MiB
 * Options:
 *   -c CPU  pin to CPU (sched_setaffinity)
 *   -D      drop the page cache (echo 1 > /proc/sys/vm/drop_caches) before starting
 *   -n      random I/O through the page cache; by default it uses O_DIRECT (fio psync direct=1,
 *           iodepth 1) so every operation reaches the server, and falls back to buffered I/O,
 *           saying so, where O_DIRECT is refused
 * Time-bounded ops check the clock every 16 iterations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL 4096
#define BIG (1 << 20)

static double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "load: %s %s: %s\n", what, path ? path : "", strerror(errno));
	exit(1);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void *alloc_aligned(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("posix_memalign", NULL);
	return p;
}

/* Non-zero, incompressible content so no store can take a zero-page or dedup shortcut. */
static void fill_pattern(char *buf, size_t n)
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t r = next_rand();

		memcpy(buf + i, &r, 8);
	}
}

static void report(const char *op, uint64_t ops, uint64_t bytes, double secs, int direct)
{
	printf("{\"op\":\"%s\",\"ops\":%llu,\"bytes\":%llu,\"secs\":%.6f,\"ops_per_s\":%.1f,"
	       "\"mib_per_s\":%.2f,\"lat_us\":%.3f,\"direct\":%s}\n",
	       op, (unsigned long long)ops, (unsigned long long)bytes, secs, ops / secs,
	       bytes / secs / (1 << 20), ops ? secs * 1e6 / ops : 0.0, direct ? "true" : "false");
}

static void ensure_file(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0644);

	if (fd < 0)
		die("create", path);
	close(fd);
}

static void op_stat(const char *path, double secs, int use_fstat)
{
	struct stat st;
	uint64_t n = 0;
	double t0, t;
	int fd = -1;

	ensure_file(path);
	if (use_fstat) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", path);
	}
	t0 = t_now();
	do {
		for (int i = 0; i < 16; i++, n++)
			if ((use_fstat ? fstat(fd, &st) : stat(path, &st)) != 0)
				die("stat", path);
		t = t_now();
	} while (t - t0 < secs);
	if (fd >= 0)
		close(fd);
	report(use_fstat ? "fstat" : "stat", n, 0, t - t0, 0);
}

static void op_creat(const char *dir, double secs)
{
	char path[4096];
	uint64_t n = 0;
	double t0, t;

	t0 = t_now();
	do {
		for (int i = 0; i < 16; i++, n++) {
			int fd;

			snprintf(path, sizeof(path), "%s/f%llu", dir, (unsigned long long)(n & 63));
			fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0)
				die("create", path);
			close(fd);
			if (unlink(path) != 0)
				die("unlink", path);
		}
		t = t_now();
	} while (t - t0 < secs);
	report("creat_unlink", n, 0, t - t0, 0);
}

static void op_rand(const char *path, double secs, int writing, int buffered)
{
	int flags = writing ? O_WRONLY : O_RDONLY;
	char *buf = alloc_aligned(SMALL);
	int direct = !buffered;
	uint64_t n = 0, blocks;
	struct stat st;
	double t0, t;
	int fd = -1;

	if (direct)
		fd = open(path, flags | O_DIRECT);
	if (fd < 0 && direct && errno == EINVAL) {
		fprintf(stderr, "load: %s refuses O_DIRECT; using buffered I/O\n", path);
		direct = 0;
	}
	if (fd < 0)
		fd = open(path, flags);
	if (fd < 0)
		die("open", path);
	if (fstat(fd, &st) != 0)
		die("fstat", path);
	blocks = st.st_size / SMALL;
	if (blocks == 0) {
		errno = EINVAL;
		die("empty file", path);
	}
	fill_pattern(buf, SMALL);
	rng ^= (uint64_t)getpid() << 20;
	t0 = t_now();
	do {
		for (int i = 0; i < 16; i++, n++) {
			off_t off = (off_t)(next_rand() % blocks) * SMALL;
			ssize_t r = writing ? pwrite(fd, buf, SMALL, off) : pread(fd, buf, SMALL, off);

			if (r != SMALL)
				die(writing ? "pwrite" : "pread", path);
		}
		t = t_now();
	} while (t - t0 < secs);
	close(fd);
	report(writing ? "randwrite_4k" : "randread_4k", n, n * SMALL, t - t0, direct);
}

static void op_seqwrite(const char *path, uint64_t bytes)
{
	char *buf = alloc_aligned(BIG);
	uint64_t off;
	double t0, t;
	int fd;

	fill_pattern(buf, BIG);
	t0 = t_now();
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		die("open", path);
	for (off = 0; off < bytes; off += BIG) {
		size_t len = bytes - off < BIG ? bytes - off : BIG;

		memcpy(buf, &off, sizeof(off));
		if (write(fd, buf, len) != (ssize_t)len)
			die("write", path);
	}
	if (fsync(fd) != 0)
		die("fsync", path);
	if (close(fd) != 0)
		die("close", path);
	t = t_now();
	report("seqwrite_1m", (bytes + BIG - 1) / BIG, bytes, t - t0, 0);
}

static void op_seqread(const char *path, uint64_t bytes)
{
	char *buf = alloc_aligned(BIG);
	uint64_t off = 0;
	double t0, t;
	int fd;

	t0 = t_now();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	while (off < bytes) {
		size_t want = bytes - off < BIG ? bytes - off : BIG;
		size_t got = 0;
		uint64_t stamp;

		while (got < want) {
			ssize_t r = read(fd, buf + got, want - got);

			if (r < 0)
				die("read", path);
			if (r == 0) {
				fprintf(stderr, "load: %s: EOF at %llu, expected %llu bytes\n", path,
					(unsigned long long)(off + got), (unsigned long long)bytes);
				exit(1);
			}
			got += r;
		}
		memcpy(&stamp, buf, sizeof(stamp));
		if (stamp != off) {
			fprintf(stderr, "load: %s: wrong data at offset %llu (stamp %llu)\n", path,
				(unsigned long long)off, (unsigned long long)stamp);
			exit(1);
		}
		off += want;
	}
	close(fd);
	t = t_now();
	report("seqread_1m", (bytes + BIG - 1) / BIG, bytes, t - t0, 0);
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "1\n", 2) != 2)
		fprintf(stderr, "load: cannot drop the page cache: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	int opt, cpu = -1, drop = 0, buffered = 0;
	const char *op, *path;
	double arg;

	while ((opt = getopt(argc, argv, "c:Dn")) != -1) {
		switch (opt) {
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'D':
			drop = 1;
			break;
		case 'n':
			buffered = 1;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	op = argv[optind];
	path = argv[optind + 1];
	arg = strtod(argv[optind + 2], NULL);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			die("sched_setaffinity", NULL);
	}
	if (drop)
		drop_caches();

	if (!strcmp(op, "stat"))
		op_stat(path, arg, 0);
	else if (!strcmp(op, "fstat"))
		op_stat(path, arg, 1);
	else if (!strcmp(op, "creat"))
		op_creat(path, arg);
	else if (!strcmp(op, "randread"))
		op_rand(path, arg, 0, buffered);
	else if (!strcmp(op, "randwrite"))
		op_rand(path, arg, 1, buffered);
	else if (!strcmp(op, "seqwrite"))
		op_seqwrite(path, (uint64_t)arg);
	else if (!strcmp(op, "seqread"))
		op_seqread(path, (uint64_t)arg);
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: load [-c CPU] [-D] [-n] stat|fstat|creat|randread|randwrite|seqwrite|seqread PATH ARG\n");
	return 2;
}
