// Redis Cluster and Sentinel URLs against real deployments (test/helpers/redis-cluster.ts: three
// masters; a master + replica + Sentinel): the backend contract on both for the posix layout, the
// change feed between two gateways, the native layout over keys spread on every master (listing,
// writes, renames across slots), a FUSE mount on a cluster URL, a Sentinel failover under an open
// backend, and bounded failures for unreachable deployments.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend, redactUrl } from '../../src/backends/index.js';
import { keySlot } from '../../src/backends/redis/redis-client.js';
import { joinHostList, parseRedisUrl, splitHostList } from '../../src/backends/redis/redis-url.js';
import type { Backend, MetaChange } from '../../src/backends/types.js';
import { errno, toErrno } from '../../src/fs/errors.js';
import { RedisNativeFs } from '../../src/fs/native/redis-native.js';
import { RENAME_EXCHANGE } from '../../src/fs/operations.js';
import { configFromUrl, parseConfig } from '../../src/zus/config.js';
import { defineBackendContract, inode } from '../contract/backend-contract.js';
import { scaleoutUnavailable, startCluster, startSentinelSet, waitFor, withClient, type RedisCluster, type SentinelSet } from '../helpers/redis-cluster.js';
import { cliBuilt, startMount, tmpDir } from '../helpers/mount.js';
import { freePort } from '../helpers/redis-server.js';
import { caller, captureLog, errnoOf, listDir, readFile, walk, writeFile } from '../native/helpers.js';

const skip = scaleoutUnavailable;
const T = 30_000;

let cluster: Promise<RedisCluster> | undefined;
let sentinel: Promise<SentinelSet> | undefined;
// The cluster requires a password (in its URL): every cluster test goes through AUTH on each node.
const theCluster = (): Promise<RedisCluster> => (cluster ??= startCluster({ password: 'cluster-secret' }));
const theSentinels = (): Promise<SentinelSet> => (sentinel ??= startSentinelSet());
afterAll(async () => {
  await Promise.all([cluster?.then((c) => c.stop()), sentinel?.then((s) => s.stop())]);
}, T);

const volumeName = (): string => `t-${randomBytes(6).toString('hex')}`;
const open = (url: string, volume: string, extra: Record<string, number> = {}): Promise<Backend> =>
  openBackend(`${url}?volume=${volume}`, { chunkSize: 64 * 1024, connectTimeoutMs: 5000, commandTimeoutMs: 5000, ...extra });

function contractOn(name: string, deployment: () => Promise<{ url: string }>): void {
  defineBackendContract({
    name,
    skip,
    timeoutMs: T,
    fresh: async () => {
      const { url } = await deployment();
      const volume = volumeName();
      let current = await open(url, volume);
      return {
        backend: current,
        reopen: async () => (current = await open(url, volume, { chunkSize: 4096 })),
        destroy: () => current.close(), // the deployment is private and goes at the end
      };
    },
  });
}

contractOn('redis cluster (redis+cluster://)', theCluster);
contractOn('redis sentinel (redis+sentinel://)', theSentinels);

async function within(ms: number, cond: () => boolean): Promise<void> {
  await waitFor(`a condition within ${ms} ms`, cond, ms);
}

/** Two gateways on one volume: what one commits reaches the other's watchers. */
async function feedCrosses(url: string): Promise<void> {
  const volume = volumeName();
  const a = await open(url, volume);
  const b = await open(url, volume);
  try {
    const seen: MetaChange[] = [];
    b.meta.watch!((c) => seen.push(c));
    await new Promise((r) => setTimeout(r, 300)); // subscribed
    await a.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }, { op: 'putDentry', parent: 1, name: 'x', ino: 10, cookie: 2 }] });
    await within(3000, () => seen.some((c) => c.kind === 'dir' && c.name === 'x'));
  } finally {
    await a.close();
    await b.close();
  }
}

