// Differential test: one seeded random sequence of file operations runs against a directory on
// the host's own filesystem and against the mount; every result, errno and the final trees must match.
// The mount is FUSE, or zuf.ko with ZUFS_TEST_TRANSPORT=zuf (the VM suite, which lowers ZUFS_DIFF_OPS).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, outcome, rng } from '../helpers/differential.js';
import { TRANSPORT, cliBuilt, startMount, timeoutMs, tmpDir, type RunningMount } from '../helpers/mount.js';
import { snapshot, xattrDump } from '../helpers/tree.js';
import { E2E_STORES } from './stores.js';

const libc = koffi.load('libc.so.6');
const setxattr = libc.func('int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)');

const OPS = Number(process.env.ZUFS_DIFF_OPS ?? 2500);
const SEED = Number(process.env.ZUFS_DIFF_SEED ?? 20261124);

type Op = { kind: string; run: (root: string) => Promise<unknown> };

function makeOps(seed: number, count: number): Op[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const names = ['a', 'b', 'c', 'd', 'e'];
  const dirs = ['', 'd1', 'd2', 'd1/d3', 'd2/d4'];
  const p = (): string => path.join(pick(dirs), pick(names));
  const dp = (): string => pick(['d1', 'd2', 'd1/d3', 'd2/d4', 'd1/d3/d5', pick(names)]);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const x = r();
    const a = p();
    const b = p();
    if (x < 0.12) {
      ops.push({ kind: `create ${a}`, run: async (root) => (await fsp.open(path.join(root, a), 'wx', 0o644)).close() });
    } else if (x < 0.3) {
      const off = pick([0, 1, 4095, 4096, 65536, 1 << 20, Math.floor(r() * 300000)]);
      const len = pick([1, 100, 4096, 5000, 70000]);
      const byte = Math.floor(r() * 256);
      ops.push({
        kind: `write ${a} @${off}+${len}`,
        run: async (root) => {
          const fh = await fsp.open(path.join(root, a), 'r+');
          try {
            return (await fh.write(Buffer.alloc(len, byte), 0, len, off)).bytesWritten;
          } finally {
            await fh.close();
          }
        },
      });
    } else if (x < 0.36) {
      const len = pick([0, 1, 4096, 10000, 2_000_000]);
      ops.push({ kind: `truncate ${a} ${len}`, run: (root) => fsp.truncate(path.join(root, a), len) });
    } else if (x < 0.46) {
      ops.push({ kind: `rename ${a} ${b}`, run: (root) => fsp.rename(path.join(root, a), path.join(root, b)) });
    } else if (x < 0.5) {
      const s = dp();
      const t = dp();
      ops.push({ kind: `rename dir ${s} ${t}`, run: (root) => fsp.rename(path.join(root, s), path.join(root, t)) });
    } else if (x < 0.56) {
      ops.push({ kind: `link ${a} ${b}`, run: (root) => fsp.link(path.join(root, a), path.join(root, b)) });
    } else if (x < 0.64) {
      ops.push({ kind: `unlink ${a}`, run: (root) => fsp.unlink(path.join(root, a)) });
    } else if (x < 0.7) {
      const d = dp();
      ops.push({ kind: `mkdir ${d}`, run: (root) => fsp.mkdir(path.join(root, d), 0o755) });
    } else if (x < 0.74) {
      const d = dp();
      ops.push({ kind: `rmdir ${d}`, run: (root) => fsp.rmdir(path.join(root, d)) });
    } else if (x < 0.79) {
      const mode = pick([0o600, 0o644, 0o755, 0o4755, 0o1777, 0o000]);
      ops.push({ kind: `chmod ${a} ${mode.toString(8)}`, run: (root) => fsp.chmod(path.join(root, a), mode) });
    } else if (x < 0.84) {
      const name = `user.k${Math.floor(r() * 3)}`;
      const value = Buffer.from(`v${Math.floor(r() * 1000)}`);
      const flags = pick([0, 0, 1, 2]);
      ops.push({
        kind: `setxattr ${a} ${name} flags=${flags}`,
        run: async (root) => {
          const rc = setxattr(path.join(root, a), name, value, value.length, flags) as number;
          if (rc < 0) throw Object.assign(new Error('setxattr'), { code: `errno${koffi.errno()}` });
        },
      });
    } else if (x < 0.92) {
      ops.push({
        kind: `read ${a}`,
        run: async (root) => digest(await fsp.readFile(path.join(root, a))),
      });
    } else {
      ops.push({
        kind: `stat ${a}`,
        run: async (root) => {
          const st = await fsp.lstat(path.join(root, a));
          return { mode: st.mode, size: st.isDirectory() ? 'dir' : st.size, nlink: st.nlink };
        },
      });
    }
  }
  return ops;
}

for (const store of E2E_STORES) {
  describe.skipIf(!cliBuilt())(`differential random ops on ${store.name} (${TRANSPORT})`, () => {
    let mount: RunningMount | undefined;
    let skip: string | undefined;
    let mnt = '';
    let close: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const s = await store.open();
      if ('skip' in s) {
        skip = s.skip;
        return;
      }
      close = s.close;
      mnt = tmpDir(`zufs-diff-${store.name}-`);
      mount = await startMount(s.url, mnt);
    }, timeoutMs(60_000));
    afterAll(async () => {
      if (mount) expect(await mount.stop()).toBe(0);
      await close?.();
    }, timeoutMs(60_000));

    it(`${OPS} seeded operations give the same results, errnos and final tree`, async (ctx) => {
      if (skip) return ctx.skip(skip);
      const host = tmpDir('zufs-diff-host-');
      const ops = makeOps(SEED, OPS);
      const errnos = new Map<string, number>();
      let succeeded = 0;
      for (const [i, op] of ops.entries()) {
        const want = await outcome(() => op.run(host));
        const got = await outcome(() => op.run(mnt));
        const code = (want as { err?: string }).err;
        if (code) errnos.set(code, (errnos.get(code) ?? 0) + 1);
        else succeeded++;
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          expect({ step: i, op: op.kind, result: got }).toEqual({ step: i, op: op.kind, result: want });
        }
      }
      // the sequence must exercise both paths: real work, and the interesting errors
      expect(succeeded).toBeGreaterThan(OPS / 4);
      for (const code of ['ENOENT', 'EEXIST', 'ENOTEMPTY', 'ENOTDIR', 'EISDIR']) expect(errnos.get(code) ?? 0, code).toBeGreaterThan(0);
      const wantTree = await snapshot(host);
      const gotTree = await snapshot(mnt);
      for (const e of [...Object.values(wantTree), ...Object.values(gotTree)]) {
        if (e.type === 'dir') delete e.size;
      }
      expect(gotTree).toEqual(wantTree);
      expect(xattrDump(mnt)).toBe(xattrDump(host));
    }, timeoutMs(300_000));
  });
}
