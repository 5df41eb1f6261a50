// The fs-type registry: turns one validated mount config into the filesystem (ZusOperations)
// that a transport serves — a backend opened from the URL, under the layout the config names.
import type { Logger } from 'pino';
import type { MountConfig } from './config.js';
import type { ZusOperations } from '../fs/operations.js';
import { FsError, errno } from '../fs/errors.js';
import { openBackend, redactUrl, webdavToHttp } from '../backends/index.js';
import { joinHostList, splitHostList } from '../backends/redis/redis-url.js';
import { tieredBackend, type TieredBackendOptions } from '../pools/tiered-chunk-store.js';
import { PosixFs } from '../fs/posix-fs.js';

export interface OpenOptions {
  log: Logger;
  password?: string;
  /** zuf (ZufMountRequest.kernelTiers): the kernel takes a tiers: mount's devices over. */
  kernelTiers?: TieredBackendOptions['kernel'];
}

export async function openFilesystem(m: MountConfig, opts: OpenOptions): Promise<ZusOperations> {
  if (m.layout === 'native' && m.fs === 'zufs-redis') {
    const { RedisNativeFs } = await import('../fs/native/redis-native.js');
    return RedisNativeFs.open(withPassword(m.url, opts.password), {
      log: opts.log,
      mount: m.name,
      commandTimeoutMs: m.timeout,
      connectTimeoutMs: m.connect_timeout,
    });
  }
  if (m.layout === 'native' && (m.fs === 'zufs-s3' || m.fs === 'zufs-webdav')) {
    const { ObjectNativeFs } = await import('../fs/native/object-native.js');
    const isS3 = m.fs === 'zufs-s3';
    return ObjectNativeFs.open(isS3 ? s3Url(m) : webdavToHttp(withPassword(m.url, opts.password)), {
      log: opts.log,
      mount: m.name,
      ...(isS3 && m.access_key_id !== undefined && { accessKeyId: m.access_key_id }),
      ...(isS3 && opts.password !== undefined && { secretAccessKey: opts.password }),
      connectTimeoutMs: m.connect_timeout,
      commandTimeoutMs: m.timeout,
      cacheMs: m.attr_timeout,
    });
  }
  if (m.layout === 'native' && m.fs === 'zufs-mongo') {
    const { MongoNativeFs } = await import('../fs/native/mongo-native.js');
    return MongoNativeFs.open(withPassword(m.url, opts.password), {
      log: opts.log,
      mount: m.name,
      commandTimeoutMs: m.timeout,
      connectTimeoutMs: m.connect_timeout,
    });
  }
  if (m.layout === 'native') {
    throw new FsError(errno.ENOTSUP, `mount "${m.name}": layout "native" exists for redis, mongodb, s3 and webdav; ${m.fs} has only the posix layout`);
  }
  const isS3 = m.fs === 'zufs-s3';
  let backend = await openBackend(isS3 ? s3Url(m) : withPassword(m.url, opts.password), {
    volume: m.volume,
    ...(m.meta_url !== undefined && { metaUrl: m.meta_url }),
    ...(isS3 && m.access_key_id !== undefined && { accessKeyId: m.access_key_id }),
    ...(isS3 && opts.password !== undefined && { secretAccessKey: opts.password }),
    connectTimeoutMs: m.connect_timeout,
    commandTimeoutMs: m.timeout,
    chunkSize: m.chunk_size,
    ...(m.lock_lease !== undefined && { lockLeaseMs: Math.round(m.lock_lease) }),
  });
  if (m.tiers) {
    const t = m.tiers;
    backend = await tieredBackend(backend, t, {
      // names the store volume; tiers bound to another store are refused at mount
      storeKey: `${m.fs}|${redactUrl(isS3 ? s3Url(m) : m.url)}|${m.volume}`,
      label: m.name,
      log: opts.log.child({ tiers: t.t1 }),
      ...(t.dirty_max !== undefined && { dirtyMaxBytes: t.dirty_max }),
      ...(t.flush_delay !== undefined && { flushDelayMs: t.flush_delay }),
      ...(opts.kernelTiers !== undefined && { kernel: opts.kernelTiers }),
    });
  }
  // The local store is locked to this process, so nothing else can hold its unlinked-but-open
  // inodes: free what a crash left behind. Shared stores keep them (another gateway may have
  // them open) until an explicit reclaim.
  const exclusive = backend.kind === 'local' || backend.kind === 'memory';
  const fs = new PosixFs(backend, { log: opts.log, exclusive });
  if (exclusive) {
    const freed = await fs.reclaimOrphans();
    if (freed > 0) opts.log.info({ freed }, 'freed inodes unlinked while open before the last shutdown');
  }
  return fs;
}

/** The store URL with the secret from password_env/password_file put in its userinfo (a host list,
 * as in redis+cluster://h1:7000,h2:7001, is kept). */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const { first, more } = splitHostList(url);
  const u = new URL(first);
  u.password = encodeURIComponent(password);
  return joinHostList(u.toString(), more);
}

/** The s3:// URL with the endpoint/region/addressing keys of the mount as query parameters. */
function s3Url(m: MountConfig): string {
  const u = new URL(m.url);
  if (m.endpoint) u.searchParams.set('endpoint', m.endpoint);
  if (m.region) u.searchParams.set('region', m.region);
  if (m.addressing) u.searchParams.set('addressing', m.addressing);
  return u.toString();
}
