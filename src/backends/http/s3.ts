// An S3 client on undici with AWS Signature V4 (@smithy/signature-v4, the signer inside the AWS SDK,
// which reproduces AWS's published test vectors): ranged GET, PUT, HEAD, DELETE, batch delete,
// ListObjectsV2 with continuation, CopyObject and multipart upload, with path-style or
// virtual-host addressing. Only what the gateway needs; no SDK, no retries hidden from the caller.
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Dispatcher } from 'undici';
import { exchange, HttpStoreError, scanXml, sharedAgent, statusErrno, type HttpClientOptions, type HttpReply } from './agent.js';
import { child, childText, children, escapeXml, parseXml, type XmlElement } from './xml.js';

export interface S3Options extends HttpClientOptions {
  /** http(s)://host[:port] of the service, e.g. http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com */
  endpoint: string;
  bucket: string;
  /** Default us-east-1. */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** 'path' (https://host/bucket/key, what most self-hosted servers want) or 'virtual'
   * (https://bucket.host/key, what AWS prefers). Default 'path'. */
  addressing?: 'path' | 'virtual';
  /** putObject switches to multipart above this many bytes. Default 64 MiB. */
  multipartThreshold?: number;
  /** Part size of multipart uploads (S3's minimum is 5 MiB). Default 16 MiB. */
  partSize?: number;
  /** Parts in flight at once. Default 4. */
  partConcurrency?: number;
}

export interface S3Object {
  key: string;
  size: number;
  etag: string;
  lastModified: string;
}

export interface S3ListPage {
  objects: S3Object[];
  prefixes: string[];
  nextContinuationToken?: string;
}

export interface S3Head {
  size: number;
  etag: string;
  lastModified: string;
  contentType?: string;
}

type Query = Record<string, string>;

type Sent = HttpReply;

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const MIN_PART = 5 * 1024 * 1024;

/** RFC 3986 encoding as S3 wants it: everything but unreserved characters, '/' kept in keys. */
export function encodeS3(s: string, keepSlash = false): string {
  const e = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (!keepSlash) return e;
  // '.' and '..' segments would be resolved away by URL parsing on the way out: send them encoded.
  return e
    .split('%2F')
    .map((seg) => (seg === '.' ? '%2E' : seg === '..' ? '%2E%2E' : seg))
    .join('/');
}

/** node:crypto behind the small hash interface the signer expects (HMAC when given a secret). */
class Sha256 {
  private readonly h;
  constructor(secret?: unknown) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: unknown): void {
    this.h.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
}

function toBytes(v: unknown): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  throw new TypeError('sha256: unsupported input');
}

export class S3Client {
  readonly bucket: string;
  private readonly endpoint: URL;
  private readonly virtual: boolean;
  private readonly signer: SignatureV4;
  private readonly dispatcher: Dispatcher;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;

  constructor(o: S3Options) {
    this.endpoint = new URL(o.endpoint);
    if (this.endpoint.protocol !== 'http:' && this.endpoint.protocol !== 'https:') {
      throw new HttpStoreError('EINVAL', `s3: endpoint ${o.endpoint} is not http(s)`);
    }
    this.bucket = o.bucket;
    this.virtual = o.addressing === 'virtual';
    this.signer = new SignatureV4({
      credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, sessionToken: o.sessionToken },
      region: o.region ?? 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false, // S3 signs the path encoded once, as sent
      applyChecksum: true,
    });
    this.dispatcher = sharedAgent(o);
    this.multipartThreshold = o.multipartThreshold ?? 64 * 1024 * 1024;
    this.partSize = Math.max(MIN_PART, o.partSize ?? 16 * 1024 * 1024);
    this.partConcurrency = o.partConcurrency ?? 4;
  }

  /** Where a request for `key` goes (key '' = the bucket itself). Built as strings, not with URL,
   * whose parser would resolve '.' and '..' segments (even percent-encoded ones) out of a key. */
  target(key: string, query: Query = {}): { origin: string; host: string; path: string; search: string } {
    const e = this.endpoint;
    const base = e.pathname.replace(/\/+$/, '');
    const host = this.virtual ? `${this.bucket}.${e.host}` : e.host;
    const path = this.virtual ? `${base}/${encodeS3(key, true)}` : `${base}/${this.bucket}${key === '' ? '' : `/${encodeS3(key, true)}`}`;
    const search = Object.keys(query)
      .sort()
      .map((k) => `${encodeS3(k)}=${encodeS3(query[k]!)}`)
      .join('&');
    return { origin: `${e.protocol}//${host}`, host, path, search };
  }

