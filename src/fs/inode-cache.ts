// Write-through cache of inode records and of directory parents ("..") for one gateway. Records
// are only installed after the backend accepted them, so the cache never holds a state the store
// refused. invalidate(ino) drops what another gateway may have changed. With `enabled: false`
// nothing is kept and every read goes to the backend.
import type { InodeRecord } from '../backends/types.js';

export interface InodeCacheOptions {
  enabled?: boolean;
  /** Most records kept; the oldest-inserted are dropped first. Default 100 000. */
  maxEntries?: number;
}

export class InodeCache {
  readonly enabled: boolean;
  private readonly max: number;
  private readonly inodes = new Map<number, InodeRecord>();
  private readonly parents = new Map<number, number>();

  constructor(opts: InodeCacheOptions = {}) {
    this.enabled = opts.enabled ?? true;
    this.max = opts.maxEntries ?? 100_000;
  }

  /** The cached record. Callers must not mutate it: build a copy, commit it, then set() it. */
  get(ino: number): InodeRecord | undefined {
    return this.inodes.get(ino);
  }

  /** Installs a record; when full, the oldest-inserted one goes. (Re-inserting on every update
   * to get true LRU order is ruinous: a V8 Map rehashes its whole table after a few delete+set of
   * one key, and the root directory is updated on every create.) */
  set(rec: InodeRecord): void {
    if (!this.enabled) return;
    if (!this.inodes.has(rec.ino) && this.inodes.size >= this.max) {
      const oldest = this.inodes.keys().next();
      if (!oldest.done) this.inodes.delete(oldest.value);
    }
    this.inodes.set(rec.ino, rec);
  }

  getParent(dir: number): number | undefined {
    return this.parents.get(dir);
  }

  setParent(dir: number, parent: number): void {
    if (!this.enabled) return;
    if (!this.parents.has(dir) && this.parents.size >= this.max) {
      const oldest = this.parents.keys().next();
      if (!oldest.done) this.parents.delete(oldest.value);
    }
    this.parents.set(dir, parent);
  }

  /** Forget everything about `ino` (another gateway changed it, or it was deleted). */
  invalidate(ino: number): void {
    this.inodes.delete(ino);
    this.parents.delete(ino);
  }

  clear(): void {
    this.inodes.clear();
    this.parents.clear();
  }

  get size(): number {
    return this.inodes.size;
  }
}
