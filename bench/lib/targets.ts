// The filesystems a benchmark run compares, each able to start, report its server process, and
// stop: tmpfs (the in-kernel ceiling), memfs_ll (the C libfuse reference) and zusd over FUSE on
// the memory, redis and local backends. Servers are pinned to one CPU with taskset.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:net';
import { runtimeDir } from '../../src/zus/control.js';
import { opcodeName } from '../../src/zus/fuse/abi.js';
import { forceUnmount, freePort, mountedType, mustRun, run, sleep, waitFor, which } from './proc.js';

export interface BenchContext {
  /** Scratch directory for mountpoints, configs, logs and store data. */
  work: string;
  repoRoot: string;
  memfsBin: string;
  serverCpu: number | undefined;
  /** FUSE channels: zusd `channels:`; memfs_ll runs -s for 1, else the MT loop with clone_fd. */
  channels: number;
  /** Kernel attr/entry cache lifetime in seconds for every FUSE target (0 = off). */
  attrTimeout: number;
  memoryBudget: number;
}

export interface Target {
  readonly name: string;
  readonly description: string;
  /** Where workloads run (the mountpoint). */
  readonly dir: string;
  /** The user-space server (for RSS and thread placement), if any. */
  readonly pid: number | undefined;
  /** FUSE requests served so far, by opcode, when the server counts them (zusd does). */
  requestCounts?(): Promise<Record<string, number> | undefined>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function taskset(ctx: BenchContext, cmd: string, args: string[]): [string, string[]] {
  return ctx.serverCpu === undefined ? [cmd, args] : ['taskset', ['-c', String(ctx.serverCpu), cmd, ...args]];
}

async function stopChild(child: ChildProcess | undefined, dir: string, ms = 15_000): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
  await forceUnmount(dir);
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export class TmpfsTarget implements Target {
  readonly name = 'tmpfs';
  readonly description = 'in-kernel tmpfs (the ceiling)';
  readonly dir: string;
  readonly pid = undefined;

  constructor(private readonly ctx: BenchContext, private readonly size: string) {
    this.dir = path.join(ctx.work, 'mnt-tmpfs');
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await mustRun('mount', ['-t', 'tmpfs', '-o', `size=${this.size},mode=0777`, 'zufs-bench', this.dir]);
  }

  async stop(): Promise<void> {
    await forceUnmount(this.dir);
  }
}

export class MemfsTarget implements Target {
  readonly name = 'libfuse-c';
  readonly description: string;
  readonly dir: string;
  private child: ChildProcess | undefined;
  private readonly log: string;
  private readonly counters: string;

  constructor(private readonly ctx: BenchContext, private readonly mountOpts: readonly string[]) {
    this.dir = path.join(ctx.work, 'mnt-memfs');
    this.log = path.join(ctx.work, 'memfs_ll.log');
    this.counters = path.join(ctx.work, 'memfs_ll.counters');
    const loop = ctx.channels === 1 ? 'single-threaded loop (-s)' : `multi-threaded loop, clone_fd, max_threads=${ctx.channels}`;
    this.description = `bench/cfuse/memfs_ll.c, libfuse3 low-level, ${loop}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const args = [this.dir, '-f', '-o', `timeout=${this.ctx.attrTimeout}`, '-o', `counters=${this.counters}`];
    if (this.ctx.channels === 1) args.push('-s');
    else args.push('-o', 'clone_fd', '-o', `max_threads=${this.ctx.channels}`);
    for (const o of this.mountOpts) args.push('-o', o);
    const out = openSync(this.log, 'a');
    const [cmd, argv] = taskset(this.ctx, this.ctx.memfsBin, args);
    this.child = spawn(cmd, argv, { stdio: ['ignore', out, out] });
    closeSync(out);
    const child = this.child;
    await waitFor('memfs_ll to mount', () => {
      if (child.exitCode !== null) throw new Error(`memfs_ll exited with ${child.exitCode}: ${tail(this.log)}`);
      return mountedType(this.dir)?.startsWith('fuse') ?? false;
    }, 10_000);
  }

  /** The server's per-opcode counters, shared through an mmap'd file (-o counters=). */
  async requestCounts(): Promise<Record<string, number> | undefined> {
    let buf: Buffer;
    try {
      buf = readFileSync(this.counters);
    } catch {
      return undefined;
    }
    const out: Record<string, number> = {};
    for (let op = 0; op + 1 <= buf.length / 8; op++) {
      const n = Number(buf.readBigUInt64LE(op * 8));
      if (n) out[opcodeName(op)] = n;
    }
    return out;
  }

  async stop(): Promise<void> {
    await stopChild(this.child, this.dir);
  }
}

/** A throwaway redis-server on a free loopback port with no persistence. */
export class RedisServer {
  private child: ChildProcess | undefined;
  port = 0;

  constructor(private readonly ctx: BenchContext) {}

  static unavailable(): string | undefined {
    return which('redis-server') ? undefined : 'redis-server is not installed (apt-get install redis-server)';
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const dir = path.join(this.ctx.work, `redis-${this.port}`);
    mkdirSync(dir, { recursive: true });
    const log = path.join(this.ctx.work, 'redis.log');
    const out = openSync(log, 'a');
    const [cmd, argv] = taskset(this.ctx, 'redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--protected-mode', 'no', '--daemonize', 'no',
    ]);
    this.child = spawn(cmd, argv, { stdio: ['ignore', out, out] });
    closeSync(out);
    const child = this.child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${tail(log)}`);
      const r = await run('redis-cli', ['-p', String(this.port), 'ping'], 2000).catch(() => undefined);
      if (r?.stdout.trim() === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port}: ${tail(log)}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
  }
}