  url(key: string, query: Query = {}): string {
    const t = this.target(key, query);
    return `${t.origin}${t.path}${t.search ? `?${t.search}` : ''}`;
  }

  /** The request's headers with host, x-amz-content-sha256, x-amz-date and Authorization added. */
  async signedHeaders(
    method: string,
    key: string,
    query: Query,
    extra: Record<string, string>,
    body?: Buffer,
    signingDate?: Date,
  ): Promise<Record<string, string>> {
    const t = this.target(key, query);
    const headers: Record<string, string> = {
      host: t.host,
      'x-amz-content-sha256': body && body.length > 0 ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256,
      ...extra,
    };
    const signed = await this.signer.sign(
      {
        method,
        protocol: this.endpoint.protocol,
        hostname: t.host.replace(/:\d+$/, ''),
        port: this.endpoint.port ? Number(this.endpoint.port) : undefined,
        path: t.path,
        query,
        headers,
      },
      signingDate ? { signingDate } : {},
    );
    return signed.headers;
  }

  private async send(
    method: string,
    key: string,
    opts: { query?: Query; headers?: Record<string, string>; body?: Buffer; ok?: number[]; signal?: AbortSignal } = {},
  ): Promise<Sent> {
    const query = opts.query ?? {};
    const t = this.target(key, query);
    const body = opts.body;
    const headers = await this.signedHeaders(method, key, query, opts.headers ?? {}, body);
    const res = await exchange(this.dispatcher, {
      origin: t.origin,
      path: t.search ? `${t.path}?${t.search}` : t.path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: body ?? (method === 'PUT' || method === 'POST' ? Buffer.alloc(0) : undefined),
      ...(opts.signal && { signal: opts.signal }),
    });
    const ok = opts.ok ?? [200, 204, 206];
    if (!ok.includes(res.status)) throw s3Error(method, t.path, res.status, res.body);
    return res;
  }

  /** The object, or the bytes [start, end] (inclusive) of it; undefined when it does not exist.
   * A range starting at or past the end reads as empty. `signal` abandons the request (read-ahead
   * no one waits for any more). */
  async getObject(key: string, range?: { start: number; end?: number }, signal?: AbortSignal): Promise<Buffer | undefined> {
    const headers: Record<string, string> = {};
    if (range) headers['range'] = `bytes=${range.start}-${range.end ?? ''}`;
    try {
      const r = await this.send('GET', key, { headers, ok: [200, 206, 416], ...(signal && { signal }) });
      if (r.status === 416) return Buffer.alloc(0);
      if (range && r.status === 200) {
        // A server that ignored the Range header sent everything: cut it here.
        return r.body.subarray(range.start, range.end === undefined ? undefined : range.end + 1);
      }
      return r.body;
    } catch (err) {
      if (err instanceof HttpStoreError && err.status === 404 && err.storeCode !== 'NoSuchBucket') return undefined;
      throw err;
    }
  }

