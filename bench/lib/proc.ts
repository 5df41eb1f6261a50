// Process plumbing for the benchmark: run a command to completion, build the C programs, read a
// process's memory and CPU placement from /proc, and wait for a mount to appear or go.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit (the caller decides). */
export function run(cmd: string, args: readonly string[], timeoutMs = 600_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function mustRun(cmd: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export function which(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/** Compiles a C file unless the binary is newer than its source. */
export async function buildC(src: string, out: string, extraArgs: readonly string[] = []): Promise<void> {
  if (existsSync(out) && statSync(out).mtimeMs > statSync(src).mtimeMs) return;
  mkdirSync(path.dirname(out), { recursive: true });
  await mustRun('cc', ['-O2', '-Wall', '-Wextra', '-o', out, src, ...extraArgs]);
}

export async function pkgConfig(lib: string): Promise<string[] | undefined> {
  const r = await run('pkg-config', ['--cflags', '--libs', lib]).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  return r.stdout.trim().split(/\s+/).filter(Boolean);
}

/** VmRSS and VmHWM of a process in bytes, or undefined once it is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** The CPUs each thread of a process may run on, grouped: e.g. { "1": 9 } = nine threads on CPU 1. */
export function threadPlacement(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const cpus = /^Cpus_allowed_list:\s+(\S+)/m.exec(status)?.[1] ?? '?';
      out[cpus] = (out[cpus] ?? 0) + 1;
    } catch {
      // the thread exited while we looked
    }
  }
  return out;
}

/** The filesystem type mounted exactly at `dir`, from /proc/self/mountinfo. */
export function mountedType(dir: string): string | undefined {
  const target = path.resolve(dir);
  let found: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== target) continue;
    const sep = f.indexOf('-');
    found = f[sep + 1];
  }
  return found;
}

export async function waitFor(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function freePort(): Promise<number> {
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

/** Lazily unmounts `dir` if anything is still mounted there. */
export async function forceUnmount(dir: string): Promise<void> {
  while (mountedType(dir)) {
    const r = await run('umount', ['-l', dir]);
    if (r.code !== 0) break;
  }
}

/** The super-block options of the mount at `dir` (e.g. "rw,user_id=0,default_permissions"). */
export function mountOptions(dir: string): string[] {
  const target = path.resolve(dir);
  let found: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== target) continue;
    const sep = f.indexOf('-');
    found = (f[sep + 3] ?? '').split(',');
  }
  return found;
}
