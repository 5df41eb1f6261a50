// Differential test on the native layouts (S3 on MinIO, WebDAV on nginx, Redis): seeded random
// sequences of file operations run against a directory on the host's own filesystem and against a
// native-layout mount served by a separate zusd; every result, errno and the final trees must match.
// The mix is what the README's native tables promise: files and directories, pwrite, append,
// O_TRUNC rewrites, truncate and ftruncate (staged on the object stores), fsync with a read through
// another descriptor, renames (NOREPLACE too), unlink, mkdir/rmdir, readdir, reads and stats. What a
// table refuses is asked too and must fail with the table's errno wherever the host succeeds (the
// host's change is then undone, so both trees stay alike): hard links, symlinks, FIFOs, chmod to
// another mode, explicit utimes (EPERM); user xattrs (ENOTSUP); RENAME_EXCHANGE (S3 and WebDAV:
// EINVAL; Redis: EXDEV when a directory takes part); a directory rename (S3: EXDEV; Redis: EXDEV
// when keys lie under it). Not compared: nlink and size of directories, mtimes, xattrs (the stores
// show their own, e.g. user.s3.etag). Then the mount is restarted and must show the same trees
// from the store alone (Redis keeps no empty directories), and a tar archive goes in and out.
// A fixed seed list plus one random seed; ZUFS_DIFF_NATIVE_SEED=<n>[,<n>...] replays sequences.
import { randomBytes } from 'node:crypto';
import { promises as fsp, type Stats, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, outcome, rng, type Outcome } from '../helpers/differential.js';
import { cliBuilt, sh, shOk, startMount, tmpDir, type RunningMount } from '../helpers/mount.js';
import { privateRedisUnavailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { snapshot, type EntrySnap } from '../helpers/tree.js';
import { s3Config, startServer, uniqueName, unavailable, type TestServer } from '../servers/servers.js';

const libc = koffi.load('libc.so.6');
const c = {
  setxattr: libc.func('int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
  removexattr: libc.func('int removexattr(const char *path, const char *name)'),
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  renameat2: libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)'),
};
const AT_FDCWD = -100;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const S_IFIFO = 0o010000;

/** A libc call's failure as the error fs.promises would throw (code = the errno's name). */
function sys(rc: number): void {
  if (rc < 0) {
    const no = koffi.errno();
    throw Object.assign(new Error(getSystemErrorName(-no)), { code: getSystemErrorName(-no) });
  }
}

const OPS = Number(process.env['ZUFS_DIFF_NATIVE_OPS'] ?? 250);
const RANDOM_SEED = Math.floor(Math.random() * 2 ** 31);
const REPLAY = process.env['ZUFS_DIFF_NATIVE_SEED']?.split(',').map(Number);
const SEEDS = REPLAY ?? [20261124, 4242, RANDOM_SEED];

/** What one native layout refuses, per its README table. */
interface Layout {
  name: 's3' | 'webdav' | 'redis';
  /** The errno of RENAME_EXCHANGE where the host swapped two names (undefined: it swaps too). */
  exchange(dirInvolved: boolean): string | undefined;
  /** The errno of a directory rename where the host renamed it (undefined: it renames too). */
  dirRename(holdsFiles: boolean): string | undefined;
  /** Directories with no file under them survive a remount. */
  keepsEmptyDirs: boolean;
  /** A config file for a fresh volume on this layout, or why it cannot run here. */
  open(): Promise<{ config: string; close(): Promise<void> } | { skip: string }>;
}

function configFile(lines: string[]): string {
  const file = path.join(tmpDir('zufs-diffnative-cfg-'), 'zufs.yaml');
  writeFileSync(file, ['mounts:', ...lines.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`))].join('\n') + '\n');
  return file;
}

async function server(kind: 's3' | 'webdav'): Promise<TestServer | { skip: string }> {
  const why = unavailable(kind);
  if (why) return { skip: why };
  return startServer(kind).catch((e: Error) => ({ skip: `${kind} server failed to start: ${e.message}` }));
}

const LAYOUTS: Layout[] = [
  {
    name: 's3',
    exchange: () => 'EINVAL',
    dirRename: () => 'EXDEV',
    keepsEmptyDirs: true,
    async open() {
      const s = await server('s3');
      if ('skip' in s) return s;
      const cfg = s3Config(s.url);
      const secret = path.join(tmpDir('zufs-diffnative-secret-'), 's3.secret');
      writeFileSync(secret, cfg.secretAccessKey, { mode: 0o600 });
      const config = configFile([
        'name: diff-s3',
        `url: s3://${cfg.bucket}/${uniqueName('diffnative')}/`,
        'layout: native',
        `endpoint: ${cfg.endpoint}`,
        `region: ${cfg.region}`,
        `access_key_id: ${cfg.accessKeyId}`,
        `password_file: ${secret}`,
      ]);
      return { config, close: () => s.stop() };
    },
  },
  {
    name: 'webdav',
    exchange: () => 'EINVAL',
    dirRename: () => undefined,
    keepsEmptyDirs: true,
    async open() {
      const s = await server('webdav');
      if ('skip' in s) return s;
      const base = new URL(path.posix.join(new URL(s.url).pathname, uniqueName('diffnative')) + '/', s.url);
      const made = await fetch(base, { method: 'MKCOL' });
      if (made.status !== 201) throw new Error(`MKCOL ${base.href}: ${made.status}`);
      const dav = `${base.protocol === 'https:' ? 'webdavs:' : 'webdav:'}//${base.host}${base.pathname}`;
      return { config: configFile(['name: diff-dav', `url: ${dav}`, 'layout: native']), close: () => s.stop() };
    },
  },
  {
    name: 'redis',
    exchange: (dirInvolved) => (dirInvolved ? 'EXDEV' : undefined),
    dirRename: (holdsFiles) => (holdsFiles ? 'EXDEV' : undefined),
    keepsEmptyDirs: false,
    async open() {
      if (privateRedisUnavailable) return { skip: privateRedisUnavailable };
      const r: RedisServer = await startRedis({ private: true });
      const url = `${r.url}?prefix=${uniqueName('diffnative')}:`;
      return { config: configFile(['name: diff-redis', `url: ${JSON.stringify(url)}`, 'layout: native']), close: () => r.stop() };
    },
  },
];

