// POSIX through the real kernel: PosixFs over MemoryBackend served in this process by the FUSE
// transport, exercised by ordinary tools and syscalls in child processes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountEntry, mountMemory, sh, shOk, tmpDir, type TestMount } from './harness.js';

const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');

for (const reader of ['poll', 'workers'] as const) {
  // Mounting needs root and /dev/fuse (CI and these machines have both).
  describe.skipIf(!canMount)(`POSIX over the FUSE transport (${reader} reader)`, { timeout: 60_000 }, () => {
    let m: TestMount;
    let n = 0;
    /** A fresh directory on the mount for one test. */
    async function dir(): Promise<string> {
      const d = path.join(m.mp, `t${++n}`);
      await fsp.mkdir(d);
      return d;
    }
    const py = (code: string, cwd: string): Promise<string> => shOk(`python3 - <<'PY'\nimport os, sys, fcntl, ctypes, errno, struct\n${code}\nPY`, cwd);

    beforeAll(async () => {
      m = await mountMemory({ channels: 2, attrTimeoutMs: 1000 }, undefined, reader);
      expect(m.handle.reader).toBe(reader);
    }, 60_000);

    afterAll(async () => {
      if (!m) return;
      const warnings = m.warnings();
      await m.close();
      expect(mountEntry(m.mp)).toBeUndefined();
      expect(warnings).toEqual([]);
    }, 60_000);

    it('create, write, read, append, stat, truncate, O_TRUNC', async () => {
      const d = await dir();
      expect(await shOk('printf hello > f && printf " world" >> f && cat f', d)).toBe('hello world');
      expect(await shOk('stat -c "%s %F %a %h %U" f', d)).toBe('11 regular file 644 1 root\n');
      await shOk('truncate -s 5 f', d);
      expect(await shOk('cat f', d)).toBe('hello');
      await shOk('truncate -s 100000 f', d);
      expect(await shOk('stat -c %s f && tail -c 3 f | od -An -tx1', d)).toBe('100000\n 00 00 00\n');
      await shOk('printf new > f', d); // O_WRONLY|O_CREAT|O_TRUNC on an existing file
      expect(await shOk('cat f; stat -c %s f', d)).toBe('new3\n');
    });

    it('large files: 5 MiB of random data round-trips byte for byte in 1 MiB requests', async () => {
      const d = await dir();
      const local = path.join(tmpDir('zufs-fuse-data-'), 'src');
      writeFileSync(local, randomBytes(5 * 1024 * 1024 + 123));
      const before = m.handle.stats().ops.WRITE ?? 0;
      await shOk(`dd if=${local} of=big bs=1M status=none`, d);
      const writes = (m.handle.stats().ops.WRITE ?? 0) - before;
      expect(writes).toBeGreaterThanOrEqual(6);
      expect(writes).toBeLessThanOrEqual(12); // 1 MiB writes, not 4 KiB ones
      await shOk(`cmp ${local} big && echo 3 > /proc/sys/vm/drop_caches && cmp ${local} big`, d);
      expect(await shOk(`dd if=big bs=1 skip=3000000 count=16 status=none | od -An -tx1`, d)).toBe(await shOk(`dd if=${local} bs=1 skip=3000000 count=16 status=none | od -An -tx1`));
      rmSync(path.dirname(local), { recursive: true });
    });

    it('mkdir -p, rm -r, rmdir of a non-empty directory, errno texts', async () => {
      const d = await dir();
      await shOk('mkdir -p a/b/c/d/e && touch a/b/c/f a/x', d);
      expect(await shOk('find a | sort', d)).toBe('a\na/b\na/b/c\na/b/c/d\na/b/c/d/e\na/b/c/f\na/x\n');
      expect(await shOk('stat -c %h a/b', d)).toBe('3\n');
      expect((await sh('rmdir a/b', d)).err).toMatch(/Directory not empty/);
      expect((await sh('mkdir a', d)).err).toMatch(/File exists/);
      expect((await sh('cat nope', d)).err).toMatch(/No such file or directory/);
      expect((await sh('cat a/x/y', d)).err).toMatch(/Not a directory/);
      await shOk('rm -r a', d);
      expect(await shOk('ls -A', d)).toBe('');
    });

    it('readdir of 1000 entries (several READDIRPLUS pages) lists each name once', async () => {
      const d = await dir();
      const long = 'n'.repeat(150);
      await shOk(`for i in $(seq 1000); do : > ${long}$i; done`, d);
      const names = (await shOk('ls', d)).trim().split('\n');
      expect(names).toHaveLength(1000);
      expect(new Set(names).size).toBe(1000);
      expect(await shOk('ls -f | wc -l', d)).toBe('1002\n');
      expect(await py(`print(len(os.listdir('.')))`, d)).toBe('1000\n');
      expect(await shOk(`ls -U | sort | awk 'NR == 1'`, d)).toBe(`${long}1\n`);
      const inodes = (await shOk(`stat -c %i * | sort -u | wc -l`, d)).trim();
      expect(inodes).toBe('1000');
    });

    it('rename: over an existing file, across directories, RENAME_NOREPLACE and RENAME_EXCHANGE', async () => {
      const d = await dir();
      await shOk('mkdir sub && printf A > a && printf B > b && mv a b', d);
      expect(await shOk('cat b; ls', d)).toBe('Ab\nsub\n');
      await shOk('mv b sub/c', d);
      expect(await shOk('cat sub/c; ls sub', d)).toBe('Ac\n');
      const out = await py(
        `libc = ctypes.CDLL(None, use_errno=True)
open('x','w').write('X'); open('y','w').write('Y')
AT = -100
r = libc.renameat2(AT, b'x', AT, b'y', 1)  # RENAME_NOREPLACE
print(r, errno.errorcode.get(ctypes.get_errno()))
r = libc.renameat2(AT, b'x', AT, b'y', 2)  # RENAME_EXCHANGE
print(r, open('x').read(), open('y').read())`,
        d,
      );
      expect(out).toBe('-1 EEXIST\n0 Y X\n');
    });

    it('hard links and symlinks', async () => {
      const d = await dir();
      await shOk('printf data > f && ln f h && ln -s f s && ln -s /no/where dangling', d);
      expect(await shOk('stat -c "%h %i" f h | uniq -c | wc -l; stat -c %h f', d)).toBe('1\n2\n');
      expect(await shOk('readlink s dangling; cat s', d)).toBe('f\n/no/where\ndata');
      expect(await shOk('stat -c "%F %s" s', d)).toBe('symbolic link 1\n');
      await shOk('rm f', d);
      expect(await shOk('cat h; stat -c %h h', d)).toBe('data1\n');
      expect((await sh('cat s', d)).code).not.toBe(0);
    });

    it('ls -la shows type, mode, links, owner, size and symlink target', async () => {
      const d = await dir();
      await shOk('mkdir sub && printf 12345 > file && ln -s file link && chmod 750 sub && chown 1234:5678 file', d);
      const lines = (await shOk('ls -la --time-style=+T', d)).trim().split('\n');
      expect(lines[0]).toMatch(/^total \d+$/);
      const byName = Object.fromEntries(lines.slice(1).map((l) => [l.split(/\s+/).slice(6).join(' '), l.split(/\s+/).slice(0, 5)]));
      expect(byName['.']).toEqual(['drwxr-xr-x', '3', 'root', 'root', expect.any(String)]);
      expect(byName['sub']).toEqual(['drwxr-x---', '2', 'root', 'root', expect.any(String)]);
      expect(byName['file']).toEqual(['-rw-r--r--', '1', '1234', '5678', '5']);
      expect(byName['link -> file']).toEqual(['lrwxrwxrwx', '1', 'root', 'root', '4']);
    });

    it('chmod, chown, touch with nanoseconds, umask (the filesystem applies it)', async () => {
      const d = await dir();
      await shOk("touch f && chown 42:43 f && chmod 4711 f && touch -m -d '2001-02-03 04:05:06.123456789 UTC' f", d);
      expect(await shOk('stat -c "%a %u %g" f; TZ=UTC stat -c %y f', d)).toBe('4711 42 43\n2001-02-03 04:05:06.123456789 +0000\n');
      await shOk("touch -a -d '1969-12-31 23:59:58.5 UTC' f", d); // before the epoch
      expect(await shOk('TZ=UTC stat -c %x f', d)).toBe('1969-12-31 23:59:58.500000000 +0000\n');
      await shOk('umask 027 && touch g && mkdir e && mkfifo p', d);
      expect(await shOk('stat -c "%a %F" g e p', d)).toBe('640 regular empty file\n750 directory\n640 fifo\n');
    });

    it('xattrs: set, get, list (size probe), replace, remove, ENODATA', async () => {
      const d = await dir();
      await shOk('touch f && setfattr -n user.color -v blue f && setfattr -n user.empty f', d);
      expect(await shOk('getfattr -n user.color --only-values f', d)).toBe('blue');
      expect(await shOk('getfattr -d -m - f | grep user. | sort', d)).toBe('user.color="blue"\nuser.empty=""\n');
      const out = await py(
        `print(sorted(os.listxattr('f')))
os.setxattr('f', 'user.color', b'red', os.XATTR_REPLACE)
print(os.getxattr('f', 'user.color'))
try: os.setxattr('f', 'user.color', b'x', os.XATTR_CREATE)
except OSError as e: print(errno.errorcode[e.errno])
try: os.setxattr('f', 'user.none', b'x', os.XATTR_REPLACE)
except OSError as e: print(errno.errorcode[e.errno])
os.setxattr('f', 'user.big', b'v' * 60000)
print(len(os.getxattr('f', 'user.big')))
os.removexattr('f', 'user.color')
try: os.getxattr('f', 'user.color')
except OSError as e: print(errno.errorcode[e.errno])`,
        d,
      );
      expect(out).toBe("['user.color', 'user.empty']\nb'red'\nEEXIST\nENODATA\n60000\nENODATA\n");
    });

    it('POSIX ACLs: setfacl/getfacl, the kernel enforces them, default ACLs are inherited over the umask', async () => {
      const d = await dir();
      await shOk('printf secret > f && chmod 600 f && setfacl -m u:1234:r f', d);
      expect(await shOk('getfacl -cp f', d)).toBe('user::rw-\nuser:1234:r--\ngroup::---\nmask::r--\nother::---\n\n');
      expect(await shOk('ls -l f | cut -c1-11', d)).toBe('-rw-r-----+\n');
      expect(await shOk(`setpriv --reuid=1234 --regid=1234 --clear-groups cat f`, d)).toBe('secret');
      const other = await sh(`setpriv --reuid=1235 --regid=1235 --clear-groups cat f`, d);
      expect(other.err).toMatch(/Permission denied/);
      await shOk('mkdir inh && setfacl -d -m u:1234:rwx inh && umask 077 && touch inh/new && mkdir inh/sub', d);
      // The default ACL (other::r-x from the directory's 755) wins over umask 077; the create mode masks it.
      expect(await shOk('getfacl -cp inh/new', d)).toBe('user::rw-\nuser:1234:rwx\t#effective:rw-\ngroup::r-x\t#effective:r--\nmask::rw-\nother::r--\n\n');
      expect(await shOk('getfacl -cp inh/sub | grep default:user:1234', d)).toBe('default:user:1234:rwx\n');
      await shOk('setfacl -b f', d);
      expect(await shOk('ls -l f | cut -c1-11', d)).toBe('-rw------- \n');
    });

    it('the caller is the process: an unprivileged user is refused by mode bits and owns what it creates', async () => {
      const d = await dir();
      await shOk('mkdir closed open && chmod 700 closed && chmod 1777 open', d);
      expect((await sh('setpriv --reuid=1000 --regid=1000 --clear-groups touch closed/x', d)).err).toMatch(/Permission denied/);
      await shOk('setpriv --reuid=1000 --regid=1000 --clear-groups touch open/mine', d);
      expect(await shOk('stat -c "%u %g" open/mine', d)).toBe('1000 1000\n');
      await shOk('touch open/roots', d);
      expect((await sh('setpriv --reuid=1000 --regid=1000 --clear-groups rm -f open/roots', d)).err).toMatch(/Operation not permitted/);
    });

    it('fallocate, punch holes, SEEK_DATA/SEEK_HOLE on a sparse file', async () => {
      const d = await dir();
      await shOk('fallocate -l 1M a', d);
      expect(await shOk('stat -c %s a', d)).toBe('1048576\n');
      await shOk('fallocate -n -o 1M -l 1M a', d); // KEEP_SIZE
      expect(await shOk('stat -c %s a', d)).toBe('1048576\n');
      const out = await py(
        `fd = os.open('s', os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 16 << 20)
os.pwrite(fd, b'x' * 4096, 8 << 20)
print(os.lseek(fd, 0, os.SEEK_DATA) >= 0 and os.lseek(fd, 0, os.SEEK_DATA) <= 8 << 20)
h = os.lseek(fd, 8 << 20, os.SEEK_HOLE)
print(h > 8 << 20 and h <= 16 << 20)
try: os.lseek(fd, 17 << 20, os.SEEK_DATA)
except OSError as e: print(errno.errorcode[e.errno])
os.pwrite(fd, b'y' * 8192, 0)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
print(libc.fallocate(fd, 3, 0, 4096))  # PUNCH_HOLE|KEEP_SIZE
print(os.pread(fd, 4, 0), os.pread(fd, 4, 4096), os.fstat(fd).st_size)
os.close(fd)`,
        d,
      );
      expect(out).toBe("True\nTrue\nENXIO\n0\nb'\\x00\\x00\\x00\\x00' b'yyyy' 16777216\n");
    });

    it('flock and fcntl locks between two processes (served by PosixFs: FUSE_POSIX_LOCKS + FUSE_FLOCK_LOCKS)', async () => {
      const d = await dir();
      await shOk('touch lockfile', d);
      const holder = spawn('bash', ['-c', `cd '${d}' && exec flock -x lockfile -c 'echo held; sleep 1.5'`], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((r) => holder.once('exit', r));
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      expect((await sh('flock -n -x lockfile -c true', d)).code).toBe(1);
      await exited;
      expect((await sh('flock -n -x lockfile -c true', d)).code).toBe(0);
      const out = await py(
        `fd = os.open('lockfile', os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
pid = os.fork()
if pid == 0:
    fd2 = os.open('lockfile', os.O_RDWR)
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB); os._exit(0)
    except OSError as e:
        os._exit(7 if e.errno in (errno.EAGAIN, errno.EACCES) else 9)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))`,
        d,
      );
      expect(out).toBe('7\n');
    });

    it('an unlinked file stays usable while open and is evicted after the last close', async () => {
      const d = await dir();
      const out = await py(
        `fd = os.open('tmp', os.O_RDWR | os.O_CREAT, 0o600)
ino = os.fstat(fd).st_ino
os.write(fd, b'still here')
os.unlink('tmp')
print(ino, os.path.exists('tmp'), os.pread(fd, 10, 0), os.fstat(fd).st_nlink)
os.close(fd)`,
        d,
      );
      const [ino, ...rest] = out.trim().split(' ');
      expect(rest.join(' ')).toBe("False b'still here' 0");
      for (let i = 0; i < 50 && !m.evicted.includes(Number(ino)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(m.evicted).toContain(Number(ino));
    });

    it('FS_IOC_GETFLAGS/SETFLAGS through chattr and lsattr', async () => {
      const d = await dir();
      await shOk('touch f && chattr +dA f && mkdir sub && chattr +d sub', d);
      expect(await shOk('lsattr -d f sub', d)).toMatch(/^-*dA-* f\n-*d-* sub\n$/);
      await shOk('chattr -d f', d);
      expect(await shOk('lsattr f', d)).toMatch(/^-*A-* f\n$/);
    });

    it('statfs, copy_file_range (kernel falls back), mknod, sync', async () => {
      const d = await dir();
      const [namelen, blocks, bsize] = (await shOk('stat -f -c "%l %b %S" .', d)).trim().split(' ').map(Number);
      expect(namelen).toBe(255);
      expect(blocks! * bsize!).toBeGreaterThan(2 ** 40);
      await shOk('head -c 300000 /dev/urandom > src', d);
      const out = await py(
        `a = os.open('src', os.O_RDONLY); b = os.open('dst', os.O_WRONLY | os.O_CREAT, 0o644)
n = 0
while True:
    c = os.copy_file_range(a, b, 1 << 20)
    if c == 0: break
    n += c
print(n)`,
        d,
      );
      expect(out).toBe('300000\n');
      await shOk('cmp src dst && mknod c c 1 3 && sync -f src && sync', d);
      expect(await shOk('stat -c "%F %t %T" c', d)).toBe('character special file 1 3\n');
    });

    it('16 parallel clients with mixed reads, writes and metadata get their own replies', async () => {
      const d = await dir();
      const script = `set -e; mkdir c$1; cd c$1
        head -c $((100000 + $1 * 4099)) /dev/urandom > local.$$
        for r in 1 2 3; do cp local.$$ f$r; ls -la >/dev/null; stat f$r >/dev/null; done
        for r in 1 2 3; do cmp local.$$ f$r; done
        test "$(stat -c %s f3)" = $((100000 + $1 * 4099))
        setfattr -n user.id -v c$1 f1; test "$(getfattr -n user.id --only-values f1)" = c$1
        rm f1 f2 f3 local.$$; cd ..; rmdir c$1; echo ok$1`;
      const runs = await Promise.all(Array.from({ length: 16 }, (_, i) => sh(`bash -c '${script}' _ ${i}`, d)));
      expect(runs.map((r) => r.out.trim() + r.err)).toEqual(Array.from({ length: 16 }, (_, i) => `ok${i}`));
      expect(await shOk('ls -A', d)).toBe('');
    });

    it('concurrent in-process access with fs.promises (more than the libuv pool) does not deadlock', async () => {
      const d = await dir();
      await Promise.all(Array.from({ length: 40 }, (_, i) => fsp.writeFile(path.join(d, `p${i}`), `v${i}`)));
      const got = await Promise.all(Array.from({ length: 40 }, (_, i) => fsp.readFile(path.join(d, `p${i}`), 'utf8')));
      expect(got).toEqual(Array.from({ length: 40 }, (_, i) => `v${i}`));
      expect((await fsp.readdir(d)).length).toBe(40);
    });
  });
}
