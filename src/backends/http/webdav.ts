// A WebDAV (RFC 4918) client on undici: GET with Range, PUT, DELETE, MKCOL, MOVE, COPY and PROPFIND
// with Depth 0 or 1. Paths are relative to the base URL and use '/' separators; a path ending in '/'
// names a collection. Servers differ (nginx answers 409 to a PUT whose parent is missing unless
// create_full_put_path is on, Apache 409 as well): put() creates missing parents and retries once.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { exchange, HttpStoreError, scanXml, sharedAgent, statusErrno, type HttpClientOptions, type HttpReply } from './agent.js';

export interface WebDavOptions extends HttpClientOptions {
  /** Base collection, e.g. http://127.0.0.1:8080/dav/ (a trailing '/' is added when missing). */
  url: string;
  username?: string;
  password?: string;
}

export interface DavEntry {
  /** Path relative to the base, decoded; collections end in '/'. */
  path: string;
  name: string;
  isCollection: boolean;
  size: number;
  lastModified?: string;
  etag?: string;
}

const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>' +
  '<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/></D:prop></D:propfind>';

function encodePath(path: string): string {
  return path
    .split('/')
    .map((seg) => (seg === '.' ? '%2E' : seg === '..' ? '%2E%2E' : encodeURIComponent(seg)))
    .join('/');
}

export class WebDavClient {
  readonly base: URL;
  private readonly auth: string | undefined;
  private readonly dispatcher: Dispatcher;

