// Shared pieces of the native-layout tests: a pino logger whose lines the test can read, a caller,
// path walking over ZusOperations (the unit tests call the filesystem the way a transport does),
// and for the FUSE tests an in-process mount on a temporary directory plus bash in a child process.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { toErrno } from '../../src/fs/errors.js';
import type { Caller, ZusOperations } from '../../src/fs/operations.js';
import { fuseTransport } from '../../src/zus/fuse/index.js';
import type { MountHandle } from '../../src/zus/transport.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function captureLog(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level }, sink), lines };
}

export const caller: Caller = { uid: 0, gid: 0, pid: 1, umask: 0o022 };

/** The inode of a path ('' = root), looked up component by component. */
export async function walk(fs: ZusOperations, path: string): Promise<number> {
  let ino = fs.rootIno;
  for (const c of path.split('/').filter((x) => x !== '')) ino = (await fs.lookup(caller, ino, c)).ino;
  return ino;
}

export function split(path: string): { dir: string; name: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { dir: '', name: path } : { dir: path.slice(0, i), name: path.slice(i + 1) };
}

/** The errno name a promise rejects with, or 'ok'. */
export async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    const no = toErrno(err);
    const code = (err as { code?: string }).code ?? String(no);
    return code === 'EOPNOTSUPP' ? 'ENOTSUP' : code; // one number on Linux, two names
  }
}

/** Whole-file read through open/read/release. */
export async function readFile(fs: ZusOperations, path: string): Promise<Buffer> {
  const ino = await walk(fs, path);
  const fh = await fs.open(caller, ino, 0);
  const parts: Buffer[] = [];
  for (let off = 0; ; ) {
    const b = await fs.read(ino, fh, off, 65536);
    if (b.length === 0) break;
    parts.push(b);
    off += b.length;
  }
  await fs.release(ino, fh);
  return Buffer.concat(parts);
}

/** open(O_WRONLY|O_TRUNC)-like: truncate through the handle, write, flush, release. */
export async function writeFile(fs: ZusOperations, path: string, data: string | Buffer, create = false): Promise<void> {
  const { dir, name } = split(path);
  let ino: number;
  if (create) ino = (await fs.newInode(caller, await walk(fs, dir), name, { mode: 0o100644 })).ino;
  else ino = await walk(fs, path);
  const fh = await fs.open(caller, ino, 1);
  try {
    await fs.setattr(caller, ino, { size: 0, fh });
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    if (b.length > 0) await fs.write(ino, fh, 0, b);
    await fs.flush(ino, fh);
  } finally {
    await fs.release(ino, fh);
  }
}

/** Every name of a directory, paging with the cookies the filesystem hands out. */
export async function listDir(fs: ZusOperations, path: string, plus = false, page = 100): Promise<string[]> {
  const ino = await walk(fs, path);
  const names: string[] = [];
  let cookie = 0;
  for (;;) {
    const got = await fs.readdir(caller, ino, cookie, page, plus);
    if (got.length === 0) break;
    for (const e of got) if (e.name !== '.' && e.name !== '..') names.push(e.name);
    cookie = got[got.length - 1]!.next;
  }
  return names;
}

// ---- FUSE mounts served in this process ----

/** Why FUSE tests cannot run here, or undefined. */
export const fuseUnavailable = !existsSync('/dev/fuse') ? '/dev/fuse does not exist' : process.getuid?.() !== 0 ? 'FUSE mounts need root here' : undefined;

export interface ShResult {
  code: number;
  out: string;
  err: string;
}

/** bash in a child process that changes into `cwd` itself (a spawn cwd on our own mount would
 * block this thread, the one that must answer the kernel). */
export function sh(cmd: string, cwd?: string, timeoutMs = 60_000): Promise<ShResult> {
  const script = cwd === undefined ? cmd : `cd '${cwd}' || exit 99\n${cmd}`;
  return new Promise((resolve) => {
    execFile('bash', ['-o', 'pipefail', '-c', script], { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, out, errOut) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, out, err: errOut });
    });
  });
}

export async function shOk(cmd: string, cwd?: string): Promise<string> {
  const r = await sh(cmd, cwd);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${cmd}\n${r.out}\n${r.err}`);
  return r.out;
}

export interface FuseMount {
  mp: string;
  handle: MountHandle;
  /** Unmounts, destroys the filesystem and removes the mountpoint. */
  close(): Promise<void>;
}

/** Serves `fs` through the FUSE transport on a new temporary directory (attrTimeoutMs 0: every stat
 * asks the store, so other clients' changes show at once). On failure `fs` is destroyed. */
export async function mountFuse(fs: ZusOperations, o: { tmpPrefix: string; fsName: string; fsType: string; log: Logger }): Promise<FuseMount> {
  const mp = mkdtempSync(path.join(os.tmpdir(), o.tmpPrefix));
  let handle: MountHandle;
  try {
    handle = await fuseTransport.mount(fs, {
      mountpoint: mp,
      fsName: o.fsName,
      fsType: o.fsType,
      readOnly: false,
      allowOther: true,
      channels: 2,
      attrTimeoutMs: 0,
      log: o.log,
    });
  } catch (err) {
    await fs.destroy();
    rmSync(mp, { recursive: true, force: true });
    throw err;
  }
  return {
    mp,
    handle,
    async close() {
      await handle.unmount();
      await handle.closed;
      await fs.destroy();
      rmSync(mp, { recursive: true, force: true });
    },
  };
}
