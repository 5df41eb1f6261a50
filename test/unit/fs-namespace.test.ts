// PosixFs namespace behaviour over MemoryBackend: creates of every type, nlink rules, unlink and
// rmdir errnos, hard links, symlinks, name limits, and the timestamps POSIX asks to change.
import { describe, expect, test } from 'vitest';
import { errno } from '../../src/fs/errors.js';
import {
  errOf,
  ls,
  mkdir,
  mkfile,
  mkfs,
  noUmask,
  root,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
  user,
} from './fs-helpers.js';

describe('root', () => {
  test('is created on first use as a 0755 root:root directory with nlink 2', async () => {
    const { fs } = mkfs();
    const a = await fs.getattr(1);
    expect(a.mode).toBe(S_IFDIR | 0o755);
    expect([a.uid, a.gid, a.nlink]).toEqual([0, 0, 2]);
  });

  test('two gateways racing on an empty volume agree on one root', async () => {
    const { fs, be } = mkfs();
    const { PosixFs } = await import('../../src/fs/posix-fs.js');
    const other = new PosixFs(be);
    const [a, b] = await Promise.all([fs.getattr(1), other.getattr(1)]);
    expect(a.btimeNs).toBe(b.btimeNs);
    await mkfile(fs, 1, 'x');
    expect((await other.lookup(root, 1, 'x')).mode & 0o170000).toBe(S_IFREG);
  });
});

describe('newInode', () => {
  test('creates each node type with its mode, rdev and nlink', async () => {
    const { fs } = mkfs();
    const f = await fs.newInode(noUmask, 1, 'f', { mode: S_IFREG | 0o640 });
    const fifo = await fs.newInode(noUmask, 1, 'p', { mode: S_IFIFO | 0o600 });
    const sock = await fs.newInode(noUmask, 1, 's', { mode: S_IFSOCK | 0o600 });
    const chr = await fs.newInode(noUmask, 1, 'c', { mode: S_IFCHR | 0o600, rdev: 0x0103 });
    const blk = await fs.newInode(noUmask, 1, 'b', { mode: S_IFBLK | 0o600, rdev: 0x0801 });
    const lnk = await fs.newInode(noUmask, 1, 'l', { mode: S_IFLNK | 0o777, symlink: 'f' });
    expect(f.mode).toBe(S_IFREG | 0o640);
    expect(fifo.mode).toBe(S_IFIFO | 0o600);
    expect(sock.mode).toBe(S_IFSOCK | 0o600);
    expect(chr.rdev).toBe(0x0103);
    expect(blk.rdev).toBe(0x0801);
    expect(lnk.mode).toBe(S_IFLNK | 0o777);
    expect(lnk.size).toBe(1);
    for (const a of [f, fifo, sock, chr, blk, lnk]) expect(a.nlink).toBe(1);
    expect((await fs.lookup(root, 1, 'c')).rdev).toBe(0x0103);
    expect(await ls(fs, 1)).toEqual(['b', 'c', 'f', 'l', 'p', 's']);
  });

  test('a type of 0 means a regular file (mknod)', async () => {
    const { fs } = mkfs();
    const a = await fs.newInode(noUmask, 1, 'f', { mode: 0o600 });
    expect(a.mode).toBe(S_IFREG | 0o600);
  });

  test('applies the caller umask when the parent has no default ACL', async () => {
    const { fs } = mkfs();
    const f = await fs.newInode({ ...user, umask: 0o027 }, 1, 'f', { mode: S_IFREG | 0o666 });
    const d = await fs.newInode({ ...user, umask: 0o077 }, 1, 'd', { mode: S_IFDIR | 0o777 });
    expect(f.mode & 0o7777).toBe(0o640);
    expect(d.mode & 0o7777).toBe(0o700);
    expect([f.uid, f.gid]).toEqual([1000, 1000]);
  });

  test('EEXIST for an existing name of any type, and for . and ..', async () => {
    const { fs } = mkfs();
    await mkfile(fs, 1, 'a');
    await mkdir(fs, 1, 'd');
    expect(await errOf(mkfile(fs, 1, 'a'))).toBe(errno.EEXIST);
    expect(await errOf(mkdir(fs, 1, 'a'))).toBe(errno.EEXIST);
    expect(await errOf(mkfile(fs, 1, 'd'))).toBe(errno.EEXIST);
    expect(await errOf(mkdir(fs, 1, '.'))).toBe(errno.EEXIST);
    expect(await errOf(mkdir(fs, 1, '..'))).toBe(errno.EEXIST);
  });

  test('ENAMETOOLONG above 255 bytes, counted in UTF-8', async () => {
    const { fs } = mkfs();
    await mkfile(fs, 1, 'x'.repeat(255));
    expect(await errOf(mkfile(fs, 1, 'x'.repeat(256)))).toBe(errno.ENAMETOOLONG);
    // 128 two-byte characters are 256 bytes.
    expect(await errOf(mkfile(fs, 1, 'é'.repeat(128)))).toBe(errno.ENAMETOOLONG);
    await mkfile(fs, 1, 'é'.repeat(127));
    expect(await errOf(fs.lookup(root, 1, 'y'.repeat(300)))).toBe(errno.ENAMETOOLONG);
  });

  test('ENOTDIR when the parent is a file, ENOENT when it was removed', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(mkfile(fs, f.ino, 'x'))).toBe(errno.ENOTDIR);
    const d = await mkdir(fs, 1, 'd');
    await fs.removeDentry(root, 1, 'd', true);
    expect(await errOf(mkfile(fs, d.ino, 'x'))).toBe(errno.ENOENT);
  });

  test('setgid directory: entries inherit its gid, subdirectories inherit S_ISGID', async () => {
    const { fs } = mkfs();
    const d = await fs.newInode(root, 1, 'g', { mode: S_IFDIR | 0o2775 });
    await fs.setattr(root, d.ino, { gid: 500, mode: 0o2775 });
    const f = await fs.newInode(user, d.ino, 'f', { mode: S_IFREG | 0o644 });
    const sub = await fs.newInode(user, d.ino, 'sub', { mode: S_IFDIR | 0o755 });
    expect(f.gid).toBe(500);
    expect(f.mode & 0o2000).toBe(0);
    expect(sub.gid).toBe(500);
    expect(sub.mode & 0o2000).toBe(0o2000);
    const plain = await fs.newInode(user, 1, 'p', { mode: S_IFDIR | 0o755 });
    expect(plain.gid).toBe(1000);
    expect(plain.mode & 0o2000).toBe(0);
  });
});

