// File data through PosixFs: reads and writes across chunk boundaries, holes, huge sparse files,
// truncation that frees chunks, fallocate modes, SEEK_DATA/SEEK_HOLE, unlink while open, setattr
// and the flag ioctls.
import { describe, expect, test } from 'vitest';
import { FS_IOC_GETFLAGS, FS_IOC_SETFLAGS } from '../../src/fs/attr.js';
import { errno } from '../../src/fs/errors.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  SEEK_DATA,
  SEEK_HOLE,
} from '../../src/fs/operations.js';
import { errOf, mkdir, mkfile, mkfs, readAll, root, S_IFIFO, user, writeStr } from './fs-helpers.js';

const CS = 64 * 1024; // chunk size used by mkfs()

function pattern(len: number, seed = 1): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

describe('read / write', () => {
  test('a write across several chunks reads back byte for byte, at any alignment', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    const data = pattern(3 * CS + 123);
    expect(await fs.write(f.ino, fh, 1000, data)).toBe(data.length);
    expect((await fs.getattr(f.ino)).size).toBe(1000 + data.length);
    const back = await fs.read(f.ino, fh, 1000, data.length);
    expect(back.equals(data)).toBe(true);
    const head = await fs.read(f.ino, fh, 0, 1000);
    expect(head.equals(Buffer.alloc(1000))).toBe(true);
    const mid = await fs.read(f.ino, fh, CS - 10, 20);
    expect(mid.equals(data.subarray(CS - 1010, CS - 990))).toBe(true);
  });

  test('reads are short only at end of file, and empty at or past it', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, 'hello world');
    expect((await fs.read(f.ino, 0, 6, 100)).toString()).toBe('world');
    expect((await fs.read(f.ino, 0, 11, 10)).length).toBe(0);
    expect((await fs.read(f.ino, 0, 5000, 10)).length).toBe(0);
  });

  test('writing far past EOF leaves a hole that reads as zeros', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, 'start');
    await writeStr(fs, f.ino, 10 * CS + 5, 'end');
    expect((await fs.getattr(f.ino)).size).toBe(10 * CS + 8);
    const all = await readAll(fs, f.ino);
    expect(all.subarray(0, 5).toString()).toBe('start');
    expect(all.subarray(5, 10 * CS + 5).equals(Buffer.alloc(10 * CS))).toBe(true);
    expect(all.subarray(10 * CS + 5).toString()).toBe('end');
    expect(await be.chunks.list(f.ino)).toEqual([0, 10]);
  });

  test('a 5 GiB sparse file: write at the end, read back, only one chunk stored', async () => {
    const { fs, be } = mkfs({ chunkSize: 1 << 20 });
    const f = await mkfile(fs, 1, 'big');
    const fh = await fs.open(root, f.ino, 2);
    const off = 5 * 2 ** 30 - 4096;
    const data = pattern(4096, 9);
    await fs.write(f.ino, fh, off, data);
    expect((await fs.getattr(f.ino)).size).toBe(5 * 2 ** 30);
    expect((await fs.read(f.ino, fh, off, 8192)).equals(data)).toBe(true);
    expect((await fs.read(f.ino, fh, 2 ** 32, 4096)).equals(Buffer.alloc(4096))).toBe(true);
    expect(await be.chunks.list(f.ino)).toEqual([5 * 1024 - 1]);
  });

  test('offsets up to 2^53 work; beyond is EFBIG; negative is EINVAL', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    const off = Number.MAX_SAFE_INTEGER - 10;
    await fs.write(f.ino, fh, off, Buffer.from('0123456789'));
    expect((await fs.read(f.ino, fh, off, 100)).toString()).toBe('0123456789');
    expect(await errOf(fs.write(f.ino, fh, off, Buffer.from('0123456789ab')))).toBe(errno.EFBIG);
    expect(await errOf(fs.write(f.ino, fh, -1, Buffer.from('x')))).toBe(errno.EINVAL);
  });

  test('a write updates mtime and ctime; a zero-length write changes nothing', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    await fs.write(f.ino, fh, 0, Buffer.from('a'));
    const a = await fs.getattr(f.ino);
    await fs.write(f.ino, fh, 0, Buffer.alloc(0));
    expect((await fs.getattr(f.ino)).mtimeNs).toBe(a.mtimeNs);
    await fs.write(f.ino, fh, 1, Buffer.from('b'));
    const b = await fs.getattr(f.ino);
    expect(b.mtimeNs > a.mtimeNs).toBe(true);
    expect(b.ctimeNs > a.ctimeNs).toBe(true);
  });

  test('read and write of a directory are EISDIR; write to a fifo is EINVAL', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    expect(await errOf(fs.read(d.ino, 0, 0, 10))).toBe(errno.EISDIR);
    expect(await errOf(fs.write(d.ino, 0, 0, Buffer.from('x')))).toBe(errno.EISDIR);
    const p = await fs.newInode(root, 1, 'p', { mode: S_IFIFO | 0o600 });
    expect(await errOf(fs.write(p.ino, 0, 0, Buffer.from('x')))).toBe(errno.EINVAL);
  });
});

