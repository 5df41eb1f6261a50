// YAML configuration: one file declares one or more mounts. Validated once at load against a
// schema; every error names the file, line and key. The result is frozen and carries defaults.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';
import { splitHostList } from '../backends/redis/redis-url.js';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string | undefined,
    readonly reason: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${key ? `${key}: ` : ''}${reason}`);
    this.name = 'ConfigError';
  }
}

/** fs type per URL scheme; a mount's `fs` may be omitted when the scheme names the store. */
export const FS_TYPE_BY_SCHEME: Readonly<Record<string, string>> = Object.freeze({
  'local:': 'zufs-local',
  'memory:': 'zufs-mem',
  'redis:': 'zufs-redis',
  'rediss:': 'zufs-redis',
  'redis+sentinel:': 'zufs-redis',
  'rediss+sentinel:': 'zufs-redis',
  'redis+cluster:': 'zufs-redis',
  'rediss+cluster:': 'zufs-redis',
  'mongodb:': 'zufs-mongo',
  'mongodb+srv:': 'zufs-mongo',
  's3:': 'zufs-s3',
  'webdav:': 'zufs-webdav',
  'webdavs:': 'zufs-webdav',
});

/** A store URL as a WHATWG URL; a host list (redis+cluster://h1:7000,h2:7001) is read as its first host. */
const storeUrl = (v: string): URL => new URL(splitHostList(v).first);

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try { return parseSize(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try { return parseDuration(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});

const url = z.string().superRefine((v, ctx) => {
  let u: URL;
  try { u = storeUrl(v); } catch { ctx.addIssue({ code: 'custom', message: `invalid URL "${v}"` }); return; }
  if (!(u.protocol in FS_TYPE_BY_SCHEME)) {
    ctx.addIssue({ code: 'custom', message: `unknown store "${u.protocol}" (expected one of ${Object.keys(FS_TYPE_BY_SCHEME).map((s) => s + '//').join(', ')})` });
  }
});

/** A gateway's fcntl/flock locks outlive it by at most its lock lease; renewals come every quarter
 * of it, so below 1 s a busy event loop could let a live gateway's lease lapse. */
const LOCK_LEASE_MIN_MS = 1000;
const LOCK_LEASE_MAX_MS = 3_600_000;

const devices = z.union([z.string(), z.array(z.string()).min(1).max(64)]);
const tiers = z.strictObject({
  t1: devices,
  t2: devices.optional(),
  t1_size: size.optional(),
  t2_size: size.optional(),
  writeback: z.boolean().default(false),
  dirty_max: size.optional(),
  flush_delay: duration.optional(),
});

const mountSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, "_", "-" or "."'),
  url,
  fs: z.enum(['zufs-local', 'zufs-mem', 'zufs-redis', 'zufs-mongo', 'zufs-s3', 'zufs-webdav']).optional(),
  mountpoint: z.string().optional(),
  layout: z.enum(['posix', 'native']).default('posix'),
  volume: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."').optional(),
  password_env: z.string().optional(),
  password_file: z.string().optional(),
  timeout: duration.default(5000),
  connect_timeout: duration.default(5000),
  chunk_size: size.optional(),
  read_only: z.boolean().default(false),
  allow_other: z.boolean().default(true),
  attr_timeout: duration.default(1000),
  lock_lease: duration.optional(),
  channels: z.number().int().min(1).max(64).optional(),
  tiers: tiers.optional(),
  meta_url: url.optional(),
  endpoint: z.string().url().optional(),
  region: z.string().optional(),
  addressing: z.enum(['path', 'virtual']).optional(),
  access_key_id: z.string().optional(),
});

const daemonSchema = z.strictObject({
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  memory_budget: size.default(512 * 1024 * 1024),
});

const fileSchema = z.strictObject({
  daemon: daemonSchema.default({ log_level: 'info', memory_budget: 512 * 1024 * 1024 }),
  mounts: z.array(mountSchema).min(1, 'at least one mount is needed'),
});

export type MountConfig = Readonly<z.infer<typeof mountSchema> & { fs: NonNullable<z.infer<typeof mountSchema>['fs']>; volume: string }>;
export type DaemonConfig = Readonly<z.infer<typeof daemonSchema>>;
export interface Config {
  readonly file: string;
  readonly daemon: DaemonConfig;
  readonly mounts: readonly MountConfig[];
}

/** Loads and validates a YAML config file. Throws ConfigError (file, line, key) on any problem. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(e as Error).message}`);
  }
  return parseConfig(text, path.resolve(file));
}

export function parseConfig(text: string, file: string): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    const line = lines.linePos(syntax.pos[0]).line;
    throw new ConfigError(file, line, undefined, syntax.message.split('\n')[0]!);
  }
  const raw: unknown = doc.toJS();
  const parsed = fileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    let keyPath = issue.path as (string | number)[];
    let reason = issue.message;
    if (issue.code === 'unrecognized_keys') {
      keyPath = [...keyPath, issue.keys[0]!];
      reason = `unknown key "${issue.keys[0]}"`;
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      reason = 'required key is missing';
    }
    const line = lineOf(doc, lines, keyPath);
    throw new ConfigError(file, line, formatPath(keyPath), reason);
  }
  return finish(parsed.data, file, doc, lines);
}

