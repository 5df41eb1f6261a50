// The few syscall details the zuf transport needs beyond src/zus/sys/libc.ts: opening a special
// file of the zuf root (O_TMPFILE) and the ioctl wrapper that turns -1 into an FsError.
import { FsError } from '../../fs/errors.js';
import { close, errno, ioctl, open, strerror, O_CLOEXEC, O_RDWR } from '../sys/libc.js';

/** O_TMPFILE = __O_TMPFILE | O_DIRECTORY on x86_64/arm64. */
export const O_TMPFILE = 0o20200000;

/** A fresh special file: it takes a role with its first ioctl and gives it back on close. */
export function openSpecial(root: string): number {
  const fd = open(root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0o600);
  if (fd < 0) {
    const no = errno();
    throw new FsError(no, `open(${root}, O_TMPFILE): ${strerror(no)}`);
  }
  return fd;
}

/** ioctl that throws FsError(errno) on failure. */
export function zufIoctl(fd: number, req: number, arg: Buffer | Uint8Array | null, what: string): void {
  if (ioctl(fd, req, arg) < 0) {
    const no = errno();
    throw new FsError(no, `${what}: ${strerror(no)}`);
  }
}

export function closeQuiet(fd: number): void {
  if (fd >= 0) close(fd);
}