describe('st_blocks', () => {
  test('counts stored chunks, not the apparent size, also on another gateway after open', async () => {
    const { fs, be } = mkfs({ chunkSize: 1 << 20 });
    const f = await mkfile(fs, 1, 'sparse');
    expect((await fs.getattr(f.ino)).blocks).toBe(0);
    await writeStr(fs, f.ino, 0, 'x'.repeat(100));
    expect((await fs.getattr(f.ino)).blocks).toBe(8); // one 4 KiB unit
    await writeStr(fs, f.ino, 5 * 2 ** 30 - 4096, pattern(4096));
    const a = await fs.getattr(f.ino);
    expect(a.size).toBe(5 * 2 ** 30);
    expect(a.blocks).toBe(2 * 2048); // two chunks (a chunk before EOF counts whole)
    expect(a.blocks).toBeLessThan(a.size / 512 / 1000);
    const { PosixFs } = await import('../../src/fs/posix-fs.js');
    const other = new PosixFs(be);
    const fh = await other.open(root, f.ino, 0);
    expect((await other.getattr(f.ino)).blocks).toBe(a.blocks);
    await other.release(f.ino, fh);
    await fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * 2 ** 30 - (1 << 20), 1 << 20);
    expect((await fs.getattr(f.ino)).blocks).toBe(2048);
    await fs.setattr(root, f.ino, { size: 0 });
    expect((await fs.getattr(f.ino)).blocks).toBe(0);
  });
});

describe('truncate (setattr size)', () => {
  test('shrinking frees whole chunks past the end and zeroes the cut tail on regrow', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, pattern(4 * CS));
    expect(await be.chunks.list(f.ino)).toEqual([0, 1, 2, 3]);
    const bytesBefore = (await be.meta.stats()).bytes;
    await fs.setattr(root, f.ino, { size: CS + 100 });
    expect(await be.chunks.list(f.ino)).toEqual([0, 1]);
    expect((await be.meta.stats()).bytes).toBe(bytesBefore - 3 * CS + 100);
    await fs.setattr(root, f.ino, { size: 3 * CS });
    const all = await readAll(fs, f.ino);
    expect(all.length).toBe(3 * CS);
    expect(all.subarray(0, CS + 100).equals(pattern(4 * CS).subarray(0, CS + 100))).toBe(true);
    expect(all.subarray(CS + 100).equals(Buffer.alloc(2 * CS - 100))).toBe(true);
  });

  test('truncate to 0 removes every chunk; size change updates mtime and ctime', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, pattern(2 * CS));
    const a = await fs.getattr(f.ino);
    const b = await fs.setattr(root, f.ino, { size: 0 });
    expect(b.size).toBe(0);
    expect(b.mtimeNs > a.mtimeNs).toBe(true);
    expect(b.ctimeNs > a.ctimeNs).toBe(true);
    expect(await be.chunks.list(f.ino)).toEqual([]);
  });

  test('EISDIR for a directory, EINVAL for a negative size', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.setattr(root, d.ino, { size: 0 }))).toBe(errno.EISDIR);
    expect(await errOf(fs.setattr(root, f.ino, { size: -1 }))).toBe(errno.EINVAL);
  });
});

