// Deadlocks of blocking fcntl locks (F_SETLKW) through real FUSE mounts, and the lock_lease key.
// Two processes each hold one file and ask for the other's: the one closing the cycle gets EDEADLK,
// as the host's own filesystem answers (checked first on a local directory), and the other gets its
// lock once the loser exits. Run with two processes on one mount (local, redis) and with each
// process on its own gateway (two zusd on one redis or mongodb volume), where the wait is only
// visible through the store. Then: with `lock_lease: 1s`, a gateway killed with SIGKILL loses its
// locks within about a second, not the default 5.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, sh, startMount, tmpDir, type RunningMount } from '../helpers/mount.js';
import { E2E_STORES } from './stores.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Holds FIRST (F_SETLK), says "holding"; at a line on stdin asks for SECOND with F_SETLKW and says
 * "got" or "error <ERRNO>"; exits (dropping its locks) at the next line. */
const CROSS = `
import errno, fcntl, os, sys
a = os.open(sys.argv[1], os.O_RDWR)
b = os.open(sys.argv[2], os.O_RDWR)
fcntl.lockf(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
print('holding', flush=True)
sys.stdin.readline()
try:
    fcntl.lockf(b, fcntl.LOCK_EX)
    print('got', flush=True)
except OSError as e:
    print('error', 'EDEADLK' if e.errno == errno.EDEADLK else errno.errorcode.get(e.errno, e.errno), flush=True)
sys.stdin.readline()
`;

const SYS_fcntl: Record<string, number> = { x64: 72, arm64: 25 };

/** The process is in the fcntl system call (where unknown for this arch: assume it got there). */
function inFcntl(pid: number): boolean {
  const nr = SYS_fcntl[process.arch];
  if (nr === undefined) return true;
  try {
    return readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0] === String(nr);
  } catch {
    return false;
  }
}

interface Crosser {
  proc: ChildProcess;
  out: () => string;
  say: () => void;
  exited: Promise<number | null>;
}

async function until(limitMs: number, what: string, cond: () => boolean): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (cond()) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(10);
  }
}

