// Mounts PosixFs over MemoryBackend in this process through the FUSE transport, and runs commands
// against the mount in child processes (a synchronous syscall on our own mount from this thread
// would wait for a reply only this thread's event loop can send).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBackend } from '../../src/backends/memory.js';
import type { ZusOperations } from '../../src/fs/operations.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { FuseConnection, type FuseReader } from '../../src/zus/fuse/connection.js';
import type { MountOptions } from '../../src/zus/transport.js';
import { captureLog, type LogLine } from './wire.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ShResult {
  code: number;
  out: string;
  err: string;
}

/**
 * bash -c in a child process, never throwing; `code` is the exit status. The child changes into
 * `cwd` itself: libuv spawns with vfork, so a spawn `cwd` on our own mount would freeze this
 * thread until the child's chdir is answered — which only this thread can do.
 */
export function sh(cmd: string, cwd?: string, timeoutMs = 60_000): Promise<ShResult> {
  const script = cwd === undefined ? cmd : `cd '${cwd.replaceAll("'", "'\\''")}' || exit 99\n${cmd}`;
  return new Promise((resolve) => {
    execFile('bash', ['-o', 'pipefail', '-c', script], { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, out, errOut) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, out, err: errOut });
    });
  });
}

export async function shOk(cmd: string, cwd?: string): Promise<string> {
  const r = await sh(cmd, cwd);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${cmd}\n${r.out}\n${r.err}`);
  return r.out;
}

export function tmpDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function mountEntry(mountpoint: string): string | undefined {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mountpoint);
}

export interface TestMount {
  mp: string;
  fs: ZusOperations;
  handle: FuseConnection;
  lines: LogLine[];
  evicted: number[];
  /** Log lines at warn or above (a clean run has none). */
  warnings(): LogLine[];
  close(): Promise<void>;
}

/** A PosixFs that records evictions, mounted on a fresh directory. */
export async function mountMemory(o: Partial<MountOptions> = {}, mp = tmpDir('zufs-fuse-'), reader?: FuseReader): Promise<TestMount> {
  const { log, lines } = captureLog('info');
  const evicted: number[] = [];
  const posix = new PosixFs(new MemoryBackend());
  const fs = new Proxy(posix, {
    get(t, k) {
      if (k === 'evict') return (ino: number) => (evicted.push(ino), t.evict(ino));
      const v = (t as unknown as Record<string | symbol, unknown>)[k];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as ZusOperations;
  const handle = new FuseConnection(fs, {
    mountpoint: mp,
    fsName: 'memory:test',
    fsType: 'zufs-memory',
    readOnly: false,
    allowOther: true,
    channels: 2,
    attrTimeoutMs: 1000,
    log,
    ...o,
  }, reader);
  await handle.start();
  return {
    mp,
    fs,
    handle,
    lines,
    evicted,
    warnings: () => lines.filter((l) => l.level >= 40),
    async close() {
      await handle.unmount();
      await handle.closed;
      rmSync(mp, { recursive: true, force: true });
    },
  };
}

/** Starts test/fuse/mount-child.mjs: a separate process serving a memory mount at `mp`. */
export function startChild(mp: string, mode: 'serve' | 'exit', compiled = false, reader: FuseReader = 'poll'): { proc: ChildProcess; mounted: Promise<void>; exited: Promise<number | null> } {
  const args = compiled ? [] : ['--import', 'tsx'];
  const proc = spawn(process.execPath, [...args, path.join(ROOT, 'test/fuse/mount-child.mjs'), mp, mode, compiled ? 'dist' : 'src'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ZUFS_FUSE_READER: reader },
  });
  let out = '';
  const mounted = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('MOUNTED')) resolve();
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`mount child exited (${code}) before mounting:\n${out}`)));
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, mounted, exited };
}
