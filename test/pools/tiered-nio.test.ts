// The chunk store's side of zuf NIO, over a real t1 file in /dev/shm: t1Blocks() names the t1
// blocks that hold a chunk's pages (checked by reading the t1 file at those blocks), slot bytes past
// a chunk's cached length read as zeros to the end of the page, and onRevoke runs before a slot
// stops holding its chunk (its bytes are still the chunk's when the callback runs). NIO writes:
// bytes written into the t1 file at blocks t1Blocks(write) gave become the chunk's with placed(),
// unless the slot was revoked in between.
import { closeSync, openSync, writeSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { openTiers, type Tiers } from '../../src/pools/format.js';
import { type TieredOptions, TieredChunkStore } from '../../src/pools/tiered-chunk-store.js';
import { counted, MiB, type TierDirs, tierDirs } from './helpers.js';
import { t1Block } from '../helpers/t1-block.js';

const CS = 64 * 1024;
const PAGE = 4096;
let d: TierDirs;
let mem: MemoryBackend;
const live: { tiers: Tiers; store: TieredChunkStore }[] = [];

beforeEach(() => {
  d = tierDirs();
  mem = new MemoryBackend({ chunkSize: CS });
});
afterEach(async () => {
  for (const l of live.splice(0)) {
    await l.store.close().catch(() => undefined);
    await l.tiers.close();
  }
  d.cleanup();
});

/** t1 of 8 MiB: 64 slots of 64 KiB after the 2 MiB table area and the 2 MiB journal. */
async function open(opts: Partial<TieredOptions> = {}, t2 = false): Promise<{ store: TieredChunkStore; revoked: [number, number][] }> {
  const tiers = await openTiers({ t1: d.t1, t1_size: 8 * MiB, ...(t2 && { t2: d.t2, t2_size: 8 * MiB }) }, { storeKey: 'mem', chunkSize: CS });
  const store = await TieredChunkStore.open(counted(mem), tiers, { writeback: false, ...opts });
  live.push({ tiers, store });
  const revoked: [number, number][] = [];
  store.onRevoke = (ino, idx) => revoked.push([ino, idx]);
  return { store, revoked };
}

/** What the t1 device holds at block `bn` (read through the file, as the kernel would see it). */
const t1Bytes = (bn: number, len = PAGE): Buffer => t1Block(d.t1, bn, len);

const pattern = (seed: number, len: number): Buffer => {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) % 251 || 1;
  return b;
};