async function crosser(script: string, first: string, second: string): Promise<Crosser> {
  const proc = spawn('python3', [script, first, second], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  await until(10_000, `holding ${first} (${out})`, () => out.includes('holding'));
  return { proc, out: () => out, say: () => proc.stdin!.write('\n'), exited };
}

/** P holds x and waits for y; then Q, holding y, asks for x. Returns what each said. */
async function deadlock(script: string, px: string, py: string, qx: string, qy: string): Promise<{ p: string; q: string; qAfterP: boolean }> {
  const p = await crosser(script, px, py);
  const q = await crosser(script, qy, qx);
  try {
    p.say();
    // P is inside fcntl(F_SETLKW); give the server a moment to record its wait.
    await until(10_000, 'P in fcntl', () => inFcntl(p.proc.pid!));
    await sleep(400);
    expect(p.out()).not.toMatch(/got|error/);
    q.say();
    await until(5000, `Q's answer (${q.out()})`, () => /got|error/.test(q.out()));
    // The loser keeps its lock until it exits: the other one stays blocked till then.
    await sleep(300);
    const pBefore = p.out();
    const loser = /error/.test(q.out()) ? q : p;
    loser.say();
    await loser.exited;
    await until(5000, `P's answer (${p.out()})`, () => /got|error/.test(p.out()));
    return { p: p.out().split('\n')[1]!, q: q.out().split('\n')[1]!, qAfterP: !/got|error/.test(pBefore) };
  } finally {
    p.proc.stdin!.end();
    q.proc.stdin!.end();
    await Promise.all([p.exited, q.exited]);
  }
}

/** Both ask at once: whatever order the requests reach the server in, exactly one gets EDEADLK. */
async function race(script: string, px: string, py: string, qx: string, qy: string): Promise<string[]> {
  const p = await crosser(script, px, py);
  const q = await crosser(script, qy, qx);
  try {
    p.say();
    q.say();
    const answered = (c: Crosser): boolean => /got|error/.test(c.out());
    await until(5000, 'one answer', () => answered(p) || answered(q));
    await sleep(300);
    const loser = /error/.test(p.out()) ? p : q;
    const winner = loser === p ? q : p;
    expect(answered(winner), winner.out()).toBe(false);
    loser.say();
    await loser.exited;
    await until(5000, 'the other answer', () => answered(winner));
    return [p.out(), q.out()].map((o) => o.split('\n')[1]!).sort();
  } finally {
    p.proc.stdin!.end();
    q.proc.stdin!.end();
    await Promise.all([p.exited, q.exited]);
  }
}

const EXPECTED = { p: 'got', q: 'error EDEADLK', qAfterP: true };

let script = '';
beforeAll(() => {
  script = path.join(tmpDir('zufs-deadlock-'), 'cross.py');
  writeFileSync(script, CROSS);
});

describe('the host filesystem (the behaviour to match)', () => {
  it('the request closing the cycle gets EDEADLK; the other gets its lock after the loser exits', async () => {
    const d = tmpDir('zufs-deadlock-host-');
    writeFileSync(path.join(d, 'x'), '');
    writeFileSync(path.join(d, 'y'), '');
    expect(await deadlock(script, path.join(d, 'x'), path.join(d, 'y'), path.join(d, 'x'), path.join(d, 'y'))).toEqual(EXPECTED);
  });
});

for (const store of E2E_STORES.filter((s) => s.name === 'local' || s.name === 'redis')) {
  describe.skipIf(!cliBuilt())(`two processes on one ${store.name} mount`, () => {
    let m: RunningMount | undefined;
    let skip: string | undefined;
    let mnt = '';

    beforeAll(async () => {
      const s = await store.open();
      if ('skip' in s) {
        skip = s.skip;
        return;
      }
      mnt = tmpDir(`zufs-deadlock-${store.name}-`);
      m = await startMount(s.url, mnt);
      writeFileSync(path.join(mnt, 'x'), '');
      writeFileSync(path.join(mnt, 'y'), '');
    }, 60_000);

    afterAll(async () => {
      if (m) expect(await m.stop()).toBe(0);
    }, 60_000);

    it('F_SETLKW closing a wait-for cycle gets EDEADLK; the other side proceeds once the loser exits', async (ctx) => {
      if (skip) return ctx.skip(skip);
      const x = path.join(mnt, 'x');
      const y = path.join(mnt, 'y');
      expect(await deadlock(script, x, y, x, y)).toEqual(EXPECTED);
      expect(await race(script, x, y, x, y)).toEqual(['error EDEADLK', 'got']);
    }, 30_000);
  });
}

for (const store of E2E_STORES.filter((s) => s.name === 'redis' || s.name === 'mongodb')) {
  describe.skipIf(!cliBuilt())(`two gateways on one ${store.name} volume`, () => {
    let a: RunningMount | undefined;
    let b: RunningMount | undefined;
    let skip: string | undefined;
    let A = '';
    let B = '';

    beforeAll(async () => {
      const s = await store.open();
      if ('skip' in s) {
        skip = s.skip;
        return;
      }
      const dir = tmpDir(`zufs-deadlock-gw-${store.name}-`);
      const cfg = path.join(dir, 'zufs.yaml');
      writeFileSync(cfg, `mounts:\n  - name: gw\n    url: ${JSON.stringify(s.url)}\n    lock_lease: 1s\n`);
      A = path.join(dir, 'a');
      B = path.join(dir, 'b');
      mkdirSync(A);
      mkdirSync(B);
      a = await startMount(cfg, A);
      b = await startMount(cfg, B);
      writeFileSync(path.join(A, 'x'), '');
      writeFileSync(path.join(A, 'y'), '');
      writeFileSync(path.join(A, 'crash'), '');
      await until(3000, 'files on B', () => sh(`ls ${B}`).out.split('\n').includes('crash'));
    }, 60_000);

    afterAll(async () => {
      if (b) expect(await b.stop()).toBe(0);
      if (a) await a.stop();
    }, 60_000);

    it('a cycle across the gateways: the request closing it gets EDEADLK, the other proceeds once the loser exits', async (ctx) => {
      if (skip) return ctx.skip(skip);
      // P on gateway A holds x and waits for y; Q on gateway B holds y and asks for x.
      expect(await deadlock(script, path.join(A, 'x'), path.join(A, 'y'), path.join(B, 'x'), path.join(B, 'y'))).toEqual(EXPECTED);
      expect(await race(script, path.join(A, 'x'), path.join(A, 'y'), path.join(B, 'x'), path.join(B, 'y'))).toEqual(['error EDEADLK', 'got']);
    }, 30_000);

    it('lock_lease: 1s — a gateway killed with SIGKILL loses its locks within about a second (not the default 5)', async (ctx) => {
      if (skip) return ctx.skip(skip);
      const h = spawn('flock', ['-x', path.join(A, 'crash'), 'bash', '-c', 'echo ready; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
      let out = '';
      h.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await until(10_000, 'holder ready', () => out.includes('ready'));
      expect(sh(`flock -n -x ${path.join(B, 'crash')} true`).code).toBe(1);
      // The lease has been renewed every 250 ms until now.
      await sleep(1500);
      expect(sh(`flock -n -x ${path.join(B, 'crash')} true`).code).toBe(1);
      await a!.kill();
      a = undefined;
      try {
        process.kill(-h.pid!, 'SIGKILL');
      } catch {
        // gone with its mount
      }
      const t = await until(3000, 'lease expiry', () => sh(`flock -n -x ${path.join(B, 'crash')} true`).code === 0);
      // eslint-disable-next-line no-console
      console.log(`${store.name}: a killed gateway's lock free on the other after ${Math.round(t)} ms (lock_lease 1s)`);
    }, 30_000);
  });
}
