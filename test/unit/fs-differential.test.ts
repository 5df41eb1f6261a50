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
// PosixFs leaves permission checks to the kernel; the local side enforces them unless we are root,
// so a non-root run only uses modes that keep the owner's rwx.
const PERMS = process.getuid?.() === 0
  ? [0o644, 0o600, 0o755, 0o4755, 0o2755, 0o1777, 0o2640, 0o000]
  : [0o755, 0o700, 0o4755, 0o2755, 0o1777, 0o2770, 0o711];
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

function describeStat(mode: number, nlink: number, size: number): string {
  const type = mode & S_IFMT;
  const t = type === S_IFDIR ? 'dir' : type === S_IFREG ? 'file' : type === S_IFLNK ? 'link' : `t${type}`;
  return `${t}/${(mode & 0o7777).toString(8)}/${nlink}/${type === S_IFREG || type === S_IFLNK ? size : '-'}`;
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
    const me = { ...noUmask, umask: process.umask() };
    const rnd = rng(seed * 7919);
    const L = (parts: string[]) => join(dir, ...parts);
    const log: string[] = [];
    for (let step = 0; step < 400; step++) {
      const p = randomPath(rnd);
      const q = randomPath(rnd);
      const kind = Math.floor(rnd() * 13);
      const perm = PERMS[Math.floor(rnd() * PERMS.length)]!;
      const off = Math.floor(rnd() * 10_000);
      const len = 1 + Math.floor(rnd() * 6000);
      const byte = Math.floor(rnd() * 256);
      let a: Outcome;
      let b: Outcome;
      let what: string;
      switch (kind) {
        case 0:
          what = `mkdir ${p.join('/')}`;
          a = await local(async () => (await nfs.mkdir(L(p), 0o777), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.newInode(me, d, name, { mode: S_IFDIR | 0o777 });
            return '';
          });
          break;
        case 1:
          what = `create ${p.join('/')}`;
          a = await local(async () => ((await nfs.open(L(p), 'wx', 0o666)).close(), ''));
          b = await mine(async () => {
            const { dir: d, name } = await parentOf(fs, p);
            await fs.newInode(me, d, name, { mode: S_IFREG | 0o666 });
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
            return describeStat(st.mode, st.nlink, st.size);
          });
          b = await mine(async () => {
            const ino = await resolve(fs, p, false);
            const st = await fs.getattr(ino);
            return describeStat(st.mode, st.nlink, st.size);
          });
          break;
        case 12:
          what = `chmod ${p.join('/')} ${perm.toString(8)}`;
          a = await local(async () => {
            const st = await nfs.lstat(L(p));
            if ((st.mode & S_IFMT) === S_IFLNK) return 'link';
            await nfs.chmod(L(p), perm);
            return '';
          });
          b = await mine(async () => {
            const ino = await resolve(fs, p, false);
            if (((await fs.getattr(ino)).mode & S_IFMT) === S_IFLNK) return 'link';
            await fs.setattr(me, ino, { mode: perm });
            return '';
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

/** Which timestamps an operation changes, compared with the local filesystem: for each case the
 * file and directory times are read before and after, and the changed/unchanged pattern must
 * match. Steps sleep past the kernel's coarse timestamp clock. */
describe('differential: which timestamps each operation changes', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  type Side = {
    times(path: string[]): Promise<{ m: bigint; c: bigint } | null>;
    run(op: string): Promise<void>;
  };

  function localSide(dir: string): Side {
    const L = (p: string[]) => join(dir, ...p);
    return {
      async times(p) {
        try {
          const st = await nfs.lstat(L(p), { bigint: true });
          return { m: st.mtimeNs, c: st.ctimeNs };
        } catch {
          return null;
        }
      },
      async run(op) {
        const [verb, a, b] = op.split(' ') as [string, string, string | undefined];
        const pa = a.split('/');
        const pb = b?.split('/') ?? [];
        switch (verb) {
          case 'create':
            return void (await (await nfs.open(L(pa), 'wx', 0o644)).close());
          case 'mkdir':
            return nfs.mkdir(L(pa), 0o755);
          case 'write': {
            const h = await nfs.open(L(pa), 'r+');
            await h.write(Buffer.from('data'), 0, 4, 0);
            return h.close();
          }
          case 'truncate':
            return nfs.truncate(L(pa), Number(b));
          case 'chmod':
            return nfs.chmod(L(pa), 0o600);
          case 'link':
            return nfs.link(L(pa), L(pb));
          case 'unlink':
            return nfs.unlink(L(pa));
          case 'rmdir':
            return nfs.rmdir(L(pa));
          case 'rename':
            return nfs.rename(L(pa), L(pb));
          case 'symlink':
            return nfs.symlink('target', L(pa));
          default:
            throw new Error(verb);
        }
      },
    };
  }

  function zufsSide(fs: PosixFs): Side {
    const at = async (p: string[]) => {
      const { dir, name } = await parentOf(fs, p);
      return { dir, name, ino: (await fs.lookup(noUmask, dir, name)).ino };
    };
    return {
      async times(p) {
        try {
          const a = await fs.getattr((await at(p)).ino);
          return { m: a.mtimeNs, c: a.ctimeNs };
        } catch {
          return null;
        }
      },
      async run(op) {
        const [verb, a, b] = op.split(' ') as [string, string, string | undefined];
        const pa = a.split('/');
        const pb = b?.split('/') ?? [];
        switch (verb) {
          case 'create': {
            const { dir, name } = await parentOf(fs, pa);
            return void (await fs.newInode(noUmask, dir, name, { mode: S_IFREG | 0o644 }));
          }
          case 'mkdir': {
            const { dir, name } = await parentOf(fs, pa);
            return void (await fs.newInode(noUmask, dir, name, { mode: S_IFDIR | 0o755 }));
          }
          case 'write': {
            const { ino } = await at(pa);
            const fh = await fs.open(noUmask, ino, 2);
            await fs.write(ino, fh, 0, Buffer.from('data'));
            return fs.release(ino, fh);
          }
          case 'truncate':
            return void (await fs.setattr(noUmask, (await at(pa)).ino, { size: Number(b) }));
          case 'chmod':
            return void (await fs.setattr(noUmask, (await at(pa)).ino, { mode: 0o600 }));
          case 'link': {
            const t = await parentOf(fs, pb);
            return void (await fs.addDentry(noUmask, t.dir, t.name, (await at(pa)).ino));
          }
          case 'unlink':
          case 'rmdir': {
            const { dir, name } = await parentOf(fs, pa);
            return fs.removeDentry(noUmask, dir, name, verb === 'rmdir');
          }
          case 'rename': {
            const s = await parentOf(fs, pa);
            const t = await parentOf(fs, pb);
            return fs.rename(noUmask, s.dir, s.name, t.dir, t.name, 0);
          }
          case 'symlink': {
            const { dir, name } = await parentOf(fs, pa);
            return void (await fs.newInode(noUmask, dir, name, { mode: S_IFLNK | 0o777, symlink: 'target' }));
          }
          default:
            throw new Error(verb);
        }
      },
    };
  }

  // Each case: setup ops, the op under test, and the paths whose times are compared.
  const cases: [string[], string, string[]][] = [
    [['mkdir d'], 'create d/f', ['d']],
    [['mkdir d', 'create d/f'], 'write d/f', ['d/f', 'd']],
    [['create f', 'write f'], 'truncate f 1', ['f']],
    [['create f', 'write f'], 'truncate f 100', ['f']],
    [['create f', 'write f'], 'truncate f 4', ['f']],
    [['create f'], 'chmod f', ['f']],
    [['mkdir d', 'create f'], 'link f d/g', ['f', 'd']],
    [['mkdir d', 'create f', 'link f d/g'], 'unlink d/g', ['f', 'd']],
    [['mkdir d', 'mkdir e', 'create d/f'], 'rename d/f e/f', ['d/f>e/f', 'd', 'e']],
    [['mkdir d', 'mkdir e', 'mkdir d/s'], 'rename d/s e/s', ['d/s>e/s', 'd', 'e']],
    [['mkdir d', 'create d/f', 'create d/g'], 'rename d/f d/g', ['d/f>d/g', 'd']],
    [['mkdir d', 'create d/f', 'create d/g', 'link d/g h'], 'rename d/f d/g', ['h', 'd']],
    [['mkdir d', 'mkdir d/s'], 'rmdir d/s', ['d']],
    [['mkdir d'], 'mkdir d/s', ['d']],
    [['mkdir d'], 'symlink d/l', ['d']],
  ];

  test.each(cases.map((c, i) => [i, c[1], c] as const))('case %i: %s', async (i, _name, [setup, op, paths]) => {
    const dir = await mkdtemp(join(base, `t${i}-`));
    const { fs } = mkfs({ chunkSize: 4096 });
    const sides = [localSide(dir), zufsSide(fs)];
    const patterns: string[] = [];
    for (const side of sides) {
      for (const s of setup) await side.run(s);
      await sleep(15);
      // "a>b": the inode at a before the operation is found at b after it (a rename).
      const from = (p: string) => p.split('>')[0]!.split('/');
      const to = (p: string) => (p.split('>')[1] ?? p).split('/');
      const before = await Promise.all(paths.map((p) => side.times(from(p))));
      await side.run(op);
      const after = await Promise.all(paths.map((p) => side.times(to(p))));
      patterns.push(
        paths
          .map((p, k) => {
            const b = before[k] ?? null;
            const a = after[k];
            if (!a) return `${p}:gone`;
            if (!b) return `${p}:new`;
            return `${p}:m${a.m !== b.m ? '+' : '='}c${a.c !== b.c ? '+' : '='}`;
          })
          .join(' '),
      );
    }
    expect(patterns[1]).toBe(patterns[0]);
  });
});
