// The tiered chunk store over a real backend (MemoryBackend behind a request counter): reads served
// by t1/t2 without the store, write-back within a dirty budget, fsync through the journal surviving a
// crash, and truncate/remove never bringing old bytes back.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { errno } from '../../src/fs/errors.js';
import { openTiers, type Tiers } from '../../src/pools/format.js';
import { type TieredOptions, TieredChunkStore } from '../../src/pools/tiered-chunk-store.js';
import { counted, MiB, type TierDirs, tierDirs } from './helpers.js';

const CS = 64 * 1024;
let d: TierDirs;
let mem: MemoryBackend;
let backend: ReturnType<typeof counted>;
const live: { tiers: Tiers; store: TieredChunkStore }[] = [];

beforeEach(() => {
  d = tierDirs();
  mem = new MemoryBackend({ chunkSize: CS });
  backend = counted(mem);
});
afterEach(async () => {
  for (const l of live.splice(0)) {
    await l.store.close().catch(() => undefined);
    await l.tiers.close();
  }
  d.cleanup();
});

/** t1 of 8 MiB = 64 slots of 64 KiB after the journal; t2 of 8 MiB = 96 slots. */
async function open(opts: Partial<TieredOptions> = {}, sizes = { t1: 8 * MiB, t2: 8 * MiB as number | undefined }): Promise<TieredChunkStore> {
  const tiers = await openTiers(
    { t1: d.t1, ...(sizes.t2 !== undefined && { t2: d.t2, t2_size: sizes.t2 }), t1_size: sizes.t1 },
    { storeKey: 'mem', chunkSize: CS },
  );
  const store = await TieredChunkStore.open(backend, tiers, { writeback: true, ...opts });
  live.push({ tiers, store });
  return store;
}

/** Drops a store as a crash would: no drain, no checkpoint; the tier files stay as they are. */
async function crash(store: TieredChunkStore): Promise<void> {
  const i = live.findIndex((l) => l.store === store);
  const [l] = live.splice(i, 1);
  await l!.tiers.close();
}

const chunkData = (ino: number, idx: number, len = CS): Buffer => {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i += 4) b.writeUInt32LE((ino * 1000003 + idx * 7919 + i) >>> 0, i);
  return b;
};

