// Starts the built `zufs` CLI as a real separate process serving one mount, waits until the
// kernel shows the mount, and stops it. E2E tests talk to the mount only through syscalls.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/zus/cli.js');

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

/** `zufs mount SOURCE MOUNTPOINT` in the foreground of a child process. */
export async function startMount(source: string, mountpoint: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningMount> {
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

/** Runs a shell command (never in-process: the mount's server is another process anyway). */
export function sh(cmd: string, cwd?: string): { code: number; out: string; err: string } {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

export function shOk(cmd: string, cwd?: string): string {
  const r = sh(cmd, cwd);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${cmd}\n${r.out}\n${r.err}`);
  return r.out;
}