describe('setattr', () => {
  test('chmod keeps the type, sets ctime; chown by anyone clears setuid/setgid on files', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f', 0o644);
    const a = await fs.setattr(root, f.ino, { mode: 0o6755 });
    expect(a.mode).toBe(0o100000 | 0o6755);
    expect(a.ctimeNs > f.ctimeNs).toBe(true);
    const b = await fs.setattr(root, f.ino, { uid: 7, gid: 8 });
    expect([b.uid, b.gid]).toEqual([7, 8]);
    expect(b.mode & 0o7777).toBe(0o755);
    // setgid without group-exec is mandatory-locking, not privilege: it stays.
    await fs.setattr(root, f.ino, { mode: 0o2644 });
    expect((await fs.setattr(root, f.ino, { uid: 9 })).mode & 0o7777).toBe(0o2644);
    const d = await mkdir(fs, 1, 'd', 0o2755);
    expect((await fs.setattr(root, d.ino, { uid: 9 })).mode & 0o7777).toBe(0o2755);
  });

  test('sets atime and mtime to given nanoseconds or to now; ctime moves to now', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const t = 1_234_567_890_123_456_789n;
    const a = await fs.setattr(user, f.ino, { atimeNs: t, mtimeNs: t + 1n });
    expect(a.atimeNs).toBe(t);
    expect(a.mtimeNs).toBe(t + 1n);
    expect(a.ctimeNs > f.ctimeNs).toBe(true);
    const b = await fs.setattr(user, f.ino, { atimeNs: 'now', mtimeNs: 'now' });
    expect(b.atimeNs > t + 1n).toBe(true);
    expect(b.mtimeNs).toBe(b.atimeNs);
    const c = await fs.setattr(user, f.ino, { ctimeNs: 42n });
    expect(c.ctimeNs).toBe(42n);
    const pre = await fs.setattr(user, f.ino, { mtimeNs: -5_000_000_000n });
    expect(pre.mtimeNs).toBe(-5_000_000_000n);
  });
});

describe('unlink while open', () => {
  test('the data stays readable and writable until the last release and evict', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const fh = await fs.open(root, f.ino, 2);
    await fs.write(f.ino, fh, 0, Buffer.from('still here'));
    await fs.removeDentry(root, 1, 'f', false);
    expect(await errOf(fs.lookup(root, 1, 'f'))).toBe(errno.ENOENT);
    expect((await fs.getattr(f.ino)).nlink).toBe(0);
    await fs.evict(f.ino); // the kernel dropped the dentry; the file is still open
    await fs.write(f.ino, fh, 10, Buffer.from('!'));
    expect((await fs.read(f.ino, fh, 0, 100)).toString()).toBe('still here!');
    expect(await be.meta.lookup(0, `orphan.${f.ino}`)).toBe(f.ino);
    await fs.release(f.ino, fh);
    expect(await be.meta.getInode(f.ino)).toBeUndefined();
    expect(await be.chunks.list(f.ino)).toEqual([]);
    expect(await be.meta.lookup(0, `orphan.${f.ino}`)).toBeUndefined();
  });

  test('release first, then evict, also frees; a linked inode is never freed by evict', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const g = await mkfile(fs, 1, 'g');
    await writeStr(fs, f.ino, 0, 'x');
    const fh = await fs.open(root, f.ino, 0);
    await fs.removeDentry(root, 1, 'f', false);
    await fs.release(f.ino, fh);
    expect(await be.meta.getInode(f.ino)).toBeDefined();
    await fs.evict(f.ino);
    expect(await be.meta.getInode(f.ino)).toBeUndefined();
    await fs.evict(g.ino);
    expect((await fs.getattr(g.ino)).nlink).toBe(1);
  });

  test('orphans left by a crashed gateway are reclaimed at the next mount', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, pattern(3 * CS));
    const fh = await fs.open(root, f.ino, 0);
    await fs.removeDentry(root, 1, 'f', false);
    void fh; // the gateway dies with the file open
    const { PosixFs } = await import('../../src/fs/posix-fs.js');
    const next = new PosixFs(be);
    expect(await next.reclaimOrphans()).toBe(1);
    expect(await be.meta.getInode(f.ino)).toBeUndefined();
    expect(await be.chunks.list(f.ino)).toEqual([]);
    expect(await next.reclaimOrphans()).toBe(0);
  });

  test('an unlinked directory that is still open is freed on evict', async () => {
    const { fs, be } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const fh = await fs.open(root, d.ino, 0);
    await fs.removeDentry(root, 1, 'd', true);
    expect((await fs.getattr(d.ino)).nlink).toBe(0);
    expect(await errOf(mkfile(fs, d.ino, 'x'))).toBe(errno.ENOENT);
    await fs.release(d.ino, fh);
    await fs.evict(d.ino);
    expect(await be.meta.getInode(d.ino)).toBeUndefined();
  });
});

