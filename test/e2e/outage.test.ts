// Store outages under an open FUSE mount, for MongoDB (FerretDB), S3 (MinIO) and WebDAV (nginx), each
// in the posix and the native layout. While the server is stopped (connections refused) and while it
// is frozen (SIGSTOP: connections accepted, nothing answered), a write, a read of data not in any
// cache and a stat of an unknown name fail with EIO or ETIMEDOUT within a bound set by the mount's
// timeouts, never hang; once the same server is back on the same port and data, the mount works
// again by itself and the data acknowledged by fsync before the outage is intact.
// Every case starts its own server (test/servers/*.sh on a free port in a private directory), so
// stopping it disturbs no other suite.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliBuilt, isMounted, startMount, tmpDir, type RunningMount } from '../helpers/mount.js';
import { freePort } from '../helpers/redis-server.js';

type Kind = 'mongo' | 's3' | 'webdav';
type Layout = 'posix' | 'native';

const SERVERS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../servers');
const BIN_DIR = process.env['ZUFS_SERVERS_BIN'] ?? '/usr/local/bin';

// The mount's timeouts, and how long one failing syscall may take. Each store request is bounded by
// them, but a syscall may make several one after another: with attr_timeout 0 the kernel revalidates
// every path component (LOOKUP), and one that fails it drops and looks up afresh before failing the
// syscall; then the operation itself. So: three requests, each a connect and a wait, plus slack for
// a loaded 2-core machine.
const TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 1000;
const FAIL_BOUND_MS = 3 * (TIMEOUT_MS + CONNECT_TIMEOUT_MS) + 2000;
// How long the mount may take to work again once the server answers.
const RECOVER_BOUND_MS = 30_000;

interface Spec {
  script: string;
  portVar: string;
  /** The script's state directory name (before "-PORT") and pid file in it. */
  state: string;
  pidFile: string;
  installed: () => boolean;
  hint: string;
}

const SPECS: Record<Kind, Spec> = {
  mongo: { script: 'ferretdb.sh', portVar: 'ZUFS_FERRETDB_PORT', state: 'ferretdb', pidFile: 'ferretdb.pid', installed: () => onPath('ferretdb'), hint: 'bash test/servers/ferretdb.sh install' },
  s3: { script: 's3.sh', portVar: 'ZUFS_S3_PORT', state: 's3', pidFile: 'minio.pid', installed: () => onPath('minio'), hint: 'bash test/servers/s3.sh install' },
  webdav: {
    script: 'webdav.sh',
    portVar: 'ZUFS_WEBDAV_PORT',
    state: 'webdav',
    pidFile: 'nginx.pid',
    installed: () => onPath('nginx') && existsSync('/usr/lib/nginx/modules/ngx_http_dav_ext_module.so'),
    hint: 'bash test/servers/webdav.sh install',
  },
};

function onPath(exe: string): boolean {
  const dirs = [BIN_DIR, ...(process.env['PATH'] ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/bin'];
  return dirs.some((d) => d && existsSync(path.join(d, exe)));
}

/** Why this kind cannot run here. A server from ZUFS_TEST_*_URL is shared with other suites and must
 * not be stopped, so these tests always need the server installed to start a private one. */
function unavailable(kind: Kind): string | undefined {
  const s = SPECS[kind];
  return s.installed() ? undefined : `the server is not installed (${s.hint}); outage tests stop and restart a private one`;
}

/** A private server: its own port and state directory; stop() keeps the data until remove(). */
class PrivateServer {
  private constructor(
    private readonly spec: Spec,
    private readonly env: NodeJS.ProcessEnv,
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async create(kind: Kind): Promise<PrivateServer> {
    const spec = SPECS[kind];
    const dir = tmpDir(`zufs-outage-${kind}-`);
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, [spec.portVar]: String(port), ZUFS_SERVERS_DIR: dir, ZUFS_SERVERS_BIN: BIN_DIR };
    delete env['ZUFS_KEEP_DATA'];
    return new PrivateServer(spec, env, dir, port);
  }

  private run(verb: string, extra: NodeJS.ProcessEnv = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('bash', [path.join(SERVERS, this.spec.script), verb], { env: { ...this.env, ...extra }, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${this.spec.script} ${verb} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout.trim().split('\n').pop()!);
      });
    });
  }

  /** Starts it (again, on the same port and data); returns its URL. */
  start(): Promise<string> {
    return this.run('start');
  }

  /** Stops it, keeping its data for the next start. */
  async stop(): Promise<void> {
    await this.run('stop', { ZUFS_KEEP_DATA: '1' });
  }

  /** SIGSTOP to the server and its children (nginx's workers serve, not its master), returning once
   * every thread of them is stopped; SIGCONT undoes it. */
  async freeze(on: boolean): Promise<void> {
    const pid = Number(readFileSync(path.join(this.dir, `${this.spec.state}-${this.port}`, this.spec.pidFile), 'utf8'));
    const family = [pid, ...childrenOf(pid)];
    for (const p of family) process.kill(p, on ? 'SIGSTOP' : 'SIGCONT');
    // kill() only queues the stop: a thread busy on another CPU could still answer a request or two.
    const deadline = Date.now() + 5000;
    while (on && !family.every(allThreadsStopped)) {
      if (Date.now() > deadline) throw new Error(`${this.spec.script}: server ${pid} did not stop`);
      await sleep(10);
    }
  }

  /** Stops it and removes its data. */
  async remove(): Promise<void> {
    await this.run('stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so parse after the last ')'.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether every thread of `pid` is in the stopped state (T). */
function allThreadsStopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((t) => {
    const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  });
}