  async headObject(key: string): Promise<S3Head | undefined> {
    try {
      const r = await this.send('HEAD', key);
      const h = (n: string): string | undefined => {
        const v = r.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      const head: S3Head = {
        size: Number(h('content-length') ?? 0),
        etag: h('etag') ?? '',
        lastModified: h('last-modified') ?? '',
      };
      const ct = h('content-type');
      if (ct !== undefined) head.contentType = ct;
      return head;
    } catch (err) {
      if (err instanceof HttpStoreError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Stores the object, with a multipart upload when it is larger than multipartThreshold. */
  async putObject(key: string, body: Buffer, contentType = 'application/octet-stream'): Promise<string> {
    if (body.length > this.multipartThreshold) return this.putObjectMultipart(key, body, this.partSize, contentType);
    const r = await this.send('PUT', key, { body, headers: { 'content-type': contentType } });
    return String(r.headers['etag'] ?? '');
  }

  /** Deletes the object; deleting a missing one succeeds (as S3 itself answers). */
  async deleteObject(key: string): Promise<void> {
    try {
      await this.send('DELETE', key);
    } catch (err) {
      if (err instanceof HttpStoreError && err.status === 404 && err.storeCode !== 'NoSuchBucket') return;
      throw err;
    }
  }

  /** Deletes up to any number of keys, 1000 per request (S3's limit). */
  async deleteObjects(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>' +
        batch.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join('') +
        '</Delete>';
      const body = Buffer.from(xml);
      const r = await this.send('POST', '', {
        query: { delete: '' },
        body,
        headers: { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-type': 'application/xml' },
      });
      const doc = parseXml(r.body.toString('utf8'));
      const errs = children(doc, 'Error').filter((e) => childText(e, 'Code') !== 'NoSuchKey');
      if (errs.length > 0) {
        const e = errs[0]!;
        throw new HttpStoreError('EIO', `s3: DeleteObjects ${childText(e, 'Key')}: ${childText(e, 'Code')} ${childText(e, 'Message') ?? ''}`, r.status, childText(e, 'Code'));
      }
    }
  }

  /** One page of ListObjectsV2 (at most maxKeys, S3 caps it at 1000). */
  async listPage(opts: { prefix?: string; delimiter?: string; continuationToken?: string; startAfter?: string; maxKeys?: number } = {}): Promise<S3ListPage> {
    const query: Query = { 'list-type': '2', 'encoding-type': 'url' };
    if (opts.prefix) query['prefix'] = opts.prefix;
    if (opts.delimiter) query['delimiter'] = opts.delimiter;
    if (opts.continuationToken) query['continuation-token'] = opts.continuationToken;
    if (opts.startAfter) query['start-after'] = opts.startAfter;
    if (opts.maxKeys !== undefined) query['max-keys'] = String(opts.maxKeys);
    const r = await this.send('GET', '', { query });
    // One pass over the reply (scanXml): a page is 1,000 entries of XML, and a tree of it costs
    // more than the request. Fields are read at their depth: Contents and CommonPrefixes records,
    // the rest directly under ListBucketResult.
    const page: S3ListPage = { objects: [], prefixes: [] };
    const top: Record<string, string> = {};
    let depth = 0;
    let rec: Record<string, string> | undefined;
    const raw: Array<{ kind: 'object' | 'prefix'; f: Record<string, string> }> = [];
    scanXml(
      r.body.toString('utf8'),
      (name) => {
        depth++;
        if (depth === 2 && (name === 'Contents' || name === 'CommonPrefixes')) {
          rec = {};
          raw.push({ kind: name === 'Contents' ? 'object' : 'prefix', f: rec });
        }
      },
      (name, text) => {
        if (depth === 2) {
          if (rec) rec = undefined;
          else top[name] ??= text;
        } else if (depth === 3 && rec) rec[name] ??= text;
        depth--;
      },
    );
    if (depth !== 0) throw new HttpStoreError('EIO', 's3: malformed ListObjectsV2 reply', r.status);
    const urlEncoded = top['EncodingType'] === 'url';
    const dec = (s: string): string => (urlEncoded ? decodeURIComponent(s.replace(/\+/g, ' ')) : s);
    for (const { kind, f } of raw) {
      if (kind === 'prefix') page.prefixes.push(dec(f['Prefix'] ?? ''));
      else page.objects.push({ key: dec(f['Key'] ?? ''), size: Number(f['Size'] ?? 0), etag: f['ETag'] ?? '', lastModified: f['LastModified'] ?? '' });
    }
    const token = top['NextContinuationToken'];
    if (top['IsTruncated'] === 'true') {
      if (!token) throw new HttpStoreError('EIO', 's3: truncated listing without a continuation token', r.status);
      page.nextContinuationToken = token;
    }
    return page;
  }

  /** Every object under the prefix, following continuation tokens. */
  async *listAll(prefix: string, pageSize?: number): AsyncGenerator<S3Object> {
    let token: string | undefined;
    do {
      const opts: Parameters<S3Client['listPage']>[0] = { prefix };
      if (token) opts.continuationToken = token;
      if (pageSize !== undefined) opts.maxKeys = pageSize;
      const page = await this.listPage(opts);
      yield* page.objects;
      token = page.nextContinuationToken;
    } while (token);
  }

  /** Server-side copy within the bucket (objects up to 5 GiB). */
  async copyObject(srcKey: string, dstKey: string): Promise<void> {
    const r = await this.send('PUT', dstKey, { headers: { 'x-amz-copy-source': `/${encodeS3(this.bucket)}/${encodeS3(srcKey, true)}` } });
    throwIfErrorBody('CopyObject', r); // S3 may report a failed copy in a 200 reply
  }

  async putObjectMultipart(key: string, body: Buffer, partSize = this.partSize, contentType = 'application/octet-stream'): Promise<string> {
    if (partSize < MIN_PART) throw new HttpStoreError('EINVAL', `s3: part size ${partSize} below S3's 5 MiB minimum`);
    const init = await this.send('POST', key, { query: { uploads: '' }, headers: { 'content-type': contentType } });
    const uploadId = childText(parseXml(init.body.toString('utf8')), 'UploadId');
    if (!uploadId) throw new HttpStoreError('EIO', 's3: CreateMultipartUpload returned no UploadId', init.status);
    try {
      const count = Math.max(1, Math.ceil(body.length / partSize));
      const etags: string[] = new Array(count);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < count) {
          const n = next++;
          const part = body.subarray(n * partSize, Math.min(body.length, (n + 1) * partSize));
          const r = await this.send('PUT', key, { query: { partNumber: String(n + 1), uploadId }, body: part });
          etags[n] = String(r.headers['etag'] ?? '');
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.partConcurrency, count) }, worker));
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>' +
        etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`).join('') +
        '</CompleteMultipartUpload>';
      const done = await this.send('POST', key, { query: { uploadId }, body: Buffer.from(xml), headers: { 'content-type': 'application/xml' } });
      throwIfErrorBody('CompleteMultipartUpload', done);
      return childText(parseXml(done.body.toString('utf8')), 'ETag') ?? '';
    } catch (err) {
      await this.send('DELETE', key, { query: { uploadId } }).catch(() => undefined);
      throw err;
    }
  }

  /** Starts a multipart upload whose parts the caller sends one by one (e.g. read from a file). */
  async createMultipartUpload(key: string, contentType = 'application/octet-stream'): Promise<string> {
    const init = await this.send('POST', key, { query: { uploads: '' }, headers: { 'content-type': contentType } });
    const uploadId = childText(parseXml(init.body.toString('utf8')), 'UploadId');
    if (!uploadId) throw new HttpStoreError('EIO', 's3: CreateMultipartUpload returned no UploadId', init.status);
    return uploadId;
  }

  /** Sends part `partNumber` (from 1); returns its ETag for completeMultipartUpload. */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const r = await this.send('PUT', key, { query: { partNumber: String(partNumber), uploadId }, body });
    return String(r.headers['etag'] ?? '');
  }

  /** Completes an upload from the parts' ETags in part order; returns the object's ETag. */
  async completeMultipartUpload(key: string, uploadId: string, etags: string[]): Promise<string> {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>' +
      etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`).join('') +
      '</CompleteMultipartUpload>';
    const done = await this.send('POST', key, { query: { uploadId }, body: Buffer.from(xml), headers: { 'content-type': 'application/xml' } });
    throwIfErrorBody('CompleteMultipartUpload', done);
    return childText(parseXml(done.body.toString('utf8')), 'ETag') ?? '';
  }