describe('tiered chunk store: reads', () => {
  it('serves a second pass over a working set larger than t1 (but within t1+t2) with no store read', async () => {
    const n = 140; // > 64 t1 slots, < 64 + 96
    for (let i = 0; i < n; i++) await mem.chunks.write(7, i, 0, chunkData(7, i));
    const s = await open();
    for (let i = 0; i < n; i++) expect((await s.read(7, i, 0, CS)).equals(chunkData(7, i))).toBe(true);
    expect(backend.chunks.counts.reads).toBe(n);
    const first = s.stats();
    expect(first.t2!.spills).toBeGreaterThanOrEqual(n - 64);
    for (let i = 0; i < n; i++) expect((await s.read(7, i, 100, 1000)).equals(chunkData(7, i).subarray(100, 1100))).toBe(true);
    expect(backend.chunks.counts.reads).toBe(n);
    const st = s.stats();
    expect(st.t1.hits - first.t1.hits + (st.t2!.hits - first.t2!.hits)).toBe(n);
    expect(st.t2!.hits - first.t2!.hits).toBeGreaterThan(0);
    expect(st.t1.used).toBe(64);
  });

  it('invalidate() makes the next reads see what another writer put in the store, keeping dirty chunks', async () => {
    await mem.chunks.write(8, 0, 0, Buffer.from('v1'));
    const s = await open({ flushDelayMs: 60_000 });
    expect((await s.read(8, 0, 0, 2)).toString()).toBe('v1');
    await s.write(8, 1, 0, Buffer.from('mine'));
    await mem.chunks.write(8, 0, 0, Buffer.from('v2')); // a peer gateway
    expect((await s.read(8, 0, 0, 2)).toString()).toBe('v1');
    await s.invalidate(8);
    expect((await s.read(8, 0, 0, 2)).toString()).toBe('v2');
    expect((await s.read(8, 1, 0, 4)).toString()).toBe('mine');
    expect(s.stats().dirtyChunks).toBe(1);
  });

  it('without t2, the same second pass has to go back to the store (the counter is real)', async () => {
    const n = 140;
    for (let i = 0; i < n; i++) await mem.chunks.write(7, i, 0, chunkData(7, i));
    const s = await open({}, { t1: 8 * MiB, t2: undefined });
    for (let pass = 0; pass < 2; pass++) for (let i = 0; i < n; i++) await s.read(7, i, 0, 10);
    expect(backend.chunks.counts.reads).toBe(2 * n);
  });

  it('reads holes as empty, and short chunks short', async () => {
    await mem.chunks.write(3, 0, 0, Buffer.from('hello'));
    const s = await open();
    expect((await s.read(3, 0, 0, CS)).toString()).toBe('hello');
    expect((await s.read(3, 0, 3, 10)).toString()).toBe('lo');
    expect((await s.read(3, 5, 0, CS)).length).toBe(0);
    expect((await s.read(3, 0, 10, 10)).length).toBe(0);
  });

  it('remembers holes: a second read and a write into one cost no store read', async () => {
    const s = await open({ flushDelayMs: 60_000 });
    expect((await s.read(3, 5, 0, CS)).length).toBe(0);
    expect((await s.read(3, 5, 0, CS)).length).toBe(0);
    expect(backend.chunks.counts.reads).toBe(1);
    await s.write(3, 5, 10, Buffer.from('x'));
    expect(backend.chunks.counts.reads).toBe(1);
    expect((await s.read(3, 5, 0, CS)).equals(Buffer.concat([Buffer.alloc(10), Buffer.from('x')]))).toBe(true);
    expect(await s.list(3)).toEqual([5]);
    await s.remove(3, 0);
    expect((await s.read(3, 5, 0, CS)).length).toBe(0);
  });

  it('write-through forgets a remembered hole once it writes the chunk', async () => {
    const s = await open({ writeback: false });
    expect((await s.read(3, 1, 0, 10)).length).toBe(0);
    await s.write(3, 1, 0, Buffer.from('now'));
    expect((await s.read(3, 1, 0, 10)).toString()).toBe('now');
  });
});