describe('fallocate', () => {
  test('mode 0 extends the size and allocates chunks; KEEP_SIZE allocates only', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await fs.fallocate(f.ino, 0, 0, 0, 2 * CS + 1);
    expect((await fs.getattr(f.ino)).size).toBe(2 * CS + 1);
    expect(await be.chunks.list(f.ino)).toEqual([0, 1, 2]);
    expect((await readAll(fs, f.ino)).equals(Buffer.alloc(2 * CS + 1))).toBe(true);
    const g = await mkfile(fs, 1, 'g');
    await fs.fallocate(g.ino, 0, FALLOC_FL_KEEP_SIZE, CS, CS);
    expect((await fs.getattr(g.ino)).size).toBe(0);
    expect(await be.chunks.list(g.ino)).toEqual([1]);
  });

  test('mode 0 inside the file keeps the data and the size', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, pattern(2 * CS));
    await fs.fallocate(f.ino, 0, 0, 10, CS);
    expect((await readAll(fs, f.ino)).equals(pattern(2 * CS))).toBe(true);
  });

  test('PUNCH_HOLE|KEEP_SIZE zeroes the range, drops whole chunks inside, keeps the size', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const data = pattern(4 * CS);
    await writeStr(fs, f.ino, 0, data);
    const before = await fs.getattr(f.ino);
    await fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, CS / 2, 2 * CS);
    const after = await fs.getattr(f.ino);
    expect(after.size).toBe(4 * CS);
    expect(after.mtimeNs > before.mtimeNs).toBe(true);
    expect(await be.chunks.list(f.ino)).toEqual([0, 2, 3]);
    const want = Buffer.from(data);
    want.fill(0, CS / 2, CS / 2 + 2 * CS);
    expect((await readAll(fs, f.ino)).equals(want)).toBe(true);
  });

  test('punching a whole single chunk and the tail of the last one', async () => {
    const { fs, be } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    const data = pattern(2 * CS + 100);
    await writeStr(fs, f.ino, 0, data);
    await fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, CS, CS);
    expect(await be.chunks.list(f.ino)).toEqual([0, 2]);
    await fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * CS + 50, 1000);
    const want = Buffer.from(data);
    want.fill(0, CS, 2 * CS);
    want.fill(0, 2 * CS + 50);
    expect((await readAll(fs, f.ino)).equals(want)).toBe(true);
    expect((await fs.getattr(f.ino)).size).toBe(2 * CS + 100);
  });

  test('ZERO_RANGE zeroes and may extend; ZERO_RANGE|KEEP_SIZE does not extend', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, pattern(1000));
    await fs.fallocate(f.ino, 0, FALLOC_FL_ZERO_RANGE, 100, 2000);
    expect((await fs.getattr(f.ino)).size).toBe(2100);
    const all = await readAll(fs, f.ino);
    expect(all.subarray(0, 100).equals(pattern(1000).subarray(0, 100))).toBe(true);
    expect(all.subarray(100).equals(Buffer.alloc(2000))).toBe(true);
    await fs.fallocate(f.ino, 0, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 10_000);
    expect((await fs.getattr(f.ino)).size).toBe(2100);
    expect((await readAll(fs, f.ino)).equals(Buffer.alloc(2100))).toBe(true);
  });

  test('unsupported modes are EOPNOTSUPP; PUNCH_HOLE needs KEEP_SIZE; bad ranges EINVAL', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.fallocate(f.ino, 0, 0x08, 0, 10))).toBe(errno.EOPNOTSUPP); // COLLAPSE_RANGE
    expect(await errOf(fs.fallocate(f.ino, 0, 0x20, 0, 10))).toBe(errno.EOPNOTSUPP); // INSERT_RANGE
    expect(await errOf(fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE, 0, 10))).toBe(errno.EOPNOTSUPP);
    expect(await errOf(fs.fallocate(f.ino, 0, 0, 0, 0))).toBe(errno.EINVAL);
    expect(await errOf(fs.fallocate(f.ino, 0, 0, -1, 10))).toBe(errno.EINVAL);
    const d = await mkdir(fs, 1, 'd');
    expect(await errOf(fs.fallocate(d.ino, 0, 0, 0, 10))).toBe(errno.EISDIR);
  });
});