  /** Drops an unfinished upload and its parts; failures are ignored (the bucket's lifecycle rules clean up). */
  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.send('DELETE', key, { query: { uploadId } }).catch(() => undefined);
  }

  /** Creates the bucket; an existing bucket owned by us is fine. */
  async createBucket(): Promise<void> {
    try {
      await this.send('PUT', '');
    } catch (err) {
      if (err instanceof HttpStoreError && err.storeCode === 'BucketAlreadyOwnedByYou') return;
      throw err;
    }
  }
}

function throwIfErrorBody(what: string, r: Sent): void {
  const text = r.body.toString('utf8');
  if (!text.includes('<Error')) return;
  const doc = parseXml(text);
  if (doc.name === 'Error') {
    const code = childText(doc, 'Code');
    throw new HttpStoreError('EIO', `s3: ${what}: ${code} ${childText(doc, 'Message') ?? ''}`, r.status, code);
  }
}

function s3Error(method: string, path: string, status: number, body: Buffer): HttpStoreError {
  let code: string | undefined;
  let message = '';
  if (body.length > 0) {
    try {
      const doc: XmlElement = parseXml(body.toString('utf8'));
      code = childText(doc, 'Code');
      message = childText(doc, 'Message') ?? '';
      if (!code && child(doc, 'Error')) code = childText(child(doc, 'Error')!, 'Code');
    } catch {
      message = body.subarray(0, 200).toString('utf8');
    }
  }
  const errno = code === 'NoSuchKey' ? 'ENOENT' : code === 'SlowDown' ? 'EAGAIN' : statusErrno(status);
  return new HttpStoreError(errno, `s3: ${method} ${path}: ${status}${code ? ` ${code}` : ''}${message ? ` ${message}` : ''}`, status, code);
}
