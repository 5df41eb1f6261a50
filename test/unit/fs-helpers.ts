// Shared setup for the PosixFs unit tests: a fresh MemoryBackend volume and path-style helpers.
import { MemoryBackend } from '../../src/backends/memory.js';
import { toErrno } from '../../src/fs/errors.js';
import type { Caller } from '../../src/fs/operations.js';
import { PosixFs, type PosixFsOptions } from '../../src/fs/posix-fs.js';

export const root: Caller = { uid: 0, gid: 0, pid: 1, umask: 0o022 };
export const user: Caller = { uid: 1000, gid: 1000, pid: 2, umask: 0o022 };
export const noUmask: Caller = { uid: 0, gid: 0, pid: 1, umask: 0 };

export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export function mkfs(opts: { chunkSize?: number } & PosixFsOptions = {}): { fs: PosixFs; be: MemoryBackend } {
  const be = new MemoryBackend({ chunkSize: opts.chunkSize ?? 64 * 1024 });
  return { fs: new PosixFs(be, opts), be };
}

/** The positive errno a promise rejects with, or 0 if it resolves. */
export async function errOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    return toErrno(e);
  }
}

export async function mkfile(fs: PosixFs, dir: number, name: string, mode = 0o644, caller: Caller = noUmask) {
  return fs.newInode(caller, dir, name, { mode: S_IFREG | mode });
}

export async function mkdir(fs: PosixFs, dir: number, name: string, mode = 0o755, caller: Caller = noUmask) {
  return fs.newInode(caller, dir, name, { mode: S_IFDIR | mode });
}

/** All entry names of a directory (without . and ..), read in pages of `page`. */
export async function ls(fs: PosixFs, dir: number, page = 1000): Promise<string[]> {
  const names: string[] = [];
  let cookie = 0;
  for (;;) {
    const ents = await fs.readdir(root, dir, cookie, page, false);
    if (ents.length === 0) break;
    for (const e of ents) if (e.name !== '.' && e.name !== '..') names.push(e.name);
    cookie = ents[ents.length - 1]!.next;
  }
  return names.sort();
}

export async function writeStr(fs: PosixFs, ino: number, off: number, s: string | Buffer): Promise<void> {
  const fh = await fs.open(root, ino, 2);
  await fs.write(ino, fh, off, Buffer.isBuffer(s) ? s : Buffer.from(s));
  await fs.release(ino, fh);
}

export async function readAll(fs: PosixFs, ino: number): Promise<Buffer> {
  const a = await fs.getattr(ino);
  return fs.read(ino, 0, 0, a.size);
}