  constructor(o: WebDavOptions) {
    this.base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new HttpStoreError('EINVAL', `webdav: ${o.url} is not http(s)`);
    }
    this.auth = o.username !== undefined ? `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}` : undefined;
    this.dispatcher = sharedAgent(o);
  }

  /** The absolute URL of a path, as a string: URL objects would resolve '.'/'..' segments away. */
  url(path: string): string {
    return `${this.base.origin}${this.base.pathname}${encodePath(path.replace(/^\/+/, ''))}`;
  }

  private async send(
    method: string,
    path: string,
    opts: { headers?: Record<string, string>; body?: Buffer | string; ok: number[]; signal?: AbortSignal },
  ): Promise<HttpReply> {
    const p = `${this.base.pathname}${encodePath(path.replace(/^\/+/, ''))}`;
    const headers: Record<string, string> = { ...opts.headers };
    if (this.auth) headers['authorization'] = this.auth;
    const res = await exchange(this.dispatcher, {
      origin: this.base.origin,
      path: p,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: opts.body ?? (method === 'PUT' ? Buffer.alloc(0) : undefined),
      ...(opts.signal && { signal: opts.signal }),
    });
    if (!opts.ok.includes(res.status)) {
      throw new HttpStoreError(statusErrno(res.status), `webdav: ${method} ${p}: ${res.status}`, res.status);
    }
    return res;
  }

  /** The resource, or bytes [start, end] (inclusive) of it; undefined when it does not exist.
   * `signal` abandons the request (read-ahead no one waits for any more). */
  async get(path: string, range?: { start: number; end?: number }, signal?: AbortSignal): Promise<Buffer | undefined> {
    const headers: Record<string, string> = {};
    if (range) headers['range'] = `bytes=${range.start}-${range.end ?? ''}`;
    const r = await this.send('GET', path, { headers, ok: [200, 206, 404, 416], ...(signal && { signal }) });
    if (r.status === 404) return undefined;
    if (r.status === 416) return Buffer.alloc(0);
    if (range && r.status === 200) return r.body.subarray(range.start, range.end === undefined ? undefined : range.end + 1);
    return r.body;
  }

  /** Stores the resource, creating missing parent collections. */
  async put(path: string, body: Buffer): Promise<void> {
    const headers = { 'content-type': 'application/octet-stream' };
    const r = await this.send('PUT', path, { body, headers, ok: [200, 201, 204, 409] });
    if (r.status !== 409) return;
    await this.mkcolAll(parentOf(path));
    await this.send('PUT', path, { body, headers, ok: [200, 201, 204] });
  }

  /** Stores the resource from a stream of `size` bytes (a large file is never held in memory).
   * `body` is called once per attempt; the parent collection must exist. Returns the new ETag if sent. */
  async putStream(path: string, body: () => Readable, size: number): Promise<string | undefined> {
    const p = `${this.base.pathname}${encodePath(path.replace(/^\/+/, ''))}`;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
    if (this.auth) headers['authorization'] = this.auth;
    for (let attempt = 0; ; attempt++) {
      const res = await exchange(this.dispatcher, { origin: this.base.origin, path: p, method: 'PUT', headers, body: body() }, 0);
      if ([200, 201, 204].includes(res.status)) {
        const etag = res.headers['etag'];
        return Array.isArray(etag) ? etag[0] : etag;
      }
      if (attempt < 2 && [500, 502, 503, 504].includes(res.status)) continue;
      throw new HttpStoreError(statusErrno(res.status), `webdav: PUT ${p}: ${res.status}`, res.status);
    }
  }

  /** Deletes a resource or a whole collection; a missing one is fine. */
  async delete(path: string): Promise<void> {
    await this.send('DELETE', path, { ok: [200, 204, 404] });
  }

  /** Creates one collection; an existing one is fine. */
  async mkcol(path: string): Promise<void> {
    const p = path.endsWith('/') ? path : `${path}/`;
    await this.send('MKCOL', p, { ok: [201, 405] });
  }

  /** Creates the collection and every missing ancestor. */
  async mkcolAll(path: string): Promise<void> {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) await this.mkcol(`${parts.slice(0, i).join('/')}/`);
  }

  async move(from: string, to: string, overwrite = true): Promise<void> {
    await this.send('MOVE', from, { headers: { destination: this.url(to), overwrite: overwrite ? 'T' : 'F' }, ok: [201, 204] });
  }

  async copy(from: string, to: string, overwrite = true): Promise<void> {
    await this.send('COPY', from, { headers: { destination: this.url(to), overwrite: overwrite ? 'T' : 'F', depth: 'infinity' }, ok: [201, 204] });
  }

  /** PROPFIND: the resource itself (depth 0) or it and its members (depth 1); undefined when missing. */
  async propfind(path: string, depth: 0 | 1): Promise<DavEntry[] | undefined> {
    const r = await this.send('PROPFIND', path, {
      headers: { depth: String(depth), 'content-type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
      ok: [207, 404],
    });
    if (r.status === 404) return undefined;
    return this.readMultistatus(r.body.toString('utf8'));
  }

  /** The entries of a 207 reply, read in one pass (scanXml): a Depth 1 listing of 10,000 members is
   * megabytes of XML. Properties come from the propstat whose status is 200 (a 404 propstat names
   * what the server lacks). */
  private readMultistatus(xml: string): DavEntry[] {
    const basePath = decodeURIComponent(this.base.pathname);
    const out: DavEntry[] = [];
    interface PropStat {
      status?: string;
      hasProp: boolean;
      collection: boolean;
      size?: string;
      lastModified?: string;
      etag?: string;
    }
    let href: string | undefined;
    let ps: PropStat | undefined; // the propstat being read
    let chosen: PropStat | undefined;
    scanXml(
      xml,
      (name) => {
        if (name === 'response') {
          href = undefined;
          chosen = undefined;
        } else if (name === 'propstat') ps = { hasProp: false, collection: false };
        else if (ps && name === 'prop') ps.hasProp = true;
        else if (ps && name === 'collection') ps.collection = true;
      },
      (name, text) => {
        if (!ps) {
          if (name === 'href') href ??= text;
          else if (name === 'response' && href !== undefined) {
            const e = this.entryOf(href, basePath, chosen);
            if (e) out.push(e);
          }
          return;
        }
        if (name === 'propstat') {
          if (!chosen && / 200 /.test(ps.status ?? ' 200 ')) chosen = ps;
          ps = undefined;
        } else if (name === 'status') ps.status ??= text;
        else if (name === 'getcontentlength') ps.size ??= text;
        else if (name === 'getlastmodified') ps.lastModified ??= text;
        else if (name === 'getetag') ps.etag ??= text;
      },
    );
    return out;
  }

  private entryOf(
    href: string,
    basePath: string,
    prop: { hasProp: boolean; collection: boolean; size?: string; lastModified?: string; etag?: string } | undefined,
  ): DavEntry | undefined {
    const h = href.trim();
    // An absolute path needs no URL parsing unless it has segments or parts URL would rewrite.
    const plain = h.startsWith('/') && !/[?#]|\/\.{1,2}(\/|$)|\/\//.test(h);
    const p = plain ? h : new URL(h, this.base).pathname;
    let abs = p.includes('%') ? decodeURIComponent(p) : p;
    if (!abs.startsWith(basePath)) return undefined;
    abs = abs.slice(basePath.length);
    const isCollection = prop?.hasProp ? prop.collection : abs.endsWith('/');
    const path = isCollection && !abs.endsWith('/') && abs !== '' ? `${abs}/` : abs;
    const e: DavEntry = {
      path,
      name: baseName(path),
      isCollection,
      size: Number(prop?.hasProp ? (prop.size ?? 0) : 0),
    };
    if (prop?.hasProp && prop.lastModified) e.lastModified = prop.lastModified;
    if (prop?.hasProp && prop.etag) e.etag = prop.etag;
    return e;
  }

  /** Members of a collection (not the collection itself); empty when it does not exist. */
  async list(path: string): Promise<DavEntry[]> {
    const dir = path === '' || path.endsWith('/') ? path : `${path}/`;
    const all = await this.propfind(dir, 1);
    if (!all) return [];
    const self = dir.replace(/^\/+/, '');
    return all.filter((e) => e.path !== self && e.path !== self.replace(/\/$/, ''));
  }
}

/** The last component of a path ('a/b/' → 'b'). */
function baseName(path: string): string {
  const end = path.endsWith('/') ? path.length - 1 : path.length;
  return path.slice(path.lastIndexOf('/', end - 1) + 1, end);
}

function parentOf(path: string): string {
  const p = path.replace(/\/+$/, '');
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i + 1);
}