describe('SEEK_DATA / SEEK_HOLE', () => {
  test('find data and holes at chunk granularity; ENXIO at or past EOF', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 2 * CS + 10, 'a'); // chunk 2
    await writeStr(fs, f.ino, 5 * CS, 'b'); // chunk 5, size 5*CS+1
    const size = 5 * CS + 1;
    expect(await fs.llseek(f.ino, 0, 0, SEEK_DATA)).toBe(2 * CS);
    expect(await fs.llseek(f.ino, 0, 2 * CS + 5, SEEK_DATA)).toBe(2 * CS + 5);
    expect(await fs.llseek(f.ino, 0, 3 * CS, SEEK_DATA)).toBe(5 * CS);
    expect(await fs.llseek(f.ino, 0, 0, SEEK_HOLE)).toBe(0);
    expect(await fs.llseek(f.ino, 0, 2 * CS, SEEK_HOLE)).toBe(3 * CS);
    expect(await fs.llseek(f.ino, 0, 5 * CS, SEEK_HOLE)).toBe(size);
    expect(await errOf(fs.llseek(f.ino, 0, size, SEEK_DATA))).toBe(errno.ENXIO);
    expect(await errOf(fs.llseek(f.ino, 0, size, SEEK_HOLE))).toBe(errno.ENXIO);
    expect(await errOf(fs.llseek(f.ino, 0, -1, SEEK_DATA))).toBe(errno.ENXIO);
  });

  test('SEEK_DATA in a trailing hole is ENXIO; a punched chunk becomes a hole', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    await writeStr(fs, f.ino, 0, pattern(3 * CS));
    await fs.setattr(root, f.ino, { size: 10 * CS });
    expect(await errOf(fs.llseek(f.ino, 0, 4 * CS, SEEK_DATA))).toBe(errno.ENXIO);
    expect(await fs.llseek(f.ino, 0, 0, SEEK_HOLE)).toBe(3 * CS);
    await fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, CS, CS);
    expect(await fs.llseek(f.ino, 0, 0, SEEK_HOLE)).toBe(CS);
    expect(await fs.llseek(f.ino, 0, CS, SEEK_DATA)).toBe(2 * CS);
    expect(await errOf(fs.llseek(f.ino, 0, 0, 0))).toBe(errno.EINVAL);
  });
});

describe('ioctl', () => {
  test('FS_IOC_SETFLAGS stores flags that FS_IOC_GETFLAGS returns; others are ENOTTY', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect((await fs.ioctl(f.ino, 0, FS_IOC_GETFLAGS, Buffer.alloc(0))).readUInt32LE(0)).toBe(0);
    const arg = Buffer.alloc(4);
    arg.writeUInt32LE(0x00080000 | 0x10, 0); // FS_EXTENT_FL | FS_IMMUTABLE_FL
    await fs.ioctl(f.ino, 0, FS_IOC_SETFLAGS, arg);
    expect((await fs.ioctl(f.ino, 0, FS_IOC_GETFLAGS, Buffer.alloc(0))).readUInt32LE(0)).toBe(0x00080010);
    // The kernel may pass the command sign-extended.
    expect((await fs.ioctl(f.ino, 0, FS_IOC_GETFLAGS | 0, Buffer.alloc(0))).readUInt32LE(0)).toBe(0x00080010);
    expect(await errOf(fs.ioctl(f.ino, 0, 0x5401, Buffer.alloc(0)))).toBe(errno.ENOTTY);
  });
});

