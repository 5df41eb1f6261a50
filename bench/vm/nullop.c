/*
 * nullop — the null-op round trip for bench/vm: fgetxattr(fd, "user.zufs-bench-none") on PATH
 * opened once (no path walk, so FUSE with entry/attr timeout 0 adds no LOOKUP/GETATTR).
 * The name never exists, so every call is one server round trip that carries no payload and
 * fails with ENODATA, on FUSE (GETXATTR) and on zuf (XATTR_GET) alike (fstat is no null op on
 * zuf: zuf.ko serves it from the zus_inode without asking the server).
 * Usage: nullop [-c CPU] PATH SECS; prints one JSON line in load.c's format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
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
	unsigned long long n = 0;
	double secs, t0, t;
	char v[16];
	int opt;

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
	if (argc - optind != 2) {
		fprintf(stderr, "usage: nullop [-c CPU] PATH SECS\n");
		return 2;
	}
	secs = strtod(argv[optind + 1], NULL);
	int fd = open(argv[optind], O_RDONLY);

	if (fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	t0 = t_now();
	do {
		for (int i = 0; i < 16; i++, n++)
			if (fgetxattr(fd, "user.zufs-bench-none", v, sizeof(v)) >= 0 || (errno != ENODATA && errno != EOPNOTSUPP)) {
				fprintf(stderr, "nullop: getxattr %s: %s\n", argv[optind], strerror(errno));
				return 1;
			}
		t = t_now();
	} while (t - t0 < secs);
	t -= t0;
	printf("{\"op\":\"fgetxattr\",\"ops\":%llu,\"bytes\":0,\"secs\":%.6f,\"ops_per_s\":%.1f,"
	       "\"mib_per_s\":0,\"lat_us\":%.3f,\"direct\":false}\n", n, t, n / t, t * 1e6 / n);
	return 0;
}