describe('tiered chunk store: NIO block map', () => {
  it('maps the pages a chunk holds, in consecutive blocks past the journal, and not the pages past its length', async () => {
    const data = pattern(1, 10_000);
    await mem.chunks.write(5, 2, 0, data);
    const { store } = await open();
    const bns = await store.t1Blocks(5, 2, 0, 16);
    expect(bns.slice(0, 3).every((b) => b > 0)).toBe(true);
    expect(bns.slice(3)).toEqual(new Array(13).fill(0));
    expect(bns[1]).toBe(bns[0]! + 1);
    expect(bns[0]! * PAGE).toBeGreaterThanOrEqual(4 * MiB); // 2 MiB table area + 2 MiB journal
    expect(t1Bytes(bns[0]!, 3 * PAGE).subarray(0, 10_000).equals(data)).toBe(true);
    expect(t1Bytes(bns[2]!).subarray(10_000 - 2 * PAGE).every((x) => x === 0)).toBe(true);
    // the same chunk asked from page 1: the same blocks
    expect(await store.t1Blocks(5, 2, 1, 2)).toEqual(bns.slice(1, 3));
    expect(store.stats().storeReads).toBe(1);
  });

  it('answers 0 for a hole (a chunk the store does not have)', async () => {
    const { store } = await open();
    expect(await store.t1Blocks(9, 0, 0, 4)).toEqual([0, 0, 0, 0]);
  });

  it('a reused slot shows zeros past the new chunk length to the end of its page, never the old chunk', async () => {
    for (let i = 0; i < 70; i++) await mem.chunks.write(1, i, 0, Buffer.alloc(CS, 0xff));
    await mem.chunks.write(2, 0, 0, pattern(2, 100));
    const { store } = await open();
    for (let i = 0; i < 70; i++) await store.read(1, i, 0, 1); // t1 full of 0xff, 6 evicted
    const [bn] = await store.t1Blocks(2, 0, 0, 1);
    const page = t1Bytes(bn!);
    expect(page.subarray(0, 100).equals(pattern(2, 100))).toBe(true);
    expect(page.subarray(100).every((x) => x === 0)).toBe(true);
  });

  it('a write past the cached length zeroes the rest of its last page (the slot held another chunk)', async () => {
    for (let i = 0; i < 70; i++) await mem.chunks.write(1, i, 0, Buffer.alloc(CS, 0xff));
    await mem.chunks.write(3, 0, 0, pattern(3, 100));
    const { store } = await open();
    for (let i = 0; i < 70; i++) await store.read(1, i, 0, 1);
    await store.t1Blocks(3, 0, 0, 1); // resident: the write goes into its slot in place
    await store.write(3, 0, PAGE, Buffer.from('abc'));
    const bns = await store.t1Blocks(3, 0, 0, 3);
    expect(bns[2]).toBe(0);
    const two = t1Bytes(bns[0]!, 2 * PAGE);
    expect(two.subarray(0, 100).equals(pattern(3, 100))).toBe(true);
    expect(two.subarray(100, PAGE).every((x) => x === 0)).toBe(true);
    expect(two.subarray(PAGE, PAGE + 3).toString()).toBe('abc');
    expect(two.subarray(PAGE + 3).every((x) => x === 0)).toBe(true);
  });

  it('truncate-shrink zeroes the cut bytes in place (no revocation), truncate to 0 and remove revoke', async () => {
    await mem.chunks.write(4, 0, 0, pattern(4, 3 * PAGE));
    await mem.chunks.write(4, 1, 0, pattern(5, PAGE));
    const { store, revoked } = await open();
    const bns = await store.t1Blocks(4, 0, 0, 3);
    await store.t1Blocks(4, 1, 0, 1);
    await store.truncate(4, 0, 100);
    expect(revoked).toEqual([]);
    expect(t1Bytes(bns[0]!, 3 * PAGE).subarray(100).every((x) => x === 0)).toBe(true);
    expect(await store.t1Blocks(4, 0, 0, 3)).toEqual([bns[0], 0, 0]);
    await store.truncate(4, 0, 0);
    expect(revoked).toEqual([[4, 0]]);
    await store.remove(4, 1);
    expect(revoked).toEqual([[4, 0], [4, 1]]);
  });

  it('eviction revokes before the slot is reused (with and without a spill to t2)', async () => {
    for (const t2 of [false, true]) {
      for (let i = 0; i < 80; i++) await mem.chunks.write(10, i, 0, pattern(i, CS));
      const { store, revoked } = await open({}, t2);
      const blocks = new Map<number, number>();
      const intact: boolean[] = [];
      store.onRevoke = (ino, idx) => {
        revoked.push([ino, idx]);
        // the kernel may still be copying from the slot: it must hold this chunk's bytes still
        intact.push(t1Bytes(blocks.get(idx)!, PAGE).equals(pattern(idx, PAGE)));
      };
      for (let i = 0; i < 80; i++) blocks.set(i, (await store.t1Blocks(10, i, 0, 1))[0]!);
      expect(revoked.length).toBe(80 - 64);
      expect(revoked.every(([ino]) => ino === 10)).toBe(true);
      expect(intact.every(Boolean)).toBe(true);
      expect(store.stats().t1.evictions).toBe(16);
      await store.close();
      live.pop()!.tiers.close();
      d.cleanup();
      d = tierDirs();
    }
  });

  it('invalidate (a peer changed the file) revokes clean and rebased dirty chunks, and the rebase keeps zeros past its length', async () => {
    await mem.chunks.write(6, 0, 0, pattern(6, 2 * PAGE));
    await mem.chunks.write(6, 1, 0, pattern(7, 2 * PAGE));
    const { store, revoked } = await open({ writeback: true, flushDelayMs: 60_000 });
    await store.t1Blocks(6, 0, 0, 2);
    await store.write(6, 1, 0, Buffer.from('mine'));
    const [bn1] = await store.t1Blocks(6, 1, 0, 1);
    await mem.chunks.truncate(6, 1, 10); // the peer shortened chunk 1
    await store.invalidate(6);
    expect(revoked.sort()).toEqual([[6, 0], [6, 1]]);
    const page = t1Bytes(bn1!, 2 * PAGE);
    expect(page.subarray(0, 4).toString()).toBe('mine');
    expect(page.subarray(4, 10).equals(pattern(7, 10).subarray(4))).toBe(true);
    expect(page.subarray(10).every((x) => x === 0)).toBe(true);
    expect(await store.t1Blocks(6, 1, 0, 2)).toEqual([bn1, 0]);
  });
});

