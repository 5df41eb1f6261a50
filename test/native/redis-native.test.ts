// Native-layout truth, without a kernel: RedisNativeFs called through its ZusOperations methods,
// against a real redis-server, with ioredis playing "every other tool" that reads and writes the
// same keys.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisNativeFs } from '../../src/fs/native/redis-native.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../src/fs/operations.js';
import { privateRedisUnavailable, startRedis, freePort, type RedisServer } from '../helpers/redis-server.js';
import { caller, captureLog, errnoOf, listDir, readFile, walk, writeFile, type LogLine } from './helpers.js';

let server: RedisServer;
let cli: Redis;
let fs: RedisNativeFs;
let lines: LogLine[];

async function mountFs(extra: { prefix?: string } = {}): Promise<RedisNativeFs> {
  const c = captureLog('debug');
  lines = c.lines;
  return RedisNativeFs.open(server.url, { log: c.log, mount: 'cache', commandTimeoutMs: 1000, connectTimeoutMs: 2000, ...extra });
}

const warns = (): LogLine[] => lines.filter((l) => l.level === 40);
const T = 30_000;

describe.skipIf(privateRedisUnavailable !== undefined)(`redis native layout${privateRedisUnavailable ? ` (skipped: ${privateRedisUnavailable})` : ''}`, { timeout: T }, () => {
  beforeAll(async () => {
    server = await startRedis({ private: true });
    cli = new Redis(server.url);
  }, T);

  afterAll(async () => {
    await fs?.destroy();
    cli?.disconnect();
    await server?.stop();
  }, T);

  afterEach(async () => {
    await fs?.destroy();
    await cli.flushdb();
  });

  it('a string key set by another client is a file with its content; "/" in key names makes directories', async () => {
    fs = await mountFs();
    await cli.set('greeting', 'hello world');
    await cli.set('a/b/c', 'deep');
    await cli.set('a/top', 'x');
    const ino = await walk(fs, 'greeting');
    const attr = await fs.getattr(ino);
    expect(attr.size).toBe(11);
    expect(attr.mode).toBe(0o100644);
    expect((await readFile(fs, 'greeting')).toString()).toBe('hello world');
    expect((await listDir(fs, '')).sort()).toEqual(['a', 'greeting']);
    expect((await listDir(fs, 'a')).sort()).toEqual(['b', 'top']);
    expect((await fs.getattr(await walk(fs, 'a/b'))).mode).toBe(0o040755);
    expect((await readFile(fs, 'a/b/c')).toString()).toBe('deep');
    expect(await walk(fs, 'greeting')).toBe(ino); // stable per path
    expect(await errnoOf(walk(fs, 'nope'))).toBe('ENOENT');
  });

  it('files written through the mount are what other clients read: create, random writes, append, truncate', async () => {
    fs = await mountFs();
    const dir = await walk(fs, '');
    const a = await fs.newInode(caller, dir, 'new', { mode: 0o100644 });
    expect(await cli.get('new')).toBe('');
    expect(await errnoOf(fs.newInode(caller, dir, 'new', { mode: 0o100644 }))).toBe('EEXIST');
    const fh = await fs.open(caller, a.ino, 2);
    await fs.write(a.ino, fh, 0, Buffer.from('0123456789'));
    await fs.write(a.ino, fh, 3, Buffer.from('abc')); // random write, visible at once (no staging)
    expect(await cli.get('new')).toBe('012abc6789');
    await fs.write(a.ino, fh, 12, Buffer.from('Z')); // past the end: a zero-filled gap
    expect(await cli.getBuffer('new')).toEqual(Buffer.from('012abc6789\0\0Z'));
    expect((await fs.read(a.ino, fh, 2, 4)).toString()).toBe('2abc');
    await fs.release(a.ino, fh);
    await cli.expire('new', 500);
    await fs.setattr(caller, a.ino, { size: 4 });
    expect(await cli.get('new')).toBe('012a');
    await fs.setattr(caller, a.ino, { size: 6 });
    expect(await cli.getBuffer('new')).toEqual(Buffer.from('012a\0\0'));
    expect(await cli.ttl('new')).toBeGreaterThan(400); // truncate keeps the TTL
    expect((await fs.getattr(a.ino)).size).toBe(6);
    await fs.removeDentry(caller, dir, 'new', false);
    expect(await cli.exists('new')).toBe(0);
  });

  it('a hash is a directory of fields: read, staged write stored at close, create, unlink', async () => {
    fs = await mountFs();
    await cli.hset('user/1', { name: 'Ada', lang: 'en' });
    const h = await walk(fs, 'user/1');
    expect((await fs.getattr(h)).mode).toBe(0o040755);
    expect((await listDir(fs, 'user/1', true)).sort()).toEqual(['lang', 'name']);
    expect((await readFile(fs, 'user/1/name')).toString()).toBe('Ada');
    const f = await walk(fs, 'user/1/name');
    const fh = await fs.open(caller, f, 1);
    await fs.setattr(caller, f, { size: 0, fh });
    await fs.write(f, fh, 0, Buffer.from('Grace'));
    expect(await cli.hget('user/1', 'name')).toBe('Ada'); // staged until close
    expect((await fs.getattr(f)).size).toBe(5); // the kernel sees the staged size
    await fs.flush(f, fh);
    await fs.release(f, fh);
    expect(await cli.hget('user/1', 'name')).toBe('Grace');
    await writeFile(fs, 'user/1/email', 'ada@example.org', true);
    expect(await cli.hget('user/1', 'email')).toBe('ada@example.org');
    expect(await errnoOf(fs.newInode(caller, h, 'email', { mode: 0o100644 }))).toBe('EEXIST');
    expect(await errnoOf(fs.newInode(caller, h, 'sub', { mode: 0o040755 }))).toBe('EPERM');
    expect(await errnoOf(fs.removeDentry(caller, await walk(fs, 'user'), '1', true))).toBe('ENOTEMPTY');
    for (const name of ['name', 'lang', 'email']) await fs.removeDentry(caller, h, name, false);
    expect(await cli.exists('user/1')).toBe(0);
    // Emptied through the mount: the directory stays until rmdir, as on a local filesystem.
    expect(await listDir(fs, 'user')).toEqual(['1']);
    await fs.removeDentry(caller, await walk(fs, 'user'), '1', true);
    expect(await errnoOf(walk(fs, 'user/1'))).toBe('ENOENT');
  });

  it('lists, sets and sorted sets are line files; writing one replaces the key atomically and keeps its TTL', async () => {
    fs = await mountFs();
    await cli.rpush('q', 'one', 'two words', '');
    await cli.sadd('s', 'x', 'y');
    await cli.zadd('z', 1, 'alice', 2.5, 'bob smith', '-inf', 'low');
    expect((await readFile(fs, 'q')).toString()).toBe('one\ntwo words\n\n');
    expect((await fs.getattr(await walk(fs, 'q'))).size).toBe(15);
    expect((await readFile(fs, 's')).toString().split('\n').sort()).toEqual(['', 'x', 'y']);
    expect((await readFile(fs, 'z')).toString()).toBe('-inf low\n1 alice\n2.5 bob smith\n');
    expect((await fs.getattr(await walk(fs, 'z'))).size).toBe(Buffer.byteLength('-inf low\n1 alice\n2.5 bob smith\n'));

    await cli.expire('q', 1000);
    await writeFile(fs, 'q', 'a\nb\nc'); // no final newline: still three elements
    expect(await cli.lrange('q', 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await cli.ttl('q')).toBeGreaterThan(900);
    await writeFile(fs, 's', 'm\nm\nn\n');
    expect((await cli.smembers('s')).sort()).toEqual(['m', 'n']);
    await writeFile(fs, 'z', '3 c\n1e2 hundred\n+inf top\n');
    expect(await cli.zrange('z', 0, '-1', 'WITHSCORES')).toEqual(['c', '3', 'hundred', '100', 'top', 'inf']);

    // A bad line fails the close with EINVAL and a log line; the key keeps its old value.
    expect(await errnoOf(writeFile(fs, 'z', '3 c\nnot-a-score d\n'))).toBe('EINVAL');
    expect(await cli.zcard('z')).toBe(3);
    expect(warns().some((l) => /mount cache: write zset \/z: .*line 2/.test(l.msg))).toBe(true);

    // An element with a newline cannot be written back: the key opens read-only.
    await cli.rpush('nl', 'a\nb');
    expect(await errnoOf(fs.open(caller, await walk(fs, 'nl'), 1))).toBe('ENOTSUP');
    expect((await readFile(fs, 'nl')).toString()).toBe('a\nb\n');

    // Truncating to nothing deletes the key: Redis has no empty lists.
    await writeFile(fs, 'q', '');
    expect(await cli.exists('q')).toBe(0);
    expect(await errnoOf(walk(fs, 'q'))).toBe('ENOENT');
  });

  it('xattrs: user.redis.type and user.redis.ttl; setting the TTL sets EXPIRE or PERSIST', async () => {
    fs = await mountFs();
    await cli.set('k', 'v');
    await cli.hset('h', 'f', '1');
    const k = await walk(fs, 'k');
    expect(await fs.listxattr(caller, k)).toEqual(['user.redis.type', 'user.redis.ttl']);
    expect((await fs.getxattr(caller, k, 'user.redis.type')).toString()).toBe('string');
    expect((await fs.getxattr(caller, await walk(fs, 'h'), 'user.redis.type')).toString()).toBe('hash');
    expect((await fs.getxattr(caller, k, 'user.redis.ttl')).toString()).toBe('-1');
    await fs.setxattr(caller, k, 'user.redis.ttl', Buffer.from('120'), 0);
    expect(await cli.ttl('k')).toBeGreaterThan(100);
    expect(Number((await fs.getxattr(caller, k, 'user.redis.ttl')).toString())).toBeGreaterThan(100);
    await fs.setxattr(caller, k, 'user.redis.ttl', Buffer.from('-1'), 0);
    expect(await cli.ttl('k')).toBe(-1);
    await fs.setxattr(caller, k, 'user.redis.ttl', Buffer.from('50'), 0);
    await fs.removexattr(caller, k, 'user.redis.ttl');
    expect(await cli.ttl('k')).toBe(-1);
    const before = warns().length;
    expect(await errnoOf(fs.setxattr(caller, k, 'user.redis.type', Buffer.from('hash'), 0))).toBe('EPERM');
    expect(await errnoOf(fs.setxattr(caller, k, 'user.other', Buffer.from('x'), 0))).toBe('ENOTSUP');
    expect(await errnoOf(fs.setxattr(caller, k, 'user.redis.ttl', Buffer.from('soon'), 0))).toBe('EINVAL');
    expect(await errnoOf(fs.setxattr(caller, await walk(fs, 'h/f'), 'user.redis.ttl', Buffer.from('5'), 0))).toBe('ENOTSUP');
    expect(warns().length - before).toBe(4);
    expect(warns().at(-1)!.msg).toMatch(/^mount cache: setxattr user\.redis\.ttl \/h\/f: a hash field/);
    expect(await errnoOf(fs.getxattr(caller, k, 'user.other'))).toBe('ENODATA');
    expect(await fs.listxattr(caller, await walk(fs, 'h/f'))).toEqual([]);
    expect(await cli.get('k')).toBe('v');
  });

  it('what Redis cannot honour fails at once with EPERM/ENOTSUP/EINVAL and one warn line naming the mount', async () => {
    fs = await mountFs();
    await cli.set('k', 'v');
    const root = fs.rootIno;
    const k = await walk(fs, 'k');
    const cases: [string, () => Promise<unknown>][] = [
      ['EPERM', () => fs.setattr(caller, k, { mode: 0o100600 })],
      ['EPERM', () => fs.setattr(caller, k, { uid: 1234 })],
      ['EPERM', () => fs.setattr(caller, k, { mtimeNs: 1_000_000_000n })],
      ['EPERM', () => fs.addDentry(caller, root, 'hard', k)],
      ['EPERM', () => fs.newInode(caller, root, 'sym', { mode: 0o120777, symlink: 'k' })],
      ['EPERM', () => fs.newInode(caller, root, 'fifo', { mode: 0o010644 })],
      ['ENOTSUP', () => fs.fallocate(k, 0, 0, 0, 4096)],
    ];
    for (const [want, p] of cases) {
      const before = warns().length;
      expect(await errnoOf(p())).toBe(want);
      expect(warns().length - before).toBe(1);
      expect(warns().at(-1)!.msg).toMatch(/^mount cache: /);
      expect(warns().at(-1)!['mount']).toBe('cache');
    }
    // Changes to what is already there, and touch ("now"), are accepted.
    await fs.setattr(caller, k, { mode: 0o100644, uid: process.getuid!(), atimeNs: 'now', mtimeNs: 'now' });
    expect(await cli.get('k')).toBe('v');
    expect(await cli.exists('hard', 'sym', 'fifo')).toBe(0);
  });

  it('rename: RENAME keeps the TTL, NOREPLACE is RENAMENX, hash fields rename inside their hash, EXDEV across', async () => {
    fs = await mountFs();
    const root = fs.rootIno;
    await cli.set('src', 'data', 'EX', 1000);
    await cli.set('other', 'o');
    await cli.hset('h', { f: '1', g: '2' });
    await cli.set('dir/x', 'x');
    const ino = await walk(fs, 'src');
    const dir = await walk(fs, 'dir');
    await fs.rename(caller, root, 'src', dir, 'moved', 0);
    expect(await cli.get('dir/moved')).toBe('data');
    expect(await cli.ttl('dir/moved')).toBeGreaterThan(900);
    expect(await walk(fs, 'dir/moved')).toBe(ino); // the inode follows the file
    expect(await errnoOf(fs.rename(caller, dir, 'moved', root, 'other', RENAME_NOREPLACE))).toBe('EEXIST');
    await fs.rename(caller, dir, 'moved', root, 'other', 0);
    expect(await cli.get('other')).toBe('data');
    expect(await errnoOf(fs.rename(caller, root, 'other', root, 'h', 0))).toBe('EISDIR');

    const h = await walk(fs, 'h');
    expect(await errnoOf(fs.rename(caller, h, 'f', h, 'g', RENAME_NOREPLACE))).toBe('EEXIST');
    await fs.rename(caller, h, 'f', h, 'renamed', 0);
    expect(await cli.hgetall('h')).toEqual({ g: '2', renamed: '1' });
    await fs.rename(caller, h, 'g', h, 'renamed', RENAME_EXCHANGE);
    expect(await cli.hgetall('h')).toEqual({ g: '1', renamed: '2' });
    await fs.rename(caller, h, 'g', h, 'renamed', RENAME_EXCHANGE);

    // RENAME_EXCHANGE of two keys: values, types and TTLs swap; so do the inodes.
    await cli.set('x1', 'A', 'EX', 1000);
    await cli.rpush('x2', 'B');
    const [i1, i2] = [await walk(fs, 'x1'), await walk(fs, 'x2')];
    await fs.rename(caller, root, 'x1', dir, 'x', 0);
    await fs.rename(caller, dir, 'x', root, 'x2', RENAME_EXCHANGE);
    expect(await cli.lrange('dir/x', 0, -1)).toEqual(['B']);
    expect(await cli.get('x2')).toBe('A');
    expect(await cli.ttl('x2')).toBeGreaterThan(900);
    expect(await walk(fs, 'x2')).toBe(i1);
    expect(await walk(fs, 'dir/x')).toBe(i2);
    expect(await errnoOf(fs.rename(caller, root, 'x2', root, 'dir', RENAME_EXCHANGE))).toBe('EXDEV');

    expect(await errnoOf(fs.rename(caller, h, 'g', root, 'g', 0))).toBe('EXDEV');
    expect(await errnoOf(fs.rename(caller, root, 'other', h, 'other', 0))).toBe('EXDEV');
    expect(await errnoOf(fs.rename(caller, root, 'dir', root, 'dir2', 0))).toBe('EXDEV');
    expect(warns().filter((l) => /EXDEV/.test(l.msg))).toHaveLength(4);
    // A whole hash is one key: renaming it is one RENAME.
    await fs.rename(caller, root, 'h', dir, 'h2', 0);
    expect(await cli.hgetall('dir/h2')).toEqual({ g: '2', renamed: '1' });
    expect((await readFile(fs, 'dir/h2/g')).toString()).toBe('2');
  });

  it('mkdir keeps an empty directory in memory; rmdir of it works, of a non-empty one is ENOTEMPTY', async () => {
    fs = await mountFs();
    const root = fs.rootIno;
    await fs.newInode(caller, root, 'empty', { mode: 0o040755 });
    const sub = await fs.newInode(caller, await walk(fs, 'empty'), 'deeper', { mode: 0o040755 });
    expect(await listDir(fs, '')).toEqual(['empty']);
    expect(await listDir(fs, 'empty')).toEqual(['deeper']);
    expect(await errnoOf(fs.newInode(caller, root, 'empty', { mode: 0o040755 }))).toBe('EEXIST');
    expect(await errnoOf(fs.removeDentry(caller, root, 'empty', true))).toBe('ENOTEMPTY');
    await writeFile(fs, 'empty/deeper/file', 'v', true);
    expect(await cli.get('empty/deeper/file')).toBe('v');
    expect(await errnoOf(fs.removeDentry(caller, await walk(fs, 'empty'), 'deeper', true))).toBe('ENOTEMPTY');
    await fs.removeDentry(caller, sub.ino, 'file', false);
    await fs.removeDentry(caller, await walk(fs, 'empty'), 'deeper', true);
    await fs.removeDentry(caller, root, 'empty', true);
    expect(await listDir(fs, '')).toEqual([]);
    expect(await errnoOf(fs.removeDentry(caller, root, 'empty', true))).toBe('ENOENT');
    await cli.set('f', '1');
    expect(await errnoOf(fs.removeDentry(caller, root, 'f', true))).toBe('ENOTDIR');
  });

  it('a directory made by another client right after a listing is found at once; empty directories move with rename', async () => {
    fs = await mountFs();
    await cli.set('d/k', '1');
    await listDir(fs, '');
    await cli.set('late/x', '1');
    expect((await fs.lookup(caller, fs.rootIno, 'late')).mode).toBe(0o040755);
    await fs.newInode(caller, fs.rootIno, 'e', { mode: 0o040755 });
    await fs.newInode(caller, await walk(fs, 'e'), 'f', { mode: 0o040755 });
    await fs.rename(caller, fs.rootIno, 'e', await walk(fs, 'd'), 'e2', 0);
    expect(await listDir(fs, 'd/e2')).toEqual(['f']);
    expect(await errnoOf(walk(fs, 'e'))).toBe('ENOENT');
    expect(await listDir(fs, '')).toEqual(['d', 'late']);
  });

  it('SCAN listing: 10,000 keys page out once each with stable cookies, and KEYS is never sent', async () => {
    fs = await mountFs();
    await cli.config('RESETSTAT');
    const pipe = cli.pipeline();
    for (let i = 0; i < 10_000; i++) pipe.set(`k${i}`, String(i));
    for (let i = 0; i < 50; i++) pipe.set(`d/${i}`, 'x');
    await pipe.exec();
    const names = await listDir(fs, '', false, 128);
    expect(names).toHaveLength(10_001);
    expect(new Set(names).size).toBe(10_001);
    expect(names).toContain('d');
    // Keys added while paging do not disturb a listing in progress.
    const ino = fs.rootIno;
    const first = await fs.readdir(caller, ino, 0, 10, true);
    await cli.set('aaaa-new', '1');
    const rest: string[] = [];
    for (let c = first.at(-1)!.next; ; ) {
      const got = await fs.readdir(caller, ino, c, 500, true);
      if (got.length === 0) break;
      rest.push(...got.map((e) => e.name));
      c = got.at(-1)!.next;
    }
    expect(first.length + rest.length).toBe(10_003); // ".", "..", 10,001 names
    expect(rest).not.toContain('aaaa-new');
    expect(first.find((e) => e.name === 'd')?.attr?.mode).toBe(0o040755);
    const stats = await cli.info('commandstats');
    expect(stats).toMatch(/cmdstat_scan:/);
    expect(stats).not.toMatch(/cmdstat_keys:/);
  });

  it('names that cannot be paths are skipped with one debug line; the prefix option shows only its keys', async () => {
    fs = await mountFs();
    await cli.set('ok', '1');
    await cli.set('a//b', '1');
    await cli.set('trailing/', '1');
    await cli.set(Buffer.from([0x6e, 0x00, 0x6c]), '1');
    await cli.set(Buffer.from([0xff, 0xfe]), '1');
    await cli.set('x/../y', '1');
    expect(await listDir(fs, '')).toEqual(['ok']); // a key with any bad component is skipped whole
    await listDir(fs, '');
    const skips = lines.filter((l) => l.level === 20 && /is not shown/.test(l.msg));
    expect(skips.length).toBe(5); // once per key, not once per listing
    await fs.destroy();

    await cli.set('app:one', '1');
    await cli.set('app:dir/two', '2');
    fs = await mountFs({ prefix: 'app:' });
    expect((await listDir(fs, '')).sort()).toEqual(['dir', 'one']);
    await writeFile(fs, 'dir/three', '3', true);
    expect(await cli.get('app:dir/three')).toBe('3');
  });

  it('differential: random writes and truncates on a string key and on a hash field match a byte model', async () => {
    fs = await mountFs();
    await cli.hset('hh', 'field', '');
    let seed = 42;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const s = await fs.newInode(caller, fs.rootIno, 'str', { mode: 0o100644 });
    const f = await walk(fs, 'hh/field');
    const models = new Map<number, Buffer>([[s.ino, Buffer.alloc(0)], [f, Buffer.alloc(0)]]);
    for (const ino of [s.ino, f]) {
      let fh = await fs.open(caller, ino, 2);
      for (let i = 0; i < 150; i++) {
        let m = models.get(ino)!;
        const op = rnd(10);
        if (op < 7) {
          const off = rnd(m.length + 50);
          const data = Buffer.from(Array.from({ length: 1 + rnd(40) }, () => 97 + rnd(26)));
          await fs.write(ino, fh, off, data);
          const next = Buffer.alloc(Math.max(m.length, off + data.length));
          m.copy(next);
          data.copy(next, off);
          m = next;
        } else if (op < 9) {
          const size = rnd(m.length + 20);
          await fs.setattr(caller, ino, { size, fh });
          const next = Buffer.alloc(size);
          m.copy(next, 0, 0, Math.min(size, m.length));
          m = next;
        } else {
          await fs.flush(ino, fh); // a close and reopen in the middle
          await fs.release(ino, fh);
          fh = await fs.open(caller, ino, 2);
        }
        models.set(ino, m);
        const off = rnd(m.length + 1);
        expect(await fs.read(ino, fh, off, 64), `op ${i}`).toEqual(m.subarray(off, off + 64));
      }
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
    }
    expect(await cli.getBuffer('str')).toEqual(models.get(s.ino));
    expect(await cli.hgetBuffer('hh', 'field')).toEqual(models.get(f));
    expect((await fs.getattr(f)).size).toBe(models.get(f)!.length);
  });

  it('a stream (no file form) is a read-only file whose open fails with ENOTSUP; its type still shows', async () => {
    fs = await mountFs();
    await cli.xadd('events', '*', 'a', '1');
    const ino = await walk(fs, 'events');
    expect((await fs.getattr(ino)).mode).toBe(0o100444);
    expect((await fs.getxattr(caller, ino, 'user.redis.type')).toString()).toBe('stream');
    expect(await errnoOf(fs.open(caller, ino, 0))).toBe('ENOTSUP');
    expect(warns().at(-1)!.msg).toMatch(/^mount cache: open \/events: a stream key has no file form/);
  });

  it('keys deleted by another client while a listing pages out are left out, not errors', async () => {
    fs = await mountFs();
    for (let i = 0; i < 300; i++) await cli.set(`v${String(i).padStart(3, '0')}`, 'x');
    const first = await fs.readdir(caller, fs.rootIno, 0, 50, true);
    await cli.del(...Array.from({ length: 100 }, (_, i) => `v${String(i + 100).padStart(3, '0')}`));
    const names = first.map((e) => e.name);
    for (let c = first.at(-1)!.next; ; ) {
      const got = await fs.readdir(caller, fs.rootIno, c, 50, true);
      if (got.length === 0) break;
      names.push(...got.map((e) => e.name));
      c = got.at(-1)!.next;
    }
    expect(names).toHaveLength(2 + 200);
    expect(names).not.toContain('v150');
    expect(names).toContain('v299');
  });

  it('statfs reports Redis memory; inode numbers are reused only with a new generation', async () => {
    fs = await mountFs();
    const st = await fs.statfs();
    expect(st.blocks).toBeGreaterThan(0);
    expect(st.bfree).toBeLessThanOrEqual(st.blocks);
    expect(st.namelen).toBe(255);
    await cli.set('gone', '1');
    const a = await fs.lookup(caller, fs.rootIno, 'gone');
    await fs.removeDentry(caller, fs.rootIno, 'gone', false);
    await fs.evict(a.ino);
    const b = await fs.newInode(caller, fs.rootIno, 'fresh', { mode: 0o100644 });
    expect(b.ino).toBe(a.ino);
    expect(b.generation).toBe(a.generation + 1);
    expect(await errnoOf(fs.getattr(12345))).toBe('ESTALE');
  });
});

describe.skipIf(privateRedisUnavailable !== undefined)('redis native layout: a dead Redis', { timeout: T }, () => {
  it('a frozen server gives ETIMEDOUT within the command timeout; a killed one EIO at once; recovery after restart', async () => {
    const srv = await startRedis({ private: true });
    const c = captureLog('warn');
    const f = await RedisNativeFs.open(srv.url, { log: c.log, mount: 'dead', commandTimeoutMs: 500, connectTimeoutMs: 1000 });
    try {
      const k = new Redis(srv.url);
      await k.set('x', 'y');
      k.disconnect();
      const ino = await walk(f, 'x');
      srv.freeze();
      let t = Date.now();
      expect(await errnoOf(f.getattr(ino))).toBe('ETIMEDOUT');
      expect(Date.now() - t).toBeLessThan(2500);
      srv.thaw();
      await srv.kill();
      t = Date.now();
      const got = await errnoOf(f.getattr(ino));
      expect(['EIO', 'ETIMEDOUT']).toContain(got);
      expect(Date.now() - t).toBeLessThan(2500);
      await srv.restart();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = (await errnoOf(f.statfs())) === 'ok';
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
    } finally {
      await f.destroy();
      await srv.stop();
    }
  });

  it('open() of an unreachable server fails within connectTimeoutMs with ETIMEDOUT', async () => {
    const port = await freePort();
    const t = Date.now();
    const c = captureLog('warn');
    const err = await RedisNativeFs.open(`redis://127.0.0.1:${port}/0`, { log: c.log, connectTimeoutMs: 700 }).catch((e: unknown) => e);
    expect(Date.now() - t).toBeLessThan(2000);
    expect((err as { code?: string }).code).toBe('ETIMEDOUT');
    expect(String((err as Error).message)).toMatch(/cannot connect to redis:\/\/127\.0\.0\.1:\d+\/0 within 700 ms/);
  });

  it('URLs: a bad parameter or database is EINVAL and the password never shows', async () => {
    const c = captureLog('warn');
    const err = await RedisNativeFs.open('redis://:s3cret@127.0.0.1:1/x', { log: c.log }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('EINVAL');
    expect(String((err as Error).message)).not.toContain('s3cret');
    const err2 = await RedisNativeFs.open('redis://127.0.0.1:1/0?volume=v', { log: c.log }).catch((e: unknown) => e);
    expect(String((err2 as Error).message)).toMatch(/unknown parameter "volume"/);
  });
});

