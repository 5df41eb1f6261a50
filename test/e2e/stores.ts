// The stores the host e2e suites run on, each as a URL for `zufs mount`; a store whose server
// is not available is reported as skipped with the reason.
import path from 'node:path';
import { afterAll } from 'vitest';
import { tmpDir } from '../helpers/mount.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

export interface E2EStore {
  name: string;
  /** A fresh volume URL, or undefined plus a reason when this store cannot run here. */
  open(): Promise<{ url: string; close(): Promise<void> } | { skip: string }>;
}

let redis: Promise<RedisServer | { skip: string }> | undefined;

// One redis-server per test file, stopped when the file is done.
afterAll(async () => {
  const r = await redis;
  if (r && !('skip' in r)) await r.stop();
  redis = undefined;
});

export const E2E_STORES: E2EStore[] = [
  {
    name: 'local',
    async open() {
      const dir = path.join(tmpDir('zufs-e2e-local-'), 'vol');
      return { url: `local://${dir}`, close: async () => undefined };
    },
  },
  {
    name: 'redis',
    async open() {
      redis ??= startRedis().catch((e: Error) => ({ skip: `redis-server unavailable: ${e.message}` }));
      const r = await redis;
      if ('skip' in r) return r;
      const volume = `e2e${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
      return { url: `${r.url}?volume=${volume}`, close: async () => undefined };
    },
  },
];
