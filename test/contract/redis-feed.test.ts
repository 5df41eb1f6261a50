// The redis backend's change feed and lock wake-ups between two backends on one volume (two
// gateways), on a real redis-server: pub/sub from the commit script, own changes skipped, and a
// subscriber that lost its connection tells its watchers to drop everything.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backends/index.js';
import type { Backend, MetaChange } from '../../src/backends/types.js';
import { redisUnavailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { inode } from './backend-contract.js';

let server: Promise<RedisServer> | undefined;
afterAll(async () => {
  if (server) await (await server).stop();
});

async function within(ms: number, cond: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.skipIf(redisUnavailable !== undefined)(`redis change feed${redisUnavailable ? ` (skipped: ${redisUnavailable})` : ''}`, () => {
  it('delivers what one gateway commits to the other, names and inodes, never its own; resets after a lost subscriber', async () => {
    const r = await (server ??= startRedis());
    const url = `${r.url}?volume=feed-${randomBytes(4).toString('hex')}`;
    const a: Backend = await openBackend(url, {});
    const b: Backend = await openBackend(url, {});
    try {
      const seenA: MetaChange[] = [];
      const seenB: MetaChange[] = [];
      a.meta.watch!((c) => seenA.push(c));
      b.meta.watch!((c) => seenB.push(c));
      await new Promise((res) => setTimeout(res, 100)); // subscribed
      expect(
        await a.meta.commit({
          checks: [],
          ops: [
            { op: 'putInode', inode: inode(10) },
            { op: 'putDentry', parent: 1, name: 'new\nname', ino: 10, cookie: 5 },
            { op: 'putDentry', parent: 0, name: 'orphan.10', ino: 10, cookie: 10 },
          ],
        }),
      ).toBe(true);
      await within(2000, () => seenB.length >= 2);
      expect(seenB).toEqual([
        { kind: 'inode', ino: 10 },
        { kind: 'dir', ino: 1, name: 'new\nname' },
      ]);
      expect(seenA).toEqual([]);

      const woken: number[] = [];
      b.locks!.watch!((ino) => woken.push(ino));
      const t = await a.locks!.get(10);
      expect(await a.locks!.put(10, t.version, [])).toBe(true);
      await within(2000, () => woken.includes(10));

      const { Redis } = await import('ioredis');
      const admin = new Redis(r.url);
      await admin.client('KILL', 'TYPE', 'pubsub');
      admin.disconnect();
      await within(5000, () => seenB.some((c) => c.kind === 'reset') && seenA.some((c) => c.kind === 'reset'));
    } finally {
      await a.close();
      await b.close();
    }
  });
});