export class ZufsTarget implements Target {
  readonly name: string;
  readonly description: string;
  readonly dir: string;
  private child: ChildProcess | undefined;
  private readonly log: string;
  private readonly config: string;

  /** `url` may be a function so a store started later (redis) can supply its port. */
  constructor(
    private readonly ctx: BenchContext,
    readonly backend: string,
    private readonly url: () => string,
    private readonly before?: () => Promise<void>,
    private readonly after?: () => Promise<void>,
  ) {
    this.name = `zufs-${backend}`;
    this.dir = path.join(ctx.work, `mnt-zufs-${backend}`);
    this.log = path.join(ctx.work, `zusd-${backend}.log`);
    this.config = path.join(ctx.work, `zufs-${backend}.yaml`);
    this.description = `zusd (TypeScript) over FUSE, ${backend} backend, channels: ${ctx.channels}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get logFile(): string {
    return this.log;
  }

  /** Per-opcode counters from zusd's control socket (`zufs status`), for this mount only. */
  requestCounts(): Promise<Record<string, number> | undefined> {
    const pid = this.child?.pid;
    if (pid === undefined) return Promise.resolve(undefined);
    const socket = path.join(runtimeDir(), `zusd.${pid}.sock`);
    return new Promise((resolve) => {
      const conn = connect(socket);
      let data = '';
      const timer = setTimeout(() => { conn.destroy(); resolve(undefined); }, 5000);
      conn.setEncoding('utf8');
      conn.on('connect', () => conn.write(JSON.stringify({ cmd: 'status' }) + '\n'));
      conn.on('data', (d: string) => (data += d));
      conn.on('error', () => { clearTimeout(timer); resolve(undefined); });
      conn.on('end', () => {
        clearTimeout(timer);
        try {
          const reply = JSON.parse(data) as { status?: { mounts?: { mountpoint: string; stats: { ops: Record<string, number> } }[] } };
          resolve(reply.status?.mounts?.find((m) => m.mountpoint === this.dir)?.stats.ops);
        } catch {
          resolve(undefined);
        }
      });
    });
  }

  async start(): Promise<void> {
    await this.before?.();
    mkdirSync(this.dir, { recursive: true });
    const budgetMiB = Math.round(this.ctx.memoryBudget / 2 ** 20);
    writeFileSync(this.config, [
      '# written by bench/run.ts',
      'daemon:',
      '  log_level: warn',
      `  memory_budget: ${budgetMiB}MiB`,
      'mounts:',
      `  - name: bench-${this.backend}`,
      `    url: ${JSON.stringify(this.url())}`,
      `    attr_timeout: ${this.ctx.attrTimeout * 1000}ms`,
      '    transport: fuse',
      `    channels: ${this.ctx.channels}`,
      '',
    ].join('\n'));
    const cli = path.join(this.ctx.repoRoot, 'dist/src/zus/cli.js');
    const out = openSync(this.log, 'a');
    const [cmd, argv] = taskset(this.ctx, process.execPath, [cli, 'mount', '--transport', 'fuse', this.config, this.dir]);
    this.child = spawn(cmd, argv, { stdio: ['ignore', out, out, 'ipc'] });
    closeSync(out);
    const child = this.child;
    const msg = await new Promise<{ ready?: boolean; error?: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ error: 'no ready message within 30 s' }), 30_000);
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as { ready?: boolean; error?: string });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ error: `zusd exited with ${code}` });
      });
    });
    if (!msg.ready) {
      await this.stop();
      throw new Error(`${this.name}: ${msg.error ?? 'mount failed'}\n${tail(this.log)}`);
    }
    await waitFor(`${this.name} in mountinfo`, () => mountedType(this.dir)?.startsWith('fuse') ?? false, 5000);
  }

  async stop(): Promise<void> {
    await stopChild(this.child, this.dir);
    await this.after?.();
  }
}

export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
