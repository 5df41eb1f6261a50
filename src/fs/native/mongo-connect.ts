// Connecting a native-layout mount to MongoDB (or FerretDB): the URL form it accepts, the driver
// options (the posix-layout backend's, src/backends/mongodb/mongo-backend.ts: a dead server fails
// an operation after serverSelectionTimeoutMS, a silent socket after socketTimeoutMS, never a hang)
// and the errno a driver or server error becomes.
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { redactUrl } from '../../backends/index.js';
import { databaseInUrl } from '../../backends/mongodb/mongo-backend.js';
import { errno, FsError, fsError } from '../errors.js';

export interface MongoNativeTarget {
  url: string;
  /** The database the URL names: the mount's root is then that database, not the server. */
  database: string | undefined;
  /** The URL with secrets hidden, for logs and errors. */
  label: string;
}

export interface MongoConnectOptions {
  /** How long to wait for a reachable server (connect, and each operation). Default 5000. */
  connectTimeoutMs?: number | undefined;
  /** A socket silent this long fails the operation on it with ETIMEDOUT. Default 30000. */
  commandTimeoutMs?: number | undefined;
  /** Shown in the server's connection list. */
  appName?: string | undefined;
}

/** mongodb[+srv]://[user:pass@]host[:port][,host...][/database][?options] */
export function parseMongoNativeUrl(url: string): MongoNativeTarget {
  if (!/^mongodb(\+srv)?:\/\/[^/?]+/.test(url)) {
    throw fsError(errno.EINVAL, `mongodb native URL ${redactUrl(url)}: expected mongodb://host[:port][/database] or mongodb+srv://...`);
  }
  const database = databaseInUrl(url);
  if (database !== undefined && /[/\\. "$\0]/.test(database)) {
    throw fsError(errno.EINVAL, `mongodb native URL ${redactUrl(url)}: "${database}" is not a valid database name`);
  }
  return { url, database, label: redactUrl(url) };
}

/** The posix backend's defaults, with the mount's timeouts. Longs stay Long (exact beyond 2^53). */
export function nativeClientOptions(o: MongoConnectOptions): MongoClientOptions {
  const connect = o.connectTimeoutMs ?? 5000;
  return {
    serverSelectionTimeoutMS: connect,
    connectTimeoutMS: connect,
    socketTimeoutMS: o.commandTimeoutMs ?? 30000,
    maxPoolSize: 8,
    // A read that times out is not retried by the driver: a file operation then fails within
    // commandTimeoutMs (not twice that plus a server selection); the caller may retry.
    retryReads: false,
    promoteLongs: false,
    ...(o.appName !== undefined && { appName: o.appName }),
  };
}

// Server error codes with a file meaning.
const UNAUTHORIZED = 13;
const AUTHENTICATION_FAILED = 18;
const NAMESPACE_NOT_FOUND = 26;
const NAMESPACE_EXISTS = 48;
const INVALID_NAMESPACE = 73;
const ILLEGAL_OPERATION = 20;
const DUPLICATE_KEY = 11000;

/** The errno a caller sees for a driver or server error, with the mount named in the message. */
export function nativeMongoError(err: unknown, mount: string): FsError {
  if (err instanceof FsError) return err;
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  const name = typeof e?.name === 'string' ? e.name : '';
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'number' ? e.code : undefined;
  const wrap = (no: number, what: string): FsError => fsError(no, `mongodb native (${mount}): ${what}: ${msg}`, err);
  if (name === 'MongoNetworkTimeoutError' || name === 'MongoOperationTimeoutError') return wrap(errno.ETIMEDOUT, 'the server did not answer in time');
  if (name === 'MongoServerSelectionError') return wrap(errno.EIO, 'no reachable server');
  if (name === 'MongoNetworkError' || name === 'MongoTopologyClosedError' || name === 'MongoNotConnectedError') return wrap(errno.EIO, 'connection lost');
  if (code === UNAUTHORIZED || code === AUTHENTICATION_FAILED) return wrap(errno.EACCES, 'not authorized');
  if (code === NAMESPACE_NOT_FOUND) return wrap(errno.ENOENT, 'no such collection');
  if (code === NAMESPACE_EXISTS || code === DUPLICATE_KEY) return wrap(errno.EEXIST, 'already exists');
  if (code === INVALID_NAMESPACE || code === ILLEGAL_OPERATION) return wrap(errno.EINVAL, 'refused by the server');
  if (/too large|exceeds .*size|BSONObjectTooLarge/i.test(msg)) {
    return wrap(errno.EFBIG, 'the document is over the server\'s size limit');
  }
  return wrap(errno.EIO, 'failed');
}

/** Connects and pings within connectTimeoutMs: EIO/ETIMEDOUT when no server answers, EACCES on bad credentials. */
export async function connectMongo(t: MongoNativeTarget, opts: MongoConnectOptions): Promise<MongoClient> {
  const client = new MongoClient(t.url, nativeClientOptions(opts));
  try {
    await client.connect();
    await client.db(t.database ?? 'admin').command({ ping: 1 });
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw nativeMongoError(err, t.label);
  }
}