interface StepResult {
  want: Outcome;
  got: Outcome;
  /** Set when the host succeeded and the layout must refuse: "<op> <errno>". */
  refused?: string;
}

interface Op {
  kind: string;
  step(host: string, mnt: string): Promise<StepResult>;
}

/** Bytes whose value depends on their position, so a misplaced write shows. */
function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 31) & 255;
  return b;
}

const lstatOf = (p: string): Promise<Stats | undefined> => fsp.lstat(p).catch(() => undefined);

async function holdsFile(dir: string): Promise<boolean> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || (await holdsFile(path.join(dir, e.name)))) return true;
  }
  return false;
}

async function withFile<T>(p: string, flags: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
  const fh = await fsp.open(p, flags, 0o644);
  try {
    return await fn(fh);
  } finally {
    await fh.close();
  }
}

function makeOps(seed: number, count: number, layout: Layout): Op[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const names = ['a', 'b', 'c', 'd'];
  const dirs = ['', 'd1', 'd2', 'd1/d3'];
  const p = (): string => path.join(pick(dirs), pick(names));
  const dp = (): string => pick(['d1', 'd2', 'd1/d3', 'd2/d4', 'd1/d3/d5', pick(names)]);
  const offset = (): number => pick([0, 1, 4095, 4096, 65536, Math.floor(r() * 300_000)]);
  const length = (): number => pick([1, 100, 4096, 5000, 70_000]);

  /** The same call on both sides. */
  const same = (kind: string, run: (root: string) => Promise<unknown>): Op => ({
    kind,
    step: async (host, mnt) => ({ want: await outcome(() => run(host)), got: await outcome(() => run(mnt)) }),
  });

  /** A call the layout refuses: where the host succeeds, its change is undone and the mount must
   * fail with `code`; where the host fails (a missing name...), the mount fails the same way. */
  const refused = (kind: string, code: string, run: (root: string) => Promise<unknown>, undo: (root: string) => Promise<unknown>): Op => ({
    kind,
    step: async (host, mnt) => {
      const want = await outcome(() => run(host));
      if (!('ok' in want)) return { want, got: await outcome(() => run(mnt)) };
      await undo(host);
      return { want: { err: code }, got: await outcome(() => run(mnt)), refused: `${kind.split(' ')[0]} ${code}` };
    },
  });

  const rename = (a: string, b: string, flags: number): Op => ({
    kind: `rename${flags === RENAME_NOREPLACE ? '(NOREPLACE)' : flags === RENAME_EXCHANGE ? '(EXCHANGE)' : ''} ${a} ${b}`,
    step: async (host, mnt) => {
      const run = async (root: string): Promise<void> => sys(c.renameat2(AT_FDCWD, path.join(root, a), AT_FDCWD, path.join(root, b), flags) as number);
      const [src, dst] = [await lstatOf(path.join(host, a)), await lstatOf(path.join(host, b))];
      const srcFiles = src?.isDirectory() ? await holdsFile(path.join(host, a)) : false;
      const want = await outcome(() => run(host));
      // ENOTEMPTY from the kernel's own check (the target is an ancestor of the source) comes
      // before the filesystem is asked; from a non-empty target directory, after the refusal.
      const fsNotEmpty = 'err' in want && want.err === 'ENOTEMPTY' && !`${a}/`.startsWith(`${b}/`);
      let code: string | undefined;
      if (a !== b && ('ok' in want || fsNotEmpty)) {
        if (flags === RENAME_EXCHANGE) code = layout.exchange(Boolean(src?.isDirectory() || dst?.isDirectory()));
        else if (src?.isDirectory()) code = layout.dirRename(srcFiles);
      }
      if (code === undefined) return { want, got: await outcome(() => run(mnt)) };
      if ('ok' in want) {
        if (flags === RENAME_EXCHANGE) await run(host); // swapped back
        else {
          await fsp.rename(path.join(host, b), path.join(host, a));
          if (dst) await fsp.mkdir(path.join(host, b), 0o755); // the empty directory it replaced
        }
      }
      return { want: { err: code }, got: await outcome(() => run(mnt)), refused: `rename ${code}` };
    },
  });

  const table: [number, () => Op][] = [
    [8, () => {
      const a = p();
      return same(`create ${a}`, (root) => fsp.open(path.join(root, a), 'wx', 0o644).then((fh) => fh.close()));
    }],
    [10, () => {
      const [a, off, data] = [p(), offset(), pattern(length(), Math.floor(r() * 256))];
      return same(`pwrite ${a} @${off}+${data.length}`, (root) => withFile(path.join(root, a), 'r+', async (fh) => (await fh.write(data, 0, data.length, off)).bytesWritten));
    }],
    [5, () => {
      const [a, data] = [p(), pattern(length(), Math.floor(r() * 256))];
      return same(`append ${a} +${data.length}`, (root) => withFile(path.join(root, a), 'a', async (fh) => (await fh.write(data)).bytesWritten));
    }],
    [5, () => {
      const [a, data] = [p(), pattern(pick([0, 1, 5000, 70_000]), Math.floor(r() * 256))];
      return same(`rewrite ${a} ${data.length}`, (root) => fsp.writeFile(path.join(root, a), data, { mode: 0o644 }));
    }],
    [4, () => {
      const [a, len] = [p(), pick([0, 1, 4096, 10_000, 300_000])];
      return same(`truncate ${a} ${len}`, (root) => fsp.truncate(path.join(root, a), len));
    }],
    [3, () => {
      const [a, len] = [p(), pick([0, 7, 4097, 100_000])];
      return same(`ftruncate ${a} ${len}`, (root) => withFile(path.join(root, a), 'r+', (fh) => fh.truncate(len)));
    }],
    [3, () => {
      const [a, off, data] = [p(), offset(), pattern(length(), Math.floor(r() * 256))];
      return same(`pwrite+fsync ${a} @${off}+${data.length}, read by another fd`, (root) =>
        withFile(path.join(root, a), 'r+', async (fh) => {
          await fh.write(data, 0, data.length, off);
          await fh.sync();
          return digest(await fsp.readFile(path.join(root, a)));
        }),
      );
    }],
    [3, () => {
      const [a, off, data] = [p(), offset(), pattern(length(), Math.floor(r() * 256))];
      return same(`pwrite ${a} @${off}+${data.length}, read back through the same fd`, (root) =>
        withFile(path.join(root, a), 'r+', async (fh) => {
          await fh.write(data, 0, data.length, off);
          const back = Buffer.alloc(data.length + 20);
          const { bytesRead } = await fh.read(back, 0, back.length, Math.max(0, off - 10));
          return digest(back.subarray(0, bytesRead));
        }),
      );
    }],
    [9, () => rename(p(), p(), 0)],
    [3, () => rename(dp(), dp(), 0)],
    [3, () => rename(p(), p(), RENAME_NOREPLACE)],
    [3, () => rename(pick([p(), dp()]), pick([p(), dp()]), RENAME_EXCHANGE)],
    [6, () => {
      const a = p();
      return same(`unlink ${a}`, (root) => fsp.unlink(path.join(root, a)));
    }],
    [7, () => {
      const d = dp();
      return same(`mkdir ${d}`, (root) => fsp.mkdir(path.join(root, d), 0o755));
    }],
    [4, () => {
      const d = dp();
      return same(`rmdir ${d}`, (root) => fsp.rmdir(path.join(root, d)));
    }],
    [6, () => {
      const a = p();
      return same(`read ${a}`, async (root) => digest(await fsp.readFile(path.join(root, a))));
    }],
    [5, () => {
      const a = pick([p(), dp()]);
      return same(`stat ${a}`, async (root) => {
        const st = await fsp.lstat(path.join(root, a));
        return st.isDirectory() ? { mode: st.mode } : { mode: st.mode, size: st.size, nlink: st.nlink };
      });
    }],
    [4, () => {
      const d = pick(['', ...dirs.slice(1), dp()]);
      return same(`readdir ${d || '/'}`, async (root) => (await fsp.readdir(path.join(root, d))).sort());
    }],
    [2, () => {
      const [a, b] = [p(), p()];
      return refused(`link ${a} ${b}`, 'EPERM', (root) => fsp.link(path.join(root, a), path.join(root, b)), (root) => fsp.unlink(path.join(root, b)));
    }],
    [2, () => {
      const a = p();
      return refused(`symlink ${a}`, 'EPERM', (root) => fsp.symlink('target', path.join(root, a)), (root) => fsp.unlink(path.join(root, a)));
    }],
    [2, () => {
      const a = p();
      return refused(`mkfifo ${a}`, 'EPERM', async (root) => sys(c.mknod(path.join(root, a), S_IFIFO | 0o644, 0) as number), (root) => fsp.unlink(path.join(root, a)));
    }],
    [2, () => {
      const a = pick([p(), dp()]);
      return refused(`utimes ${a}`, 'EPERM', (root) => fsp.utimes(path.join(root, a), 1_000_000, 1_000_000), async () => undefined);
    }],
    [2, () => {
      const a = pick([p(), dp()]);
      return refused(`setxattr ${a} user.k`, 'ENOTSUP', async (root) => sys(c.setxattr(path.join(root, a), 'user.k', 'v', 1, 0) as number), async (root) => sys(c.removexattr(path.join(root, a), 'user.k') as number));
    }],
    [3, () => {
      const [a, mode] = [pick([p(), dp()]), pick([0o600, 0o644, 0o755, 0o4755, 0o000])];
      const chmod = (root: string): Promise<void> => fsp.chmod(path.join(root, a), mode);
      const kind = `chmod ${a} ${mode.toString(8)}`;
      return {
        kind,
        step: async (host, mnt) => {
          const st = await lstatOf(path.join(host, a));
          // chmod to the mode the layout always shows (files 644, directories 755) is accepted
          const shown = st?.isDirectory() ? 0o755 : 0o644;
          if (!st || mode === shown) return same(kind, chmod).step(host, mnt);
          return refused(kind, 'EPERM', chmod, (root) => fsp.chmod(path.join(root, a), st.mode & 0o7777)).step(host, mnt);
        },
      };
    }],
  ];
  const total = table.reduce((s, [w]) => s + w, 0);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    let x = r() * total;
    let k = 0;
    while (x >= table[k]![0]) x -= table[k++]![0];
    ops.push(table[k]![1]());
  }
  return ops;
}

