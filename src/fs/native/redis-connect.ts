// Connecting a native-layout mount to Redis: the URL forms it accepts (a server, a Sentinel-managed
// master, or a Cluster: redis-url.ts), the client (the same failure behaviour as the posix-layout
// backend: every command bounded by commandTimeoutMs, reconnecting in the background;
// redis-client.ts) and the errno a Redis error becomes.
import { redactUrl } from '../../backends/index.js';
import { redisError } from '../../backends/redis/redis-backend.js';
import { connectRedis as openRedis, type RedisClient } from '../../backends/redis/redis-client.js';
import { parseRedisUrl, type RedisTarget } from '../../backends/redis/redis-url.js';
import { errno, FsError, fsError } from '../errors.js';

export interface RedisNativeTarget extends RedisTarget {
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

/** redis[s]://[user:pass@]host[:port][/db], redis[s]+sentinel://host[:port],…/master[/db] or
 * redis[s]+cluster://host[:port],…, each with an optional ?prefix=<key prefix>. */
export function parseRedisNativeUrl(url: string): RedisNativeTarget {
  const bad = (why: string): never => {
    throw fsError(errno.EINVAL, `redis native URL ${redactUrl(url)}: ${why}`);
  };
  const t = parseRedisUrl(url, bad);
  for (const key of t.params.keys()) if (key !== 'prefix') bad(`unknown parameter "${key}" (only "prefix" is understood by the native layout)`);
  return { ...t, prefix: t.params.get('prefix') ?? '', label: redactUrl(url) };
}

/** The errno a caller sees for a Redis or ioredis error. WRONGTYPE means the key changed type
 * under an open file or a cached inode: ESTALE. */
export function nativeRedisError(err: unknown, label: string): FsError {
  if (err instanceof FsError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.startsWith('WRONGTYPE')) return fsError(errno.ESTALE, `redis native (${label}): the key changed type: ${msg}`, err);
  // Callers check slots before multi-key commands; this is the backstop, never a bare EIO.
  if (msg.startsWith('CROSSSLOT')) return fsError(errno.EXDEV, `redis native (${label}): the keys are in different cluster slots: ${msg}`, err);
  if (msg.includes('string exceeds maximum allowed size')) return fsError(errno.EFBIG, `redis native (${label}): ${msg}`, err);
  return redisError(err, label);
}

/** Connects, failing within connectTimeoutMs (at once on bad credentials) with a clear error. */
export async function connectRedis(t: RedisNativeTarget, opts: ConnectOptions): Promise<RedisClient> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  return openRedis(t, {
    what: 'redis native',
    label: t.label,
    connectTimeoutMs,
    commandTimeoutMs: opts.commandTimeoutMs ?? 5000,
    connectionName: opts.clientName ?? 'zufs:native',
    // RESP2: sorted-set scores then arrive as Redis's own text, the form the files show.
    protocol: 2,
    authError: (err) => nativeRedisError(err, t.label),
  });
}
