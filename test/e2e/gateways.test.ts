// Several gateways on one volume: two separate zusd processes mount the same redis (and mongodb)
// posix volume. Directory changes on one show on the other within a second although the kernel
// may cache names and attributes for 10 s (attr_timeout below): only the pushed invalidations
// (Redis pub/sub, the MongoDB change log) can make that happen. Data is close-to-open; fcntl and
// flock locks hold across the gateways and die with a gateway killed by SIGKILL (lease).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, sh, startMount, tmpDir, type RunningMount } from '../helpers/mount.js';
import { E2E_STORES } from './stores.js';

/** Longer than any test waits: what shows up in time was pushed, not timed out. */
const ATTR_TIMEOUT = '10s';
/** The store's lock lease (redis and mongodb default) plus slack. */
const LEASE_MS = 5000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms; returns how long it took to hold, or fails after `limitMs`. */
async function within(limitMs: number, what: string, cond: () => boolean): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (cond()) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) throw new Error(`${what}: not seen within ${limitMs} ms`);
    await sleep(10);
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A process holding a lock until killed; resolves once `ready` is printed. */
async function holder(cmd: string): Promise<ChildProcess> {
  const p = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await within(10_000, `holder "${cmd}" ready (${out})`, () => out.includes('ready'));
  return p;
}

function killGroup(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    // gone already
  }
}

const LOCKF = `
import fcntl, os, sys, time
mode, path, start, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_RDWR)
op = {'ex': fcntl.LOCK_EX, 'sh': fcntl.LOCK_SH}[mode.split('-')[0]]
if mode.endswith('-nb'):
    op |= fcntl.LOCK_NB
try:
    fcntl.lockf(fd, op, length, start)
except OSError as e:
    print('busy', e.errno, flush=True)
    sys.exit(1)
print('ready', flush=True)
if mode.startswith('sh') or 'hold' in sys.argv[5:]:
    time.sleep(float(sys.argv[6]) if len(sys.argv) > 6 else 60)
`;

