// Starts the built `zufs` CLI as a real separate process serving one mount, waits until the
// kernel shows the mount, and stops it. E2E tests talk to the mount only through syscalls.
// ZUFS_TEST_TRANSPORT=zuf (inside the VM, with zuf.ko loaded and a `zufs serve` already running)
// mounts through zuf instead: `mount -t zufs-<store> -o config=FILE none DIR`, stopped by umount(8).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { configFromUrl, loadConfig } from '../../src/zus/config.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/zus/cli.js');

export type TestTransport = 'fuse' | 'zuf';
export const TRANSPORT: TestTransport = process.env.ZUFS_TEST_TRANSPORT === 'zuf' ? 'zuf' : 'fuse';

/** A test's time limit on the host, scaled by ZUFS_TEST_TIMEOUT_SCALE where everything is slower
 * (the VM suite: qemu TCG runs 30-100x slower than the host). */
export function timeoutMs(hostMs: number): number {
  return hostMs * Number(process.env.ZUFS_TEST_TIMEOUT_SCALE ?? 1);
}

export function cliBuilt(): boolean {
  return existsSync(CLI);
}

export function isMounted(mountpoint: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[4] === mountpoint);
}

export interface RunningMount {
  mountpoint: string;
  proc: ChildProcess;
  log: () => string;
  /** SIGTERM and wait for a clean exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, then clear the dead mount. */
  kill(): Promise<void>;
}

export function tmpDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** `zufs mount SOURCE MOUNTPOINT` in the foreground of a child process (FUSE), or a kernel mount
 * served by the running `zufs serve` (ZUFS_TEST_TRANSPORT=zuf). */
export async function startMount(source: string, mountpoint: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningMount> {
  if (TRANSPORT === 'zuf') {
    if (extraArgs.length || Object.keys(env).length) throw new Error('zuf transport: zufs serve takes no per-mount arguments or environment');
    return startZufMount(source, mountpoint);
  }
  const proc = spawn(process.execPath, [CLI, 'mount', '--transport', 'fuse', '--log-level', 'warn', ...extraArgs, source, mountpoint], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!isMounted(mountpoint)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`zufs mount ${source} did not mount (exit ${proc.exitCode}):\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    mountpoint,
    proc,
    log: () => out,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
      if (isMounted(mountpoint)) spawnSync('umount', ['-l', mountpoint]);
    },
  };
}

/** The fs type and config file a zuf mount of SOURCE (a URL or a one-mount YAML file) needs. */
function zufSource(source: string): { fsType: string; config: string } {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    const mounts = loadConfig(source).mounts;
    if (mounts.length !== 1) throw new Error(`zuf transport: ${source} has ${mounts.length} mounts, want one`);
    return { fsType: mounts[0]!.fs, config: source };
  }
  // the config `zufs mount URL` would build, as the file `mount -o config=` names
  const m = configFromUrl(source).mounts[0]!;
  const config = path.join(tmpDir('zufs-zuf-cfg-'), 'zufs.yaml');
  writeFileSync(config, stringify({ mounts: [{ name: m.name, url: m.url, volume: m.volume }] }));
  return { fsType: m.fs, config };
}

/** The last lines of zusd's log (the suite that started `zufs serve` names it) and of dmesg. */
function zufDiagnostics(): string {
  const log = process.env.ZUFS_TEST_SERVE_LOG;
  const tail = log && existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '(no ZUFS_TEST_SERVE_LOG)';
  const dmesg = spawnSync('sh', ['-c', 'dmesg | tail -10'], { encoding: 'utf8' }).stdout;
  return `---- zusd log ----\n${tail}\n---- dmesg ----\n${dmesg}`;
}

function run(cmd: string, args: string[]): { proc: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((r) => proc.once('close', (code) => r({ code, out })));
  return { proc, done };
}

/** A zuf mount: zuf.ko asks the running `zufs serve` for the filesystem. `proc` is mount(8). */
async function startZufMount(source: string, mountpoint: string): Promise<RunningMount> {
  const { fsType, config } = zufSource(source);
  // `zufs serve` may still be starting (a cold start takes a minute under TCG): wait for its types
  const registered = (): boolean => readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.split('\t')[1] === fsType);
  const deadline = Date.now() + Number(process.env.ZUFS_TEST_SERVE_WAIT_MS ?? 0);
  while (!registered()) {
    if (Date.now() > deadline) throw new Error(`ZUFS_TEST_TRANSPORT=zuf: ${fsType} is not registered: load zuf.ko and start \`zufs serve\` first`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = run('mount', ['-t', fsType, '-o', `config=${config}`, 'none', mountpoint]);
  const r = await m.done;
  if (r.code !== 0 || !isMounted(mountpoint)) {
    throw new Error(`mount -t ${fsType} -o config=${config} none ${mountpoint} failed (exit ${r.code}): ${r.out}\n${zufDiagnostics()}`);
  }
  let stopped: Promise<number | null> | undefined;
  return {
    mountpoint,
    proc: m.proc,
    log: () => r.out + zufDiagnostics(),
    // umount(2) returns once zusd has drained and closed the store (ZUFS_M_UMOUNT); a command
    // of a test that timed out may still hold the mount busy for a while
    stop() {
      stopped ??= (async () => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const u = await run('umount', [mountpoint]).done;
          if (u.code === 0 || !/busy/i.test(u.out) || Date.now() > deadline) {
            if (u.code !== 0) process.stderr.write(`umount ${mountpoint}: ${u.out}`);
            return u.code;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      return stopped;
    },
    async kill() {
      await run('umount', ['-l', mountpoint]).done;
    },
  };
}

/** Runs a shell command (never in-process: the mount's server is another process anyway). */
export function sh(cmd: string, cwd?: string): { code: number; out: string; err: string } {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { cwd, encoding: 'utf8', timeout: timeoutMs(300_000) });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

export function shOk(cmd: string, cwd?: string): string {
  const r = sh(cmd, cwd);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${cmd}\n${r.out}\n${r.err}`);
  return r.out;
}

/** The t1/t2 counters `zufs status --json` shows for a mount with `tiers:`. */
export interface TierCounters {
  storeReads: number;
  misses: number;
  t1: { hits: number; slots: number };
  t2: { hits: number; spills: number; slots: number } | null;
  invalidations: { inodes: number; chunks: number; conflicts: number };
}

export function tierCounters(mountpoint: string): TierCounters {
  const r = spawnSync(process.execPath, [CLI, 'status', '--json'], { encoding: 'utf8' });
  const daemons = JSON.parse(r.stdout) as { mounts: { mountpoint: string; tiers?: TierCounters }[] }[];
  const m = daemons.flatMap((d) => d.mounts).find((x) => x.mountpoint === mountpoint);
  if (!m?.tiers) throw new Error(`no tier counters for ${mountpoint} in: ${r.stdout}`);
  return m.tiers;
}
