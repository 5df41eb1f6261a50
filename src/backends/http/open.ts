// Opens an object-store chunk store from a URL:
//   s3://bucket[/prefix]?endpoint=http://127.0.0.1:9000[&region=us-east-1][&addressing=path|virtual]
//       (no endpoint: AWS, https://s3.<region>.amazonaws.com, virtual-host addressing)
//   webdav+http://[user:pass@]host[:port]/path/   and   webdav+https://...
// S3 credentials come from the options, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN. The volume's chunk size is recorded in `<prefix>zufs-volume.json` on first
// open, so a reopen can never read chunks with the wrong geometry.
import type { HttpTimeouts } from './agent.js';
import { HttpStoreError } from './agent.js';
import { ObjectChunkStore, S3ObjectStore, WebDavObjectStore, DEFAULT_OBJECT_CHUNK_SIZE, type ObjectStore } from './object-chunks.js';
import { S3Client } from './s3.js';
import { WebDavClient } from './webdav.js';

export interface ObjectStoreOpenOptions extends HttpTimeouts {
  /** Chunk size for a new volume; an existing volume keeps the size it was created with. */
  chunkSize?: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** WebDAV basic auth, when not in the URL. */
  username?: string;
  password?: string;
}

const VOLUME_FILE = 'zufs-volume.json';
const FORMAT = 1;

function bad(why: string): never {
  throw new HttpStoreError('EINVAL', why);
}

/** The object store and the volume prefix inside it named by `url`. */
export function objectStoreFromUrl(url: string, o: ObjectStoreOpenOptions = {}): { store: ObjectStore; prefix: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    bad(`object store URL is not a URL (expected s3://bucket/prefix?endpoint=... or webdav+http://host/path/)`);
  }
  const timeouts: HttpTimeouts = {};
  if (o.connectTimeoutMs !== undefined) timeouts.connectTimeoutMs = o.connectTimeoutMs;
  if (o.headersTimeoutMs !== undefined) timeouts.headersTimeoutMs = o.headersTimeoutMs;
  if (o.bodyTimeoutMs !== undefined) timeouts.bodyTimeoutMs = o.bodyTimeoutMs;
  if (u.protocol === 's3:') {
    const bucket = u.hostname;
    if (!bucket) bad('s3 URL needs a bucket: s3://bucket/prefix');
    const region = u.searchParams.get('region') ?? process.env['AWS_REGION'] ?? 'us-east-1';
    const endpoint = u.searchParams.get('endpoint') ?? `https://s3.${region}.amazonaws.com`;
    const addressing = u.searchParams.get('addressing') ?? (u.searchParams.has('endpoint') ? 'path' : 'virtual');
    if (addressing !== 'path' && addressing !== 'virtual') bad(`s3 addressing must be path or virtual, got ${addressing}`);
    for (const k of u.searchParams.keys()) {
      if (!['endpoint', 'region', 'addressing'].includes(k)) bad(`s3 URL: unknown parameter "${k}"`);
    }
    const accessKeyId = o.accessKeyId ?? process.env['AWS_ACCESS_KEY_ID'];
    const secretAccessKey = o.secretAccessKey ?? process.env['AWS_SECRET_ACCESS_KEY'];
    if (!accessKeyId || !secretAccessKey) bad('s3: no credentials (set accessKeyId/secretAccessKey or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)');
    const sessionToken = o.sessionToken ?? process.env['AWS_SESSION_TOKEN'];
    const client = new S3Client({
      endpoint,
      bucket,
      region,
      addressing,
      accessKeyId,
      secretAccessKey,
      ...(sessionToken !== undefined && { sessionToken }),
      ...timeouts,
    });
    return { store: new S3ObjectStore(client), prefix: decodeURIComponent(u.pathname.replace(/^\/+/, '')) };
  }
  if (u.protocol === 'webdav+http:' || u.protocol === 'webdav+https:') {
    const username = u.username ? decodeURIComponent(u.username) : o.username;
    const password = u.password ? decodeURIComponent(u.password) : o.password;
    const base = `${u.protocol.slice('webdav+'.length)}//${u.host}${u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`}`;
    const client = new WebDavClient({
      url: base,
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
      ...timeouts,
    });
    return { store: new WebDavObjectStore(client), prefix: '' };
  }
  bad(`unknown object store scheme "${u.protocol.replace(/:$/, '')}" (known: s3, webdav+http, webdav+https)`);
}

/** Opens (creating on first use) the chunk store of the volume at `url`. */
export async function openObjectChunkStore(url: string, o: ObjectStoreOpenOptions = {}): Promise<ObjectChunkStore> {
  const { store, prefix } = objectStoreFromUrl(url, o);
  const root = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const wanted = o.chunkSize;
  if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 4096)) bad(`chunkSize ${wanted} must be an integer >= 4096`);
  const raw = await store.get(`${root}${VOLUME_FILE}`);
  let chunkSize: number;
  if (raw) {
    let meta: { format?: unknown; chunkSize?: unknown };
    try {
      meta = JSON.parse(raw.toString('utf8')) as typeof meta;
    } catch (err) {
      throw new HttpStoreError('EIO', `${VOLUME_FILE} under ${root || '/'} is not JSON`, undefined, undefined, { cause: err });
    }
    if (meta.format !== FORMAT || typeof meta.chunkSize !== 'number') throw new HttpStoreError('EIO', `${VOLUME_FILE}: unknown format`);
    chunkSize = meta.chunkSize;
  } else {
    chunkSize = wanted ?? DEFAULT_OBJECT_CHUNK_SIZE;
    await store.put(`${root}${VOLUME_FILE}`, Buffer.from(JSON.stringify({ format: FORMAT, chunkSize })));
  }
  return new ObjectChunkStore(store, { chunkSize, prefix: root });
}