for (const store of E2E_STORES.filter((s) => s.name === 'redis' || s.name === 'mongodb')) {
  describe.skipIf(!cliBuilt())(`two gateways on one ${store.name} volume`, () => {
    let a: RunningMount | undefined;
    let b: RunningMount | undefined;
    let skip: string | undefined;
    let A = '';
    let B = '';
    let lockf = '';
    const held: ChildProcess[] = [];
    const latencies: Record<string, number> = {};

    beforeAll(async () => {
      const s = await store.open();
      if ('skip' in s) {
        skip = s.skip;
        return;
      }
      const dir = tmpDir(`zufs-gw-${store.name}-`);
      const cfg = path.join(dir, 'zufs.yaml');
      writeFileSync(cfg, `mounts:\n  - name: gw\n    url: ${JSON.stringify(s.url)}\n    attr_timeout: ${ATTR_TIMEOUT}\n`);
      lockf = path.join(dir, 'lockf.py');
      writeFileSync(lockf, LOCKF);
      A = path.join(dir, 'a');
      B = path.join(dir, 'b');
      mkdirSync(A);
      mkdirSync(B);
      a = await startMount(cfg, A);
      b = await startMount(cfg, B);
    }, 60_000);

    afterAll(async () => {
      for (const p of held) killGroup(p);
      // eslint-disable-next-line no-console
      if (Object.keys(latencies).length > 0) console.log(`${store.name} visibility on the other gateway (ms):`, latencies);
      if (b) expect(await b.stop()).toBe(0);
      if (a) await a.stop();
    }, 60_000);

    it('a file created, renamed and removed on A shows in readdir and stat on B within a second', async (ctx) => {
      if (skip) return ctx.skip(skip);
      mkdirSync(path.join(A, 'ns'));
      await within(1500, 'mkdir', () => exists(path.join(B, 'ns')));
      // B caches the listing's names and a negative lookup of the name about to appear.
      expect(readdirSync(path.join(B, 'ns'))).toEqual([]);
      expect(exists(path.join(B, 'ns', 'f'))).toBe(false);

      writeFileSync(path.join(A, 'ns', 'f'), 'one');
      latencies['create'] = await within(1500, 'create', () => readdirSync(path.join(B, 'ns')).includes('f') && exists(path.join(B, 'ns', 'f')));

      expect(statSync(path.join(B, 'ns', 'f')).size).toBe(3); // cached by B now
      renameSync(path.join(A, 'ns', 'f'), path.join(A, 'ns', 'g'));
      latencies['rename'] = await within(1500, 'rename', () => !exists(path.join(B, 'ns', 'f')) && exists(path.join(B, 'ns', 'g')));
      expect(readdirSync(path.join(B, 'ns'))).toEqual(['g']);

      unlinkSync(path.join(A, 'ns', 'g'));
      latencies['unlink'] = await within(1500, 'unlink', () => !exists(path.join(B, 'ns', 'g')));
      expect(readdirSync(path.join(B, 'ns'))).toEqual([]);
      for (const [k, v] of Object.entries(latencies)) expect(v, k).toBeLessThan(1500);
    });

    it('close-to-open: what A wrote and closed, B reads in full at its next open; stat follows within a second', async (ctx) => {
      if (skip) return ctx.skip(skip);
      const fa = path.join(A, 'data');
      const fb = path.join(B, 'data');
      writeFileSync(fa, 'first version');
      expect(readFileSync(fb, 'utf8')).toBe('first version');
      expect(statSync(fb).size).toBe(13);
      writeFileSync(fa, 'the second, longer version');
      expect(readFileSync(fb, 'utf8')).toBe('the second, longer version');
      writeFileSync(fa, 'x'.repeat(1000), { flag: 'a' });
      latencies['size'] = await within(1500, 'size change', () => statSync(fb).size === 1026);
    });

    it('flock: an exclusive lock held on A makes flock -n on B fail, and B gets it once A releases', async (ctx) => {
      if (skip) return ctx.skip(skip);
      writeFileSync(path.join(A, 'flockfile'), '');
      await within(1500, 'flockfile', () => exists(path.join(B, 'flockfile')));
      const h = await holder(`exec flock -x ${path.join(A, 'flockfile')} bash -c 'echo ready; exec sleep 60'`);
      held.push(h);
      expect(sh(`flock -n -x ${path.join(B, 'flockfile')} true`).code).toBe(1);
      expect(sh(`flock -n -s ${path.join(B, 'flockfile')} true`).code).toBe(1);
      // A waiting flock on B is granted once A lets go.
      const waiter = spawn('flock', ['-x', '-w', '10', path.join(B, 'flockfile'), 'true']);
      const waited = new Promise<number | null>((r) => waiter.once('exit', (c) => r(c)));
      await sleep(300);
      killGroup(h);
      expect(await waited).toBe(0);
      expect(sh(`flock -n -x ${path.join(B, 'flockfile')} true`).code).toBe(0);
    });

    it('fcntl byte-range locks: overlapping ranges conflict across gateways, disjoint ones and shared ones do not', async (ctx) => {
      if (skip) return ctx.skip(skip);
      writeFileSync(path.join(A, 'ranges'), 'x'.repeat(4096));
      await within(1500, 'ranges', () => exists(path.join(B, 'ranges')));
      const fa = path.join(A, 'ranges');
      const fb = path.join(B, 'ranges');
      const h = await holder(`exec python3 ${lockf} ex ${fa} 0 100 hold`);
      held.push(h);
      const busy = sh(`python3 ${lockf} ex-nb ${fb} 50 100`);
      expect(busy.code, busy.out + busy.err).toBe(1);
      expect(busy.out).toMatch(/busy (11|13)/);
      expect(sh(`python3 ${lockf} sh-nb ${fb} 99 1 x 0`).code).toBe(1);
      const free = sh(`python3 ${lockf} ex-nb ${fb} 100 100`);
      expect(free.code, free.out + free.err).toBe(0);
      killGroup(h);
      // Closing the holder's descriptor (its process died) released the range.
      await within(2000, 'released range', () => sh(`python3 ${lockf} ex-nb ${fb} 0 100`).code === 0);
      // Shared locks coexist across gateways; an exclusive one then waits for both.
      const r1 = await holder(`exec python3 ${lockf} sh ${fa} 0 0`);
      held.push(r1);
      expect(sh(`python3 ${lockf} sh-nb ${fb} 0 0 x 0`).code).toBe(0);
      expect(sh(`python3 ${lockf} ex-nb ${fb} 0 0`).code).toBe(1);
      // A blocking F_SETLKW on B is granted after A's holder goes.
      const waiter = spawn('python3', [lockf, 'ex', fb, '0', '0']);
      const waited = new Promise<number | null>((r) => waiter.once('exit', (c) => r(c)));
      await sleep(300);
      killGroup(r1);
      expect(await waited).toBe(0);
    });

    it('a gateway killed with SIGKILL loses its locks within the lease', async (ctx) => {
      if (skip) return ctx.skip(skip);
      writeFileSync(path.join(A, 'crash'), '');
      await within(1500, 'crash', () => exists(path.join(B, 'crash')));
      const h = await holder(`exec flock -x ${path.join(A, 'crash')} bash -c 'echo ready; exec sleep 60'`);
      held.push(h);
      expect(sh(`flock -n -x ${path.join(B, 'crash')} true`).code).toBe(1);
      await a!.kill();
      killGroup(h);
      const t = await within(LEASE_MS + 3000, 'lease expiry', () => sh(`flock -n -x ${path.join(B, 'crash')} true`).code === 0);
      latencies['lease'] = t;
      expect(existsSync(path.join(B, 'data'))).toBe(true);
    }, 30_000);
  });
}
