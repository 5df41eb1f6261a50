// What the S3 and WebDAV clients share: one undici Agent per distinct timeout setting (so every
// store on one endpoint reuses its keep-alive connections), and the error type they throw.
// Timeouts are always finite: a server that stops answering fails the request with
// UND_ERR_CONNECT_TIMEOUT / UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT (ETIMEDOUT), never hangs it.
import { Agent, type Dispatcher } from 'undici';

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
