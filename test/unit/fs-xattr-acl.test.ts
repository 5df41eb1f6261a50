// Extended attributes and POSIX ACLs through PosixFs: namespaces, flags, limits, the Linux ACL
// xattr format, the mode interplay (update_mode, chmod, equivalence) and inheritance on create.
import { describe, expect, test } from 'vitest';
import {
  ACL_GROUP,
  ACL_GROUP_OBJ,
  ACL_MASK,
  ACL_OTHER,
  ACL_USER,
  ACL_USER_OBJ,
  type Acl,
  decodeAcl,
  encodeAcl,
} from '../../src/fs/acl.js';
import { errno } from '../../src/fs/errors.js';
import { XATTR_CREATE, XATTR_REPLACE } from '../../src/fs/operations.js';
import { errOf, mkdir, mkfile, mkfs, noUmask, root, S_IFDIR, S_IFLNK, S_IFREG, user } from './fs-helpers.js';

const ACCESS = 'system.posix_acl_access';
const DEFAULT = 'system.posix_acl_default';

const obj = (u: number, g: number, o: number): Acl => [
  { tag: ACL_USER_OBJ, perm: u, id: 0xffffffff },
  { tag: ACL_GROUP_OBJ, perm: g, id: 0xffffffff },
  { tag: ACL_OTHER, perm: o, id: 0xffffffff },
];

/** user_obj, user:uid, group_obj, mask, other */
const withUser = (u: number, uid: number, up: number, g: number, m: number, o: number): Acl => [
  { tag: ACL_USER_OBJ, perm: u, id: 0xffffffff },
  { tag: ACL_USER, perm: up, id: uid },
  { tag: ACL_GROUP_OBJ, perm: g, id: 0xffffffff },
  { tag: ACL_MASK, perm: m, id: 0xffffffff },
  { tag: ACL_OTHER, perm: o, id: 0xffffffff },
];

describe('xattrs', () => {
  test('set, get, list and remove in the user, trusted and security namespaces', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await fs.setxattr(root, f.ino, 'user.a', Buffer.from('1'), 0);
    await fs.setxattr(root, f.ino, 'trusted.b', Buffer.from('22'), 0);
    await fs.setxattr(root, f.ino, 'security.c', Buffer.alloc(0), 0);
    expect((await fs.getxattr(root, f.ino, 'user.a')).toString()).toBe('1');
    expect((await fs.getxattr(root, f.ino, 'security.c')).length).toBe(0);
    expect((await fs.listxattr(root, f.ino)).sort()).toEqual(['security.c', 'trusted.b', 'user.a']);
    await fs.removexattr(root, f.ino, 'trusted.b');
    expect(await errOf(fs.getxattr(root, f.ino, 'trusted.b'))).toBe(errno.ENODATA);
    expect((await fs.listxattr(root, f.ino)).sort()).toEqual(['security.c', 'user.a']);
  });

  test('XATTR_CREATE fails with EEXIST, XATTR_REPLACE with ENODATA; remove of missing is ENODATA', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.setxattr(root, f.ino, 'user.x', Buffer.from('v'), XATTR_REPLACE))).toBe(errno.ENODATA);
    await fs.setxattr(root, f.ino, 'user.x', Buffer.from('v1'), XATTR_CREATE);
    expect(await errOf(fs.setxattr(root, f.ino, 'user.x', Buffer.from('v2'), XATTR_CREATE))).toBe(errno.EEXIST);
    await fs.setxattr(root, f.ino, 'user.x', Buffer.from('v3'), XATTR_REPLACE);
    expect((await fs.getxattr(root, f.ino, 'user.x')).toString()).toBe('v3');
    expect(await errOf(fs.removexattr(root, f.ino, 'user.nope'))).toBe(errno.ENODATA);
    expect(await errOf(fs.getxattr(root, f.ino, 'user.nope'))).toBe(errno.ENODATA);
    expect(await errOf(fs.setxattr(root, f.ino, 'user.x', Buffer.from('v'), 4))).toBe(errno.EINVAL);
  });

  test('limits: value up to 64 KiB (E2BIG above), name 1..255 bytes (ERANGE otherwise)', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await fs.setxattr(root, f.ino, 'user.big', Buffer.alloc(65536, 7), 0);
    expect((await fs.getxattr(root, f.ino, 'user.big')).length).toBe(65536);
    expect(await errOf(fs.setxattr(root, f.ino, 'user.big', Buffer.alloc(65537), 0))).toBe(errno.E2BIG);
    const long = 'user.' + 'n'.repeat(250);
    await fs.setxattr(root, f.ino, long, Buffer.from('ok'), 0);
    expect(await errOf(fs.setxattr(root, f.ino, long + 'n', Buffer.from('x'), 0))).toBe(errno.ERANGE);
    expect(await errOf(fs.setxattr(root, f.ino, '', Buffer.from('x'), 0))).toBe(errno.ERANGE);
  });

  test('unknown namespaces are EOPNOTSUPP; an empty suffix is EINVAL', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.setxattr(root, f.ino, 'foo.bar', Buffer.from('x'), 0))).toBe(errno.EOPNOTSUPP);
    expect(await errOf(fs.setxattr(root, f.ino, 'system.other', Buffer.from('x'), 0))).toBe(errno.EOPNOTSUPP);
    expect(await errOf(fs.getxattr(root, f.ino, 'bogus'))).toBe(errno.EOPNOTSUPP);
    expect(await errOf(fs.setxattr(root, f.ino, 'user.', Buffer.from('x'), 0))).toBe(errno.EINVAL);
  });

  test('setting and removing an xattr updates ctime only', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await fs.setxattr(root, f.ino, 'user.t', Buffer.from('x'), 0);
    const a = await fs.getattr(f.ino);
    expect(a.ctimeNs > f.ctimeNs).toBe(true);
    expect(a.mtimeNs).toBe(f.mtimeNs);
    await fs.removexattr(root, f.ino, 'user.t');
    expect((await fs.getattr(f.ino)).ctimeNs > a.ctimeNs).toBe(true);
  });

  test('xattrs go away with the inode', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await fs.setxattr(root, f.ino, 'user.t', Buffer.from('x'), 0);
    await fs.removeDentry(root, 1, 'f', false);
    await fs.evict(f.ino);
    expect(await be.meta.listXattrs(f.ino)).toEqual([]);
  });
});

