// What the S3 and WebDAV clients share: one undici Agent per distinct timeout setting (so every
// store on one endpoint reuses its keep-alive connections), the error type they throw, and a one-pass
// reader for their long list replies (ListObjectsV2 pages, PROPFIND Depth 1).
// Timeouts are always finite: a server that stops answering fails the request with
// UND_ERR_CONNECT_TIMEOUT / UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT (ETIMEDOUT), never hangs it.
import { Agent, type Dispatcher } from 'undici';
import { decodeEntities } from './xml.js';

export interface HttpTimeouts {
  /** TCP (and TLS) connect. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** From the request sent to the response headers. Default 30000 ms. */
  headersTimeoutMs?: number;
  /** Longest silence while the body streams. Default 30000 ms. */
  bodyTimeoutMs?: number;
}

export interface HttpClientOptions extends HttpTimeouts {
  /** Connections per origin. Default 16. */
  connections?: number;
  /** Use this dispatcher instead of the shared agent (its timeouts then apply). */
  dispatcher?: Dispatcher;
}

const agents = new Map<string, Agent>();

/** The shared agent for these settings; created on first use, kept for the process. */
export function sharedAgent(o: HttpClientOptions = {}): Dispatcher {
  if (o.dispatcher) return o.dispatcher;
  const connect = o.connectTimeoutMs ?? 5000;
  const headers = o.headersTimeoutMs ?? 30000;
  const body = o.bodyTimeoutMs ?? 30000;
  const connections = o.connections ?? 16;
  const key = `${connect}/${headers}/${body}/${connections}`;
  let a = agents.get(key);
  if (!a) {
    a = new Agent({
      connect: { timeout: connect },
      headersTimeout: headers,
      bodyTimeout: body,
      connections,
      keepAliveTimeout: 4000,
    });
    agents.set(key, a);
  }
  return a;
}

/** Closes every shared agent (end of a test run or of the daemon). */
export async function closeSharedAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((a) => a.close()));
}

/** An HTTP store failure. `code` is an errno name that toErrno() understands; `status` and
 * `storeCode` (S3's <Code>, e.g. NoSuchBucket) say what the server answered. */
export class HttpStoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly storeCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpStoreError';
  }
}

/** The errno name for an unexpected HTTP status. */
export function statusErrno(status: number): string {
  switch (status) {
    case 401:
    case 403:
      return 'EACCES';
    case 404:
    case 410:
      return 'ENOENT';
    case 405:
      return 'EPERM';
    case 409:
    case 412:
      return 'EEXIST';
    case 413:
      return 'EFBIG';
    case 423:
      return 'EBUSY';
    case 429:
    case 503:
      return 'EAGAIN';
    case 501:
      return 'ENOSYS';
    case 507:
      return 'ENOSPC';
    default:
      return 'EIO';
  }
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const RETRY_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'PROPFIND']);
const RETRY_STATUS = new Set([500, 502, 503, 504]);
// A connection that dropped under a request (typically a keep-alive socket the server had just
// closed). Timeouts are not retried: the caller's timeout is a promise about how long a failure takes.
const RETRY_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** One request with a buffered body, its reply read whole. Idempotent methods are retried (twice,
 * after 50 and 250 ms) when the connection drops or the server answers 500/502/503/504. */
export async function exchange(dispatcher: Dispatcher, req: Dispatcher.RequestOptions, retries = 2): Promise<HttpReply> {
  const canRetry = RETRY_METHODS.has(req.method);
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await dispatcher.request(req);
      const body = Buffer.from(await res.body.arrayBuffer());
      if (canRetry && attempt < retries && RETRY_STATUS.has(res.statusCode)) {
        await pause(attempt);
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (!canRetry || attempt >= retries || typeof code !== 'string' || !RETRY_CODES.has(code)) throw err;
      await pause(attempt);
    }
  }
}

function pause(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, attempt === 0 ? 50 : 250));
}

/**
 * Walks an XML document's elements in one pass without building a tree — for list replies, where
 * xml.ts's parseXml spends most of a 10,000-entry listing building objects nobody reads. `open` is
 * called with each element's local name (prefix dropped, as parseXml does); `close` with the local
 * name and, for an element with no child elements, its text (entities decoded, CDATA kept); empty
 * elements (`<D:collection/>`) open and close at once. Attributes are not read. Throws on
 * mismatched or unterminated markup.
 */
export function scanXml(src: string, open: (name: string) => void, close: (name: string, text: string) => void): void {
  const stack: string[] = [];
  let i = 0;
  let leaf = false; // no child element since the innermost open tag
  let textFrom = 0;
  let text = ''; // text before a CDATA section or comment inside the current element
  for (;;) {
    const lt = src.indexOf('<', i);
    if (lt < 0) break;
    const c = src.charCodeAt(lt + 1);
    if (c === 0x3f /* ? */ || c === 0x21 /* ! */) {
      const cdata = src.startsWith('<![CDATA[', lt);
      const close = cdata ? ']]>' : c === 0x3f ? '?>' : src.startsWith('<!--', lt) ? '-->' : '>';
      const end = src.indexOf(close, lt);
      if (end < 0) throw new Error(`xml: unterminated markup at ${lt}`);
      if (leaf) {
        text += decodeEntities(src.slice(textFrom, lt)) + (cdata ? src.slice(lt + 9, end) : '');
        textFrom = end + close.length;
      }
      i = end + close.length;
      continue;
    }
    const gt = tagEnd(src, lt);
    if (c === 0x2f /* / */) {
      const name = localName(src.slice(lt + 2, gt).trim());
      if (stack.pop() !== name) throw new Error(`xml: unexpected </${name}> at ${lt}`);
      close(name, leaf ? text + decodeEntities(src.slice(textFrom, lt)) : '');
      leaf = false;
    } else {
      let e = lt + 1;
      for (let ch = src.charCodeAt(e); e < gt && ch !== 0x20 && ch !== 0x09 && ch !== 0x0a && ch !== 0x0d && ch !== 0x2f; ch = src.charCodeAt(++e));
      const name = localName(src.slice(lt + 1, e));
      if (name === '') throw new Error(`xml: bad tag at ${lt}`);
      open(name);
      if (src.charCodeAt(gt - 1) === 0x2f) {
        close(name, '');
        leaf = false;
      } else {
        stack.push(name);
        leaf = true;
        textFrom = gt + 1;
      }
    }
    text = '';
    i = gt + 1;
  }
  if (stack.length > 0) throw new Error(`xml: <${stack[stack.length - 1]}> is not closed`);
}

/** Index of the '>' ending the tag opened at `lt` ('>' may stand unescaped in attribute values). */
function tagEnd(src: string, lt: number): number {
  const gt = src.indexOf('>', lt);
  if (gt < 0) throw new Error(`xml: unterminated markup at ${lt}`);
  let quoted = false;
  for (let j = lt + 1; j < gt && !quoted; j++) quoted = src.charCodeAt(j) === 0x22 || src.charCodeAt(j) === 0x27;
  if (!quoted) return gt;
  for (let j = lt + 1; j < src.length; j++) {
    const ch = src.charCodeAt(j);
    if (ch === 0x3e) return j;
    if (ch === 0x22 || ch === 0x27) {
      j = src.indexOf(String.fromCharCode(ch), j + 1);
      if (j < 0) break;
    }
  }
  throw new Error(`xml: unterminated markup at ${lt}`);
}

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}
