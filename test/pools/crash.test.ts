// kill -9 of a process writing through a write-back tiered local backend, at random points: after
// the next open (which replays the t1 journal), every byte acknowledged by sync() is there, and no
// byte holds a value that was never written to it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openBackend } from '../../src/backends/index.js';
import { tieredBackend } from '../../src/pools/tiered-chunk-store.js';
import { applyOp, CRASH_CHUNK, CRASH_CHUNKS, CRASH_INOS, crashOp, type Model } from './fixtures/crash-ops.js';
import { tierDirs } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/tiered-crash-child.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

async function runAndKill(args: string[], killAfterMs: number): Promise<{ acked: number; synced: number }> {
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
  return { acked: last('ack'), synced: last('synced') };
}

describe('tiered write-back under kill -9', () => {
  it('keeps every synced byte and invents none, over several random kill points', async () => {
    const trials = 3;
    let totalSynced = 0;
    for (let trial = 0; trial < trials; trial++) {
      const d = tierDirs();
      const vol = mkdtempSync(join(tmpdir(), 'zufs-crash-'));
      const seed = 1 + Math.floor(Math.random() * 1e6);
      try {
        const { acked, synced } = await runAndKill([vol, d.t1, d.t2, String(seed)], 300 + Math.floor(Math.random() * 900));
        expect(synced).toBeGreaterThan(0);
        totalSynced += synced;
        // What sync() acknowledged, and what each byte may legitimately hold beyond it.
        const atSync: Model = new Map();
        for (let n = 0; n <= synced; n++) applyOp(atSync, crashOp(seed, n));
        const allowed = new Map<string, Set<number>[]>();
        for (const ino of CRASH_INOS) {
          for (let idx = 0; idx < CRASH_CHUNKS; idx++) {
            const base = atSync.get(`${ino}:${idx}`);
            allowed.set(`${ino}:${idx}`, Array.from({ length: CRASH_CHUNK }, (_, i) => new Set([base ? base[i]! : 0])));
          }
        }
        // The op after the last "ack" may have been under way when the kill came.
        for (let n = synced + 1; n <= acked + 1; n++) {
          const op = crashOp(seed, n);
          const add = (ino: number, idx: number, from: number, to: number, v: number): void => {
            const a = allowed.get(`${ino}:${idx}`)!;
            for (let i = from; i < to; i++) a[i]!.add(v);
          };
          if (op.kind === 'write') add(op.ino, op.idx, op.off, op.off + op.len, op.value);
          else if (op.kind === 'truncate') add(op.ino, op.idx, op.len, CRASH_CHUNK, 0);
          else for (let i = op.from; i < CRASH_CHUNKS; i++) add(op.ino, i, 0, CRASH_CHUNK, 0);
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
              const a = allowed.get(`${ino}:${idx}`)!;
              for (let i = 0; i < CRASH_CHUNK; i++) {
                if (!a[i]!.has(got[i]!)) {
                  if (!bad) firstBad = `ino ${ino} chunk ${idx} byte ${i}: ${got[i]} not in {${[...a[i]!].join(',')}} (seed ${seed}, synced ${synced}, acked ${acked})`;
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
  }, 120_000);
});