/** The one-mount YAML for this kind and layout against the server at `url`. */
function mountConfig(kind: Kind, layout: Layout, url: string, dir: string): string {
  const lines = ['name: outage'];
  if (kind === 'mongo') {
    lines.push(`url: ${url.replace(/\/?$/, '/outage')}`);
  } else if (kind === 's3') {
    const secret = path.join(dir, 's3.secret');
    writeFileSync(secret, process.env['ZUFS_S3_SECRET_KEY'] ?? 'zufstestsecret', { mode: 0o600 });
    lines.push(
      'url: s3://zufs-test/outage/',
      `endpoint: ${url}`,
      'region: us-east-1',
      `access_key_id: ${process.env['ZUFS_S3_ACCESS_KEY'] ?? 'zufstest'}`,
      `password_file: ${secret}`,
    );
  } else {
    lines.push(`url: ${url.replace(/^http:/, 'webdav:')}`);
  }
  if (layout === 'native') lines.push('layout: native');
  // The object stores' metadata engine is local: the outage is the data store's alone.
  else if (kind !== 'mongo') lines.push(`meta_url: local://${path.join(dir, 'meta')}`);
  lines.push(`timeout: ${TIMEOUT_MS / 1000}s`, `connect_timeout: ${CONNECT_TIMEOUT_MS / 1000}s`, 'attr_timeout: 0s');
  const file = path.join(dir, 'zufs.yaml');
  writeFileSync(file, ['mounts:', ...lines.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`))].join('\n') + '\n');
  return file;
}

/** The errno code `op` fails with ('ok' when it succeeds, 'HANG' when it has not settled in
 * twice the bound) and how long it took. */
async function outcome(op: () => Promise<unknown>): Promise<{ code: string; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((r) => (timer = setTimeout(() => r('HANG'), 2 * FAIL_BOUND_MS)));
  const code = await Promise.race([op().then(() => 'ok', (e: NodeJS.ErrnoException) => e.code ?? String(e)), hang]);
  clearTimeout(timer);
  return { code, ms: Date.now() - t0 };
}

// One document's worth of JSON, so the native MongoDB layout (documents as JSON files) takes it too.
const DURABLE = JSON.stringify({ data: 'd'.repeat(150_000) });

const CASES: Array<{ kind: Kind; layout: Layout }> = (['mongo', 's3', 'webdav'] as const).flatMap((kind) =>
  (['posix', 'native'] as const).map((layout) => ({ kind, layout })),
);

describe.skipIf(!cliBuilt())('store outage under an open mount', () => {
  for (const { kind, layout } of CASES) {
    const why = unavailable(kind);
    // The metadata engine of an object store's posix layout is still up: names resolve (ENOENT).
    const namesNeedStore = kind === 'mongo' || layout === 'native';
    it.skipIf(why !== undefined)(
      `${kind} ${layout}: stopped or frozen, EIO/ETIMEDOUT within ${FAIL_BOUND_MS} ms; back, the mount recovers by itself with fsync'd data intact${why ? ` (skipped: ${why})` : ''}`,
      async () => {
        const server = await PrivateServer.create(kind);
        const dir = tmpDir(`zufs-outage-${kind}-${layout}-`);
        const mnt = path.join(dir, 'mnt');
        mkdirSync(mnt);
        let mount: RunningMount;
        try {
          mount = await startMount(mountConfig(kind, layout, await server.start(), dir), mnt);
        } catch (err) {
          await server.remove();
          throw err;
        }
        const d = path.join(mnt, 'd');
        // The stat is of a name in another directory: concurrent path walks that fail on the same
        // dentry wait for each other's lookups in the kernel, and each would then measure both.
        const e = path.join(mnt, 'e');
        const log = (): string => `\nmount log:\n${mount.log().slice(-3000)}`;

        /** While the server is out: a write (acknowledged by its fsync: the native layouts stage
         * writes until then) on a file opened before, a read of a file not in any cache (no page
         * cache survives an open: FOPEN_KEEP_CACHE is never set) and a stat of a new name. */
        const checkOut = async (how: string, scratch: FileHandle): Promise<void> => {
          const [write, read, stat] = await Promise.all([
            outcome(async () => {
              await scratch.write('{"v":2}', 0);
              await scratch.sync();
            }),
            outcome(() => fsp.readFile(path.join(d, 'durable.json'))),
            outcome(() => fsp.stat(path.join(e, 'nothere.json'))),
          ]);
          for (const [what, r] of [['write+fsync', write], ['read', read]] as const) {
            expect(['EIO', 'ETIMEDOUT'], `${how}: ${what}: ${r.code} after ${r.ms} ms${log()}`).toContain(r.code);
            expect(r.ms, `${how}: ${what} took ${r.ms} ms`).toBeLessThan(FAIL_BOUND_MS);
          }
          expect(namesNeedStore ? ['EIO', 'ETIMEDOUT'] : ['ENOENT'], `${how}: stat: ${stat.code} after ${stat.ms} ms${log()}`).toContain(stat.code);
          expect(stat.ms, `${how}: stat took ${stat.ms} ms`).toBeLessThan(FAIL_BOUND_MS);
          await outcome(() => scratch.close());
        };

        const readJson = async (name: string): Promise<Record<string, unknown>> => {
          const text = await fsp.readFile(path.join(d, name), 'utf8');
          try {
            return JSON.parse(text) as Record<string, unknown>;
          } catch {
            throw new Error(`${name} holds ${text.length} bytes of no JSON: ${JSON.stringify(text.slice(0, 80))}${log()}`);
          }
        };

        /** Once the server is back: the same mount works again within the bound, nothing remounted,
         * and what fsync acknowledged before the outage reads back whole. */
        const checkBack = async (how: string, name: string): Promise<void> => {
          const t0 = Date.now();
          let last = '';
          while (Date.now() - t0 < RECOVER_BOUND_MS) {
            last = (await outcome(() => fsp.writeFile(path.join(d, name), '{"v":3}'))).code;
            if (last === 'ok') break;
            await sleep(250);
          }
          expect(last, `${how}: no recovery within ${RECOVER_BOUND_MS} ms${log()}`).toBe('ok');
          expect(mount.proc.exitCode, `${how}: zusd exited${log()}`).toBeNull();
          const back = await readJson('durable.json');
          expect(back['data'] === JSON.parse(DURABLE).data, `${how}: durable.json changed`).toBe(true);
          expect(await readJson(name), how).toMatchObject({ v: 3 });
          await expect(fsp.stat(path.join(e, 'nothere.json')), how).rejects.toMatchObject({ code: 'ENOENT' });
        };

        const openScratch = async (name: string): Promise<FileHandle> => {
          const fh = await fsp.open(path.join(d, name), 'w');
          await fh.write('{"v":1}', 0);
          await fh.sync();
          return fh;
        };

        let state: 'up' | 'stopped' | 'frozen' = 'up';
        try {
          await fsp.mkdir(d);
          await fsp.mkdir(e);
          const durable = await fsp.open(path.join(d, 'durable.json'), 'w');
          await durable.write(DURABLE);
          await durable.sync();
          await durable.close();

          // Stopped: connections are refused.
          const scratch = await openScratch('scratch.json');
          state = 'stopped';
          await server.stop();
          await checkOut('stopped', scratch);
          await server.start();
          state = 'up';
          await checkBack('after restart', 'after-restart.json');

          // Frozen (SIGSTOP): connections open, nothing answers; only the timeouts end a request.
          const scratch2 = await openScratch('scratch2.json');
          state = 'frozen';
          await server.freeze(true);
          await checkOut('frozen', scratch2);
          await server.freeze(false);
          state = 'up';
          await checkBack('after thaw', 'after-thaw.json');
        } finally {
          // A mount drains to its store at unmount: give it the server back first.
          if (state === 'frozen') await server.freeze(false).catch(() => undefined);
          if (state === 'stopped') await server.start().catch(() => undefined);
          await mount.stop();
          if (isMounted(mnt)) spawnSync('umount', ['-l', mnt]);
          await server.remove();
          rmSync(dir, { recursive: true, force: true });
        }
      },
      120_000,
    );
  }
});
