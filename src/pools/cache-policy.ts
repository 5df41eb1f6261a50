// Which t1-resident chunk to evict: a scan-resistant 2Q (in its segmented form). New chunks enter a
// probation FIFO (A1in); a second access promotes to the protected LRU (Am), capped at 75% of the
// capacity so probation always has room; keys evicted from probation are remembered in a ghost FIFO
// (A1out, half the capacity, no data) and come back straight into Am. A one-time scan only churns
// probation, so the hot set in Am survives it. Keys are whatever the cache uses (strings here).

export interface CachePolicy<K> {
  /** A resident key was accessed again. */
  touch(key: K): void;
  /** A key became resident (after a miss, or promoted from t2). */
  insert(key: K): void;
  /** A resident key left the cache for another reason than eviction (truncated, removed). */
  remove(key: K): void;
  /** Chooses the next key to evict among those `canEvict` accepts, and forgets it; undefined when none qualifies. */
  victim(canEvict: (key: K) => boolean): K | undefined;
  readonly size: number;
}

export interface TwoQueueOptions {
  /** Share of the capacity the protected segment may hold. Default 0.75. */
  protectedRatio?: number;
  /** Ghost entries kept, as a share of the capacity. Default 0.5. */
  ghostRatio?: number;
}

function firstMatch<K>(m: Map<K, true>, ok: (k: K) => boolean): K | undefined {
  for (const k of m.keys()) if (ok(k)) return k;
  return undefined;
}

export class TwoQueuePolicy<K> implements CachePolicy<K> {
  private readonly a1in = new Map<K, true>(); // oldest first
  private readonly am = new Map<K, true>(); // least recently used first
  private readonly a1out = new Map<K, true>(); // ghosts, oldest first
  private readonly amMax: number;
  private readonly ghostMax: number;

  constructor(capacity: number, opts: TwoQueueOptions = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity ${capacity}`);
    this.amMax = Math.max(1, Math.floor(capacity * (opts.protectedRatio ?? 0.75)));
    this.ghostMax = Math.max(1, Math.floor(capacity * (opts.ghostRatio ?? 0.5)));
  }

  get size(): number {
    return this.a1in.size + this.am.size;
  }

  /** For tests and status: which segment holds the key. */
  segment(key: K): 'probation' | 'protected' | 'ghost' | undefined {
    if (this.am.has(key)) return 'protected';
    if (this.a1in.has(key)) return 'probation';
    if (this.a1out.has(key)) return 'ghost';
    return undefined;
  }

  touch(key: K): void {
    if (this.am.delete(key)) {
      this.am.set(key, true);
    } else if (this.a1in.delete(key)) {
      this.protect(key);
    }
  }

  insert(key: K): void {
    if (this.am.has(key) || this.a1in.has(key)) return this.touch(key);
    if (this.a1out.delete(key)) this.protect(key);
    else this.a1in.set(key, true);
  }

  remove(key: K): void {
    if (!this.a1in.delete(key)) this.am.delete(key);
    this.a1out.delete(key);
  }

  victim(canEvict: (key: K) => boolean): K | undefined {
    const k = firstMatch(this.a1in, canEvict);
    if (k !== undefined) {
      this.a1in.delete(k);
      this.a1out.set(k, true);
      if (this.a1out.size > this.ghostMax) this.a1out.delete(this.a1out.keys().next().value as K);
      return k;
    }
    const p = firstMatch(this.am, canEvict);
    if (p !== undefined) this.am.delete(p);
    return p;
  }

  private protect(key: K): void {
    this.am.set(key, true);
    // The protected segment is full: its least recently used key goes back on probation (newest end).
    while (this.am.size > this.amMax) {
      const old = this.am.keys().next().value as K;
      this.am.delete(old);
      this.a1in.set(old, true);
    }
  }
}

/** Plain LRU for t2, where scans are already filtered by t1. */
export class LruPolicy<K> implements CachePolicy<K> {
  private readonly m = new Map<K, true>();
  get size(): number {
    return this.m.size;
  }
  touch(key: K): void {
    if (this.m.delete(key)) this.m.set(key, true);
  }
  insert(key: K): void {
    this.m.delete(key);
    this.m.set(key, true);
  }
  remove(key: K): void {
    this.m.delete(key);
  }
  victim(canEvict: (key: K) => boolean): K | undefined {
    const k = firstMatch(this.m, canEvict);
    if (k !== undefined) this.m.delete(k);
    return k;
  }
}
