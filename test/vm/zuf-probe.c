// zuf-probe: the few syscalls the guest suite needs that coreutils does not expose.
//   zuf-probe rename FLAGS OLD NEW     renameat2(2); FLAGS: noreplace | exchange
//   zuf-probe seek FILE data|hole OFF  prints lseek(SEEK_DATA/SEEK_HOLE) result or the errno name
//   zuf-probe getflags FILE            FS_IOC_GETFLAGS: prints the flags or the errno name
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
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
