// Throwaway redis-server for tests: started on 127.0.0.1 at a free port with no persistence (unless
// asked), or taken from REDIS_URL. When neither is possible, `redisUnavailable` says why so the
// suites can skip with that reason instead of passing silently.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  url: string; // redis://127.0.0.1:port/db
  port: number;
  /** True when this process started the server (and may stop/restart it). */
  owned: boolean;
  stop(): Promise<void>;
  /** Kills the server (SIGKILL) but keeps its port and data directory (owned servers only). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data directory (owned servers only). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server keeps its connections but stops answering (owned servers only). */
  freeze(): void;
  thaw(): void;
}

function findBinary(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

const BINARY = findBinary();

// Servers still running when the test process exits (a suite that forgot stop(), a failed
// beforeAll) are killed with it, and never keep it alive on their own.
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Why redis tests cannot run here, or undefined when they can. */
export const redisUnavailable: string | undefined =
  process.env['REDIS_URL'] || BINARY
    ? undefined
    : 'redis-server is not installed and REDIS_URL is not set (apt-get install redis-server)';

/** Why tests that kill, freeze or configure their own server cannot run here. */
export const privateRedisUnavailable: string | undefined = BINARY
  ? undefined
  : 'redis-server is not installed: tests that kill, freeze or configure their own server need it (apt-get install redis-server)';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitUntil(what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`redis-server helper: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts `binary ...args` (redis-server, or a Sentinel) under a small sh watchdog that SIGKILLs it
 * when our end of its stdin pipe closes: however this process ends (even SIGKILL), no server
 * outlives the tests. Resolves once it accepts connections on `port`; `forget(pid)` when it is
 * stopped, so the exit handler never signals a reused pid.
 */
export async function launchWatched(binary: string, port: number, args: string[]): Promise<{ child: ChildProcess; pid: number }> {
  const c = spawn('sh', ['-c', '"$0" "$@" & r=$!; echo "$r"; read _; kill -9 "$r" 2>/dev/null; wait "$r"', binary, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  c.unref();
  (c.stdin as unknown as { unref(): void }).unref();
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      c.stdout!.off('data', onData);
      c.stdout!.resume(); // the server's own log lines: drained and dropped
      (c.stdout as unknown as { unref(): void }).unref();
      resolve(Number(out.slice(0, nl)));
    };
    c.stdout!.on('data', onData);
    c.once('exit', () => reject(new Error('redis-server watchdog exited at start')));
  });
  running.add(pid);
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitUntil(`redis-server on port ${port}`, async () => {
    if (!alive()) throw new Error(`redis-server exited at start (port ${port})`);
    return canConnect(port);
  }, 10_000);
  return { child: c, pid };
}

/** A stopped server's pid leaves the exit handler's list. */
export function forget(pid: number): void {
  running.delete(pid);
}

export interface StartOptions {
  /** Keep an append-only file (appendfsync always) so data survives a restart. */
  persistent?: boolean;
  /** requirepass: clients must authenticate. */
  password?: string;
  /** Start a server of our own even when REDIS_URL is set (needed to kill, freeze or configure it). */
  private?: boolean;
}

/** Starts a private redis-server, or wraps REDIS_URL (which cannot be stopped or restarted) when
 * the caller needs no server of its own. */
export async function startRedis(opts: StartOptions = {}): Promise<RedisServer> {
  const envUrl = process.env['REDIS_URL'];
  if (envUrl && !opts.private && !opts.persistent && !opts.password) {
    const port = Number(new URL(envUrl).port || 6379);
    return {
      url: envUrl,
      port,
      owned: false,
      stop: async () => {},
      kill: async () => {
        throw new Error('cannot kill the server given by REDIS_URL');
      },
      restart: async () => {
        throw new Error('cannot restart the server given by REDIS_URL');
      },
      freeze: () => {
        throw new Error('cannot freeze the server given by REDIS_URL');
      },
      thaw: () => {},
    };
  }
  if (!BINARY) throw new Error(privateRedisUnavailable);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'zufs-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--loglevel', 'warning',
    ...(opts.persistent
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
    ...(opts.password ? ['--requirepass', opts.password] : []),
  ];
  let child: ChildProcess | undefined;
  let pid: number | undefined;
  const launch = async (): Promise<void> => {
    ({ child, pid } = await launchWatched(BINARY!, port, args));
  };
  const kill = async (): Promise<void> => {
    const c = child;
    const p = pid;
    child = undefined;
    pid = undefined;
    if (!c || p === undefined) return;
    running.delete(p);
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
    c.stdin!.end();
    await gone;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    owned: true,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    kill,
    freeze: () => {
      if (pid !== undefined) process.kill(pid, 'SIGSTOP');
    },
    thaw: () => {
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    },
    restart: async () => {
      await kill();
      await launch();
    },
  };
}
