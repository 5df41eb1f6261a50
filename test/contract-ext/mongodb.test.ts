// The backend contract on MongoDB, against FerretDB (ZUFS_TEST_MONGO_URL, or a private server started
// here), one fresh volume (collection prefix) per test; plus what only this backend has to answer for.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MongoBackend, databaseInUrl, safeOrder } from '../../src/backends/mongodb/mongo-backend.js';
import type { Backend, MetaOp } from '../../src/backends/types.js';
import { toErrno, errno } from '../../src/fs/errors.js';
import { defineBackendContract, inode } from '../contract/backend-contract.js';
import { freePort, startServer, uniqueName, unavailable, type TestServer } from '../servers/servers.js';

// FerretDB v1 scans a whole collection for any query but an _id lookup (see mongo-backend.ts), so
// the contract's 1000-entry readdir in pages of 7 takes seconds there.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const skip = unavailable('mongo');
let server: Promise<TestServer> | undefined;
const url = async (): Promise<string> => (await (server ??= startServer('mongo'))).url;
const DB = 'zufs_test';

afterAll(async () => {
  if (server) await (await server).stop();
});

defineBackendContract({
  name: 'mongodb (FerretDB)',
  skip,
  fresh: async () => {
    const volume = uniqueName('v');
    const opts = { url: await url(), database: DB, volume, chunkSize: 64 * 1024 };
    let current: MongoBackend = await MongoBackend.open(opts);
    return {
      backend: current as Backend,
      reopen: async () => (current = await MongoBackend.open({ ...opts, chunkSize: undefined as unknown as number })),
      destroy: async () => {
        await current.close().catch(() => undefined);
        const c = await MongoBackend.open({ url: opts.url, database: DB, volume });
        await c.destroy();
        await c.close();
      },
    };
  },
});

describe.skipIf(skip !== undefined)(`mongodb backend specifics${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('keeps a volume\'s chunk size, whatever a later open asks for', async () => {
    const volume = uniqueName('cs');
    const b = await MongoBackend.open({ url: await url(), database: DB, volume, chunkSize: 8192 });
    try {
      const again = await MongoBackend.open({ url: await url(), database: DB, volume });
      expect(again.chunks.chunkSize).toBe(8192);
      await again.close();
      const other = await MongoBackend.open({ url: await url(), database: DB, volume, chunkSize: 4096 });
      expect(other.chunks.chunkSize).toBe(8192);
      await other.close();
      const err = await MongoBackend.open({ url: await url(), database: DB, volume: uniqueName('bad'), chunkSize: 100 }).catch((e: unknown) => e);
      expect(toErrno(err)).toBe(errno.EINVAL);
    } finally {
      await b.destroy();
      await b.close();
    }
  });

  it('keeps two gateways on one volume from both winning a create', async () => {
    const volume = uniqueName('two');
    const a = await MongoBackend.open({ url: await url(), database: DB, volume });
    const b = await MongoBackend.open({ url: await url(), database: DB, volume });
    try {
      for (let round = 0; round < 10; round++) {
        const name = `n${round}`;
        const txn = (ino: number) => ({
          checks: [{ parent: 1, name, ino: null }],
          ops: [
            { op: 'putInode' as const, inode: inode(ino) },
            { op: 'putDentry' as const, parent: 1, name, ino, cookie: ino },
          ],
        });
        const [x, y] = await Promise.all([a.meta.commit(txn(100 + 2 * round)), b.meta.commit(txn(101 + 2 * round))]);
        expect([x, y].filter(Boolean).length).toBe(1);
        const seen = await b.meta.lookup(1, name);
        expect(seen).toBe(x ? 100 + 2 * round : 101 + 2 * round);
      }
    } finally {
      await a.destroy();
      await a.close();
      await b.close();
    }
  });

  it('takes the database from the URL path, not the driver default', () => {
    expect(databaseInUrl('mongodb://h:1/appdb?retryWrites=false')).toBe('appdb');
    expect(databaseInUrl('mongodb://u:p@a:1,b:2/x%20y')).toBe('x y');
    expect(databaseInUrl('mongodb://h:1/')).toBeUndefined();
    expect(databaseInUrl('mongodb+srv://cluster.example.com/?tls=true')).toBeUndefined();
  });

  it('puts inodes before entries and deletes inodes after them', () => {
    const ops: MetaOp[] = [
      { op: 'delDentry', parent: 1, name: 'old' },
      { op: 'delInode', ino: 5 },
      { op: 'putDentry', parent: 1, name: 'new', ino: 6, cookie: 3 },
      { op: 'putInode', inode: inode(6) },
      { op: 'setXattr', ino: 6, name: 'user.a', value: Buffer.from('x') },
    ];
    expect(safeOrder(ops).map((o) => o.op)).toEqual(['putInode', 'setXattr', 'delDentry', 'putDentry', 'delInode']);
    const reuse: MetaOp[] = [{ op: 'delInode', ino: 5 }, { op: 'putInode', inode: inode(5) }];
    expect(safeOrder(reuse)).toEqual(reuse);
  });

  it('fails within the configured timeout when the server is unreachable', async () => {
    const port = await freePort(); // nothing listens there
    const t0 = Date.now();
    const err = await MongoBackend.open({ url: `mongodb://127.0.0.1:${port}/`, serverSelectionTimeoutMs: 700, connectTimeoutMs: 500 }).catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err).toBeInstanceOf(Error);
    expect(took).toBeLessThan(5000);
    expect([errno.EIO, errno.ETIMEDOUT]).toContain(toErrno(err));
  });
});
