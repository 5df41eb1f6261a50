// The TypeScript FUSE layout (src/zus/fuse/abi.ts) against the kernel's own header: a tiny C program
// compiled against <linux/fuse.h> prints every size, offset and constant the transport relies on.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as A from '../../src/zus/fuse/abi.js';

const haveCc = spawnSync('cc', ['--version']).status === 0 && existsSync('/usr/include/linux/fuse.h');

const C_PROGRAM = `
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/fuse.h>
#define S(t) printf(#t " %zu\\n", sizeof(struct t));
#define O(t, f) printf(#t "." #f " %zu\\n", offsetof(struct t, f));
#define K(c) printf(#c " %lld\\n", (long long)(c));
int main(void) {
  S(fuse_in_header) S(fuse_out_header) S(fuse_attr) S(fuse_entry_out) S(fuse_attr_out) S(fuse_open_out)
  S(fuse_init_out) S(fuse_setattr_in) S(fuse_mknod_in) S(fuse_mkdir_in) S(fuse_rename_in) S(fuse_rename2_in)
  S(fuse_link_in) S(fuse_open_in) S(fuse_create_in) S(fuse_release_in) S(fuse_flush_in) S(fuse_read_in)
  S(fuse_write_in) S(fuse_write_out) S(fuse_statfs_out) S(fuse_fsync_in) S(fuse_setxattr_in) S(fuse_getxattr_in)
  S(fuse_getxattr_out) S(fuse_access_in) S(fuse_interrupt_in) S(fuse_ioctl_in) S(fuse_ioctl_out)
  S(fuse_fallocate_in) S(fuse_lseek_in) S(fuse_lseek_out) S(fuse_forget_in) S(fuse_forget_one)
  S(fuse_batch_forget_in) S(fuse_getattr_in)
  O(fuse_in_header, opcode) O(fuse_in_header, unique) O(fuse_in_header, nodeid) O(fuse_in_header, uid)
  O(fuse_in_header, gid) O(fuse_in_header, pid) O(fuse_in_header, total_extlen)
  O(fuse_out_header, error) O(fuse_out_header, unique)
  O(fuse_attr, ino) O(fuse_attr, size) O(fuse_attr, blocks) O(fuse_attr, atime) O(fuse_attr, mtime) O(fuse_attr, ctime)
  O(fuse_attr, atimensec) O(fuse_attr, mtimensec) O(fuse_attr, ctimensec) O(fuse_attr, mode) O(fuse_attr, nlink)
  O(fuse_attr, uid) O(fuse_attr, gid) O(fuse_attr, rdev) O(fuse_attr, blksize) O(fuse_attr, flags)
  O(fuse_entry_out, nodeid) O(fuse_entry_out, generation) O(fuse_entry_out, entry_valid) O(fuse_entry_out, attr_valid)
  O(fuse_entry_out, entry_valid_nsec) O(fuse_entry_out, attr_valid_nsec) O(fuse_entry_out, attr)
  O(fuse_attr_out, attr_valid) O(fuse_attr_out, attr_valid_nsec) O(fuse_attr_out, attr)
  O(fuse_init_in, major) O(fuse_init_in, minor) O(fuse_init_in, max_readahead) O(fuse_init_in, flags) O(fuse_init_in, flags2)
  O(fuse_init_out, max_readahead) O(fuse_init_out, flags) O(fuse_init_out, max_background) O(fuse_init_out, congestion_threshold)
  O(fuse_init_out, max_write) O(fuse_init_out, time_gran) O(fuse_init_out, max_pages) O(fuse_init_out, map_alignment) O(fuse_init_out, flags2)
  O(fuse_setattr_in, valid) O(fuse_setattr_in, fh) O(fuse_setattr_in, size) O(fuse_setattr_in, lock_owner) O(fuse_setattr_in, atime)
  O(fuse_setattr_in, mtime) O(fuse_setattr_in, ctime) O(fuse_setattr_in, atimensec) O(fuse_setattr_in, mtimensec)
  O(fuse_setattr_in, ctimensec) O(fuse_setattr_in, mode) O(fuse_setattr_in, uid) O(fuse_setattr_in, gid)
  O(fuse_read_in, offset) O(fuse_read_in, size) O(fuse_write_in, offset) O(fuse_write_in, size)
  O(fuse_ioctl_in, flags) O(fuse_ioctl_in, cmd) O(fuse_ioctl_in, in_size) O(fuse_ioctl_in, out_size)
  O(fuse_fallocate_in, offset) O(fuse_fallocate_in, length) O(fuse_fallocate_in, mode) O(fuse_lseek_in, whence)
  O(fuse_rename2_in, flags) O(fuse_mknod_in, umask) O(fuse_create_in, umask) O(fuse_fsync_in, fsync_flags)
  O(fuse_dirent, name) O(fuse_direntplus, dirent)
  printf("HDR_MINOR %d\\n", FUSE_KERNEL_MINOR_VERSION);
  K(FUSE_KERNEL_VERSION) K(FUSE_DEV_IOC_CLONE) K(FUSE_MIN_READ_BUFFER) K(FUSE_ROOT_ID)
  K(FUSE_LOOKUP) K(FUSE_FORGET) K(FUSE_GETATTR) K(FUSE_SETATTR) K(FUSE_READLINK) K(FUSE_SYMLINK) K(FUSE_MKNOD)
  K(FUSE_MKDIR) K(FUSE_UNLINK) K(FUSE_RMDIR) K(FUSE_RENAME) K(FUSE_LINK) K(FUSE_OPEN) K(FUSE_READ) K(FUSE_WRITE)
  K(FUSE_STATFS) K(FUSE_RELEASE) K(FUSE_FSYNC) K(FUSE_SETXATTR) K(FUSE_GETXATTR) K(FUSE_LISTXATTR) K(FUSE_REMOVEXATTR)
  K(FUSE_FLUSH) K(FUSE_INIT) K(FUSE_OPENDIR) K(FUSE_READDIR) K(FUSE_RELEASEDIR) K(FUSE_FSYNCDIR) K(FUSE_ACCESS)
  K(FUSE_CREATE) K(FUSE_INTERRUPT) K(FUSE_DESTROY) K(FUSE_IOCTL) K(FUSE_NOTIFY_REPLY) K(FUSE_BATCH_FORGET)
  K(FUSE_FALLOCATE) K(FUSE_READDIRPLUS) K(FUSE_RENAME2) K(FUSE_LSEEK) K(FUSE_COPY_FILE_RANGE) K(FUSE_SYNCFS) K(FUSE_TMPFILE)
  K(FUSE_ASYNC_READ) K(FUSE_POSIX_LOCKS) K(FUSE_ATOMIC_O_TRUNC) K(FUSE_EXPORT_SUPPORT) K(FUSE_BIG_WRITES) K(FUSE_DONT_MASK)
  K(FUSE_FLOCK_LOCKS) K(FUSE_HAS_IOCTL_DIR) K(FUSE_AUTO_INVAL_DATA) K(FUSE_DO_READDIRPLUS) K(FUSE_READDIRPLUS_AUTO)
  K(FUSE_WRITEBACK_CACHE) K(FUSE_PARALLEL_DIROPS) K(FUSE_HANDLE_KILLPRIV) K(FUSE_POSIX_ACL) K(FUSE_MAX_PAGES)
  K(FUSE_CACHE_SYMLINKS) K(FUSE_SETXATTR_EXT) K(FUSE_INIT_EXT)
  K(FATTR_MODE) K(FATTR_UID) K(FATTR_GID) K(FATTR_SIZE) K(FATTR_ATIME) K(FATTR_MTIME) K(FATTR_FH) K(FATTR_ATIME_NOW)
  K(FATTR_MTIME_NOW) K(FATTR_LOCKOWNER) K(FATTR_CTIME) K(FUSE_FSYNC_FDATASYNC) K(FUSE_IOCTL_UNRESTRICTED)
  return 0;
}
`;