describe('mkdir / rmdir nlink', () => {
  test('a directory has 2 + subdirectories links; the parent counts it', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    expect(d.nlink).toBe(2);
    expect((await fs.getattr(1)).nlink).toBe(3);
    await mkdir(fs, d.ino, 'a');
    await mkdir(fs, d.ino, 'b');
    await mkfile(fs, d.ino, 'f');
    expect((await fs.getattr(d.ino)).nlink).toBe(4);
    await fs.removeDentry(root, d.ino, 'a', true);
    expect((await fs.getattr(d.ino)).nlink).toBe(3);
    await fs.removeDentry(root, d.ino, 'f', false);
    expect((await fs.getattr(d.ino)).nlink).toBe(3);
  });

  test('rmdir: ENOTEMPTY, ENOTDIR, ENOENT; unlink of a directory: EISDIR', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    await mkfile(fs, d.ino, 'f');
    await mkfile(fs, 1, 'file');
    expect(await errOf(fs.removeDentry(root, 1, 'd', true))).toBe(errno.ENOTEMPTY);
    expect(await errOf(fs.removeDentry(root, 1, 'file', true))).toBe(errno.ENOTDIR);
    expect(await errOf(fs.removeDentry(root, 1, 'nope', true))).toBe(errno.ENOENT);
    expect(await errOf(fs.removeDentry(root, 1, 'd', false))).toBe(errno.EISDIR);
    expect(await errOf(fs.removeDentry(root, 1, '.', true))).toBe(errno.EINVAL);
    await fs.removeDentry(root, d.ino, 'f', false);
    await fs.removeDentry(root, 1, 'd', true);
    expect(await errOf(fs.lookup(root, 1, 'd'))).toBe(errno.ENOENT);
    expect((await fs.getattr(1)).nlink).toBe(2);
  });

  test('rmdir of a directory that only ever had subdirectories removed works', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    await mkdir(fs, d.ino, 's');
    await fs.removeDentry(root, d.ino, 's', true);
    await fs.removeDentry(root, 1, 'd', true);
    expect(await ls(fs, 1)).toEqual([]);
  });
});

describe('lookup', () => {
  test('finds entries, . and ..; ENOENT for missing; ENOTDIR on a file', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const f = await mkfile(fs, d.ino, 'f');
    expect((await fs.lookup(root, d.ino, 'f')).ino).toBe(f.ino);
    expect((await fs.lookup(root, d.ino, '.')).ino).toBe(d.ino);
    expect((await fs.lookup(root, d.ino, '..')).ino).toBe(1);
    expect((await fs.lookup(root, 1, '..')).ino).toBe(1);
    expect(await errOf(fs.lookup(root, d.ino, 'g'))).toBe(errno.ENOENT);
    expect(await errOf(fs.lookup(root, f.ino, 'x'))).toBe(errno.ENOTDIR);
  });
});

