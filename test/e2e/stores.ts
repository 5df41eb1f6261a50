// The stores the host e2e suites run on, each as a source for `zufs mount` (a URL or a YAML file);
// a store whose server is not available is reported as skipped with the reason. Through zuf
// (ZUFS_TEST_TRANSPORT=zuf, the VM suite) the stores are zufs-local, zufs-redis, zufs-redis with
// tiers on a /dev/shm file (op-buffer copies) and zufs-redis with t1 on a pmem device (NIO reads).
import { closeSync, constants as fsc, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { TRANSPORT, timeoutMs, tmpDir } from '../helpers/mount.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { s3Config, startServer, uniqueName, unavailable, type ServerKind, type TestServer } from '../servers/servers.js';

export interface E2EStore {
  name: string;
  /** A fresh volume (URL or config file), or the reason this store cannot run here. */
  open(): Promise<{ url: string; close(): Promise<void> } | { skip: string }>;
}

let redis: Promise<RedisServer | { skip: string }> | undefined;
const servers = new Map<ServerKind, Promise<TestServer | { skip: string }>>();

// One server of each kind per test file, stopped when the file is done.
afterAll(async () => {
  const r = await redis;
  if (r && !('skip' in r)) await r.stop();
  redis = undefined;
  for (const s of servers.values()) {
    const v = await s;
    if (!('skip' in v)) await v.stop();
  }
  servers.clear();
});

function server(kind: ServerKind): Promise<TestServer | { skip: string }> {
  let s = servers.get(kind);
  if (!s) {
    const why = process.env[`ZUFS_TEST_${kind.toUpperCase()}_URL`] ? undefined : unavailable(kind);
    s = why ? Promise.resolve({ skip: why }) : startServer(kind).catch((e: Error) => ({ skip: `${kind} server failed to start: ${e.message}` }));
    servers.set(kind, s);
  }
  return s;
}

/** A one-mount YAML config in a fresh directory. */
function configFile(lines: string[]): string {
  const file = path.join(tmpDir('zufs-e2e-cfg-'), 'zufs.yaml');
  writeFileSync(file, ['mounts:', ...lines.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`))].join('\n') + '\n');
  return file;
}

/** Takes the pmem device DEV for one mount at a time, and wipes its device table so the mount
 * formats a new tier volume; the returned function gives it back. The files of a vitest run share
 * the device, so they must run one at a time (--no-file-parallelism): a lock held by another live
 * process is an error after a short wait, not a queue. A lock left by a dead process is taken over. */
async function takePmem(dev: string): Promise<() => void> {
  const lock = path.join(os.tmpdir(), `zufs-e2e-${path.basename(dev)}.lock`);
  const deadline = Date.now() + timeoutMs(10_000);
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
      } catch {
        // just made, its pid not yet written
      }
      if (owner && owner !== process.pid && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${dev} is taken by process ${owner || '?'} (${lock}): run the test files one at a time (--no-file-parallelism)`);
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  const release = (): void => rmSync(lock, { recursive: true, force: true });
  try {
    // the previous mount's umount releases the device (the kernel holds it exclusively while mounted)
    for (;;) {
      try {
        closeSync(openSync(dev, fsc.O_RDONLY | fsc.O_EXCL));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // no device table at offset 0 (its first 4 KiB all zero): the mount formats a new tier volume
    const fd = openSync(dev, 'r+');
    try {
      writeSync(fd, Buffer.alloc(2 * 1024 * 1024), 0, 2 * 1024 * 1024, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    release();
    throw e;
  }
  return release;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const localMeta = (): string => `local://${path.join(tmpDir('zufs-e2e-meta-'), 'meta')}`;

const ALL_STORES: E2EStore[] = [
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
      return { url: `${r.url}?volume=${uniqueName('e2e')}`, close: async () => undefined };
    },
  },
  {
    // the t1 cache tier (a shared-memory file), t2 spill (a file) and write-back over Redis
    name: 'redis+tiers',
    async open() {
      redis ??= startRedis().catch((e: Error) => ({ skip: `redis-server unavailable: ${e.message}` }));
      const r = await redis;
      if ('skip' in r) return r;
      const dir = tmpDir('zufs-e2e-tiers-');
      const file = configFile([
        'name: tiered',
        `url: ${r.url}?volume=${uniqueName('e2e')}`,
        `tiers: { t1: /dev/shm/${path.basename(dir)}.t1, t2: ${dir}/t2, t1_size: 16MiB, t2_size: 64MiB, writeback: true }`,
      ]);
      return { url: file, close: async () => rmSync(`/dev/shm/${path.basename(dir)}.t1`, { force: true }) };
    },
  },
  {
    // t1 on a DAX pmem device (ZUFS_TEST_T1_DEVICE, /dev/pmem0 in the VM suite), from which zuf.ko
    // copies cached chunks itself (NIO reads); t2 a file and write-back, as redis+tiers
    name: 'redis+nio',
    async open() {
      const dev = process.env.ZUFS_TEST_T1_DEVICE;
      if (!dev) return { skip: 'ZUFS_TEST_T1_DEVICE (a DAX pmem device for t1, e.g. /dev/pmem0) is not set' };
      redis ??= startRedis().catch((e: Error) => ({ skip: `redis-server unavailable: ${e.message}` }));
      const r = await redis;
      if ('skip' in r) return r;
      const release = await takePmem(dev);
      const dir = tmpDir('zufs-e2e-nio-');
      const file = configFile([
        'name: nio',
        `url: ${r.url}?volume=${uniqueName('e2e')}`,
        `tiers: { t1: ${dev}, t2: ${dir}/t2, t2_size: 64MiB, writeback: true }`,
      ]);
      return {
        url: file,
        close: async () => {
          release();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'mongodb',
    async open() {
      const s = await server('mongo');
      if ('skip' in s) return s;
      const u = new URL(s.url);
      u.pathname = `/${uniqueName('e2e').replace(/-/g, '_')}`;
      return { url: u.toString(), close: async () => undefined };
    },
  },
  {
    name: 's3',
    async open() {
      const s = await server('s3');
      if ('skip' in s) return s;
      const c = s3Config(s.url);
      const secret = path.join(tmpDir('zufs-e2e-secret-'), 's3.secret');
      writeFileSync(secret, c.secretAccessKey, { mode: 0o600 });
      const file = configFile([
        'name: s3',
        `url: s3://${c.bucket}/${uniqueName('e2e')}/`,
        `endpoint: ${c.endpoint}`,
        `region: ${c.region}`,
        `access_key_id: ${c.accessKeyId}`,
        `password_file: ${secret}`,
        `meta_url: ${localMeta()}`,
      ]);
      return { url: file, close: async () => undefined };
    },
  },
  {
    name: 'webdav',
    async open() {
      const s = await server('webdav');
      if ('skip' in s) return s;
      const http = new URL(s.url);
      const scheme = http.protocol === 'https:' ? 'webdavs:' : 'webdav:';
      const dav = `${scheme}//${http.host}${path.posix.join(http.pathname, uniqueName('e2e'))}/`;
      const file = configFile(['name: dav', `url: ${dav}`, `meta_url: ${localMeta()}`]);
      return { url: file, close: async () => undefined };
    },
  },
];

const ZUF_STORES = ['local', 'redis', 'redis+tiers', 'redis+nio'];

export const E2E_STORES: E2EStore[] = TRANSPORT === 'zuf' ? ALL_STORES.filter((s) => ZUF_STORES.includes(s.name)) : ALL_STORES;
