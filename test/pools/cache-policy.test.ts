// The t1 eviction policy: a one-time scan must not evict the hot set, and pinned keys are skipped.
import { describe, expect, it } from 'vitest';
import { LruPolicy, TwoQueuePolicy } from '../../src/pools/cache-policy.js';

/** A cache of `capacity` keys driven by `policy`: returns whether each access hit. */
function simulate(policy: TwoQueuePolicy<string> | LruPolicy<string>, capacity: number) {
  const resident = new Set<string>();
  return (key: string): boolean => {
    if (resident.has(key)) {
      policy.touch(key);
      return true;
    }
    if (resident.size >= capacity) {
      const v = policy.victim(() => true);
      if (v === undefined) throw new Error('no victim');
      resident.delete(v);
    }
    resident.add(key);
    policy.insert(key);
    return false;
  };
}

describe('2Q cache policy', () => {
  it('keeps a hot set through a one-time scan ten times the cache size', () => {
    const cap = 100;
    const q = new TwoQueuePolicy<string>(cap);
    const access = simulate(q, cap);
    const hot = Array.from({ length: 40 }, (_, i) => `hot${i}`);
    for (let round = 0; round < 3; round++) for (const k of hot) access(k);
    for (let i = 0; i < 1000; i++) access(`scan${i}`);
    const hits = hot.filter((k) => access(k)).length;
    expect(hits).toBe(hot.length);
    for (const k of hot) expect(q.segment(k)).toBe('protected');
  });

  it('an LRU of the same size loses the whole hot set to the same scan (the test can fail)', () => {
    const cap = 100;
    const access = simulate(new LruPolicy<string>(), cap);
    const hot = Array.from({ length: 40 }, (_, i) => `hot${i}`);
    for (let round = 0; round < 3; round++) for (const k of hot) access(k);
    for (let i = 0; i < 1000; i++) access(`scan${i}`);
    expect(hot.filter((k) => access(k)).length).toBe(0);
  });

  it('admits a key seen again soon after its eviction (ghost) straight into the protected segment', () => {
    const q = new TwoQueuePolicy<string>(10);
    const access = simulate(q, 10);
    for (let i = 0; i < 12; i++) access(`k${i}`);
    expect(q.segment('k0')).toBe('ghost');
    access('k0');
    expect(q.segment('k0')).toBe('protected');
  });

  it('caps the protected segment so new keys still find room on probation', () => {
    const q = new TwoQueuePolicy<string>(8);
    const access = simulate(q, 8);
    for (let r = 0; r < 2; r++) for (let i = 0; i < 8; i++) access(`k${i}`);
    const prot = Array.from({ length: 8 }, (_, i) => q.segment(`k${i}`)).filter((s) => s === 'protected').length;
    expect(prot).toBe(6);
    expect(q.size).toBe(8);
  });

  it('skips keys the cache cannot evict (dirty, busy) and returns undefined when none qualifies', () => {
    const q = new TwoQueuePolicy<string>(4);
    for (const k of ['a', 'b', 'c']) q.insert(k);
    expect(q.victim((k) => k !== 'a')).toBe('b');
    expect(q.victim(() => false)).toBeUndefined();
    expect(q.size).toBe(2);
    q.remove('a');
    expect(q.segment('a')).toBeUndefined();
  });
});
