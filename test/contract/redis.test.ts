// The backend contract against the redis backend on a real redis-server (a throwaway one on a
// free loopback port, or REDIS_URL), plus what only Redis has: volume isolation in one database,
// outages (kill and restart the server) and connect timeouts.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backends/index.js';
import type { Backend } from '../../src/backends/types.js';
import { errno, toErrno } from '../../src/fs/errors.js';
import { freePort, privateRedisUnavailable, redisUnavailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { defineBackendContract, inode } from './backend-contract.js';

let server: Promise<RedisServer> | undefined;
const shared = (): Promise<RedisServer> => (server ??= startRedis());
afterAll(async () => {
  if (server) await (await server).stop();
});

/** Deletes every key of a volume, so a shared REDIS_URL server is left as it was found. */
async function dropVolume(url: string, volume: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const admin = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `zufs:{${volume}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await admin.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}

const volumeName = (): string => `t-${randomBytes(6).toString('hex')}`;
const open = async (url: string, volume: string, extra: Record<string, number> = {}): Promise<Backend> =>
  openBackend(`${url}?volume=${volume}`, { chunkSize: 64 * 1024, connectTimeoutMs: 3000, commandTimeoutMs: 2000, ...extra });

defineBackendContract({
  name: 'redis',
  skip: redisUnavailable,
  fresh: async () => {
    const { url } = await shared();
    const volume = volumeName();
    let current = await open(url, volume);
    return {
      backend: current,
      reopen: async () => (current = await open(url, volume, { chunkSize: 4096 })), // the volume keeps its own
      destroy: async () => {
        await current.close();
        await dropVolume(url, volume);
      },
    };
  },
});

describe.skipIf(redisUnavailable !== undefined)(`redis backend${redisUnavailable ? ` (skipped: ${redisUnavailable})` : ''}`, () => {
  it('keeps two volumes in one database apart', async () => {
    const { url } = await shared();
    const a = await open(url, volumeName());
    const b = await open(url, volumeName());
    try {
      await a.meta.commit({
        checks: [],
        ops: [
          { op: 'putInode', inode: inode(10) },
          { op: 'putDentry', parent: 1, name: 'only-in-a', ino: 10, cookie: 2 },
          { op: 'setXattr', ino: 10, name: 'user.a', value: Buffer.from('a') },
        ],
      });
      await a.chunks.write(10, 0, 0, Buffer.from('data of a'));
      const idA = await a.meta.allocIds(10);
      expect(await b.meta.getInode(10)).toBeUndefined();
      expect(await b.meta.lookup(1, 'only-in-a')).toBeUndefined();
      expect(await b.meta.readdir(1, 0, 10)).toEqual([]);
      expect(await b.meta.getXattr(10, 'user.a')).toBeUndefined();
      expect(await b.chunks.list(10)).toEqual([]);
      expect(await b.meta.stats()).toEqual({ inodes: 0, bytes: 0 });
      expect(await b.meta.allocIds(1)).toBe(2); // its own counter
      // the same create-if-absent succeeds in both: no shared namespace
      const create = { checks: [{ parent: 1, name: 'x', ino: null }], ops: [{ op: 'putDentry' as const, parent: 1, name: 'x', ino: 5, cookie: 3 }] };
      expect(await a.meta.commit(create)).toBe(true);
      expect(await b.meta.commit(create)).toBe(true);
      expect(idA).toBe(2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  const own = privateRedisUnavailable === undefined;
  it.skipIf(!own)(`fails promptly while Redis is down and recovers when it is back${own ? '' : ` (skipped: ${privateRedisUnavailable})`}`, async () => {
    const srv = await startRedis({ persistent: true });
    try {
      const b = await open(srv.url, volumeName(), { commandTimeoutMs: 1500 });
      try {
        await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
        await srv.kill();
        for (const op of [() => b.meta.getInode(10), () => b.meta.commit({ checks: [], ops: [{ op: 'delInode', ino: 10 }] }), () => b.chunks.write(10, 0, 0, Buffer.from('x')), () => b.sync()]) {
          const t0 = Date.now();
          const err = await op().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, 'an operation against a dead Redis must fail').toBeDefined();
          expect([errno.EIO, errno.ETIMEDOUT]).toContain(toErrno(err));
          expect(Date.now() - t0).toBeLessThan(1500 + 500);
        }
        await srv.restart();
        const deadline = Date.now() + 10_000;
        let got: unknown;
        for (;;) {
          try {
            got = await b.meta.getInode(10);
            break;
          } catch (e) {
            if (Date.now() > deadline) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        expect(got).toEqual(inode(10)); // appendfsync always: the write survived the kill
        expect(await b.meta.commit({ checks: [{ parent: 1, name: 'after', ino: null }], ops: [{ op: 'putDentry', parent: 1, name: 'after', ino: 10, cookie: 2 }] })).toBe(true);
        await b.chunks.write(10, 0, 0, Buffer.from('back'));
        expect((await b.chunks.read(10, 0, 0, 10)).toString()).toBe('back');
      } finally {
        await b.close();
      }
    } finally {
      await srv.stop();
    }
  }, 30_000);

  it.skipIf(!own)(`times out a command when the server stops answering, and carries on after${own ? '' : ` (skipped: ${privateRedisUnavailable})`}`, async () => {
    const srv = await startRedis({ private: true });
    try {
      const b = await open(srv.url, volumeName(), { commandTimeoutMs: 500 });
      try {
        await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
        srv.freeze(); // SIGSTOP: the connection stays up, replies stop
        try {
          for (const op of [() => b.meta.getInode(10), () => b.meta.commit({ checks: [], ops: [{ op: 'delInode', ino: 10 }] }), () => b.chunks.read(10, 0, 0, 10)]) {
            const t0 = Date.now();
            const err = await op().then(() => undefined, (e: unknown) => e);
            expect(toErrno(err)).toBe(errno.ETIMEDOUT);
            expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
            expect(Date.now() - t0).toBeLessThan(1500);
          }
        } finally {
          srv.thaw();
        }
        // The timed-out delInode may or may not have been applied once the server woke up.
        const deadline = Date.now() + 5000;
        for (;;) {
          try {
            expect(await b.meta.allocIds(1)).toBeGreaterThanOrEqual(2);
            break;
          } catch (e) {
            if (Date.now() > deadline) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        await b.close();
      }
    } finally {
      await srv.stop();
    }
  }, 20_000);

  it('fails to open within connectTimeoutMs when nothing listens', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = await openBackend(`redis://:sekret@127.0.0.1:${port}/0?volume=v`, { connectTimeoutMs: 700 }).then(
      (b) => b.close(),
      (e: unknown) => e,
    );
    const took = Date.now() - t0;
    expect(err).toBeInstanceOf(Error);
    expect(toErrno(err)).toBe(errno.ETIMEDOUT);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('sekret');
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(2000);
  });

  it.skipIf(!own)(`authenticates, and refuses a wrong password at once without echoing it${own ? '' : ` (skipped: ${privateRedisUnavailable})`}`, async () => {
    const srv = await startRedis({ password: 'right-horse' });
    try {
      const good = await openBackend(`redis://:right-horse@127.0.0.1:${srv.port}/0?volume=v`, { connectTimeoutMs: 3000 });
      expect(await good.meta.allocIds(1)).toBe(2);
      await good.close();
      const t0 = Date.now();
      const err = await openBackend(`redis://:not-the-password@127.0.0.1:${srv.port}/0?volume=v`, { connectTimeoutMs: 3000 }).then(
        (b) => b.close(),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(toErrno(err)).toBe(errno.EACCES);
      expect((err as Error).message).not.toContain('not-the-password');
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await srv.stop();
    }
  });

  it.skipIf(!own)(`sync() with syncWaitAof waits for the AOF fsync, or says the server cannot${own ? '' : ` (skipped: ${privateRedisUnavailable})`}`, async () => {
    const srv = await startRedis({ persistent: true });
    try {
      const b = await openBackend(`${srv.url}?volume=aof`, { syncWaitAof: true });
      try {
        await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
        const { Redis } = await import('ioredis');
        const admin = new Redis(srv.url);
        const info = await admin.info('server');
        admin.disconnect();
        const [major, minor] = /redis_version:(\d+)\.(\d+)/.exec(info)!.slice(1).map(Number) as [number, number];
        if (major > 7 || (major === 7 && minor >= 2)) {
          await b.sync();
        } else {
          const err = await b.sync().then(() => undefined, (e: unknown) => e);
          expect(toErrno(err)).toBe(errno.EIO);
          expect((err as Error).message).toContain('7.2');
        }
      } finally {
        await b.close();
      }
    } finally {
      await srv.stop();
    }
  });

  it('keeps two gateways on one volume coherent: one winner per name, disjoint ids', async () => {
    const { url } = await shared();
    const volume = volumeName();
    const a = await open(url, volume);
    const b = await open(url, volume);
    try {
      const create = (g: Backend, name: string, ino: number) =>
        g.meta.commit({ checks: [{ parent: 1, name, ino: null }], ops: [{ op: 'putInode', inode: inode(ino) }, { op: 'putDentry', parent: 1, name, ino, cookie: ino }] });
      for (let n = 0; n < 30; n++) {
        const [x, y] = await Promise.all([create(a, `n${n}`, 1000 + 2 * n), create(b, `n${n}`, 1001 + 2 * n)]);
        expect(x !== y).toBe(true);
        const winner = x ? 1000 + 2 * n : 1001 + 2 * n;
        expect(await a.meta.lookup(1, `n${n}`)).toBe(winner);
        expect(await b.meta.lookup(1, `n${n}`)).toBe(winner);
      }
      expect((await a.meta.stats()).inodes).toBe(30);
      const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).meta.allocIds(3)));
      const all = ids.flatMap((s) => [s, s + 1, s + 2]);
      expect(new Set(all).size).toBe(all.length);
      await a.chunks.write(1000, 0, 0, Buffer.from('seen by b'));
      expect((await b.chunks.read(1000, 0, 0, 100)).toString()).toBe('seen by b');
    } finally {
      await a.close();
      await b.close();
      await dropVolume(url, volume);
    }
  });

  it('refuses to write once the volume has vanished from Redis', async () => {
    const { url } = await shared();
    const volume = volumeName();
    const b = await open(url, volume);
    try {
      await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(1) }] });
      await dropVolume(url, volume); // what FLUSHDB or a restart without persistence does
      for (const op of [() => b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(2) }] }), () => b.meta.allocIds(1)]) {
        const err = await op().then(() => undefined, (e: unknown) => e);
        expect(toErrno(err)).toBe(errno.EIO);
        expect((err as Error).message).toContain('gone');
      }
      expect(await b.meta.getInode(2)).toBeUndefined();
    } finally {
      await b.close();
    }
  });

  it('rejects bad volume names', async () => {
    const { url } = await shared();
    for (const v of ['a}b', 'with space', '']) {
      const err = await openBackend(`${url}?volume=${encodeURIComponent(v)}`, { volume: v || 'x}' }).then(
        (b) => b.close(),
        (e: unknown) => e,
      );
      expect(toErrno(err)).toBe(errno.EINVAL);
    }
  });

  it('keeps a volume\'s keys under its hash-tagged prefix', async () => {
    const { url } = await shared();
    const volume = volumeName();
    const b = await open(url, volume);
    try {
      await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }, { op: 'putDentry', parent: 1, name: 'f', ino: 10, cookie: 2 }, { op: 'setXattr', ino: 10, name: 'user.a', value: Buffer.from('1') }] });
      await b.chunks.write(10, 0, 0, Buffer.from('x'));
      const { Redis } = await import('ioredis');
      const admin = new Redis(url);
      const keys = await admin.keys(`*${volume}*`);
      admin.disconnect();
      expect(keys.length).toBeGreaterThanOrEqual(6);
      for (const k of keys) expect(k.startsWith(`zufs:{${volume}}:`)).toBe(true);
    } finally {
      await b.close();
    }
  });
});