describe('ACL xattr codec', () => {
  test('round-trips the Linux binary format (version 2, tag/perm/id little-endian)', () => {
    const acl = withUser(7, 1000, 6, 5, 7, 0);
    const buf = encodeAcl(acl);
    expect(buf.length).toBe(4 + 5 * 8);
    expect(buf.readUInt32LE(0)).toBe(2);
    expect(buf.readUInt16LE(4 + 8)).toBe(ACL_USER);
    expect(buf.readUInt32LE(4 + 8 + 4)).toBe(1000);
    expect(decodeAcl(buf)).toEqual(acl);
    expect(decodeAcl(Buffer.from([2, 0, 0, 0]))).toBeNull();
  });

  test('rejects malformed or invalid ACLs', () => {
    const code = (f: () => unknown): number => {
      try {
        f();
        return 0;
      } catch (e) {
        return (e as { errno: number }).errno;
      }
    };
    const v1 = encodeAcl(obj(7, 5, 5));
    v1.writeUInt32LE(1, 0);
    expect(code(() => decodeAcl(v1))).toBe(errno.EOPNOTSUPP);
    expect(code(() => decodeAcl(Buffer.alloc(2)))).toBe(errno.EINVAL);
    expect(code(() => decodeAcl(Buffer.concat([encodeAcl(obj(7, 5, 5)), Buffer.alloc(3)])))).toBe(errno.EINVAL);
    // Named user without a mask.
    const noMask = withUser(7, 1000, 6, 5, 7, 0).filter((e) => e.tag !== ACL_MASK);
    expect(code(() => decodeAcl(encodeAcl(noMask)))).toBe(errno.EINVAL);
    // Out of order, and perm outside rwx.
    expect(code(() => decodeAcl(encodeAcl([...obj(7, 5, 5)].reverse())))).toBe(errno.EINVAL);
    const bad = obj(7, 5, 5);
    bad[0]!.perm = 8;
    expect(code(() => decodeAcl(encodeAcl(bad)))).toBe(errno.EINVAL);
    // Duplicate named group.
    const dup: Acl = [
      { tag: ACL_USER_OBJ, perm: 7, id: 0 },
      { tag: ACL_GROUP_OBJ, perm: 5, id: 0 },
      { tag: ACL_GROUP, perm: 5, id: 10 },
      { tag: ACL_GROUP, perm: 4, id: 10 },
      { tag: ACL_MASK, perm: 7, id: 0 },
      { tag: ACL_OTHER, perm: 0, id: 0 },
    ];
    expect(code(() => decodeAcl(encodeAcl(dup)))).toBe(errno.EINVAL);
  });
});

