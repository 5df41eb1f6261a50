// Differential test: the same seeded random sequence of namespace and data operations runs on a
// real local directory (node:fs) and on PosixFs over MemoryBackend; every result — errno, file
// type, link count, size, directory listing, file content — must match.
import { constants } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import * as nfs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { errno } from '../../src/fs/errors.js';
import type { PosixFs } from '../../src/fs/posix-fs.js';
import { errOf, mkfs, noUmask, S_IFDIR, S_IFLNK, S_IFREG } from './fs-helpers.js';

const S_IFMT = 0o170000;
const NAMES = ['a', 'b', 'c'];

/** A path of one or two components over a tiny alphabet, so operations collide often. */
function randomPath(rnd: () => number): string[] {
  const depth = rnd() < 0.55 ? 1 : 2;
  return Array.from({ length: depth }, () => NAMES[Math.floor(rnd() * NAMES.length)]!);
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

type Outcome = string; // "ok:<detail>" or "err:<errno>"

const codeToErrno = (e: unknown): number => {
  const code = (e as { code?: string }).code;
  const n = code ? (constants.errno as Record<string, number>)[code] : undefined;
  if (n === undefined) throw e;
  return n;
};

async function local(fn: () => Promise<string>): Promise<Outcome> {
  try {
    return `ok:${await fn()}`;
  } catch (e) {
    return `err:${codeToErrno(e)}`;
  }
}

async function mine(fn: () => Promise<string>): Promise<Outcome> {
  try {
    return `ok:${await fn()}`;
  } catch (e) {
    const n = await errOf(Promise.reject(e));
    return `err:${n}`;
  }
}

/** Resolves all but the last component the way the kernel would here: symlinks only ever point
 * nowhere in this test, so one in the middle of a path is ENOENT. */
async function parentOf(fs: PosixFs, parts: string[]): Promise<{ dir: number; name: string }> {
  let dir = 1;
  for (const p of parts.slice(0, -1)) {
    const a = await fs.lookup(noUmask, dir, p);
    if ((a.mode & S_IFMT) === S_IFLNK) throw Object.assign(new Error('dangling'), { errno: errno.ENOENT });
    if ((a.mode & S_IFMT) !== S_IFDIR) throw Object.assign(new Error('notdir'), { errno: errno.ENOTDIR });
    dir = a.ino;
  }
  return { dir, name: parts[parts.length - 1]! };
}

async function resolve(fs: PosixFs, parts: string[], follow: boolean): Promise<number> {
  const { dir, name } = await parentOf(fs, parts);
  const a = await fs.lookup(noUmask, dir, name);
  if (follow && (a.mode & S_IFMT) === S_IFLNK) throw Object.assign(new Error('dangling'), { errno: errno.ENOENT });
  return a.ino;
}

function describeStat(type: number, nlink: number, size: number): string {
  const t = type === S_IFDIR ? 'dir' : type === S_IFREG ? 'file' : type === S_IFLNK ? 'link' : `t${type}`;
  return `${t}/${nlink}/${type === S_IFREG || type === S_IFLNK ? size : '-'}`;
}

let base = '';
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'zufs-diff-'));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