describe('tiered chunk store: write-back', () => {
  it('keeps writes in t1 until flushed, counts them in list(), uploads them later', async () => {
    const s = await open({ flushDelayMs: 60_000 });
    await s.write(5, 2, 10, Buffer.from('abc'));
    await s.write(5, 0, 0, chunkData(5, 0));
    expect(backend.chunks.counts.writes).toBe(0);
    expect(await s.list(5)).toEqual([0, 2]);
    expect((await s.read(5, 2, 0, 20)).equals(Buffer.concat([Buffer.alloc(10), Buffer.from('abc')]))).toBe(true);
    expect(s.stats().dirtyChunks).toBe(2);
    await s.flush();
    expect(await mem.chunks.list(5)).toEqual([0, 2]);
    expect((await mem.chunks.read(5, 0, 0, CS)).equals(chunkData(5, 0))).toBe(true);
    expect(s.stats().dirtyChunks).toBe(0);
  });

  it('makes writers wait when the dirty budget is full, and never exceeds it', async () => {
    backend.chunks.delayMs = 20;
    const s = await open({ dirtyMaxBytes: 4 * CS, flushDelayMs: 0 });
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, s.stats().dirtyChunks)), 1);
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 24 }, (_, i) => s.write(9, i, 0, chunkData(9, i))));
    const elapsed = Date.now() - t0;
    clearInterval(watch);
    expect(peak).toBeLessThanOrEqual(4);
    expect(s.stats().writebackWaits).toBeGreaterThan(0);
    expect(elapsed).toBeGreaterThanOrEqual(20 * 4); // 24 chunks through 4 dirty slots on a 20 ms store
    await s.flush();
    for (let i = 0; i < 24; i++) expect((await mem.chunks.read(9, i, 0, CS)).equals(chunkData(9, i))).toBe(true);
  });

  it('close() drains every dirty chunk to the store and empties the journal', async () => {
    const s = await open({ flushDelayMs: 60_000 });
    for (let i = 0; i < 10; i++) await s.write(4, i, 0, chunkData(4, i));
    await s.sync();
    await s.write(4, 3, 5, Buffer.from('late'));
    await s.close();
    await crash(s); // closes the tier files
    for (let i = 0; i < 10; i++) {
      const want = chunkData(4, i);
      if (i === 3) Buffer.from('late').copy(want, 5);
      expect((await mem.chunks.read(4, i, 0, CS)).equals(want)).toBe(true);
    }
    const again = await open();
    expect(again.stats().journal.replayed).toBe(0);
  });

  it('retries failed uploads with backoff, and fsync stays durable meanwhile (journal)', async () => {
    const s = await open({ flushDelayMs: 0, retryBaseMs: 5 });
    backend.chunks.failWrites = 3;
    await s.write(6, 0, 0, Buffer.from('persist'));
    await s.sync();
    const t0 = Date.now();
    await s.flush();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5 + 10 + 20 - 5);
    expect(s.stats().uploadErrors).toBe(3);
    expect((await mem.chunks.read(6, 0, 0, 7)).toString()).toBe('persist');
  });

  it('close() fails with EIO when the store keeps refusing uploads; the synced bytes stay in the journal', async () => {
    const s = await open({ flushDelayMs: 0, retryBaseMs: 1 });
    backend.chunks.failWrites = Number.POSITIVE_INFINITY;
    await s.write(6, 1, 0, Buffer.from('journaled'));
    await s.sync();
    await expect(s.close()).rejects.toMatchObject({ errno: errno.EIO });
    await crash(s);
    backend.chunks.failWrites = 0;
    const r = await open();
    expect(r.stats().journal.replayed).toBe(1);
    expect((await mem.chunks.read(6, 1, 0, 9)).toString()).toBe('journaled');
  });

  it('write-through mode writes the store first and keeps the cached copy current', async () => {
    const s = await open({ writeback: false });
    await s.write(2, 0, 0, Buffer.from('one'));
    expect((await s.read(2, 0, 0, 10)).toString()).toBe('one');
    await s.write(2, 0, 1, Buffer.from('X'));
    expect(backend.chunks.counts.reads).toBe(1);
    expect((await s.read(2, 0, 0, 10)).toString()).toBe('oXe');
    expect((await mem.chunks.read(2, 0, 0, 10)).toString()).toBe('oXe');
  });
});

