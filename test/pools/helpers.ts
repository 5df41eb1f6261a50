// Shared by the pools tests: tier files in /dev/shm (t1) and /tmp (t2), and a ChunkStore wrapper
// that counts store requests, so a test can assert "served without the store".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, ChunkStore } from '../../src/backends/types.js';
import { errno, fsError } from '../../src/fs/errors.js';

export const MiB = 1024 * 1024;

export interface TierDirs {
  t1: string;
  t2: string;
  cleanup(): void;
}

export function tierDirs(): TierDirs {
  const shm = mkdtempSync(join('/dev/shm', 'zufs-t1-'));
  const tmp = mkdtempSync(join(tmpdir(), 'zufs-t2-'));
  return {
    t1: join(shm, 't1'),
    t2: join(tmp, 't2'),
    cleanup() {
      rmSync(shm, { recursive: true, force: true });
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export interface Counts {
  reads: number;
  writes: number;
  truncates: number;
  removes: number;
  lists: number;
}

export class CountingChunkStore implements ChunkStore {
  readonly counts: Counts = { reads: 0, writes: 0, truncates: 0, removes: 0, lists: 0 };
  /** Makes every request wait this long (a slow store). */
  delayMs = 0;
  /** The next this many writes fail with EIO (a store that is down). */
  failWrites = 0;
  constructor(readonly inner: ChunkStore) {}
  get chunkSize(): number {
    return this.inner.chunkSize;
  }
  private async slow(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
  }
  async read(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    this.counts.reads++;
    await this.slow();
    return this.inner.read(ino, idx, off, len);
  }
  async write(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    this.counts.writes++;
    await this.slow();
    if (this.failWrites > 0) {
      this.failWrites--;
      throw fsError(errno.EIO, 'store unavailable (test)');
    }
    return this.inner.write(ino, idx, off, data);
  }
  async truncate(ino: number, idx: number, len: number): Promise<void> {
    this.counts.truncates++;
    await this.slow();
    return this.inner.truncate(ino, idx, len);
  }
  async remove(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    this.counts.removes++;
    await this.slow();
    return this.inner.remove(ino, fromIdx, toIdx);
  }
  async list(ino: number): Promise<number[]> {
    this.counts.lists++;
    return this.inner.list(ino);
  }
}

/** `backend` with its chunks behind a CountingChunkStore. close() is a no-op unless `closeInner`,
 * so a test can "crash" a tiered store and open another on the same backend. */
export function counted(backend: Backend, closeInner = false): Backend & { chunks: CountingChunkStore; syncs: number } {
  const chunks = new CountingChunkStore(backend.chunks);
  const b = {
    kind: backend.kind,
    meta: backend.meta,
    chunks,
    syncs: 0,
    async sync() {
      b.syncs++;
      await backend.sync();
    },
    async close() {
      if (closeInner) await backend.close();
    },
  };
  return b;
}
