// kill -9 of a process writing through a write-back tiered local backend, at random points: after
// the next open (which replays the t1 journal), every byte acknowledged by sync() is there, and no
// byte holds a value that was never written to it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backends/index.js';
import { type TierStats, tieredBackend } from '../../src/pools/tiered-chunk-store.js';
import { applyOp, CRASH_CHUNK, CRASH_CHUNKS, CRASH_INOS, crashOp, type Model } from './fixtures/crash-ops.js';
import { tierDirs } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/tiered-crash-child.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

async function runAndKill(args: string[], killAfterMs: number): Promise<{ acked: number; synced: number; stats: TierStats | undefined }> {
  const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  // Start the clock at the first acknowledgement, so the kill lands in the steady state.
  const started = Date.now();
  while (!out.includes('ack ') && p.exitCode === null && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 10));
  if (!out.includes('ack ')) {
    p.kill('SIGKILL');
    throw new Error(`child never acknowledged anything: ${err}`);
  }
  await new Promise((r) => setTimeout(r, killAfterMs));
  p.kill('SIGKILL');
  await exited;
  const lines = out.split('\n');
  const last = (word: string): number => {
    let v = -1;
    for (const l of lines) if (l.startsWith(`${word} `)) v = Number(l.slice(word.length + 1));
    return v;
  };
  const stats = lines.filter((l) => l.startsWith('stats ')).pop();
  return { acked: last('ack'), synced: last('synced'), stats: stats ? (JSON.parse(stats.slice(6)) as TierStats) : undefined };
}

describe('tiered write-back under kill -9', () => {
  it('keeps every synced byte and invents none, over several random kill points', async () => {
    const trials = 3;
    let totalSynced = 0;
    let evictions = 0;
    let spills = 0;
    for (let trial = 0; trial < trials; trial++) {
      const d = tierDirs();
      // The store in /dev/shm too: a process kill keeps it, and its fsync costs nothing, so the
      // child gets through thousands of operations (and evictions) before the kill.
      const vol = mkdtempSync(join('/dev/shm', 'zufs-crash-'));
      const seed = 1 + Math.floor(Math.random() * 1e6);
      try {
        const { acked, synced, stats } = await runAndKill([vol, d.t1, d.t2, String(seed)], 500 + Math.floor(Math.random() * 1000));
        expect(synced).toBeGreaterThan(0);
        totalSynced += synced;
        if (stats) {
          evictions += stats.t1.evictions;
          spills += stats.t2!.spills;
        }
        // What sync() acknowledged, and what each byte may legitimately hold beyond it.
        const atSync: Model = new Map();
        for (let n = 0; n <= synced; n++) applyOp(atSync, crashOp(seed, n));
        // Per chunk: the synced bytes, plus for bytes touched later the other values they may hold.
        const extra = new Map<string, Map<number, Set<number>>>();
        const zeroFrom = new Map<string, number>(); // a later truncate/remove may have zeroed from here
        // The op after the last "ack" may have been under way when the kill came.
        for (let n = synced + 1; n <= acked + 1; n++) {
          const op = crashOp(seed, n);
          const add = (ino: number, idx: number, from: number, to: number, v: number): void => {
            const k = `${ino}:${idx}`;
            let m = extra.get(k);
            if (!m) extra.set(k, (m = new Map()));
            for (let i = from; i < to; i++) {
              let set = m.get(i);
              if (!set) m.set(i, (set = new Set()));
              set.add(v);
            }
          };
          const zero = (ino: number, idx: number, from: number): void => {
            const k = `${ino}:${idx}`;
            zeroFrom.set(k, Math.min(zeroFrom.get(k) ?? CRASH_CHUNK, from));
          };
          if (op.kind === 'write') add(op.ino, op.idx, op.off, op.off + op.len, op.value);
          else if (op.kind === 'truncate') zero(op.ino, op.idx, op.len);
          else for (let i = op.from; i < CRASH_CHUNKS; i++) zero(op.ino, i, 0);
        }

        const b = await tieredBackend(
          await openBackend(`local://${vol}`, { chunkSize: CRASH_CHUNK }),
          { t1: d.t1, t2: d.t2, writeback: true },
          { storeKey: `local://${vol}` },
        );
        try {
          let bad = 0;
          let firstBad = '';
          for (const ino of CRASH_INOS) {
            for (let idx = 0; idx < CRASH_CHUNKS; idx++) {
              const got = Buffer.alloc(CRASH_CHUNK);
              (await b.chunks.read(ino, idx, 0, CRASH_CHUNK)).copy(got);
              const base = atSync.get(`${ino}:${idx}`);
              const more = extra.get(`${ino}:${idx}`);
              const z = zeroFrom.get(`${ino}:${idx}`) ?? CRASH_CHUNK;
              for (let i = 0; i < CRASH_CHUNK; i++) {
                const want = base ? base[i]! : 0;
                if (got[i] !== want && !more?.get(i)?.has(got[i]!) && !(got[i] === 0 && i >= z)) {
                  if (!bad) firstBad = `ino ${ino} chunk ${idx} byte ${i}: ${got[i]}, expected ${want} or one of {${[...(more?.get(i) ?? [])].join(',')}} (seed ${seed}, synced ${synced}, acked ${acked})`;
                  bad++;
                }
              }
            }
          }
          expect(firstBad).toBe('');
          expect(bad).toBe(0);
        } finally {
          await b.close();
        }
      } finally {
        d.cleanup();
        rmSync(vol, { recursive: true, force: true });
      }
    }
    expect(totalSynced).toBeGreaterThan(trials * 7);
    expect(evictions).toBeGreaterThan(0); // the kills landed while t1 was evicting and spilling to t2
    expect(spills).toBeGreaterThan(0);
  }, 120_000);
});