describe('immutable and append-only flags are enforced (the kernel cannot for FUSE)', () => {
  const setFlags = async (fs: Awaited<ReturnType<typeof mkfs>>['fs'], ino: number, flags: number) => {
    const arg = Buffer.alloc(4);
    arg.writeUInt32LE(flags, 0);
    await fs.ioctl(ino, 0, FS_IOC_SETFLAGS, arg);
  };
  const O_WRONLY = 1;
  const O_RDWR = 2;
  const O_TRUNC = 0o1000;
  const O_APPEND = 0o2000;

  test('immutable: no write, truncate, chmod, unlink, rename, link, xattr; reads and reopen for read work', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const f = await mkfile(fs, d.ino, 'f');
    await writeStr(fs, f.ino, 0, 'frozen');
    const wfh = await fs.open(root, f.ino, O_RDWR);
    await setFlags(fs, f.ino, 0x10);
    expect(await errOf(fs.write(f.ino, wfh, 0, Buffer.from('x')))).toBe(errno.EPERM);
    expect(await errOf(fs.open(root, f.ino, O_WRONLY))).toBe(errno.EPERM);
    expect(await errOf(fs.setattr(root, f.ino, { size: 0 }))).toBe(errno.EPERM);
    expect(await errOf(fs.setattr(root, f.ino, { mode: 0o777 }))).toBe(errno.EPERM);
    expect(await errOf(fs.setattr(root, f.ino, { mtimeNs: 'now' }))).toBe(errno.EPERM);
    expect(await errOf(fs.removeDentry(root, d.ino, 'f', false))).toBe(errno.EPERM);
    expect(await errOf(fs.rename(root, d.ino, 'f', 1, 'g', 0))).toBe(errno.EPERM);
    expect(await errOf(fs.addDentry(root, 1, 'h', f.ino))).toBe(errno.EPERM);
    expect(await errOf(fs.setxattr(root, f.ino, 'user.a', Buffer.from('1'), 0))).toBe(errno.EPERM);
    expect(await errOf(fs.fallocate(f.ino, 0, 0, 0, 10))).toBe(errno.EPERM);
    const rfh = await fs.open(root, f.ino, 0);
    expect((await fs.read(f.ino, rfh, 0, 10)).toString()).toBe('frozen');
    await setFlags(fs, f.ino, 0);
    await fs.removeDentry(root, d.ino, 'f', false);
  });

  test('an immutable directory takes no new entries and loses none', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    await mkfile(fs, d.ino, 'f');
    await setFlags(fs, d.ino, 0x10);
    expect(await errOf(mkfile(fs, d.ino, 'g'))).toBe(errno.EPERM);
    expect(await errOf(fs.removeDentry(root, d.ino, 'f', false))).toBe(errno.EPERM);
    expect(await errOf(fs.rename(root, d.ino, 'f', 1, 'f', 0))).toBe(errno.EPERM);
    expect(await errOf(mkfile(fs, d.ino, 'f'))).toBe(errno.EEXIST);
  });

  test('append-only: open needs O_APPEND and no O_TRUNC; appends work; no truncate or unlink', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'log');
    await writeStr(fs, f.ino, 0, 'one');
    await setFlags(fs, f.ino, 0x20);
    expect(await errOf(fs.open(root, f.ino, O_WRONLY))).toBe(errno.EPERM);
    expect(await errOf(fs.open(root, f.ino, O_WRONLY | O_APPEND | O_TRUNC))).toBe(errno.EPERM);
    const fh = await fs.open(root, f.ino, O_WRONLY | O_APPEND);
    await fs.write(f.ino, fh, 3, Buffer.from('two'));
    expect((await readAll(fs, f.ino)).toString()).toBe('onetwo');
    expect(await errOf(fs.setattr(root, f.ino, { size: 0 }))).toBe(errno.EPERM);
    expect(await errOf(fs.fallocate(f.ino, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 3))).toBe(errno.EPERM);
    await fs.fallocate(f.ino, 0, FALLOC_FL_KEEP_SIZE, 0, 100);
    await fs.setattr(root, f.ino, { atimeNs: 'now', mtimeNs: 'now' });
    expect(await errOf(fs.removeDentry(root, 1, 'log', false))).toBe(errno.EPERM);
  });
});

describe('fallocate of huge ranges', () => {
  test('beyond fallocateMaxBytes the size grows but no chunks are stored', async () => {
    const { fs, be } = mkfs({ fallocateMaxBytes: 4 * CS });
    const f = await mkfile(fs, 1, 'f');
    await fs.fallocate(f.ino, 0, 0, 0, 4 * CS);
    expect((await be.chunks.list(f.ino)).length).toBe(4);
    const g = await mkfile(fs, 1, 'g');
    await fs.fallocate(g.ino, 0, 0, 0, 100 * 2 ** 30);
    expect((await fs.getattr(g.ino)).size).toBe(100 * 2 ** 30);
    expect(await be.chunks.list(g.ino)).toEqual([]);
    expect((await fs.read(g.ino, 0, 50 * 2 ** 30, 10)).equals(Buffer.alloc(10))).toBe(true);
  });
});