describe('access ACLs and the mode', () => {
  test('an ACL equivalent to a mode only changes the mode and is not stored', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f', 0o644);
    await fs.setxattr(root, f.ino, ACCESS, encodeAcl(obj(6, 4, 0)), 0);
    expect((await fs.getattr(f.ino)).mode).toBe(S_IFREG | 0o640);
    expect(await errOf(fs.getxattr(root, f.ino, ACCESS))).toBe(errno.ENODATA);
    expect(await fs.listxattr(root, f.ino)).toEqual([]);
  });

  test('an extended ACL is stored; the group bits of the mode show the mask', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f', 0o644);
    const acl = withUser(7, 1000, 6, 4, 6, 1);
    await fs.setxattr(root, f.ino, ACCESS, encodeAcl(acl), 0);
    expect((await fs.getattr(f.ino)).mode).toBe(S_IFREG | 0o761);
    expect(decodeAcl(await fs.getxattr(root, f.ino, ACCESS))).toEqual(acl);
    expect(await fs.listxattr(root, f.ino)).toEqual([ACCESS]);
  });

  test('chmod rewrites user_obj, mask and other of the stored ACL, keeping named entries', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f', 0o644);
    await fs.setxattr(root, f.ino, ACCESS, encodeAcl(withUser(7, 1000, 7, 7, 7, 0)), 0);
    await fs.setattr(root, f.ino, { mode: 0o640 });
    expect(decodeAcl(await fs.getxattr(root, f.ino, ACCESS))).toEqual(withUser(6, 1000, 7, 7, 4, 0));
    expect((await fs.getattr(f.ino)).mode).toBe(S_IFREG | 0o640);
  });

  test('setting an ACL drops setgid when the caller is not in the group', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f', 0o2770);
    await fs.setattr(root, f.ino, { uid: 1000, gid: 500, mode: 0o2770 });
    await fs.setxattr(user, f.ino, ACCESS, encodeAcl(obj(7, 7, 0)), 0);
    expect((await fs.getattr(f.ino)).mode & 0o7777).toBe(0o770);
    const g = await mkfile(fs, 1, 'g', 0o2770);
    await fs.setattr(root, g.ino, { uid: 1000, gid: 1000, mode: 0o2770 });
    await fs.setxattr(user, g.ino, ACCESS, encodeAcl(obj(7, 7, 0)), 0);
    expect((await fs.getattr(g.ino)).mode & 0o7777).toBe(0o2770);
  });

  test('removing an ACL keeps the mode; removing a missing ACL succeeds (as on ext4)', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f', 0o644);
    await fs.setxattr(root, f.ino, ACCESS, encodeAcl(withUser(7, 1000, 7, 5, 5, 4)), 0);
    await fs.removexattr(root, f.ino, ACCESS);
    expect(await errOf(fs.getxattr(root, f.ino, ACCESS))).toBe(errno.ENODATA);
    expect((await fs.getattr(f.ino)).mode & 0o777).toBe(0o754);
    await fs.removexattr(root, f.ino, ACCESS);
    await fs.removexattr(root, f.ino, DEFAULT);
  });

  test('a default ACL on a file is EACCES; ACLs on symlinks are EOPNOTSUPP', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.setxattr(root, f.ino, DEFAULT, encodeAcl(obj(7, 5, 5)), 0))).toBe(errno.EACCES);
    const l = await fs.newInode(root, 1, 'l', { mode: S_IFLNK | 0o777, symlink: 'f' });
    expect(await errOf(fs.setxattr(root, l.ino, ACCESS, encodeAcl(obj(7, 5, 5)), 0))).toBe(errno.EOPNOTSUPP);
  });
});

