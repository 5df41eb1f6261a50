// Redis URLs, one parser for the posix-layout backend and the native layout. Three deployments:
//   redis[s]://[[user]:pass@]host[:port][/db][?…]                                  one server
//   redis[s]+sentinel://[[user]:pass@]host[:port][,host[:port]…]/master[/db][?…]   Sentinel (port 26379)
//   redis[s]+cluster://[[user]:pass@]host[:port][,host[:port]…][/][?…]             Cluster seeds (port 6379)
// A host list is not a WHATWG URL (a port may not be followed by ","), so the list is cut out, the
// rest parsed as a URL with the first host alone, and each host parsed on its own. The password is
// the data nodes'; Sentinels are reached without one.

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface RedisTarget {
  mode: RedisMode;
  /** standalone: the server; sentinel: the Sentinels; cluster: the seed nodes (the rest is discovered). */
  nodes: RedisEndpoint[];
  /** sentinel: the name of the master the Sentinels monitor. */
  master?: string | undefined;
  /** Always 0 in a cluster (it has no other database). */
  db: number;
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
  params: URLSearchParams;
}

const SCHEME = /^(rediss?)(?:\+(sentinel|cluster))?:$/;
/** scheme://, the userinfo with its "@", then the host list up to the path, query or fragment. */
const AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)((?:[^/?#@]*@)?)([^/?#]*)(.*)$/s;

/** True for every scheme parseRedisUrl reads. */
export function isRedisScheme(protocol: string): boolean {
  return SCHEME.test(protocol);
}

/** Splits "scheme://user@h1:1,h2:2/rest" into the URL with its first host only and the rest of the
 * host list (",h2:2"; '' when there is one host). Any URL without a list comes back unchanged. */
export function splitHostList(url: string): { first: string; more: string } {
  const m = AUTHORITY.exec(url);
  const comma = m ? m[3]!.indexOf(',') : -1;
  if (!m || comma < 0) return { first: url, more: '' };
  return { first: m[1]! + m[2]! + m[3]!.slice(0, comma) + m[4]!, more: m[3]!.slice(comma) };
}

/** Puts back what splitHostList cut out, after the first host of `url` (which may have been
 * re-serialised meanwhile, e.g. with a password added or redacted). */
export function joinHostList(url: string, more: string): string {
  if (more === '') return url;
  const m = AUTHORITY.exec(url);
  if (!m) return url;
  return m[1]! + m[2]! + m[3]! + more + m[4]!;
}

/** Reads any of the three forms; `bad` throws with the reason. */
export function parseRedisUrl(url: string, bad: (why: string) => never): RedisTarget {
  const { first, more } = splitHostList(url);
  let u: URL;
  try {
    u = new URL(first);
  } catch {
    bad('not a URL (expected redis://host:port/db, redis+sentinel://host:port,…/master or redis+cluster://host:port,…)');
  }
  const scheme = SCHEME.exec(u.protocol);
  if (!scheme) bad(`scheme must be redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster, got "${u.protocol}"`);
  const mode: RedisMode = (scheme[2] as 'sentinel' | 'cluster' | undefined) ?? 'standalone';
  const defaultPort = mode === 'sentinel' ? 26379 : 6379;
  if (!u.hostname) bad(`needs a host, e.g. ${EXAMPLES[mode]}`);
  if (mode === 'standalone' && more !== '') bad(`one host only; for several use redis+sentinel:// or redis+cluster://`);
  const nodes = [endpoint(u, defaultPort)];
  for (const h of more.slice(1).split(',')) {
    if (more === '') break;
    let hu: URL;
    try {
      hu = new URL(`redis://${h}`);
    } catch {
      bad(`bad host "${h}" in the host list`);
    }
    if (!hu.hostname || hu.pathname !== '' || hu.username || hu.search) bad(`bad host "${h}" in the host list`);
    nodes.push(endpoint(hu, defaultPort));
  }
  const path = u.pathname.replace(/^\//, '').split('/');
  let master: string | undefined;
  if (mode === 'sentinel') {
    master = decodeURIComponent(path.shift() ?? '');
    if (!master) bad(`needs the master name after the hosts, e.g. ${EXAMPLES.sentinel}`);
  }
  const dbPart = path.join('/');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!/^\d*$/.test(dbPart) || !Number.isSafeInteger(db)) bad(`database must be a number, got "${dbPart}"`);
  if (mode === 'cluster' && db !== 0) bad(`a Redis Cluster has database 0 only, got "${dbPart}"`);
  // redis://:pass@host and redis://pass@host (the old form) both carry a password.
  const username = u.password ? decodeURIComponent(u.username) || undefined : undefined;
  const password = u.password ? decodeURIComponent(u.password) : u.username ? decodeURIComponent(u.username) : undefined;
  return { mode, nodes, master, db, username, password, tls: scheme[1] === 'rediss', params: u.searchParams };
}

const EXAMPLES: Record<RedisMode, string> = {
  standalone: 'redis://127.0.0.1:6379/0',
  sentinel: 'redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/0',
  cluster: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001',
};

function endpoint(u: URL, defaultPort: number): RedisEndpoint {
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? defaultPort : Number(u.port) };
}