describe.skipIf(skip !== undefined)(`redis scale-out URLs${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
  it('config and URL handling: the schemes imply zufs-redis, host lists survive, passwords are redacted, bad forms are EINVAL', async () => {
    const c = configFromUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001/?volume=v1', { mountpoint: '/mnt/x' });
    expect(c.mounts[0]!.fs).toBe('zufs-redis');
    expect(c.mounts[0]!.volume).toBe('v1');
    expect(configFromUrl('rediss+sentinel://:pw@10.0.0.1,10.0.0.2:26380/mymaster/2').mounts[0]!.fs).toBe('zufs-redis');
    expect(redactUrl('redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/m/0?volume=v')).toBe('redis+sentinel://:***@10.0.0.1:26379,10.0.0.2:26379/m/0?volume=v');
    expect(redactUrl('redis+cluster://s3cret@h1:7000,h2:7001')).toBe('redis+cluster://***@h1:7000,h2:7001');
    const yaml = parseConfig('mounts:\n  - name: c\n    url: redis+cluster://10.0.0.1:7000,10.0.0.2:7001\n    layout: native\n', 'x.yaml');
    expect(yaml.mounts[0]!.fs).toBe('zufs-redis');
    // what password_env does to a URL: the secret goes in, the host list stays
    const { first, more } = splitHostList('redis+sentinel://10.0.0.1:26379,[::1]:26380/m/3?volume=v');
    const u = new URL(first);
    u.password = encodeURIComponent('p@ss:/word');
    const t = parseRedisUrl(joinHostList(u.toString(), more), (why) => {
      throw new Error(why);
    });
    expect(t).toMatchObject({ mode: 'sentinel', master: 'm', db: 3, password: 'p@ss:/word', nodes: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }] });
    for (const [url, why] of [
      ['redis+cluster://127.0.0.1:7000/1?volume=v', 'database 0 only'],
      ['redis+sentinel://127.0.0.1:26379?volume=v', 'master name'],
      ['redis://127.0.0.1:1,127.0.0.1:2/0?volume=v', 'one host only'],
      ['redis+cluster://127.0.0.1:7000,:7001?volume=v', 'bad host'],
      ['redis+cluster://127.0.0.1:7000?volume=v&db=2', 'unknown parameter "db"'],
    ] as const) {
      const err = await openBackend(url).then(() => undefined, (e: unknown) => e);
      expect(toErrno(err), url).toBe(errno.EINVAL);
      expect(String((err as Error).message), url).toContain(why);
    }
  });

  it('cluster: a volume lives in one hash slot; the change feed reaches another gateway', async () => {
    const { url, masters, password } = await theCluster();
    const volume = volumeName();
    const b = await open(url, volume);
    try {
      await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }, { op: 'putDentry', parent: 1, name: 'f', ino: 10, cookie: 2 }] });
      await b.chunks.write(10, 0, 0, Buffer.from('chunk'));
      const counts = await Promise.all(masters.map((m) => withClient(m.port, (c) => c.keys(`zufs:{${volume}}:*`), password)));
      const holding = counts.filter((k) => k.length > 0);
      expect(holding).toHaveLength(1); // one master has the whole volume
      expect(new Set(holding[0]!.map((k) => keySlot(k))).size).toBe(1);
    } finally {
      await b.close();
    }
    await feedCrosses(url);
  });

  it('cluster: a wrong or missing password fails open at once with EACCES', async () => {
    const { masters } = await theCluster();
    const hosts = masters.map((m) => `127.0.0.1:${m.port}`).join(',');
    for (const url of [`redis+cluster://:wrong@${hosts}`, `redis+cluster://${hosts}`]) {
      const t0 = Date.now();
      const err = await openBackend(`${url}?volume=v`, { connectTimeoutMs: 5000 }).then(() => undefined, (e: unknown) => e);
      expect(toErrno(err), url).toBe(errno.EACCES);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(String((err as Error).message)).not.toContain('wrong');
    }
  });

  it('cluster: an unreachable cluster fails open with ETIMEDOUT within connect_timeout, the native layout too', async () => {
    const dead = `redis+cluster://127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    let t0 = Date.now();
    const err = await openBackend(`${dead}?volume=v`, { connectTimeoutMs: 800 }).then(() => undefined, (e: unknown) => e);
    expect(toErrno(err)).toBe(errno.ETIMEDOUT);
    expect(Date.now() - t0).toBeLessThan(3000);
    t0 = Date.now();
    const err2 = await RedisNativeFs.open(dead, { log: captureLog().log, connectTimeoutMs: 800 }).then(() => undefined, (e: unknown) => e);
    expect(toErrno(err2)).toBe(errno.ETIMEDOUT);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('cluster, native layout: keys on every master are listed; files written are Redis values; renames across slots copy, exchanges across slots are EXDEV', async () => {
    const { masters, password, url } = await theCluster();
    const cli = new Cluster(masters.map((m) => ({ host: '127.0.0.1', port: m.port })), { redisOptions: { password } });
    const { log, lines } = captureLog('debug');
    const prefix = `n${randomBytes(3).toString('hex')}:`;
    const fs = await RedisNativeFs.open(`${url}?prefix=${prefix}`, { log, mount: 'ncluster', commandTimeoutMs: 3000, connectTimeoutMs: 5000 });
    try {
      const names = Array.from({ length: 40 }, (_, i) => `k${i}`);
      await Promise.all(names.map((n) => cli.set(prefix + n, `value of ${n}`)));
      await cli.set(`${prefix}dir/inner`, 'deep');
      const holders = await Promise.all(masters.map((m) => withClient(m.port, (c) => c.keys(`${prefix}*`), password)));
      expect(holders.every((k) => k.length > 0)).toBe(true); // spread over all three masters
      expect((await listDir(fs, '')).sort()).toEqual([...names, 'dir'].sort());
      expect(await listDir(fs, 'dir')).toEqual(['inner']);
      expect((await readFile(fs, 'k7')).toString()).toBe('value of k7');

      await writeFile(fs, 'written', 'from the mount', true);
      expect(await cli.get(`${prefix}written`)).toBe('from the mount');

      // k1 and k2 are in different slots (checked), so the rename is a copy then a delete
      expect(keySlot(`${prefix}k1`)).not.toBe(keySlot(`${prefix}renamed`));
      await cli.expire(`${prefix}k1`, 1000);
      await fs.rename(caller, fs.rootIno, 'k1', fs.rootIno, 'renamed', 0);
      expect(await cli.get(`${prefix}renamed`)).toBe('value of k1');
      expect(await cli.ttl(`${prefix}renamed`)).toBeGreaterThan(900);
      expect(await cli.exists(`${prefix}k1`)).toBe(0);

      expect(keySlot(`${prefix}k2`)).not.toBe(keySlot(`${prefix}k3`));
      expect(await errnoOf(fs.rename(caller, fs.rootIno, 'k2', fs.rootIno, 'k3', RENAME_EXCHANGE))).toBe('EXDEV');
      expect(lines.some((l) => l.level === 40 && String(l.msg).includes('cluster hash slots'))).toBe(true);
      expect(await cli.get(`${prefix}k2`)).toBe('value of k2');

      // names with one hash tag share a slot: an atomic swap works there
      await cli.set(`${prefix}{t}a`, 'A');
      await cli.set(`${prefix}{t}b`, 'B');
      await fs.rename(caller, fs.rootIno, '{t}a', fs.rootIno, '{t}b', RENAME_EXCHANGE);
      expect([await cli.get(`${prefix}{t}a`), await cli.get(`${prefix}{t}b`)]).toEqual(['B', 'A']);

      const st = await fs.statfs();
      expect(st.files).toBeGreaterThan(40);
      const ino = await walk(fs, 'written');
      expect((await fs.getattr(ino)).size).toBe('from the mount'.length);
    } finally {
      await fs.destroy();
      cli.disconnect();
    }
  });

  it.skipIf(!cliBuilt())('cluster: a FUSE mount of a redis+cluster:// URL does file I/O', async () => {
    const { url } = await theCluster();
    const mnt = tmpDir('zufs-rcluster-mnt-');
    const m = await startMount(`${url}?volume=${volumeName()}`, mnt);
    try {
      const data = randomBytes(300_000);
      writeFileSync(path.join(mnt, 'a.bin'), data);
      mkdirSync(path.join(mnt, 'd'));
      writeFileSync(path.join(mnt, 'd', 'small'), 'hello');
      renameSync(path.join(mnt, 'd', 'small'), path.join(mnt, 'moved'));
      expect(readFileSync(path.join(mnt, 'a.bin')).equals(data)).toBe(true);
      expect(readdirSync(mnt).sort()).toEqual(['a.bin', 'd', 'moved']);
      expect(readFileSync(path.join(mnt, 'moved'), 'utf8')).toBe('hello');
      expect(statSync(path.join(mnt, 'a.bin')).size).toBe(300_000);
      unlinkSync(path.join(mnt, 'a.bin'));
      expect(existsSync(path.join(mnt, 'a.bin'))).toBe(false);
    } finally {
      expect(await m.stop()).toBe(0);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('cluster: with the volume\'s master frozen an operation fails with ETIMEDOUT in time; it works again once the master is back', async () => {
    const c = await theCluster();
    const volume = volumeName();
    const b = await open(c.url, volume, { commandTimeoutMs: 1000 });
    const frozen: typeof c.masters = [];
    try {
      await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
      for (const m of c.masters) if ((await withClient(m.port, (x) => x.keys(`zufs:{${volume}}:*`), c.password)).length > 0) frozen.push(m);
      expect(frozen).toHaveLength(1);
      frozen[0]!.freeze();
      const t0 = Date.now();
      const err = await b.meta.getInode(10).then(() => undefined, (e: unknown) => e);
      expect([errno.ETIMEDOUT, errno.EIO]).toContain(toErrno(err));
      expect(Date.now() - t0).toBeLessThan(4000);
      frozen.pop()!.thaw();
      await waitFor('the volume readable again', async () => (await b.meta.getInode(10)) !== undefined, 20_000);
      await waitFor('cluster_state:ok on every node', async () => {
        const states = await Promise.all(c.masters.map((m) => withClient(m.port, (x) => x.cluster('INFO'), c.password)));
        return states.every((st) => String(st).includes('cluster_state:ok'));
      }, 20_000);
    } finally {
      for (const m of frozen) m.thaw();
      await b.close();
    }
  });

  it('sentinel: the change feed reaches another gateway; an unknown master or no Sentinel fails open with ETIMEDOUT in time', async () => {
    const s = await theSentinels();
    await feedCrosses(s.url);
    const fs = await RedisNativeFs.open(`${s.url}?prefix=nat:`, { log: captureLog().log, connectTimeoutMs: 3000 });
    try {
      await writeFile(fs, 'via-sentinel', 'native through Sentinel', true);
      expect(await withClient(s.master.port, (x) => x.get('nat:via-sentinel'))).toBe('native through Sentinel');
      expect(await listDir(fs, '')).toEqual(['via-sentinel']);
    } finally {
      await fs.destroy();
    }
    for (const url of [`redis+sentinel://127.0.0.1:${s.sentinel.port}/no-such-master`, `redis+sentinel://127.0.0.1:${await freePort()}/m`]) {
      const t0 = Date.now();
      const err = await openBackend(`${url}?volume=v`, { connectTimeoutMs: 800 }).then(() => undefined, (e: unknown) => e);
      expect(toErrno(err), url).toBe(errno.ETIMEDOUT);
      expect(Date.now() - t0).toBeLessThan(3000);
    }
  });

  it('sentinel: the master is killed; the backend carries on with the promoted replica, data and change feed intact', async () => {
    const s = await theSentinels();
    const volume = volumeName();
    // The failover takes ~1 s to notice and ~1-2 s to promote: an operation waits for it.
    const a = await open(s.url, volume, { commandTimeoutMs: 15_000 });
    const b = await open(s.url, volume, { commandTimeoutMs: 15_000 });
    const quick = await open(s.url, volume, { commandTimeoutMs: 1000 });
    try {
      const seen: MetaChange[] = [];
      b.meta.watch!((c) => seen.push(c));
      await a.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }, { op: 'putDentry', parent: 1, name: 'before', ino: 10, cookie: 2 }] });
      await a.chunks.write(10, 0, 0, Buffer.from('written before the failover'));
      await s.replicaCaughtUp();
      expect(await s.currentMasterPort()).toBe(s.master.port);

      await s.master.kill();
      const t0 = Date.now();
      // Issued while there is no master: waits in the queue, then goes to the new one.
      expect(await a.meta.commit({ checks: [{ parent: 1, name: 'after', ino: null }], ops: [{ op: 'putDentry', parent: 1, name: 'after', ino: 10, cookie: 3 }] })).toBe(true);
      const took = Date.now() - t0;
      expect(took).toBeLessThan(15_000);
      expect(await s.currentMasterPort()).toBe(s.replica.port);
      expect((await a.chunks.read(10, 0, 0, 100)).toString()).toBe('written before the failover');
      expect(await b.meta.lookup(1, 'before')).toBe(10);
      expect(await b.meta.lookup(1, 'after')).toBe(10);
      // b's subscriber reconnected to the new master: it dropped its caches, then hears new changes
      await within(10_000, () => seen.some((c) => c.kind === 'reset'));
      await new Promise((r) => setTimeout(r, 300));
      await a.meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'later', ino: 10, cookie: 4 }] });
      await within(5000, () => seen.some((c) => c.kind === 'dir' && c.name === 'later'));

      // No replica is left to promote: a call fails within its timeout instead of waiting on.
      await s.replica.kill();
      const t1 = Date.now();
      const err = await quick.meta.getInode(10).then(() => undefined, (e: unknown) => e);
      expect(toErrno(err)).toBe(errno.ETIMEDOUT);
      expect(Date.now() - t1).toBeLessThan(3000);
    } finally {
      await Promise.all([a.close(), b.close(), quick.close()]);
    }
  });
});