describe('differential against a local directory', () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: 400 random operations give identical results', async (seed) => {
    const dir = await mkdtemp(join(base, `s${seed}-`));
    const { fs } = mkfs({ chunkSize: 4096 });
    const rnd = rng(seed * 7919);
    const L = (parts: string[]) => join(dir, ...parts);
    const log: string[] = [];
    for (let step = 0; step < 400; step++) {
      const p = randomPath(rnd);
      const q = randomPath(rnd);
      const kind = Math.floor(rnd() * 12);
      const off = Math.floor(rnd() * 10_000);
      const len = 1 + Math.floor(rnd() * 6000);
      const byte = Math.floor(rnd() * 256);
      let a: Outcome;
      let b: Outcome;
      let what: string;
      switch (kind) {
        case 0:
          what = `mkdir ${p.join('/')}`;
          a = await local(async () => (await nfs.mkdir(L(p)), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.newInode(noUmask, d, name, { mode: S_IFDIR | 0o755 });
            return '';
          });
          break;
        case 1:
          what = `create ${p.join('/')}`;
          a = await local(async () => ((await nfs.open(L(p), 'wx')).close(), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.newInode(noUmask, d, name, { mode: S_IFREG | 0o644 });
            return '';
          });
          break;
        case 2:
          what = `unlink ${p.join('/')}`;
          a = await local(async () => (await nfs.unlink(L(p)), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.removeDentry(noUmask, d, name, false);
            return '';
          });
          break;
        case 3:
          what = `rmdir ${p.join('/')}`;
          a = await local(async () => (await nfs.rmdir(L(p)), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.removeDentry(noUmask, d, name, true);
            return '';
          });
          break;
        case 4:
        case 5:
          what = `rename ${p.join('/')} ${q.join('/')}`;
          a = await local(async () => (await nfs.rename(L(p), L(q)), ''));
          b = await mine(async () => {
            const s = await parentOf(fs, p);
            const t = await parentOf(fs, q);
            await fs.rename(noUmask, s.dir, s.name, t.dir, t.name, 0);
            return '';
          });
          break;
        case 6:
          what = `link ${p.join('/')} ${q.join('/')}`;
          a = await local(async () => (await nfs.link(L(p), L(q)), ''));
          b = await mine(async () => {
            const ino = await resolve(fs, p, false);
            const t = await parentOf(fs, q);
            await fs.addDentry(noUmask, t.dir, t.name, ino);
            return '';
          });
          break;
        case 7:
          what = `symlink ${p.join('/')}`;
          a = await local(async () => (await nfs.symlink('zz/zz', L(p)), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.newInode(noUmask, d, name, { mode: S_IFLNK | 0o777, symlink: 'zz/zz' });
            return '';
          });
          break;
        case 8:
          what = `write ${p.join('/')} @${off}+${len}`;
          a = await local(async () => {
            const h = await nfs.open(L(p), 'r+');
            try {
              await h.write(Buffer.alloc(len, byte), 0, len, off);
            } finally {
              await h.close();
            }
            return '';
          });
          b = await mine(async () => {
            const ino = await resolve(fs, p, true);
            const fh = await fs.open(noUmask, ino, 2);
            try {
              await fs.write(ino, fh, off, Buffer.alloc(len, byte));
            } finally {
              await fs.release(ino, fh);
            }
            return '';
          });
          break;
        case 9:
          what = `truncate ${p.join('/')} ${off}`;
          a = await local(async () => (await nfs.truncate(L(p), off), ''));
          b = await mine(async () => {
            const ino = await resolve(fs, p, true);
            await fs.setattr(noUmask, ino, { size: off });
            return '';
          });
          break;
        case 10:
          what = `stat ${p.join('/')}`;
          a = await local(async () => {
            const st = await nfs.lstat(L(p));
            return describeStat(st.mode & S_IFMT, st.nlink, st.size);
          });
          b = await mine(async () => {
            const ino = await resolve(fs, p, false);
            const st = await fs.getattr(ino);
            return describeStat(st.mode & S_IFMT, st.nlink, st.size);
          });
          break;
        default:
          what = `read ${p.join('/')}`;
          a = await local(async () => {
            const st = await nfs.lstat(L(p));
            if ((st.mode & S_IFMT) === S_IFDIR) return (await nfs.readdir(L(p))).sort().join(',');
            if ((st.mode & S_IFMT) === S_IFLNK) return await nfs.readlink(L(p));
            const data = await nfs.readFile(L(p));
            return `${data.length}:${data.toString('base64').slice(0, 64)}:${hash(data)}`;
          });
          b = await mine(async () => {
            const ino = await resolve(fs, p, false);
            const st = await fs.getattr(ino);
            if ((st.mode & S_IFMT) === S_IFDIR) {
              const ents = await fs.readdir(noUmask, ino, 0, 1000, false);
              return ents
                .map((e) => e.name)
                .filter((n) => n !== '.' && n !== '..')
                .sort()
                .join(',');
            }
            if ((st.mode & S_IFMT) === S_IFLNK) return await fs.readlink(ino);
            const data = await fs.read(ino, 0, 0, st.size);
            return `${data.length}:${data.toString('base64').slice(0, 64)}:${hash(data)}`;
          });
      }
      log.push(`${what} -> ${a}`);
      if (a !== b) {
        throw new Error(`seed ${seed} step ${step}: ${what}: local ${a}, zufs ${b}\n${log.slice(-15).join('\n')}`);
      }
    }
    // The run must have exercised both successes and failures.
    expect(log.filter((l) => l.includes('-> ok')).length).toBeGreaterThan(50);
    expect(log.filter((l) => l.includes('-> err')).length).toBeGreaterThan(50);
  });
});

function hash(b: Buffer): number {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return h >>> 0;
}