describe('default ACL inheritance', () => {
  test('a file gets an access ACL from the parent default, its mode masked; umask ignored', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd', 0o755);
    await fs.setxattr(root, d.ino, DEFAULT, encodeAcl(withUser(7, 1000, 7, 5, 7, 0)), 0);
    const f = await fs.newInode({ ...user, umask: 0o077 }, d.ino, 'f', { mode: S_IFREG | 0o666 });
    // user_obj rw (7 & 6), mask rw (7 & 6) -> group bits 6, other 0.
    expect(f.mode).toBe(S_IFREG | 0o660);
    expect(decodeAcl(await fs.getxattr(root, f.ino, ACCESS))).toEqual(withUser(6, 1000, 7, 5, 6, 0));
    expect(await errOf(fs.getxattr(root, f.ino, DEFAULT))).toBe(errno.ENODATA);
  });

  test('a directory also inherits the default ACL itself, and passes it on', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd', 0o755);
    const def = withUser(7, 1000, 7, 5, 7, 0);
    await fs.setxattr(root, d.ino, DEFAULT, encodeAcl(def), 0);
    const sub = await fs.newInode({ ...user, umask: 0o022 }, d.ino, 'sub', { mode: S_IFDIR | 0o777 });
    expect(sub.mode).toBe(S_IFDIR | 0o770);
    expect(decodeAcl(await fs.getxattr(root, sub.ino, DEFAULT))).toEqual(def);
    expect(decodeAcl(await fs.getxattr(root, sub.ino, ACCESS))).toEqual(withUser(7, 1000, 7, 5, 7, 0));
    const deeper = await fs.newInode(user, sub.ino, 'f', { mode: S_IFREG | 0o640 });
    expect(decodeAcl(await fs.getxattr(root, deeper.ino, ACCESS))).toEqual(withUser(6, 1000, 7, 5, 4, 0));
  });

  test('a minimal default ACL masks the mode without storing an access ACL', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd', 0o777);
    await fs.setxattr(root, d.ino, DEFAULT, encodeAcl(obj(7, 5, 4)), 0);
    const f = await fs.newInode({ ...user, umask: 0o077 }, d.ino, 'f', { mode: S_IFREG | 0o666 });
    expect(f.mode).toBe(S_IFREG | 0o644);
    expect(await errOf(fs.getxattr(root, f.ino, ACCESS))).toBe(errno.ENODATA);
  });

  test('removing the default ACL brings the umask back for new entries', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd', 0o777);
    await fs.setxattr(root, d.ino, DEFAULT, encodeAcl(obj(7, 7, 7)), 0);
    const a = await fs.newInode({ ...user, umask: 0o077 }, d.ino, 'a', { mode: S_IFREG | 0o666 });
    expect(a.mode & 0o777).toBe(0o666);
    await fs.removexattr(root, d.ino, DEFAULT);
    const b = await fs.newInode({ ...user, umask: 0o077 }, d.ino, 'b', { mode: S_IFREG | 0o666 });
    expect(b.mode & 0o777).toBe(0o600);
  });

  test('symlinks ignore the default ACL', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd', 0o777);
    await fs.setxattr(root, d.ino, DEFAULT, encodeAcl(withUser(7, 1000, 7, 5, 0, 0)), 0);
    const l = await fs.newInode(noUmask, d.ino, 'l', { mode: S_IFLNK | 0o777, symlink: 'x' });
    expect(l.mode).toBe(S_IFLNK | 0o777);
    expect(await fs.listxattr(root, l.ino)).toEqual([]);
  });
});

describe('damaged stored ACLs', () => {
  test('a default ACL that no longer parses is ignored on create (the umask applies)', async () => {
    const { fs, be } = mkfs();
    const d = await mkdir(fs, 1, 'd', 0o777);
    await be.meta.commit({ checks: [], ops: [{ op: 'setXattr', ino: d.ino, name: DEFAULT, value: Buffer.from([2, 0, 0, 0, 1]) }] });
    fs.invalidate(d.ino);
    const f = await fs.newInode({ ...user, umask: 0o022 }, d.ino, 'f', { mode: S_IFREG | 0o666 });
    expect(f.mode & 0o777).toBe(0o644);
  });
});
