// The small building blocks of src/fs: async locks, id batching, the inode cache and the clock.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { nowNs } from '../../src/fs/clock.js';
import { IdPool } from '../../src/fs/id-pool.js';
import { InodeCache } from '../../src/fs/inode-cache.js';
import { KeyedMutex, Mutex } from '../../src/fs/mutex.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('Mutex / KeyedMutex', () => {
  test('a Mutex runs holders one at a time, in arrival order, even when one throws', async () => {
    const m = new Mutex();
    const log: string[] = [];
    const job = (n: string, fail = false) =>
      m.run(async () => {
        log.push(`${n}+`);
        await tick();
        log.push(`${n}-`);
        if (fail) throw new Error(n);
      });
    const r = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(m.locked).toBe(false);
  });

  test('KeyedMutex serializes one key, lets other keys run, and frees idle keys', async () => {
    const k = new KeyedMutex();
    const log: string[] = [];
    const job = (key: number, n: string) =>
      k.run(key, async () => {
        log.push(`${n}+`);
        await tick();
        log.push(`${n}-`);
      });
    await Promise.all([job(1, 'a'), job(1, 'b'), job(2, 'c')]);
    expect(log.indexOf('a-')).toBeLessThan(log.indexOf('b+'));
    expect(log.indexOf('c+')).toBeLessThan(log.indexOf('a-'));
    expect(k.isLocked(1) || k.isLocked(2)).toBe(false);
  });

  test('runMany with overlapping key sets in opposite orders does not deadlock', async () => {
    const k = new KeyedMutex();
    let inside = 0;
    let maxInside = 0;
    const job = (keys: number[]) =>
      k.runMany(keys, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await tick();
        inside--;
      });
    await Promise.all(Array.from({ length: 50 }, (_, i) => job(i % 2 ? [1, 2, 3] : [3, 2, 1])));
    expect(maxInside).toBe(1);
  });
});

describe('IdPool', () => {
  test('concurrent takes get distinct increasing ids with one allocIds per batch', async () => {
    const be = new MemoryBackend();
    let calls = 0;
    const meta = new Proxy(be.meta, {
      get(t, p, r) {
        if (p === 'allocIds') return (n: number) => (calls++, t.allocIds(n));
        return Reflect.get(t, p, r);
      },
    });
    const pool = new IdPool(meta, 16);
    const ids = await Promise.all(Array.from({ length: 40 }, () => pool.take()));
    expect(new Set(ids).size).toBe(40);
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(2);
    expect(calls).toBe(3);
    const more = await pool.take();
    expect(more).toBeGreaterThan(Math.max(...ids));
  });
});

describe('InodeCache', () => {
  const rec = (ino: number) => ({
    ...{ mode: 0o100644, uid: 0, gid: 0, nlink: 1, size: 0, rdev: 0, flags: 0, generation: 0 },
    ...{ atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, btimeNs: 0n },
    ino,
  });

  test('keeps at most maxEntries, dropping the oldest-inserted; an update replaces in place', () => {
    const c = new InodeCache({ maxEntries: 3 });
    for (const i of [1, 2, 3]) c.set(rec(i));
    c.set({ ...rec(2), size: 5 });
    expect(c.get(2)?.size).toBe(5);
    c.set(rec(4));
    expect(c.get(1)).toBeUndefined();
    expect([2, 3, 4].every((i) => c.get(i) !== undefined)).toBe(true);
    c.invalidate(3);
    expect(c.get(3)).toBeUndefined();
  });

  test('disabled: stores nothing', () => {
    const c = new InodeCache({ enabled: false });
    c.set(rec(1));
    c.setParent(5, 1);
    expect(c.get(1)).toBeUndefined();
    expect(c.getParent(5)).toBeUndefined();
  });
});

describe('clock', () => {
  test('nanoseconds near Date.now(), strictly increasing', () => {
    const a = nowNs();
    const b = nowNs();
    expect(b > a).toBe(true);
    const ms = Number(a / 1_000_000n);
    expect(Math.abs(ms - Date.now())).toBeLessThan(1000);
  });
});
