// Opens a posix-layout Backend from a URL, chosen by scheme:
//   memory://                                     in-process, for tests
//   local:///abs/path/to/volume                   embedded store on the local disk
//   redis://[user:pass@]host[:port][/db]?volume=name    (rediss:// for TLS)
//   redis+sentinel://[user:pass@]host[:port],…/master[/db]?volume=name, redis+cluster://host[:port],…?volume=name
//   mongodb://... and mongodb+srv://...           (volume from the options; see mongodb/)
// and redacts credentials from URLs for anything that logs them.
import { errno, fsError } from '../fs/errors.js';
import { LocalBackend } from './local/local-backend.js';
import { MemoryBackend } from './memory.js';
import { RedisBackend } from './redis/redis-backend.js';
import { isRedisScheme, joinHostList, parseRedisUrl, splitHostList } from './redis/redis-url.js';
import type { Backend } from './types.js';

export interface OpenBackendOptions {
  /** Chunk size for a new volume (existing volumes keep theirs). */
  chunkSize?: number;
  /** redis: volume name, when the URL has no ?volume=. */
  volume?: string;
  /** redis: give up connecting at open after this long. Default 5000. */
  connectTimeoutMs?: number;
  /** redis: fail a command without a reply after this long (ETIMEDOUT). Default 5000. */
  commandTimeoutMs?: number;
  /** redis: sync() waits for the server's AOF fsync (WAITAOF, Redis >= 7.2). */
  syncWaitAof?: boolean;
  /** redis, mongodb: a gateway's fcntl/flock locks outlive it (a crash) by at most this long. Default 5000. */
  lockLeaseMs?: number;
  /** local: log size that triggers a snapshot. */
  compactBytes?: number;
  /** local: data files kept open at once. */
  maxOpenFiles?: number;
  /** s3/webdav: the metadata engine URL (redis://, mongodb:// or local:///); the object store holds data. */
  metaUrl?: string;
  /** s3: credentials (else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

const SECRET_PARAMS = /^(password|pass|pwd|secret|token|access_?key|secret_?key|auth|sig|signature|x-amz-signature|x-amz-credential)$/i;

/** The URL with any password (userinfo or secret-looking query parameter) replaced by "***". */
export function redactUrl(url: string): string {
  // A host list (redis+cluster://h1:7000,h2:7001) is not a WHATWG URL: redact with its first host.
  const { first, more } = splitHostList(url);
  let u: URL;
  try {
    u = new URL(first);
  } catch {
    // Not a URL we can parse: still hide anything between "//" and "@".
    return url.replace(/\/\/[^/@\s]*@/g, '//***@').replace(/:[^:/@\s]*@/g, ':***@');
  }
  if (u.password) u.password = '***';
  else if (u.username && isRedisScheme(u.protocol)) u.username = '***'; // redis://secret@host is a password
  for (const key of [...u.searchParams.keys()]) if (SECRET_PARAMS.test(key)) u.searchParams.set(key, '***');
  return joinHostList(u.toString(), more);
}

function bad(url: string, why: string): never {
  throw fsError(errno.EINVAL, `backend URL ${redactUrl(url)}: ${why}`);
}

function positiveInt(url: string, what: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v <= 0) bad(url, `${what} must be a positive integer, got ${v}`);
  return v;
}

