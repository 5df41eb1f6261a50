// The libc calls zusd makes directly (koffi): file descriptors, ioctl, mount, affinity, mmap.
// Every variadic C function is declared with a fixed prototype: cheaper per call, and `.async`
// only exists for fixed prototypes. Pointers are bigint (koffi 3); errno is read right after the call.
import koffi from 'koffi';
import { fsError } from '../../fs/errors.js';

const libc = koffi.load('libc.so.6');

type Ptr = Buffer | ArrayBufferView | ArrayBuffer | bigint | null;

export const open = libc.func('int open(const char *path, int flags, uint32_t mode)') as
  (path: string, flags: number, mode: number) => number;
export const close = libc.func('int close(int fd)') as (fd: number) => number;
/** Blocks the calling thread: use only on worker threads or on non-blocking fds. */
export const read = libc.func('intptr_t read(int fd, void *buf, size_t count)') as
  (fd: number, buf: Ptr, count: number) => number;
export const write = libc.func('intptr_t write(int fd, const void *buf, size_t count)') as
  (fd: number, buf: Ptr, count: number) => number;
// Registers the type name used in the writev prototype below.
koffi.struct('iovec', { iov_base: 'void *', iov_len: 'size_t' });
export interface IoVec {
  iov_base: Buffer | ArrayBufferView;
  iov_len: number;
}
/** writev(2); each call marshals the iovec array (~1 µs), so it pays off only for large buffers. */
export const writev = libc.func('intptr_t writev(int fd, const iovec *iov, int iovcnt)') as
  (fd: number, iov: IoVec[], iovcnt: number) => number;
/** ioctl(2) with a pointer argument (fixed prototype; ABI-compatible with the variadic one on x86_64/arm64). */
export const ioctl = libc.func('int ioctl(int fd, unsigned long request, void *arg)') as
  (fd: number, request: number, arg: Ptr) => number;
/** pipe(2): fills fds[0] (read end) and fds[1] (write end). */
export const pipe = libc.func('int pipe(_Out_ int *fds)') as (fds: Int32Array) => number;
export const mount = libc.func(
  'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
) as (source: string, target: string, fstype: string, flags: number, data: string | null) => number;
export const umount2 = libc.func('int umount2(const char *target, int flags)') as
  (target: string, flags: number) => number;
export const sched_setaffinity = libc.func('int sched_setaffinity(int pid, size_t cpusetsize, const void *mask)') as
  (pid: number, size: number, mask: Ptr) => number;
export const sched_getaffinity = libc.func('int sched_getaffinity(int pid, size_t cpusetsize, void *mask)') as
  (pid: number, size: number, mask: Ptr) => number;
export const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as
  (addr: Ptr, length: number, prot: number, flags: number, fd: number, offset: number) => unknown;
export const munmap = libc.func('int munmap(void *addr, size_t length)') as (addr: unknown, length: number) => number;
export const memfd_create = libc.func('int memfd_create(const char *name, unsigned int flags)') as
  (name: string, flags: number) => number;
export const ftruncate = libc.func('int ftruncate(int fd, int64_t length)') as (fd: number, length: number) => number;
const prctlName = libc.func('int prctl(int option, const char *name, unsigned long a3, unsigned long a4, unsigned long a5)') as
  (option: number, name: string, a3: number, a4: number, a5: number) => number;
/** Names the calling thread (PR_SET_NAME, at most 15 bytes) as ps/top/perf show it. */
export function setThreadName(name: string): number {
  return prctlName(15, name.slice(0, 15), 0, 0, 0);
}
export const gettid = libc.func('int gettid()') as () => number;
const strerrorFn = libc.func('const char *strerror(int errnum)') as (no: number) => string;

export function errno(): number {
  return koffi.errno();
}

export function strerror(no: number): string {
  return strerrorFn(no);
}

/** Throws an FsError carrying errno when a libc call returned a negative value. */
export function check<T extends number | bigint>(r: T, what: string): T {
  if (Number(r) < 0) {
    const no = koffi.errno();
    throw fsError(no, `${what}: ${strerrorFn(no)}`);
  }
  return r;
}

/** mmap that throws on MAP_FAILED; returns koffi's pointer value (use koffi.view to access it). */
export function mmapChecked(length: number, prot: number, flags: number, fd: number, offset = 0): unknown {
  const p = mmap(null, length, prot, flags, fd, offset);
  if (p === null || koffi.address(p) === 0xffffffffffffffffn) {
    const no = koffi.errno();
    throw fsError(no, `mmap: ${strerrorFn(no)}`);
  }
  return p;
}

export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;

export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
export const MFD_CLOEXEC = 1;

/** _IOC encoding (asm-generic: x86_64, arm64). */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;
export const _IO = (type: number, nr: number): number => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number): number => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number): number => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number): number => _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