function kernelLayout(): Map<string, number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zufs-fuse-abi-'));
  writeFileSync(path.join(dir, 'abi.c'), C_PROGRAM);
  execFileSync('cc', ['-o', path.join(dir, 'abi'), path.join(dir, 'abi.c')]);
  const out = execFileSync(path.join(dir, 'abi'), { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  return new Map(out.trim().split('\n').map((l) => {
    const [k, v] = l.split(' ');
    return [k!, Number(v)];
  }));
}

describe.skipIf(!haveCc)('FUSE ABI mirror vs <linux/fuse.h>', () => {
  const k = haveCc ? kernelLayout() : new Map<string, number>();
  const at = (key: string): number => {
    const v = k.get(key);
    if (v === undefined) throw new Error(`C program did not print ${key}`);
    return v;
  };

  it('struct sizes', () => {
    expect([A.IN_HEADER_SIZE, A.OUT_HEADER_SIZE, A.FUSE_ATTR_SIZE, A.ENTRY_OUT_SIZE, A.ATTR_OUT_SIZE, A.OPEN_OUT_SIZE, A.INIT_OUT_SIZE]).toEqual(
      ['fuse_in_header', 'fuse_out_header', 'fuse_attr', 'fuse_entry_out', 'fuse_attr_out', 'fuse_open_out', 'fuse_init_out'].map(at));
    const bodies: [number, string][] = [
      [A.SETATTR_IN_SIZE, 'fuse_setattr_in'], [A.MKNOD_IN_SIZE, 'fuse_mknod_in'], [A.MKDIR_IN_SIZE, 'fuse_mkdir_in'],
      [A.RENAME_IN_SIZE, 'fuse_rename_in'], [A.RENAME2_IN_SIZE, 'fuse_rename2_in'], [A.LINK_IN_SIZE, 'fuse_link_in'],
      [A.OPEN_IN_SIZE, 'fuse_open_in'], [A.CREATE_IN_SIZE, 'fuse_create_in'], [A.RELEASE_IN_SIZE, 'fuse_release_in'],
      [A.FLUSH_IN_SIZE, 'fuse_flush_in'], [A.READ_IN_SIZE, 'fuse_read_in'], [A.WRITE_IN_SIZE, 'fuse_write_in'],
      [A.WRITE_OUT_SIZE, 'fuse_write_out'], [A.STATFS_OUT_SIZE, 'fuse_statfs_out'], [A.FSYNC_IN_SIZE, 'fuse_fsync_in'],
      [A.SETXATTR_IN_SIZE, 'fuse_setxattr_in'], [A.GETXATTR_IN_SIZE, 'fuse_getxattr_in'], [A.GETXATTR_OUT_SIZE, 'fuse_getxattr_out'],
      [A.ACCESS_IN_SIZE, 'fuse_access_in'], [A.INTERRUPT_IN_SIZE, 'fuse_interrupt_in'], [A.IOCTL_IN_SIZE, 'fuse_ioctl_in'],
      [A.IOCTL_OUT_SIZE, 'fuse_ioctl_out'], [A.FALLOCATE_IN_SIZE, 'fuse_fallocate_in'], [A.LSEEK_IN_SIZE, 'fuse_lseek_in'],
      [A.LSEEK_OUT_SIZE, 'fuse_lseek_out'], [A.FORGET_IN_SIZE, 'fuse_forget_in'], [A.FORGET_ONE_SIZE, 'fuse_forget_one'],
      [A.BATCH_FORGET_IN_SIZE, 'fuse_batch_forget_in'], [A.GETATTR_IN_SIZE, 'fuse_getattr_in'],
    ];
    for (const [ts, c] of bodies) expect({ [c]: ts }).toEqual({ [c]: at(c) });
  });

  it('field offsets', () => {
    const fields: [number, string][] = [
      [A.IN_OPCODE, 'fuse_in_header.opcode'], [A.IN_UNIQUE, 'fuse_in_header.unique'], [A.IN_NODEID, 'fuse_in_header.nodeid'],
      [A.IN_UID, 'fuse_in_header.uid'], [A.IN_GID, 'fuse_in_header.gid'], [A.IN_PID, 'fuse_in_header.pid'],
      [A.IN_TOTAL_EXTLEN, 'fuse_in_header.total_extlen'], [A.OUT_ERROR, 'fuse_out_header.error'], [A.OUT_UNIQUE, 'fuse_out_header.unique'],
      [A.ATTR_INO, 'fuse_attr.ino'], [A.ATTR_SIZE, 'fuse_attr.size'], [A.ATTR_BLOCKS, 'fuse_attr.blocks'], [A.ATTR_ATIME, 'fuse_attr.atime'],
      [A.ATTR_MTIME, 'fuse_attr.mtime'], [A.ATTR_CTIME, 'fuse_attr.ctime'], [A.ATTR_ATIMENSEC, 'fuse_attr.atimensec'],
      [A.ATTR_MTIMENSEC, 'fuse_attr.mtimensec'], [A.ATTR_CTIMENSEC, 'fuse_attr.ctimensec'], [A.ATTR_MODE, 'fuse_attr.mode'],
      [A.ATTR_NLINK, 'fuse_attr.nlink'], [A.ATTR_UID, 'fuse_attr.uid'], [A.ATTR_GID, 'fuse_attr.gid'], [A.ATTR_RDEV, 'fuse_attr.rdev'],
      [A.ATTR_BLKSIZE, 'fuse_attr.blksize'], [A.ATTR_FLAGS, 'fuse_attr.flags'],
      [A.ENTRY_NODEID, 'fuse_entry_out.nodeid'], [A.ENTRY_GENERATION, 'fuse_entry_out.generation'], [A.ENTRY_VALID, 'fuse_entry_out.entry_valid'],
      [A.ENTRY_ATTR_VALID, 'fuse_entry_out.attr_valid'], [A.ENTRY_VALID_NSEC, 'fuse_entry_out.entry_valid_nsec'],
      [A.ENTRY_ATTR_VALID_NSEC, 'fuse_entry_out.attr_valid_nsec'], [A.ENTRY_ATTR, 'fuse_entry_out.attr'],
      [A.ATTR_OUT_VALID, 'fuse_attr_out.attr_valid'], [A.ATTR_OUT_VALID_NSEC, 'fuse_attr_out.attr_valid_nsec'], [A.ATTR_OUT_ATTR, 'fuse_attr_out.attr'],
      [A.INIT_IN_MAJOR, 'fuse_init_in.major'], [A.INIT_IN_MINOR, 'fuse_init_in.minor'], [A.INIT_IN_MAX_READAHEAD, 'fuse_init_in.max_readahead'],
      [A.INIT_IN_FLAGS, 'fuse_init_in.flags'], [A.INIT_IN_FLAGS2, 'fuse_init_in.flags2'],
      [A.INIT_OUT_MAX_READAHEAD, 'fuse_init_out.max_readahead'], [A.INIT_OUT_FLAGS, 'fuse_init_out.flags'],
      [A.INIT_OUT_MAX_BACKGROUND, 'fuse_init_out.max_background'], [A.INIT_OUT_CONGESTION_THRESHOLD, 'fuse_init_out.congestion_threshold'],
      [A.INIT_OUT_MAX_WRITE, 'fuse_init_out.max_write'], [A.INIT_OUT_TIME_GRAN, 'fuse_init_out.time_gran'],
      [A.INIT_OUT_MAX_PAGES, 'fuse_init_out.max_pages'], [A.INIT_OUT_MAP_ALIGNMENT, 'fuse_init_out.map_alignment'], [A.INIT_OUT_FLAGS2, 'fuse_init_out.flags2'],
      [A.SETATTR_VALID, 'fuse_setattr_in.valid'], [A.SETATTR_FH, 'fuse_setattr_in.fh'], [A.SETATTR_SIZE, 'fuse_setattr_in.size'],
      [A.SETATTR_LOCK_OWNER, 'fuse_setattr_in.lock_owner'], [A.SETATTR_ATIME, 'fuse_setattr_in.atime'], [A.SETATTR_MTIME, 'fuse_setattr_in.mtime'],
      [A.SETATTR_CTIME, 'fuse_setattr_in.ctime'], [A.SETATTR_ATIMENSEC, 'fuse_setattr_in.atimensec'], [A.SETATTR_MTIMENSEC, 'fuse_setattr_in.mtimensec'],
      [A.SETATTR_CTIMENSEC, 'fuse_setattr_in.ctimensec'], [A.SETATTR_MODE, 'fuse_setattr_in.mode'], [A.SETATTR_UID, 'fuse_setattr_in.uid'],
      [A.SETATTR_GID, 'fuse_setattr_in.gid'],
      [8, 'fuse_read_in.offset'], [16, 'fuse_read_in.size'], [8, 'fuse_write_in.offset'], [16, 'fuse_write_in.size'],
      [8, 'fuse_ioctl_in.flags'], [12, 'fuse_ioctl_in.cmd'], [24, 'fuse_ioctl_in.in_size'], [28, 'fuse_ioctl_in.out_size'],
      [8, 'fuse_fallocate_in.offset'], [16, 'fuse_fallocate_in.length'], [24, 'fuse_fallocate_in.mode'], [16, 'fuse_lseek_in.whence'],
      [8, 'fuse_rename2_in.flags'], [8, 'fuse_mknod_in.umask'], [8, 'fuse_create_in.umask'], [8, 'fuse_fsync_in.fsync_flags'],
      [A.DIRENT_NAME_OFFSET, 'fuse_dirent.name'], [A.ENTRY_OUT_SIZE, 'fuse_direntplus.dirent'],
    ];
    for (const [ts, c] of fields) expect({ [c]: ts }).toEqual({ [c]: at(c) });
  });

  it('op codes, INIT flags, FATTR bits and the clone ioctl', () => {
    const names = [...k.keys()].filter((n) => /^(FUSE_|FATTR_)/.test(n));
    expect(names.length).toBeGreaterThan(70);
    for (const n of names) expect({ [n]: (A as Record<string, unknown>)[n] }).toEqual({ [n]: at(n) });
    // Every layout we speak must exist in the header we check against.
    expect(A.FUSE_KERNEL_MINOR_VERSION).toBeLessThanOrEqual(at('HDR_MINOR'));
  });
});
