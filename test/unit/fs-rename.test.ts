// rename(2) and renameat2(2) semantics of PosixFs: replacing targets, type mismatches, flags,
// loop detection, no-op renames, nlink and ".." bookkeeping, and timestamps.
import { describe, expect, test } from 'vitest';
import { errno } from '../../src/fs/errors.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../src/fs/operations.js';
import { errOf, ls, mkdir, mkfile, mkfs, readAll, root, writeStr } from './fs-helpers.js';

describe('rename', () => {
  test('moves a file between directories atomically, keeping its inode', async () => {
    const { fs } = mkfs();
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, 1, 'b');
    const f = await mkfile(fs, a.ino, 'f');
    await fs.rename(root, a.ino, 'f', b.ino, 'g', 0);
    expect(await ls(fs, a.ino)).toEqual([]);
    expect(await ls(fs, b.ino)).toEqual(['g']);
    expect((await fs.lookup(root, b.ino, 'g')).ino).toBe(f.ino);
    expect(await errOf(fs.lookup(root, a.ino, 'f'))).toBe(errno.ENOENT);
  });

  test('replaces an existing file: the old target loses a link and its data stays for open handles', async () => {
    const { fs } = mkfs();
    const src = await mkfile(fs, 1, 'src');
    const dst = await mkfile(fs, 1, 'dst');
    await writeStr(fs, dst.ino, 0, 'old target');
    const fh = await fs.open(root, dst.ino, 0);
    await fs.rename(root, 1, 'src', 1, 'dst', 0);
    expect((await fs.lookup(root, 1, 'dst')).ino).toBe(src.ino);
    expect(await ls(fs, 1)).toEqual(['dst']);
    expect((await fs.getattr(dst.ino)).nlink).toBe(0);
    expect((await fs.read(dst.ino, fh, 0, 100)).toString()).toBe('old target');
    await fs.release(dst.ino, fh);
    await fs.evict(dst.ino);
    expect(await errOf(fs.getattr(dst.ino))).toBe(errno.ENOENT);
  });

  test('replacing a hard-linked target keeps the other link alive', async () => {
    const { fs } = mkfs();
    await mkfile(fs, 1, 'src');
    const t = await mkfile(fs, 1, 't');
    await fs.addDentry(root, 1, 't2', t.ino);
    await fs.rename(root, 1, 'src', 1, 't', 0);
    expect((await fs.getattr(t.ino)).nlink).toBe(1);
    expect((await fs.lookup(root, 1, 't2')).ino).toBe(t.ino);
  });

  test('replaces an empty directory and fixes nlink of both parents', async () => {
    const { fs } = mkfs();
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, 1, 'b');
    const src = await mkdir(fs, a.ino, 'src');
    const dst = await mkdir(fs, b.ino, 'dst');
    await mkfile(fs, src.ino, 'inside');
    await fs.rename(root, a.ino, 'src', b.ino, 'dst', 0);
    expect((await fs.getattr(a.ino)).nlink).toBe(2);
    expect((await fs.getattr(b.ino)).nlink).toBe(3);
    expect((await fs.lookup(root, b.ino, 'dst')).ino).toBe(src.ino);
    expect((await fs.lookup(root, src.ino, '..')).ino).toBe(b.ino);
    expect(await ls(fs, src.ino)).toEqual(['inside']);
    expect((await fs.getattr(dst.ino)).nlink).toBe(0);
  });

  test('moving a directory updates its .. and the link counts', async () => {
    const { fs } = mkfs();
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, 1, 'b');
    const d = await mkdir(fs, a.ino, 'd');
    expect((await fs.getattr(a.ino)).nlink).toBe(3);
    await fs.rename(root, a.ino, 'd', b.ino, 'd', 0);
    expect((await fs.getattr(a.ino)).nlink).toBe(2);
    expect((await fs.getattr(b.ino)).nlink).toBe(3);
    expect((await fs.lookup(root, d.ino, '..')).ino).toBe(b.ino);
    const dots = await fs.readdir(root, d.ino, 0, 10, false);
    expect(dots.find((e) => e.name === '..')?.ino).toBe(b.ino);
    // a is now empty and can go.
    await fs.removeDentry(root, 1, 'a', true);
  });

  test('ENOTEMPTY over a non-empty directory, EISDIR and ENOTDIR on type mismatch', async () => {
    const { fs } = mkfs();
    await mkdir(fs, 1, 'd1');
    const d2 = await mkdir(fs, 1, 'd2');
    await mkfile(fs, d2.ino, 'x');
    await mkfile(fs, 1, 'f');
    await mkdir(fs, 1, 'empty');
    expect(await errOf(fs.rename(root, 1, 'd1', 1, 'd2', 0))).toBe(errno.ENOTEMPTY);
    expect(await errOf(fs.rename(root, 1, 'f', 1, 'empty', 0))).toBe(errno.EISDIR);
    expect(await errOf(fs.rename(root, 1, 'd1', 1, 'f', 0))).toBe(errno.ENOTDIR);
    expect(await errOf(fs.rename(root, 1, 'missing', 1, 'z', 0))).toBe(errno.ENOENT);
    expect(await errOf(fs.rename(root, 1, 'f', 1, 'n'.repeat(256), 0))).toBe(errno.ENAMETOOLONG);
    expect(await ls(fs, 1)).toEqual(['d1', 'd2', 'empty', 'f']);
  });

  test('EINVAL when moving a directory into its own subtree (or onto itself as parent)', async () => {
    const { fs } = mkfs();
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, a.ino, 'b');
    const c = await mkdir(fs, b.ino, 'c');
    expect(await errOf(fs.rename(root, 1, 'a', c.ino, 'a', 0))).toBe(errno.EINVAL);
    expect(await errOf(fs.rename(root, 1, 'a', a.ino, 'x', 0))).toBe(errno.EINVAL);
    expect(await errOf(fs.rename(root, a.ino, 'b', b.ino, 'x', 0))).toBe(errno.EINVAL);
    // The other way round is fine: c moves up to the root.
    await fs.rename(root, b.ino, 'c', 1, 'c', 0);
    expect((await fs.lookup(root, c.ino, '..')).ino).toBe(1);
  });

  test('ENOTEMPTY when the target is an ancestor of the source', async () => {
    const { fs } = mkfs();
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, a.ino, 'b');
    await mkdir(fs, b.ino, 'c');
    expect(await errOf(fs.rename(root, b.ino, 'c', 1, 'a', 0))).toBe(errno.ENOTEMPTY);
  });

  test('a name onto itself, or onto another link of the same inode, is a no-op', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await fs.addDentry(root, 1, 'g', f.ino);
    const before = await fs.getattr(1);
    await fs.rename(root, 1, 'f', 1, 'f', 0);
    await fs.rename(root, 1, 'f', 1, 'g', 0);
    expect(await ls(fs, 1)).toEqual(['f', 'g']);
    expect((await fs.getattr(f.ino)).nlink).toBe(2);
    expect((await fs.getattr(1)).mtimeNs).toBe(before.mtimeNs);
    const d = await mkdir(fs, 1, 'd');
    await fs.rename(root, 1, 'd', 1, 'd', 0);
    expect((await fs.getattr(d.ino)).nlink).toBe(2);
  });

  test('RENAME_NOREPLACE: EEXIST if the target exists, else a normal rename', async () => {
    const { fs } = mkfs();
    await mkfile(fs, 1, 'a');
    await mkfile(fs, 1, 'b');
    expect(await errOf(fs.rename(root, 1, 'a', 1, 'b', RENAME_NOREPLACE))).toBe(errno.EEXIST);
    expect(await errOf(fs.rename(root, 1, 'a', 1, 'a', RENAME_NOREPLACE))).toBe(errno.EEXIST);
    await fs.rename(root, 1, 'a', 1, 'c', RENAME_NOREPLACE);
    expect(await ls(fs, 1)).toEqual(['b', 'c']);
  });

  test('RENAME_EXCHANGE swaps two names, even a file and a directory across parents', async () => {
    const { fs } = mkfs();
    const p = await mkdir(fs, 1, 'p');
    const q = await mkdir(fs, 1, 'q');
    const f = await mkfile(fs, p.ino, 'x');
    const d = await mkdir(fs, q.ino, 'y');
    await fs.rename(root, p.ino, 'x', q.ino, 'y', RENAME_EXCHANGE);
    expect((await fs.lookup(root, p.ino, 'x')).ino).toBe(d.ino);
    expect((await fs.lookup(root, q.ino, 'y')).ino).toBe(f.ino);
    expect((await fs.lookup(root, d.ino, '..')).ino).toBe(p.ino);
    expect((await fs.getattr(p.ino)).nlink).toBe(3);
    expect((await fs.getattr(q.ino)).nlink).toBe(2);
  });

  test('RENAME_EXCHANGE: ENOENT if either is missing; EINVAL for a loop; EINVAL with NOREPLACE', async () => {
    const { fs } = mkfs();
    await mkfile(fs, 1, 'a');
    const d = await mkdir(fs, 1, 'd');
    await mkfile(fs, d.ino, 'inner');
    expect(await errOf(fs.rename(root, 1, 'a', 1, 'none', RENAME_EXCHANGE))).toBe(errno.ENOENT);
    expect(await errOf(fs.rename(root, 1, 'none', 1, 'a', RENAME_EXCHANGE))).toBe(errno.ENOENT);
    expect(await errOf(fs.rename(root, d.ino, 'inner', 1, 'd', RENAME_EXCHANGE))).toBe(errno.EINVAL);
    expect(await errOf(fs.rename(root, 1, 'a', 1, 'd', RENAME_EXCHANGE | RENAME_NOREPLACE))).toBe(errno.EINVAL);
    expect(await errOf(fs.rename(root, 1, 'a', 1, 'd', 0x100))).toBe(errno.EINVAL);
  });

  test('updates mtime/ctime of both parents and ctime of the moved inode', async () => {
    const { fs } = mkfs();
    const a = await mkdir(fs, 1, 'a');
    const b = await mkdir(fs, 1, 'b');
    const f = await mkfile(fs, a.ino, 'f');
    const [a0, b0, f0] = await Promise.all([fs.getattr(a.ino), fs.getattr(b.ino), fs.getattr(f.ino)]);
    await fs.rename(root, a.ino, 'f', b.ino, 'f', 0);
    const [a1, b1, f1] = await Promise.all([fs.getattr(a.ino), fs.getattr(b.ino), fs.getattr(f.ino)]);
    expect(a1.mtimeNs > a0.mtimeNs && a1.ctimeNs > a0.ctimeNs).toBe(true);
    expect(b1.mtimeNs > b0.mtimeNs && b1.ctimeNs > b0.ctimeNs).toBe(true);
    expect(f1.ctimeNs > f0.ctimeNs).toBe(true);
    expect(f1.mtimeNs).toBe(f0.mtimeNs);
  });

  test('file content follows the inode through renames', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, 'payload');
    const d = await mkdir(fs, 1, 'd');
    await fs.rename(root, 1, 'f', d.ino, 'g', 0);
    const g = await fs.lookup(root, d.ino, 'g');
    expect((await readAll(fs, g.ino)).toString()).toBe('payload');
  });
});