describe('hard links', () => {
  test('link adds a name, raises nlink and ctime; unlink lowers it', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const f = await mkfile(fs, 1, 'f');
    const a = await fs.addDentry(root, d.ino, 'g', f.ino);
    expect(a.nlink).toBe(2);
    expect(a.ctimeNs > f.ctimeNs).toBe(true);
    expect((await fs.lookup(root, d.ino, 'g')).ino).toBe(f.ino);
    await fs.removeDentry(root, 1, 'f', false);
    const after = await fs.getattr(f.ino);
    expect(after.nlink).toBe(1);
    expect(after.ctimeNs > a.ctimeNs).toBe(true);
  });

  test('EPERM on a directory, EEXIST on a taken name, ENOENT on a missing inode', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.addDentry(root, 1, 'd2', d.ino))).toBe(errno.EPERM);
    expect(await errOf(fs.addDentry(root, 1, 'd', f.ino))).toBe(errno.EEXIST);
    expect(await errOf(fs.addDentry(root, 1, 'z', 99999))).toBe(errno.ENOENT);
    expect(await errOf(fs.addDentry(root, 1, 'n'.repeat(256), f.ino))).toBe(errno.ENAMETOOLONG);
  });
});

describe('symlinks', () => {
  test('readlink returns the target; EINVAL on anything else', async () => {
    const { fs } = mkfs();
    const target = 'a/b/'.repeat(100) + 'ünïcode';
    const l = await fs.newInode(noUmask, 1, 'l', { mode: S_IFLNK | 0o777, symlink: target });
    expect(await fs.readlink(l.ino)).toBe(target);
    expect(l.size).toBe(Buffer.byteLength(target));
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.readlink(f.ino))).toBe(errno.EINVAL);
    expect(await errOf(fs.readlink(1))).toBe(errno.EINVAL);
  });

  test('symlink mode is 0777 whatever the umask; over-long targets are ENAMETOOLONG', async () => {
    const { fs } = mkfs();
    const l = await fs.newInode({ ...user, umask: 0o077 }, 1, 'l', { mode: S_IFLNK | 0o777, symlink: 't' });
    expect(l.mode).toBe(S_IFLNK | 0o777);
    expect(await errOf(fs.newInode(user, 1, 'm', { mode: S_IFLNK, symlink: 'x'.repeat(4096) }))).toBe(errno.ENAMETOOLONG);
    expect(await errOf(fs.newInode(user, 1, 'n', { mode: S_IFLNK, symlink: '' }))).toBe(errno.ENOENT);
  });
});

describe('timestamps', () => {
  test('create, unlink and link update the parent mtime and ctime', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const t0 = await fs.getattr(d.ino);
    await mkfile(fs, d.ino, 'f');
    const t1 = await fs.getattr(d.ino);
    expect(t1.mtimeNs > t0.mtimeNs).toBe(true);
    expect(t1.ctimeNs > t0.ctimeNs).toBe(true);
    await fs.removeDentry(root, d.ino, 'f', false);
    const t2 = await fs.getattr(d.ino);
    expect(t2.mtimeNs > t1.mtimeNs).toBe(true);
    const g = await mkfile(fs, 1, 'g');
    await fs.addDentry(root, d.ino, 'g2', g.ino);
    const t3 = await fs.getattr(d.ino);
    expect(t3.mtimeNs > t2.mtimeNs).toBe(true);
  });

  test('a new inode has atime = mtime = ctime = btime close to now', async () => {
    const { fs } = mkfs();
    const before = BigInt(Date.now() - 1000) * 1_000_000n;
    const f = await mkfile(fs, 1, 'f');
    expect(f.atimeNs).toBe(f.mtimeNs);
    expect(f.ctimeNs).toBe(f.btimeNs);
    expect(f.mtimeNs).toBe(f.ctimeNs);
    expect(f.mtimeNs > before).toBe(true);
    expect(f.mtimeNs < BigInt(Date.now() + 1000) * 1_000_000n).toBe(true);
  });
});

describe('statfs', () => {
  test('reports bsize 4096, namelen 255, and counts used inodes and bytes', async () => {
    const { fs } = mkfs();
    const s0 = await fs.statfs();
    expect(s0.bsize).toBe(4096);
    expect(s0.namelen).toBe(255);
    expect(s0.blocks).toBeGreaterThan(2 ** 30);
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    await fs.write(f.ino, fh, 0, Buffer.alloc(1 << 20, 1));
    const s1 = await fs.statfs();
    expect(s1.ffree).toBe(s0.ffree - 1);
    expect(s0.bfree - s1.bfree).toBe(256);
  });
});
