// Throwaway scale-out Redis deployments for tests, on free loopback ports in temp directories: a
// 3-master Redis Cluster, and a master + replica watched by one Sentinel. Each process runs under
// the same sh watchdog as redis-server.ts (SIGKILLed when our end of its stdin closes), and stop()
// ends exactly the processes this helper started, by pid.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { forget, freePort, launchWatched } from './redis-server.js';

function onPath(exe: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${exe}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

const SERVER = onPath('redis-server');
const CLI = onPath('redis-cli');

/** Why cluster and Sentinel tests cannot run here, or undefined when they can. */
export const scaleoutUnavailable: string | undefined = !SERVER
  ? 'redis-server is not installed (apt-get install redis-server)'
  : !CLI
    ? 'redis-cli is not installed (apt-get install redis-tools)'
    : undefined;

/** One redis-server (or Sentinel) process of ours. */
export interface RedisProcess {
  port: number;
  pid: number;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open but nothing answers. */
  freeze(): void;
  thaw(): void;
}

export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `redis-server ...args` listening on `port` and waits until it accepts connections. */
async function launch(port: number, args: string[]): Promise<RedisProcess> {
  const { child: c, pid } = await launchWatched(SERVER!, port, args);
  let gone: Promise<void> | undefined;
  return {
    port,
    pid,
    freeze: () => process.kill(pid, 'SIGSTOP'),
    thaw: () => process.kill(pid, 'SIGCONT'),
    kill: () =>
      (gone ??= (async () => {
        forget(pid);
        if (c.exitCode === null && c.signalCode === null) {
          const exited = new Promise<void>((r) => c.once('exit', () => r()));
          try {
            process.kill(pid, 'SIGKILL');
            process.kill(pid, 'SIGCONT');
          } catch {
            // already gone
          }
          c.stdin!.end();
          await exited;
        }
      })()),
  };
}

const BASE = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];

export interface RedisCluster {
  /** redis+cluster://[:password@]127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 */
  url: string;
  password?: string | undefined;
  masters: RedisProcess[];
  stop(): Promise<void>;
}

/** Three masters (no replicas) sharing the 16384 slots, ready when every node says cluster_state:ok;
 * with `password`, every node requires it. */
export async function startCluster(opts: { password?: string } = {}): Promise<RedisCluster> {
  const pw = opts.password;
  const dir = await mkdtemp(join(tmpdir(), 'zufs-rcluster-'));
  const masters: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(masters.map((m) => m.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      masters.push(
        await launch(port, [
          '--port', String(port), '--dir', dir, ...BASE,
          '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000',
          ...(pw ? ['--requirepass', pw, '--masterauth', pw] : []),
        ]),
      );
    }
    const nodes = masters.map((m) => `127.0.0.1:${m.port}`);
    const auth = pw ? ['-a', pw, '--no-auth-warning'] : [];
    const r = spawnSync(CLI!, [...auth, '--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${r.stdout}\n${r.stderr}`);
    await waitFor('cluster_state:ok on every node', async () => {
      const states = await Promise.all(masters.map((m) => withClient(m.port, (c) => c.cluster('INFO'), pw)));
      return states.every((s) => String(s).includes('cluster_state:ok'));
    }, 20_000);
    return { url: `redis+cluster://${pw ? `:${encodeURIComponent(pw)}@` : ''}${nodes.join(',')}`, password: pw, masters, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface SentinelSet {
  /** redis+sentinel://127.0.0.1:<sentinel port>/<master name> */
  url: string;
  masterName: string;
  sentinel: RedisProcess;
  /** The servers, by their role at start. */
  master: RedisProcess;
  replica: RedisProcess;
  /** The port Sentinel currently names as the master. */
  currentMasterPort(): Promise<number>;
  /** Until the replica has every write the master has acknowledged. */
  replicaCaughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/** A master, a replica of it, and one Sentinel (quorum 1) that fails over one second after the
 * master stops answering. */
export async function startSentinelSet(masterName = 'zmaster'): Promise<SentinelSet> {
  const dir = await mkdtemp(join(tmpdir(), 'zufs-rsentinel-'));
  const procs: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const mport = await freePort();
    const master = await launch(mport, ['--port', String(mport), '--dir', dir, ...BASE, '--dbfilename', `m-${mport}.rdb`]);
    procs.push(master);
    const rport = await freePort();
    const replica = await launch(rport, ['--port', String(rport), '--dir', dir, ...BASE, '--dbfilename', `r-${rport}.rdb`, '--replicaof', '127.0.0.1', String(mport)]);
    procs.push(replica);
    await waitFor('the replica to sync', async () => (await withClient(rport, (c) => c.info('replication'))).includes('master_link_status:up'), 20_000);
    const sport = await freePort();
    const conf = join(dir, `sentinel-${sport}.conf`);
    await writeFile(
      conf,
      [
        `port ${sport}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${mport} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 10000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = await launch(sport, [conf, '--sentinel', '--loglevel', 'warning']);
    procs.push(sentinel);
    await waitFor('Sentinel to see the replica', async () => {
      const rs = (await withClient(sport, (c) => c.call('SENTINEL', 'REPLICAS', masterName))) as unknown[];
      return rs.length === 1;
    }, 20_000);
    return {
      url: `redis+sentinel://127.0.0.1:${sport}/${masterName}`,
      masterName,
      sentinel,
      master,
      replica,
      currentMasterPort: async () => {
        const r = (await withClient(sport, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName))) as string[];
        return Number(r[1]);
      },
      replicaCaughtUp: () =>
        waitFor('the replica to catch up', async () => {
          const offset = (info: string, k: string): string | undefined => new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1];
          const [m, r] = await Promise.all([withClient(mport, (c) => c.info('replication')), withClient(rport, (c) => c.info('replication'))]);
          const want = offset(m, 'master_repl_offset');
          return want !== undefined && want === offset(r, 'slave_repl_offset');
        }, 10_000),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs `fn` on a short-lived plain connection to 127.0.0.1:port. */
export async function withClient<T>(port: number, fn: (c: Redis) => Promise<T>, password?: string): Promise<T> {
  const c = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}