describe('tiered chunk store: fsync and crashes', () => {
  it('after a crash, every synced byte is back (replayed before serving) and unsynced writes never show', async () => {
    const s = await open({ flushDelayMs: 3_600_000 });
    const synced = new Map<number, Buffer>();
    for (let i = 0; i < 8; i++) {
      const b = randomBytes(CS);
      await s.write(11, i, 0, b);
      synced.set(i, b);
    }
    await s.write(11, 8, 100, Buffer.from('partial'));
    await s.sync();
    expect(backend.chunks.counts.writes).toBe(0); // fsync did not upload: it journaled
    expect(backend.syncs).toBe(1);
    await s.write(11, 9, 0, Buffer.from('never synced'));
    await crash(s);
    expect(await mem.chunks.list(11)).toEqual([]);

    const r = await open();
    expect(r.stats().journal.replayed).toBe(9);
    for (const [i, b] of synced) expect((await mem.chunks.read(11, i, 0, CS)).equals(b)).toBe(true);
    expect((await mem.chunks.read(11, 8, 0, CS)).equals(Buffer.concat([Buffer.alloc(100), Buffer.from('partial')]))).toBe(true);
    expect(await r.list(11)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a replay does not put an older synced version over a newer one uploaded and synced later', async () => {
    const s = await open({ flushDelayMs: 3_600_000 });
    await s.write(12, 0, 0, Buffer.from('AAAA'));
    await s.sync(); // journal: AAAA
    await s.write(12, 0, 0, Buffer.from('BBBB'));
    await s.flush(); // BBBB uploaded, not journaled by a sync
    await s.sync(); // store synced: BBBB is acknowledged
    await crash(s);
    await open();
    expect((await mem.chunks.read(12, 0, 0, 4)).toString()).toBe('BBBB');
  });

  it('a replay does not apply an older truncate record over newer bytes that only the store holds', async () => {
    const s = await open({ flushDelayMs: 3_600_000 });
    await s.write(17, 0, 0, Buffer.from('old'));
    await s.flush(); // chunk 0 is in the store, never journaled
    await s.write(17, 1, 0, Buffer.from('keep'));
    await s.sync(); // journal: chunk 1 (the inode now has records)
    await s.truncate(17, 0, 0); // journal: truncate chunk 0
    await s.write(17, 0, 0, Buffer.from('new'));
    await s.flush(); // uploaded: clean again
    await s.sync(); // must journal 'new' too, or the replay of the truncate wipes it
    await crash(s);
    await open();
    expect((await mem.chunks.read(17, 0, 0, 10)).toString()).toBe('new');
    expect((await mem.chunks.read(17, 1, 0, 10)).toString()).toBe('keep');
  });

  it('a replay does not bring back truncated or removed data, even dirty data', async () => {
    const s = await open({ flushDelayMs: 3_600_000 });
    for (let i = 0; i < 4; i++) await s.write(13, i, 0, Buffer.alloc(CS, 0xaa));
    await s.sync();
    await s.truncate(13, 1, 100);
    await s.remove(13, 2);
    expect(await s.list(13)).toEqual([0, 1]);
    await s.write(13, 1, 200, Buffer.from('z')); // bytes 100..200 must read as zeros, not 0xaa
    expect((await s.read(13, 1, 0, CS)).equals(Buffer.concat([Buffer.alloc(100, 0xaa), Buffer.alloc(100), Buffer.from('z')]))).toBe(true);
    await s.sync();
    await crash(s);
    const r = await open();
    expect(await r.list(13)).toEqual([0, 1]);
    expect((await r.read(13, 1, 0, CS)).equals(Buffer.concat([Buffer.alloc(100, 0xaa), Buffer.alloc(100), Buffer.from('z')]))).toBe(true);
    expect((await r.read(13, 2, 0, CS)).length).toBe(0);
  });

  it('truncate/remove drop cached and t2 copies: no stale read after the store changed under them', async () => {
    const n = 120;
    for (let i = 0; i < n; i++) await mem.chunks.write(14, i, 0, chunkData(14, i));
    const s = await open();
    for (let i = 0; i < n; i++) await s.read(14, i, 0, 1);
    expect(s.stats().t2!.used).toBeGreaterThan(0);
    await s.remove(14, 10);
    await s.truncate(14, 5, 10);
    for (let i = 10; i < n; i++) expect((await s.read(14, i, 0, CS)).length).toBe(0);
    expect((await s.read(14, 5, 0, CS)).equals(chunkData(14, 5).subarray(0, 10))).toBe(true);
    expect(await s.list(14)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.stats().t2!.used + s.stats().t1.used).toBeLessThanOrEqual(10);
  });

  it('a truncate racing a fill never leaves the old bytes cached', async () => {
    await mem.chunks.write(15, 0, 0, Buffer.alloc(1000, 1));
    backend.chunks.delayMs = 10;
    const s = await open();
    const reading = s.read(15, 0, 0, 1000);
    await s.truncate(15, 0, 0);
    await reading;
    backend.chunks.delayMs = 0;
    expect((await s.read(15, 0, 0, 1000)).length).toBe(0);
  });

  it('fsync on a full journal falls back to uploading everything', async () => {
    const s = await open({ flushDelayMs: 3_600_000 }, { t1: 64 * MiB, t2: undefined }); // journal 6 MiB
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) await s.write(16, i, 0, chunkData(16, i + round));
      await s.sync();
    }
    expect(s.stats().journal.checkpoints).toBeGreaterThan(0);
    await crash(s);
    await open({}, { t1: 64 * MiB, t2: undefined });
    for (let i = 0; i < 40; i++) expect((await mem.chunks.read(16, i, 0, CS)).equals(chunkData(16, i + 2))).toBe(true);
  });
});