/** Writes `data` into the t1 device file at byte `at`, as zuf.ko copies into a mapped block. */
function kernelWrite(at: number, data: Buffer): void {
  const fd = openSync(d.t1, 'r+');
  try {
    writeSync(fd, data, 0, data.length, at);
  } finally {
    closeSync(fd);
  }
}

describe('tiered chunk store: NIO writes', () => {
  it('maps every page of the chunk for writing, past its length too; placed() makes the bytes the chunk\'s, and they are uploaded', async () => {
    await mem.chunks.write(20, 0, 0, pattern(20, 100));
    const { store } = await open({ writeback: true, flushDelayMs: 1 });
    const bns = await store.t1Blocks(20, 0, 0, 4, true);
    expect(bns.every((b) => b > 0)).toBe(true);
    expect(bns[3]).toBe(bns[0]! + 3);
    kernelWrite(bns[2]! * PAGE + 10, Buffer.from('kernel'));
    expect(await store.placed(20, 0, 2 * PAGE + 10, 6, bns[2]! * PAGE + 10)).toBe(true);
    const chunk = await store.read(20, 0, 0, CS);
    expect(chunk.length).toBe(2 * PAGE + 16);
    expect(chunk.subarray(0, 100).equals(pattern(20, 100))).toBe(true);
    expect(chunk.subarray(100, 2 * PAGE + 10).every((x) => x === 0)).toBe(true); // the gap, zeroed
    expect(chunk.subarray(2 * PAGE + 10).toString()).toBe('kernel');
    await store.flush();
    expect((await mem.chunks.read(20, 0, 0, CS)).equals(chunk)).toBe(true);
  });

  it('placed() refuses after the slot was revoked (eviction) or at a byte the slot does not hold; the store never sees those bytes', async () => {
    for (let i = 0; i < 80; i++) await mem.chunks.write(21, i, 0, pattern(i, PAGE));
    const { store, revoked } = await open({ writeback: true, flushDelayMs: 1 });
    const [bn] = await store.t1Blocks(21, 0, 0, 1, true);
    expect(await store.placed(21, 0, 0, 4, bn! * PAGE + PAGE)).toBe(false); // not where page 0 is
    kernelWrite(bn! * PAGE, Buffer.from('lost'));
    for (let i = 1; i < 80; i++) await store.read(21, i, 0, 1); // t1 fills up: chunk 0 is evicted
    expect(revoked).toContainEqual([21, 0]);
    expect(await store.placed(21, 0, 0, 4, bn! * PAGE)).toBe(false);
    await store.flush();
    expect((await mem.chunks.read(21, 0, 0, PAGE)).equals(pattern(0, PAGE))).toBe(true);
    // mapped for writing again: a new lease, and placed() takes bytes written under it
    const [bn2] = await store.t1Blocks(21, 0, 0, 1, true);
    kernelWrite(bn2! * PAGE, Buffer.from('kept'));
    expect(await store.placed(21, 0, 0, 4, bn2! * PAGE)).toBe(true);
    await store.flush();
    expect((await mem.chunks.read(21, 0, 0, 4)).toString()).toBe('kept');
  });

  it('pages mapped for writing past the chunk length read as zeros (the slot held another chunk)', async () => {
    for (let i = 0; i < 70; i++) await mem.chunks.write(1, i, 0, Buffer.alloc(CS, 0xff));
    await mem.chunks.write(23, 0, 0, pattern(23, 100));
    const { store } = await open({ writeback: true });
    for (let i = 0; i < 70; i++) await store.read(1, i, 0, 1); // t1 full of 0xff, slots reused
    const bns = await store.t1Blocks(23, 0, 0, 16, true);
    const dev = t1Bytes(bns[0]!, 16 * PAGE);
    expect(dev.subarray(0, 100).equals(pattern(23, 100))).toBe(true);
    expect(dev.subarray(100).every((x) => x === 0)).toBe(true);
  });

  it('a page opened by a shared mapping keeps its chunk in t1 until committed; a revocation forgets the open', async () => {
    for (let i = 0; i < 200; i++) await mem.chunks.write(24, i, 0, pattern(i, PAGE));
    const { store, revoked } = await open({ writeback: true, flushDelayMs: 1 });
    // chunk 0 stays open, chunk 1 is opened and committed; the same accesses otherwise
    const [a] = await store.t1Blocks(24, 0, 0, 1, true);
    const [b] = await store.t1Blocks(24, 1, 0, 1, true);
    expect(await store.placed(24, 0, 0, PAGE, a! * PAGE, 'open')).toBe(true);
    expect(await store.placed(24, 1, 0, PAGE, b! * PAGE, 'open')).toBe(true);
    kernelWrite(a! * PAGE, Buffer.from('stored through the mapping'));
    kernelWrite(b! * PAGE, Buffer.from('committed store'));
    expect(await store.placed(24, 1, 0, PAGE, b! * PAGE, 'commit')).toBe(true);
    await store.flush(); // both uploaded and clean
    expect((await mem.chunks.read(24, 1, 0, 15)).toString()).toBe('committed store');
    // chunks read twice fill the protected segment and push 0 and 1 back to probation, then a scan
    for (let i = 2; i < 60; i++) for (let k = 0; k < 2; k++) await store.read(24, i, 0, 1);
    for (let i = 60; i < 200; i++) await store.read(24, i, 0, 1);
    expect(revoked).toContainEqual([24, 1]);
    expect(revoked).not.toContainEqual([24, 0]);
    expect(await store.placed(24, 0, 0, PAGE, a! * PAGE, 'commit')).toBe(true);
    await store.flush();
    expect((await mem.chunks.read(24, 0, 0, 26)).toString()).toBe('stored through the mapping');
    // an open forgotten by a revocation (a peer's change): a commit after it is refused
    const [c] = await store.t1Blocks(24, 5, 0, 1, true);
    expect(await store.placed(24, 5, 0, PAGE, c! * PAGE, 'open')).toBe(true);
    await store.invalidate(24);
    expect(await store.placed(24, 5, 0, PAGE, c! * PAGE, 'commit')).toBe(false);
  });

  it('a read mapping is no write lease, and write-through tiers map nothing for writing', async () => {
    await mem.chunks.write(22, 0, 0, pattern(22, PAGE));
    const wb = await open({ writeback: true });
    const [bn] = await wb.store.t1Blocks(22, 0, 0, 1);
    expect(await wb.store.placed(22, 0, 0, 4, bn! * PAGE)).toBe(false);
    await wb.store.close();
    live.pop()!.tiers.close();
    d.cleanup();
    d = tierDirs();
    const wt = await open({ writeback: false });
    expect(await wt.store.t1Blocks(22, 0, 0, 2, true)).toEqual([0, 0]);
  });
});
