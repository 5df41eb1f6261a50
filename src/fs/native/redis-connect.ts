// Connecting a native-layout mount to Redis: the URL form it accepts, the ioredis options (the same
// failure behaviour as the posix-layout backend: no offline queue, one retry, every command bounded
// by commandTimeoutMs, reconnecting in the background) and the errno a Redis error becomes.
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '../../backends/index.js';
import { connectRedis as openRedis, redisError } from '../../backends/redis/redis-backend.js';
import { errno, FsError, fsError } from '../errors.js';

export interface RedisNativeTarget {
  host: string;
  port: number;
  db: number;
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
  /** Only keys that start with this string are shown (stripped from the names); '' = the whole DB. */
  prefix: string;
  /** The URL with secrets hidden, for logs and errors. */
  label: string;
}

export interface ConnectOptions {
  /** Give up connecting after this long. Default 5000. */
  connectTimeoutMs?: number | undefined;
  /** A command without a reply after this long fails with ETIMEDOUT. Default 5000. */
  commandTimeoutMs?: number | undefined;
  /** CLIENT SETNAME, to find the mount in CLIENT LIST. */
  clientName?: string | undefined;
}


function bad(url: string, why: string): never {
  throw fsError(errno.EINVAL, `redis native URL ${redactUrl(url)}: ${why}`);
}

/** redis[s]://[user:pass@]host[:port][/db][?prefix=<key prefix>] */
export function parseRedisNativeUrl(url: string): RedisNativeTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    bad(url, 'not a URL (expected redis://host:port/db or rediss://...)');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') bad(url, `scheme must be redis or rediss, got "${u.protocol}"`);
  if (!u.hostname) bad(url, 'needs a host, e.g. redis://127.0.0.1:6379/0');
  const dbPart = u.pathname.replace(/^\//, '');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!/^\d*$/.test(dbPart) || !Number.isInteger(db)) bad(url, `database must be a number, got "${dbPart}"`);
  for (const key of u.searchParams.keys()) if (key !== 'prefix') bad(url, `unknown parameter "${key}" (only "prefix" is understood by the native layout)`);
  // redis://:pass@host and redis://pass@host (the old form) both carry a password.
  const username = u.password ? decodeURIComponent(u.username) || undefined : undefined;
  const password = u.password ? decodeURIComponent(u.password) : u.username ? decodeURIComponent(u.username) : undefined;
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 6379 : Number(u.port),
    db,
    username,
    password,
    tls: u.protocol === 'rediss:',
    prefix: u.searchParams.get('prefix') ?? '',
    label: redactUrl(url),
  };
}

/** The errno a caller sees for a Redis or ioredis error. WRONGTYPE means the key changed type
 * under an open file or a cached inode: ESTALE. */
export function nativeRedisError(err: unknown, label: string): FsError {
  if (err instanceof FsError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.startsWith('WRONGTYPE')) return fsError(errno.ESTALE, `redis native (${label}): the key changed type: ${msg}`, err);
  if (msg.includes('string exceeds maximum allowed size')) return fsError(errno.EFBIG, `redis native (${label}): ${msg}`, err);
  return redisError(err, label);
}

/** Connects, failing within connectTimeoutMs (at once on bad credentials) with a clear error. */
export async function connectRedis(t: RedisNativeTarget, opts: ConnectOptions): Promise<Redis> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const options: RedisOptions = {
    host: t.host,
    port: t.port,
    db: t.db,
    username: t.username,
    password: t.password,
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times - 1, 5), 1000),
    connectionName: opts.clientName ?? 'zufs:native',
    // RESP2: sorted-set scores then arrive as Redis's own text, the form the files show.
    protocol: 2,
  };
  if (t.tls) options.tls = { servername: t.host };
  return openRedis(options, {
    what: 'redis native',
    label: t.label,
    connectTimeoutMs,
    authError: (err) => nativeRedisError(err, t.label),
  });
}
