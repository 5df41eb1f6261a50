// zuf-probe: the few syscalls the guest suite needs that coreutils does not expose.
//   zuf-probe rename FLAGS OLD NEW     renameat2(2); FLAGS: noreplace | exchange
//   zuf-probe seek FILE data|hole OFF  prints lseek(SEEK_DATA/SEEK_HOLE) result or the errno name
//   zuf-probe getflags FILE            FS_IOC_GETFLAGS: prints the flags or the errno name
//   zuf-probe mmap-read FILE OFF LEN   prints LEN bytes at OFF read through a private mapping
//   zuf-probe mmap-write FILE OFF STR  stores STR at OFF through a shared mapping, msync, munmap
//   zuf-probe mmap-cow FILE OFF STR    stores STR through a private mapping; prints what the
//                                      mapping holds, then what read(2) of the file holds there
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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

int main(int argc, char **argv)
{
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
