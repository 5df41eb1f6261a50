// Native-layout truth through the kernel: RedisNativeFs served in this process by the FUSE
// transport, used with ordinary tools (cat, printf, dd, ls, mv, getfattr/setfattr) in child
// processes, while redis-cli reads and writes the same keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisNativeFs } from '../../src/fs/native/redis-native.js';
import { privateRedisUnavailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { captureLog, type FuseMount, fuseUnavailable, type LogLine, mountFuse, sh, shOk } from './helpers.js';

const skip = privateRedisUnavailable ?? fuseUnavailable;

interface NativeMount extends FuseMount {
  lines: LogLine[];
}

async function mountNative(url: string, name: string, commandTimeoutMs = 5000): Promise<NativeMount> {
  const { log, lines } = captureLog('info');
  const fs = await RedisNativeFs.open(url, { log, mount: name, commandTimeoutMs, connectTimeoutMs: 2000 });
  return { ...(await mountFuse(fs, { tmpPrefix: 'zufs-native-', fsName: url, fsType: 'zufs-redis', log })), lines };
}

const T = 120_000;

describe.skipIf(skip !== undefined)(`redis native layout through FUSE${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
  let server: RedisServer;
  let m: NativeMount;
  let cli: (args: string) => Promise<string>;

  beforeAll(async () => {
    server = await startRedis({ private: true });
    cli = (args) => shOk(`redis-cli -p ${server.port} ${args}`);
    m = await mountNative(server.url, 'e2e');
  }, T);

  afterAll(async () => {
    await m?.close();
    await server?.stop();
  }, T);

  it('keys set with redis-cli are files; files written with shell tools are keys redis-cli reads', async () => {
    await cli(`set greeting 'hello world'`);
    await cli(`set conf/app/port 8080`);
    expect(await shOk('cat greeting; echo; cat conf/app/port', m.mp)).toBe('hello world\n8080');
    expect(await shOk('stat -c "%s %F %a" greeting conf conf/app', m.mp)).toBe('11 regular file 644\n0 directory 755\n0 directory 755\n');
    await shOk('printf "written by printf" > note && printf " and more" >> note', m.mp);
    expect(await cli('get note')).toBe('written by printf and more\n');
    await shOk('printf XY | dd of=note bs=1 seek=8 conv=notrunc status=none', m.mp); // a random write
    expect(await cli('get note')).toBe('written XY printf and more\n');
    await shOk('truncate -s 7 note && touch note && touch empty', m.mp);
    expect(await cli('get note')).toBe('written\n');
    expect(await cli('strlen empty')).toBe('0\n');
    await shOk('mkdir -p new/deep && printf v > new/deep/file', m.mp);
    expect(await cli('get new/deep/file')).toBe('v\n');
    await shOk('rm -r new conf', m.mp);
    expect(await cli('--scan --pattern "new/*"')).toBe('');
    expect(await cli('exists conf/app/port')).toBe('0\n');
    expect(await shOk('ls', m.mp)).toBe('empty\ngreeting\nnote\n');
  });

  it('a hash is a directory of fields; lists and sorted sets are line files replaced on write', async () => {
    await cli('hset user:1 name Ada lang en');
    expect(await shOk('ls user:1; cat user:1/name', m.mp)).toBe('lang\nname\nAda');
    await shOk('printf Grace > user:1/name && printf x@y > user:1/email', m.mp);
    expect(await cli('hgetall user:1')).toBe('name\nGrace\nlang\nen\nemail\nx@y\n');
    await cli('rpush jobs a b c');
    await cli('expire jobs 1000');
    expect(await shOk('cat jobs; wc -l < jobs', m.mp)).toBe('a\nb\nc\n3\n');
    await shOk(`printf 'x\\ny\\n' > jobs`, m.mp);
    expect(await cli('lrange jobs 0 -1')).toBe('x\ny\n');
    expect(Number(await cli('ttl jobs'))).toBeGreaterThan(900);
    await shOk('echo z >> jobs', m.mp); // an append stages the whole file and replaces it at close
    expect(await cli('lrange jobs 0 -1')).toBe('x\ny\nz\n');
    await cli('zadd board 10 ann 2.5 "bo b"');
    expect(await shOk('cat board', m.mp)).toBe('2.5 bo b\n10 ann\n');
    await shOk(`sort -rn board > /tmp/zufs-native-board && cat /tmp/zufs-native-board > board && echo '1 cy' >> board`, m.mp);
    expect(await cli('zrange board 0 -1 withscores')).toBe('cy\n1\nbo b\n2.5\nann\n10\n');
    // The error comes at close(2): a tool that checks it (coreutils, not bash's builtin) reports it.
    const bad = await sh(`/usr/bin/printf 'oops\\n' > board`, m.mp);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/Invalid argument/);
    expect(await cli('zcard board')).toBe('3\n');
    expect(m.lines.some((l) => l.level === 40 && /mount e2e: write zset \/board: .*line 1/.test(l.msg))).toBe(true);
  });

  it('xattrs show the type and TTL; setfattr sets the TTL', async () => {
    await cli('set session abc');
    await cli('sadd tags red');
    expect(await shOk('getfattr -n user.redis.type --only-values session; echo; getfattr -n user.redis.ttl --only-values session', m.mp)).toBe('string\n-1');
    expect(await shOk('getfattr -n user.redis.type --only-values tags', m.mp)).toBe('set');
    await shOk('setfattr -n user.redis.ttl -v 300 session', m.mp);
    expect(Number(await cli('ttl session'))).toBeGreaterThan(250);
    await shOk('setfattr -n user.redis.ttl -v -1 session', m.mp);
    expect(await cli('ttl session')).toBe('-1\n');
    expect((await sh('setfattr -n user.redis.type -v hash session', m.mp)).err).toMatch(/Operation not permitted/);
    expect((await sh('setfattr -n user.color -v blue session', m.mp)).err).toMatch(/Operation not supported/);
    expect(await shOk('getfattr -d -m - session | grep -c user.redis', m.mp)).toBe('2\n');
  });

  it('what Redis cannot honour fails at once with the precise errno and a log line naming the mount', async () => {
    await cli('set victim v');
    await cli('hset h f 1');
    const before = m.lines.filter((l) => l.level === 40).length;
    const expectations: [string, RegExp][] = [
      ['chmod 600 victim', /Operation not permitted/],
      ['chown 1234 victim', /Operation not permitted/],
      ['ln victim hard', /Operation not permitted/],
      ['ln -s victim soft', /Operation not permitted/],
      ['mkfifo pipe', /Operation not permitted/],
      ['touch -d 2001-01-01 victim', /Operation not permitted/],
      ['mkdir h/sub', /Operation not permitted/],
      ['fallocate -l 1M victim', /Operation not supported/],
    ];
    for (const [cmd, want] of expectations) {
      const r = await sh(cmd, m.mp);
      expect(r.code, cmd).not.toBe(0);
      expect(r.err, cmd).toMatch(want);
    }
    const warns = m.lines.filter((l) => l.level === 40).slice(before);
    expect(warns.length).toBe(expectations.length);
    for (const w of warns) expect(w.msg).toMatch(/^mount e2e: /);
    expect(await cli('exists hard soft pipe')).toBe('0\n');
    expect(await cli('get victim')).toBe('v\n');
  });

  it('mv: a key rename is RENAME; into a hash it is EXDEV and mv copies instead', async () => {
    await cli('set a 1');
    await cli('hset box x 0');
    await shOk('mkdir -p d && mv a d/b', m.mp);
    expect(await cli('get d/b')).toBe('1\n');
    await shOk('mv d/b box/b', m.mp); // rename(2) fails with EXDEV; mv copies and unlinks
    expect(await cli('hget box b')).toBe('1\n');
    expect(await cli('exists d/b')).toBe('0\n');
    expect(m.lines.some((l) => l.level === 40 && /rename \/d\/b: .*EXDEV/.test(l.msg))).toBe(true);
  });

  it('ls of 10,000 keys (SCAN, never KEYS) lists each once', async () => {
    await shOk(`redis-cli -p ${server.port} config resetstat >/dev/null && for i in $(seq 10000); do echo "SET many/k$i $i"; done | redis-cli -p ${server.port} --pipe >/dev/null`);
    expect(await shOk('ls many | wc -l; ls many | sort -u | wc -l; ls -f many | wc -l', m.mp)).toBe('10000\n10000\n10002\n');
    expect(await shOk('cat many/k4242', m.mp)).toBe('4242');
    const stats = await cli('info commandstats');
    expect(stats).toMatch(/cmdstat_scan:/);
    expect(stats).not.toMatch(/cmdstat_keys:/);
  });
});

describe.skipIf(skip !== undefined)('redis native layout through FUSE: a dead Redis', { timeout: T }, () => {
  it('a frozen Redis fails reads with ETIMEDOUT within the timeout; a killed one with EIO; never a hang', async () => {
    const server = await startRedis({ private: true });
    const m = await mountNative(server.url, 'dead', 800);
    try {
      await shOk(`redis-cli -p ${server.port} set k v >/dev/null`);
      expect(await shOk('cat k', m.mp)).toBe('v');
      server.freeze();
      let t = Date.now();
      const frozen = await sh('cat k', m.mp, 20_000);
      expect(Date.now() - t).toBeLessThan(5000);
      expect(frozen.err).toMatch(/Connection timed out/);
      server.thaw();
      await server.kill();
      t = Date.now();
      const dead = await sh('cat k', m.mp, 20_000);
      expect(Date.now() - t).toBeLessThan(5000);
      expect(dead.err).toMatch(/Input\/output error|Connection timed out/);
    } finally {
      server.thaw();
      await m.close();
      await server.stop();
    }
  });
});
