/*
 * nioread — the cached-read loop of bench/vm/run-nio.sh: pread(2) of FILE (opened once) for SECS,
 *   rand4k  4 KiB at 4 KiB-aligned offsets of a fixed pseudo-random sequence (xorshift64, the same
 *           seed on every target and run)
 *   seq1m   1 MiB sequential, wrapping to offset 0 at the end of the file
 *   rand4kw 4 KiB pwrite(2) at the offsets of rand4k (the file is opened read-write; no fsync)
 * timed with clock_gettime(CLOCK_MONOTONIC). Fails (rc 1) on an error or a short read.
 * Usage: nioread [-c CPU] rand4k|seq1m|rand4kw FILE SECS; prints one JSON line in load.c's format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long long n = 0, bytes = 0, x = 0x9E3779B97F4A7C15ULL;
	double secs, t0, t;
	struct stat st;
	size_t bs;
	off_t pos = 0;
	char *buf;
	int opt, seq, wr;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt == 'c') {
			cpu_set_t s;

			CPU_ZERO(&s);
			CPU_SET(atoi(optarg), &s);
			if (sched_setaffinity(0, sizeof(s), &s)) {
				perror("sched_setaffinity");
				return 1;
			}
		}
	}
	if (argc - optind != 3 || (strcmp(argv[optind], "rand4k") && strcmp(argv[optind], "seq1m") &&
				   strcmp(argv[optind], "rand4kw"))) {
		fprintf(stderr, "usage: nioread [-c CPU] rand4k|seq1m|rand4kw FILE SECS\n");
		return 2;
	}
	seq = !strcmp(argv[optind], "seq1m");
	wr = !strcmp(argv[optind], "rand4kw");
	bs = seq ? 1 << 20 : 4096;
	secs = strtod(argv[optind + 2], NULL);
	int fd = open(argv[optind + 1], wr ? O_RDWR : O_RDONLY);

	if (fd < 0 || fstat(fd, &st) || st.st_size < (off_t)bs || !(buf = aligned_alloc(4096, bs))) {
		fprintf(stderr, "nioread: %s: %s\n", argv[optind + 1], fd < 0 ? strerror(errno) : "too small");
		return 1;
	}
	unsigned long long blocks = st.st_size / bs;

	t0 = t_now();
	do {
		for (int i = 0; i < 16; i++, n++) {
			ssize_t r;

			if (seq) {
				if (pos + (off_t)bs > st.st_size)
					pos = 0;
			} else {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				pos = (off_t)(x % blocks) * bs;
			}
			r = wr ? pwrite(fd, buf, bs, pos) : pread(fd, buf, bs, pos);
			if (r != (ssize_t)bs) {
				fprintf(stderr, "nioread: %s %s at %lld: %s\n", wr ? "pwrite" : "pread",
					argv[optind + 1], (long long)pos, r < 0 ? strerror(errno) : "short");
				return 1;
			}
			bytes += r;
			if (seq)
				pos += bs;
		}
		t = t_now();
	} while (t - t0 < secs);
	t -= t0;
	printf("{\"op\":\"%s\",\"ops\":%llu,\"bytes\":%llu,\"secs\":%.6f,\"ops_per_s\":%.1f,"
	       "\"mib_per_s\":%.2f,\"lat_us\":%.3f,\"direct\":false}\n", argv[optind], n, bytes, t, n / t,
	       bytes / t / 1048576.0, t * 1e6 / n);
	return 0;
}
