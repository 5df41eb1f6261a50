// The bytes of one 4 KiB block of a t1 device file, read through the file (as zuf.ko would see
// them through its DAX mapping): for the NIO tests that check which block a GET_MULTY named.
import { closeSync, openSync, readSync } from 'node:fs';

export const T1_PAGE = 4096;

export function t1Block(t1Path: string, bn: number, len = T1_PAGE): Buffer {
  const fd = openSync(t1Path, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, bn * T1_PAGE);
    return b;
  } finally {
    closeSync(fd);
  }
}
