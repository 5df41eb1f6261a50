// Test servers for the MongoDB, S3 and WebDAV suites. A suite gets its server from the environment
// (ZUFS_TEST_MONGO_URL, ZUFS_TEST_S3_URL, ZUFS_TEST_WEBDAV_URL: CI starts them once) or, when that is
// unset and the server is installed, starts a private one on a free loopback port through the same
// scripts CI uses (test/servers/*.sh). When neither is possible, `unavailable(kind)` says why, so the
// suite is skipped with that reason in its name instead of passing silently.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/redis-server.js';

export type ServerKind = 'mongo' | 's3' | 'webdav';

export interface TestServer {
  kind: ServerKind;
  url: string;
  /** True when this process started it (and stop() stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

export interface S3TestConfig {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN_DIR = process.env['ZUFS_SERVERS_BIN'] ?? '/usr/local/bin';

interface Spec {
  env: string;
  script: string;
  portVar: string;
  installed: () => boolean;
  hint: string;
}

const SPECS: Record<ServerKind, Spec> = {
  mongo: {
    env: 'ZUFS_TEST_MONGO_URL',
    script: 'ferretdb.sh',
    portVar: 'ZUFS_FERRETDB_PORT',
    installed: () => onPath('ferretdb'),
    hint: 'bash test/servers/ferretdb.sh install',
  },
  s3: {
    env: 'ZUFS_TEST_S3_URL',
    script: 's3.sh',
    portVar: 'ZUFS_S3_PORT',
    installed: () => onPath('minio'),
    hint: 'bash test/servers/s3.sh install',
  },
  webdav: {
    env: 'ZUFS_TEST_WEBDAV_URL',
    script: 'webdav.sh',
    portVar: 'ZUFS_WEBDAV_PORT',
    installed: () => onPath('nginx') && existsSync('/usr/lib/nginx/modules/ngx_http_dav_ext_module.so'),
    hint: 'bash test/servers/webdav.sh install',
  },
};

function onPath(exe: string): boolean {
  const dirs = [BIN_DIR, ...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin'];
  return dirs.some((d) => d && existsSync(join(d, exe)));
}

/** Why a suite needing this server cannot run here, or undefined when it can. */
export function unavailable(kind: ServerKind): string | undefined {
  const s = SPECS[kind];
  if (process.env[s.env]) return undefined;
  if (s.installed()) return undefined;
  return `${s.env} is not set and the server is not installed (${s.hint})`;
}

/** A free loopback port (one implementation for every test helper). */
export { freePort };

function run(script: string, arg: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(HERE, script), arg], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${script} ${arg} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** The server from the environment, or a private one started now. */
export async function startServer(kind: ServerKind): Promise<TestServer> {
  const s = SPECS[kind];
  const fromEnv = process.env[s.env];
  if (fromEnv) return { kind, url: fromEnv, owned: false, stop: async () => {} };
  const why = unavailable(kind);
  if (why) throw new Error(why);
  const dir = await mkdtemp(join(tmpdir(), `zufs-${kind}-`));
  const env = { ...process.env, [s.portVar]: String(await freePort()), ZUFS_SERVERS_DIR: dir, ZUFS_SERVERS_BIN: BIN_DIR };
  const url = (await run(s.script, 'start', env)).split('\n').pop()!;
  return {
    kind,
    url,
    owned: true,
    stop: async () => {
      await run(s.script, 'stop', env).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Connection settings for the S3 server at `url` (the bucket exists; credentials as in s3.sh). */
export function s3Config(url: string): S3TestConfig {
  return {
    endpoint: url,
    bucket: process.env['ZUFS_TEST_S3_BUCKET'] ?? 'zufs-test',
    region: process.env['ZUFS_TEST_S3_REGION'] ?? 'us-east-1',
    accessKeyId: process.env['ZUFS_TEST_S3_ACCESS_KEY'] ?? process.env['ZUFS_S3_ACCESS_KEY'] ?? 'zufstest',
    secretAccessKey: process.env['ZUFS_TEST_S3_SECRET_KEY'] ?? process.env['ZUFS_S3_SECRET_KEY'] ?? 'zufstestsecret',
  };
}

/** A name no other test run uses, for volumes, prefixes and collections on shared servers. */
export function uniqueName(tag: string): string {
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
