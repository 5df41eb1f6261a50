// Shared setup for the PosixFs unit tests: a fresh MemoryBackend volume and path-style helpers.
import { MemoryBackend } from '../../src/backends/memory.js';
import type { Backend } from '../../src/backends/types.js';
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

/** The same backend seen through random delays before every call, so that concurrent operations
 * really interleave at each await (MemoryBackend alone answers within the same microtask run). */
export function jittered(be: Backend, seed = 1): Backend {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const delay = (): Promise<void> =>
    new Promise((r) => (rnd() < 0.5 ? setImmediate(r) : setTimeout(r, Math.floor(rnd() * 3))));
  const wrap = <T extends object>(obj: T): T =>
    new Proxy(obj, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          await delay();
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return {
    kind: be.kind,
    meta: wrap(be.meta),
    chunks: wrap(be.chunks),
    sync: () => be.sync(),
    close: () => be.close(),
  };
}

/** Walks the stored tree from the root and checks what every gateway must preserve: each entry
 * points at a stored inode, each directory's ".." points at its parent and is reached once; with
 * `linkCounts` (default) also that every inode's nlink equals its names (directories: 2 +
 * subdirectories) and that orphans have nlink 0 — which holds for one gateway, not for several
 * changing one inode at the same moment (see src/fs/SEMANTICS.md). */
export async function expectConsistent(be: Backend, opts: { linkCounts?: boolean } = {}): Promise<void> {
  const linkCounts = opts.linkCounts ?? true;
  const names = new Map<number, number>();
  const subdirs = new Map<number, number>();
  const stack = [1];
  const seen = new Set<number>([1]);
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let after = 0;
    for (;;) {
      const page = await be.meta.readdir(dir, after, 100);
      if (page.length === 0) break;
      for (const e of page) {
        after = e.cookie;
        const rec = await be.meta.getInode(e.ino);
        if (!rec) throw new Error(`entry ${dir}/${e.name} points at missing inode ${e.ino}`);
        names.set(e.ino, (names.get(e.ino) ?? 0) + 1);
        if ((rec.mode & 0o170000) === S_IFDIR) {
          subdirs.set(dir, (subdirs.get(dir) ?? 0) + 1);
          if ((await be.meta.lookup(e.ino, '..')) !== dir) throw new Error(`.. of ${e.ino} is not ${dir}`);
          if (seen.has(e.ino)) throw new Error(`directory ${e.ino} reachable twice`);
          seen.add(e.ino);
          stack.push(e.ino);
        }
      }
    }
  }
  if (!linkCounts) return;
  for (const [ino, n] of names) {
    const rec = (await be.meta.getInode(ino))!;
    const want = (rec.mode & 0o170000) === S_IFDIR ? 2 + (subdirs.get(ino) ?? 0) : n;
    if (rec.nlink !== want) throw new Error(`inode ${ino} has nlink ${rec.nlink}, expected ${want}`);
  }
  const rootRec = (await be.meta.getInode(1))!;
  if (rootRec.nlink !== 2 + (subdirs.get(1) ?? 0)) throw new Error(`root nlink ${rootRec.nlink}`);
  let after = 0;
  for (;;) {
    const page = await be.meta.readdir(0, after, 100);
    if (page.length === 0) break;
    for (const e of page) {
      after = e.cookie;
      if (!e.name.startsWith('orphan.')) continue;
      const rec = await be.meta.getInode(e.ino);
      if (rec && rec.nlink !== 0) throw new Error(`orphan ${e.ino} has nlink ${rec.nlink}`);
      if (names.has(e.ino)) throw new Error(`orphan ${e.ino} is still linked`);
    }
  }
}