export async function openBackend(url: string, opts: OpenBackendOptions = {}): Promise<Backend> {
  let u: URL;
  try {
    u = new URL(splitHostList(url).first);
  } catch {
    bad(url, 'not a URL (expected memory://, local:///path, redis://host:port/db?volume=name or rediss://...)');
  }
  const chunkSize = positiveInt(url, 'chunkSize', opts.chunkSize);
  switch (u.protocol) {
    case 'memory:':
      return new MemoryBackend(chunkSize === undefined ? {} : { chunkSize });

    case 'local:': {
      if (u.host !== '') bad(url, 'a local URL has no host: write local:///absolute/path');
      const path = decodeURIComponent(u.pathname);
      if (!path.startsWith('/') || path === '/') bad(url, 'needs an absolute volume directory, e.g. local:///var/lib/zufs/vol1');
      return LocalBackend.open(path, {
        ...(chunkSize !== undefined && { chunkSize }),
        ...(opts.compactBytes !== undefined && { compactBytes: opts.compactBytes }),
        ...(opts.maxOpenFiles !== undefined && { maxOpenFiles: opts.maxOpenFiles }),
      });
    }

    case 'redis:':
    case 'rediss:':
    case 'redis+sentinel:':
    case 'rediss+sentinel:':
    case 'redis+cluster:':
    case 'rediss+cluster:': {
      const target = parseRedisUrl(url, (why) => bad(url, why));
      for (const key of target.params.keys()) if (key !== 'volume') bad(url, `unknown parameter "${key}" (only "volume" is understood)`);
      const volume = target.params.get('volume') ?? opts.volume;
      if (!volume) bad(url, 'needs a volume name: add ?volume=<name> or set the mount\'s volume');
      return RedisBackend.open(target, {
        volume,
        chunkSize,
        connectTimeoutMs: positiveInt(url, 'connectTimeoutMs', opts.connectTimeoutMs),
        commandTimeoutMs: positiveInt(url, 'commandTimeoutMs', opts.commandTimeoutMs),
        syncWaitAof: opts.syncWaitAof,
        lockLeaseMs: positiveInt(url, 'lockLeaseMs', opts.lockLeaseMs),
        label: redactUrl(url),
      });
    }

    case 'mongodb:':
    case 'mongodb+srv:': {
      // Loaded on demand: the driver is big and only mongo mounts need it.
      const { MongoBackend } = await import('./mongodb/mongo-backend.js');
      const connectTimeoutMs = positiveInt(url, 'connectTimeoutMs', opts.connectTimeoutMs);
      const commandTimeoutMs = positiveInt(url, 'commandTimeoutMs', opts.commandTimeoutMs);
      return MongoBackend.open({
        url,
        ...(opts.volume !== undefined && { volume: opts.volume }),
        ...(chunkSize !== undefined && { chunkSize }),
        ...(connectTimeoutMs !== undefined && { connectTimeoutMs, serverSelectionTimeoutMs: connectTimeoutMs }),
        ...(commandTimeoutMs !== undefined && { socketTimeoutMs: commandTimeoutMs }),
        ...(opts.lockLeaseMs !== undefined && { flockLeaseMs: positiveInt(url, 'lockLeaseMs', opts.lockLeaseMs)! }),
      });
    }

    case 's3:':
    case 'webdav:':
    case 'webdavs:':
    case 'webdav+http:':
    case 'webdav+https:': {
      if (!opts.metaUrl) bad(url, 'an object store holds file data only: name a metadata engine (meta_url: redis://, mongodb:// or local:///)');
      const [{ openObjectChunkStore }, { composeBackend }] = await Promise.all([import('./http/open.js'), import('./http/compose.js')]);
      const connectTimeoutMs = positiveInt(url, 'connectTimeoutMs', opts.connectTimeoutMs);
      const commandTimeoutMs = positiveInt(url, 'commandTimeoutMs', opts.commandTimeoutMs);
      const chunks = await openObjectChunkStore(webdavToHttp(url), {
        ...(chunkSize !== undefined && { chunkSize }),
        ...(connectTimeoutMs !== undefined && { connectTimeoutMs }),
        ...(commandTimeoutMs !== undefined && { headersTimeoutMs: commandTimeoutMs, bodyTimeoutMs: commandTimeoutMs }),
        ...(opts.accessKeyId !== undefined && { accessKeyId: opts.accessKeyId }),
        ...(opts.secretAccessKey !== undefined && { secretAccessKey: opts.secretAccessKey }),
        ...(opts.sessionToken !== undefined && { sessionToken: opts.sessionToken }),
      });
      const { metaUrl, ...metaOpts } = opts;
      const meta = await openBackend(metaUrl, metaOpts);
      return composeBackend(meta, chunks, `${meta.kind}+${u.protocol === 's3:' ? 's3' : 'webdav'}`);
    }

    default:
      bad(url, `unknown scheme "${u.protocol.replace(/:$/, '')}" (known: memory, local, redis, rediss, redis+sentinel, redis+cluster, mongodb, mongodb+srv, s3, webdav, webdavs)`);
  }
}

/** webdav:// and webdavs:// (the config's schemes) are WebDAV over http and https. */
export function webdavToHttp(url: string): string {
  return url.replace(/^webdav:\/\//, 'webdav+http://').replace(/^webdavs:\/\//, 'webdav+https://');
}