/** A snapshot without what the layouts do not keep: directories' nlink and size. */
async function tree(root: string): Promise<Record<string, EntrySnap>> {
  const t = await snapshot(root);
  for (const e of Object.values(t)) {
    if (e.type === 'dir') {
      delete e.size;
      e.nlink = 0;
    }
  }
  return t;
}

/** The tree without directories that hold no file (what Redis keeps across a remount). */
function withoutEmptyDirs(t: Record<string, EntrySnap>): Record<string, EntrySnap> {
  const files = Object.keys(t).filter((k) => t[k]!.type !== 'dir');
  return Object.fromEntries(Object.entries(t).filter(([k, e]) => e.type !== 'dir' || files.some((f) => f.startsWith(`${k}/`))));
}

// The errnos the host gives that each sequence must have met on both sides.
const EXPECTED_ERRNOS = ['ENOENT', 'EEXIST', 'ENOTEMPTY', 'ENOTDIR', 'EISDIR'];

for (const layout of LAYOUTS) {
  describe.skipIf(!cliBuilt())(`differential random ops on the ${layout.name} native layout`, () => {
    let skip: string | undefined;
    let config = '';
    let close: (() => Promise<void>) | undefined;
    let mount: RunningMount | undefined;
    let mnt = '';
    const hosts = new Map<number, string>();

    beforeAll(async () => {
      const s = await layout.open();
      if ('skip' in s) {
        skip = s.skip;
        return;
      }
      ({ config, close } = s);
      mnt = tmpDir(`zufs-diffnative-${layout.name}-`);
      mount = await startMount(config, mnt);
    }, 60_000);
    afterAll(async () => {
      try {
        if (mount) expect(await mount.stop()).toBe(0);
      } finally {
        await close?.(); // the servers this file started go even when the unmount failed
      }
    }, 60_000);

    it(`seeds ${SEEDS.join(', ')} (the last random) × ${OPS} operations: same results, errnos and trees; refused calls fail with the table's errno`, async (ctx) => {
      if (skip) return ctx.skip(skip);
      const errnos = new Map<string, number>();
      const refusals = new Map<string, number>();
      let succeeded = 0;
      for (const seed of SEEDS) {
        const host = path.join(tmpDir('zufs-diffnative-host-'), `s${seed}`);
        const root = path.join(mnt, `s${seed}`);
        await fsp.mkdir(host);
        await fsp.mkdir(root);
        hosts.set(seed, host);
        for (const [i, op] of makeOps(seed, OPS, layout).entries()) {
          const { want, got, refused } = await op.step(host, root);
          // coverage is counted on the fixed seeds only, so it cannot change from run to run
          if (seed !== RANDOM_SEED) {
            if ('err' in want) errnos.set(want.err, (errnos.get(want.err) ?? 0) + 1);
            else succeeded++;
            if (refused) refusals.set(refused, (refusals.get(refused) ?? 0) + 1);
          }
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            expect({ seed, step: i, op: op.kind, result: got }, `replay: ZUFS_DIFF_NATIVE_SEED=${seed}`).toEqual({ seed, step: i, op: op.kind, result: want });
          }
        }
        expect(await tree(root), `final tree of seed ${seed}`).toEqual(await tree(host));
      }
      if (REPLAY) return; // a replayed sequence alone need not meet every errno
      // the sequences must exercise both paths: real work, and the interesting errors
      expect(succeeded).toBeGreaterThan((SEEDS.filter((x) => x !== RANDOM_SEED).length * OPS) / 4);
      for (const code of EXPECTED_ERRNOS) expect(errnos.get(code) ?? 0, code).toBeGreaterThan(0);
      // every refusal of the table was met (where the host succeeded), not skipped
      const refusalsWanted = ['link EPERM', 'symlink EPERM', 'mkfifo EPERM', 'utimes EPERM', 'chmod EPERM', 'setxattr ENOTSUP'];
      if (layout.exchange(true)) refusalsWanted.push(`rename ${layout.exchange(true)}`);
      if (layout.dirRename(true)) refusalsWanted.push(`rename ${layout.dirRename(true)}`);
      for (const r of refusalsWanted) expect(refusals.get(r) ?? 0, r).toBeGreaterThan(0);
    }, 240_000);

    it('after a remount, the store alone shows the same trees', async (ctx) => {
      if (skip) return ctx.skip(skip);
      if (hosts.size === 0) return ctx.skip('the random sequences did not run');
      expect(await mount!.stop()).toBe(0);
      mount = await startMount(config, mnt);
      for (const [seed, host] of hosts) {
        const want = await tree(host);
        const got = await tree(path.join(mnt, `s${seed}`)).catch(() => ({}));
        expect(got, `seed ${seed}`).toEqual(layout.keepsEmptyDirs ? want : withoutEmptyDirs(want));
      }
    }, 120_000);

    it('tar: an archive goes in (without owners, modes and mtimes, which the layout cannot keep) and comes out the same', async (ctx) => {
      if (skip) return ctx.skip(skip);
      const src = tmpDir('zufs-diffnative-tar-');
      await fsp.mkdir(path.join(src, 'x/y/z'), { recursive: true, mode: 0o755 });
      // 9 MiB: above the 8 MiB multipart threshold of S3
      const sizes = [0, 1, 4095, 4096, 4097, 131_075, (1 << 20) + 7, 9 * (1 << 20) + 3];
      for (const [i, n] of sizes.entries()) await fsp.writeFile(path.join(src, i % 2 ? 'x' : 'x/y', `f${i}`), randomBytes(n), { mode: 0o644 });
      await fsp.writeFile(path.join(src, 'x/y/z/text'), 'some text\n'.repeat(1000), { mode: 0o644 });
      shOk(`tar -C ${src} -cf ${src}.tar x`);
      const d = path.join(mnt, 'tar');
      await fsp.mkdir(d);
      // Plain `tar -x` sets the archive's mtimes: refused with the table's EPERM, said by tar.
      const plain = sh(`tar -C ${d} --no-same-owner -xf ${src}.tar x/y/z/text`);
      expect(plain.code).not.toBe(0);
      expect(plain.err).toMatch(/Cannot utime: Operation not permitted/);
      shOk(`tar -C ${d} --no-same-owner --no-same-permissions --touch -xf ${src}.tar`);
      shOk(`mkdir ${src}.host && tar -C ${src}.host --no-same-owner --no-same-permissions --touch -xf ${src}.tar`);
      expect(await tree(d)).toEqual(await tree(`${src}.host`));
      shOk(`tar -C ${d} -cf ${src}.back.tar x && mkdir ${src}.back && tar -C ${src}.back -xf ${src}.back.tar`);
      expect(await tree(`${src}.back`)).toEqual(await tree(src));
      expect(shOk(`tar -tvf ${src}.back.tar | awk '{print $1, $3, $6}' | sort`)).toBe(shOk(`tar -tvf ${src}.tar | awk '{print $1, $3, $6}' | sort`));
    }, 120_000);
  });
}
