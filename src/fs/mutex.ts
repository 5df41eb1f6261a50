// Async mutual exclusion for code that awaits between reading and writing shared state: one
// volume-wide Mutex for namespace changes, and a KeyedMutex that serializes work per inode.
// FIFO, no timeouts; a lock is held by a function and released when it settles.

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  get locked(): boolean {
    return this.held > 0;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.held++;
    try {
      await prev;
      return await fn();
    } finally {
      this.held--;
      release();
    }
  }
}

interface KeyWaiter {
  tail: Promise<void>;
  count: number;
}

/** Locks per numeric key. `runMany` takes several keys in ascending order, so two callers that
 * need overlapping sets cannot deadlock. */
export class KeyedMutex {
  private readonly keys = new Map<number, KeyWaiter>();

  private acquire(key: number): Promise<() => void> {
    let w = this.keys.get(key);
    if (!w) {
      w = { tail: Promise.resolve(), count: 0 };
      this.keys.set(key, w);
    }
    const prev = w.tail;
    let release!: () => void;
    w.tail = new Promise<void>((r) => (release = r));
    w.count++;
    const entry = w;
    return prev.then(() => () => {
      entry.count--;
      if (entry.count === 0 && this.keys.get(key) === entry) this.keys.delete(key);
      release();
    });
  }

  async run<T>(key: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async runMany<T>(keys: number[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort((a, b) => a - b);
    const releases: (() => void)[] = [];
    try {
      for (const k of sorted) releases.push(await this.acquire(k));
      return await fn();
    } finally {
      for (let i = releases.length - 1; i >= 0; i--) releases[i]!();
    }
  }

  isLocked(key: number): boolean {
    return this.keys.has(key);
  }
}