/** A one-mount config built from a URL given on the command line, validated the same way. */
export function configFromUrl(rawUrl: string, extra: { name?: string; mountpoint?: string } = {}): Config {
  const u = (() => { try { return storeUrl(rawUrl); } catch { return undefined; } })();
  const name = extra.name ?? (u?.searchParams.get('volume') || (u ? defaultName(u) : 'default'));
  const mount: Record<string, unknown> = { name, url: rawUrl };
  if (extra.mountpoint) mount.mountpoint = extra.mountpoint;
  const volume = u?.searchParams.get('volume');
  if (volume) mount.volume = volume;
  const parsed = fileSchema.safeParse({ mounts: [mount] });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError('<command line>', undefined, formatPath(issue.path as (string | number)[]), issue.message);
  }
  return finish(parsed.data, '<command line>');
}

function defaultName(u: URL): string {
  const base = path.basename(u.pathname.replace(/\/+$/, '')) || u.hostname || u.protocol.replace(':', '');
  return base.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 63) || 'default';
}

function finish(data: z.infer<typeof fileSchema>, file: string, doc?: Document, lines?: LineCounter): Config {
  const names = new Set<string>();
  const mounts = data.mounts.map((m, i) => {
    const where = (key: string): number | undefined => (doc && lines ? lineOf(doc, lines, ['mounts', i, key]) : undefined);
    if (names.has(m.name)) throw new ConfigError(file, where('name'), `mounts[${i}].name`, `duplicate mount name "${m.name}"`);
    names.add(m.name);
    const scheme = storeUrl(m.url).protocol;
    const implied = FS_TYPE_BY_SCHEME[scheme]!;
    if (m.fs && m.fs !== implied) {
      throw new ConfigError(file, where('fs'), `mounts[${i}].fs`, `fs "${m.fs}" does not match the URL scheme ${scheme}// (expected ${implied})`);
    }
    if ((implied === 'zufs-s3' || implied === 'zufs-webdav') && m.layout === 'posix' && !m.meta_url) {
      throw new ConfigError(file, where('url'), `mounts[${i}].meta_url`, 'an object store holds file data only in the posix layout: name a metadata engine (meta_url: redis://..., mongodb://... or local:///...)');
    }
    if (m.meta_url && !['zufs-redis', 'zufs-mongo', 'zufs-local'].includes(FS_TYPE_BY_SCHEME[storeUrl(m.meta_url).protocol] ?? '')) {
      throw new ConfigError(file, where('meta_url'), `mounts[${i}].meta_url`, 'the metadata engine must be redis://, mongodb:// or local:///');
    }
    if ((m.endpoint || m.region || m.addressing || m.access_key_id) && implied !== 'zufs-s3') {
      throw new ConfigError(file, where(m.endpoint ? 'endpoint' : m.region ? 'region' : m.addressing ? 'addressing' : 'access_key_id'), `mounts[${i}]`, 'endpoint, region, addressing and access_key_id are S3 keys');
    }
    if (m.lock_lease !== undefined) {
      const lockStore = ['zufs-redis', 'zufs-mongo'].includes(m.meta_url ? (FS_TYPE_BY_SCHEME[storeUrl(m.meta_url).protocol] ?? '') : implied);
      if (m.layout !== 'posix' || !lockStore) {
        throw new ConfigError(file, where('lock_lease'), `mounts[${i}].lock_lease`, 'only a posix volume in redis or mongodb (or with such a meta_url) shares locks between gateways; other mounts keep them in the process and have no lease');
      }
      if (m.lock_lease < LOCK_LEASE_MIN_MS || m.lock_lease > LOCK_LEASE_MAX_MS) {
        throw new ConfigError(file, where('lock_lease'), `mounts[${i}].lock_lease`, `must be between 1s and 1h (it is renewed every quarter of itself), got ${m.lock_lease}ms`);
      }
    }
    if (m.password_env && m.password_file) {
      throw new ConfigError(file, where('password_env'), `mounts[${i}]`, 'give password_env or password_file, not both');
    }
    if (m.password_env && process.env[m.password_env] === undefined) {
      throw new ConfigError(file, where('password_env'), `mounts[${i}].password_env`, `environment variable ${m.password_env} is not set`);
    }
    return Object.freeze({ ...m, fs: implied as MountConfig['fs'], volume: m.volume ?? m.name });
  });
  return Object.freeze({ file, daemon: Object.freeze(data.daemon), mounts: Object.freeze(mounts) });
}

/** Reads the mount's secret from the environment or a file, never from the YAML itself. */
export function mountPassword(m: MountConfig): string | undefined {
  if (m.password_env) return process.env[m.password_env];
  if (m.password_file) return readFileSync(m.password_file, 'utf8').replace(/\r?\n$/, '');
  return undefined;
}

function formatPath(p: (string | number)[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('') || '<top>';
}

/** The 1-based line of the deepest node along `keyPath` that exists in the document. */
function lineOf(doc: Document, lines: LineCounter, keyPath: (string | number)[]): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (node as Node | null)?.range?.[0];
  for (const k of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === k);
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (node && typeof node === 'object' && 'items' in node && typeof k === 'number') {
      const item = (node as { items: unknown[] }).items[k] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : lines.linePos(offset).line;
}
