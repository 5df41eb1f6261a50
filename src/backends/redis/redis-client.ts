// One ioredis client for a parsed Redis URL (redis-url.ts) — a server, a Sentinel-managed master, or
// a Cluster — with the failure behaviour every zufs Redis user relies on: every command bounded by
// commandTimeout, connecting bounded by connectTimeoutMs (at once on bad credentials), reconnecting
// in the background. And what a cluster needs besides: its masters (SCAN and INFO run per node)
// and the hash slot of a key (to tell a cross-slot operation before Redis refuses it).
//
// Per mode, while the store is unreachable:
// - server: no offline queue, one retry: a call fails at once with EIO.
// - sentinel: calls wait in the offline queue for the (new) master, each bounded by
//   commandTimeout (then ETIMEDOUT): a failover the Sentinels finish within the timeout is not
//   seen by the caller. A master that was demoted answers READONLY: the client reconnects through
//   the Sentinels and resends.
// - cluster: calls for a slot whose node is up go ahead; with the cluster not ready they fail at once
//   (EIO); a failover (MOVED, TRYAGAIN, CLUSTERDOWN) is retried by ioredis, each attempt bounded by
//   commandTimeout.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { errno, fsError, type FsError } from '../../fs/errors.js';
import type { RedisTarget } from './redis-url.js';

export type RedisClient = Redis | Cluster;

const AUTH_ERROR = /^(NOAUTH|WRONGPASS|NOPERM)/;

/** Per-connection settings, the same in every mode. */
export interface ClientOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Reconnects a standalone command in flight survives. Default 1. */
  maxRetriesPerRequest?: number | undefined;
  connectionName: string;
  /** 2 where replies must be RESP2's text forms. */
  protocol?: 2 | 3 | undefined;
}

/** Keeps trying in the background for as long as the client is open: 50 ms doubling to 1 s. */
const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times - 1, 5), 1000);

/** The ioredis client for `t`, not yet connected. */
export function createClient(t: RedisTarget, o: ClientOptions): RedisClient {
  const common: RedisOptions = {
    username: t.username,
    password: t.password,
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    connectionName: o.connectionName,
    ...(o.protocol !== undefined && { protocol: o.protocol }),
  };
  const tls = (host: string): { tls?: { servername: string } } => (t.tls ? { tls: { servername: host } } : {});
  if (t.mode === 'cluster') {
    const options: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: backoff,
      slotsRefreshTimeout: Math.min(o.connectTimeoutMs, 2000),
      redisOptions: { ...common, maxRetriesPerRequest: o.maxRetriesPerRequest ?? 1, ...(t.tls && { tls: {} }) },
    };
    return new Cluster(t.nodes, options);
  }
  const options: RedisOptions = {
    ...common,
    db: t.db,
    lazyConnect: true,
    enableAutoPipelining: true,
    retryStrategy: backoff,
  };
  if (t.mode === 'sentinel') {
    Object.assign(options, {
      sentinels: t.nodes,
      name: t.master,
      role: 'master',
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      sentinelRetryStrategy: backoff,
      sentinelCommandTimeout: o.connectTimeoutMs,
      failoverDetector: true,
      reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
      ...(t.tls && { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} }),
    } satisfies RedisOptions);
  } else {
    Object.assign(options, {
      host: t.nodes[0]!.host,
      port: t.nodes[0]!.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: o.maxRetriesPerRequest ?? 1,
      ...tls(t.nodes[0]!.host),
    } satisfies RedisOptions);
  }
  return new Redis(options);
}

/** Creates the client for `t` and waits until it is ready: fails with ETIMEDOUT within
 * connectTimeoutMs, or at once with authError(err) on bad credentials. Later errors are left to the
 * calls (and ioredis keeps reconnecting in the background). */
export async function connectRedis(
  t: RedisTarget,
  o: ClientOptions & { what: string; label: string; authError: (err: unknown) => FsError },
): Promise<RedisClient> {
  const redis = createClient(t, o);
  let lastError: unknown;
  let onAuthError: ((err: unknown) => void) | undefined;
  // Without a listener ioredis prints every reconnect failure; the errors surface on the calls.
  // A cluster reports a node's failure as "node error", and a failed slots refresh as an error
  // carrying the last node's.
  const onError = (err: unknown): void => {
    const nodeErr = (err as { lastNodeError?: unknown })?.lastNodeError ?? err;
    lastError = nodeErr;
    if (nodeErr instanceof Error && AUTH_ERROR.test(nodeErr.message)) onAuthError?.(nodeErr);
  };
  redis.on('error', onError);
  redis.on('node error', onError);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: FsError): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      onAuthError = undefined;
      redis.disconnect();
      reject(err);
    };
    const timer = setTimeout(() => {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      fail(fsError(errno.ETIMEDOUT, `${o.what}: cannot connect to ${o.label} within ${o.connectTimeoutMs} ms${why}`, lastError));
    }, o.connectTimeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      onAuthError = undefined;
      resolve();
    };
    onAuthError = (err) => fail(o.authError(err));
    redis.once('ready', onReady);
    redis.connect().catch((err: unknown) => {
      lastError ??= err;
    });
  });
  return redis;
}

/** A second connection like `redis` (for SUBSCRIBE), connecting by itself, with an offline queue
 * (subscriptions are made before it is up and replayed after every reconnect). */
export function duplicateClient(redis: RedisClient, connectionName: string): RedisClient {
  if (redis instanceof Cluster) {
    return redis.duplicate([], {
      lazyConnect: false,
      enableOfflineQueue: true,
      redisOptions: { ...redis.options.redisOptions, connectionName },
    });
  }
  return redis.duplicate({ enableOfflineQueue: true, lazyConnect: false, connectionName });
}

/** The connections a keyless command must visit to see the whole keyspace: every master of a
 * cluster, else the client itself. */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/** CRC16/XMODEM, the checksum Redis Cluster takes modulo 16384. */
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The cluster hash slot of a key: of its hash tag (the text between the first "{" and the next "}",
 * when not empty), else of the whole key. */
export function keySlot(key: string | Buffer): number {
  let b = typeof key === 'string' ? Buffer.from(key) : key;
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) b = b.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of b) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ byte) & 0xff]!;
  return crc & 0x3fff;
}
