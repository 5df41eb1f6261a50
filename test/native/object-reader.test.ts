// ObjectReader (object-native-store.ts), the read path of object native files, against an in-memory
// object: whatever mix of sequential and random reads, every read returns exactly the object's bytes;
// sequential reads keep a bounded number of ranged GETs in flight; random access abandons the
// read-ahead nobody waits for; a failed GET fails that read and the next read asks again.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ObjectReader, READAHEAD_DEPTH, READAHEAD_MAX, READAHEAD_MIN } from '../../src/fs/native/object-native-store.js';

/** An object served with a delay, counting GETs, their concurrency and the aborted ones. */
function fakeStore(data: Buffer, delayMs = 2) {
  const s = { gets: [] as Array<[number, number]>, inFlight: 0, maxInFlight: 0, aborted: 0, failNext: false, bytes: 0 };
  const get = async (start: number, end: number, signal: AbortSignal): Promise<Buffer> => {
    s.gets.push([start, end]);
    s.inFlight++;
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
    try {
      await new Promise((r) => setTimeout(r, delayMs));
      if (signal.aborted) {
        s.aborted++;
        throw new Error('aborted');
      }
      if (s.failNext) {
        s.failNext = false;
        throw Object.assign(new Error('store went away'), { code: 'EIO' });
      }
      const b = data.subarray(Math.min(start, data.length), Math.min(end + 1, data.length));
      s.bytes += b.length;
      return Buffer.from(b);
    } finally {
      s.inFlight--;
    }
  };
  return { s, get };
}

/** A deterministic pseudo-random sequence (the failing case can be replayed). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('ObjectReader', () => {
  it('a whole-file sequential read returns the object, with bounded read-ahead in parallel', async () => {
    const data = randomBytes(40 * 1024 * 1024 + 123);
    const { s, get } = fakeStore(data);
    const r = new ObjectReader(get, data.length);
    const parts: Buffer[] = [];
    for (let off = 0; off < data.length; off += 128 * 1024) parts.push(await r.read(off, 128 * 1024));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(s.maxInFlight).toBeGreaterThan(1); // windows ahead were fetched in parallel
    expect(s.maxInFlight).toBeLessThanOrEqual(READAHEAD_DEPTH + 1);
    for (const [a, b] of s.gets) expect(b - a + 1).toBeLessThanOrEqual(READAHEAD_MAX);
    expect(s.gets.length).toBeLessThan(data.length / READAHEAD_MIN); // windows grew past 1 MiB
    expect(s.bytes).toBe(data.length); // nothing fetched twice
    expect((await r.read(data.length, 4096)).length).toBe(0); // at the end: empty
  });

  it("reads arriving out of order (the kernel's async read-ahead) are served from the windows", async () => {
    const data = randomBytes(12 * 1024 * 1024);
    const { s, get } = fakeStore(data);
    const r = new ObjectReader(get, data.length);
    expect((await r.read(0, 65536)).equals(data.subarray(0, 65536))).toBe(true);
    const offs = [];
    for (let off = 65536; off < data.length; off += 65536) offs.push(off);
    // Eight at a time, each batch shuffled.
    for (let i = 0; i < offs.length; i += 8) {
      const batch = offs.slice(i, i + 8).reverse();
      const got = await Promise.all(batch.map((o) => r.read(o, 65536)));
      batch.forEach((o, k) => expect(got[k]!.equals(data.subarray(o, o + 65536)), `at ${o}`).toBe(true));
    }
    expect(s.bytes).toBeLessThanOrEqual(data.length + READAHEAD_MAX); // at most one window fetched twice
  });

  it('random and sequential reads mixed return exactly the bytes asked for; random access abandons read-ahead', async () => {
    const data = randomBytes(30 * 1024 * 1024 + 7);
    const { s, get } = fakeStore(data, 1);
    const r = new ObjectReader(get, data.length);
    const next = rng(4242);
    let off = 0;
    for (let i = 0; i < 400; i++) {
      const kind = next();
      if (kind < 0.15) off = Math.floor(next() * (data.length + 1000)); // a seek, sometimes past the end
      const len = 1 + Math.floor(next() * 300_000);
      const got = await r.read(off, len);
      expect(got.equals(data.subarray(Math.min(off, data.length), Math.min(off + len, data.length))), `read ${i} at ${off}+${len}`).toBe(true);
      off += len;
    }
    expect(s.aborted).toBeGreaterThan(0); // read-ahead behind a seek was abandoned, not waited for
  });

  it('a failed GET fails the read waiting on it; the next read asks the store again', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const { s, get } = fakeStore(data);
    const r = new ObjectReader(get, data.length);
    s.failNext = true;
    await expect(r.read(0, 4096)).rejects.toThrow(/store went away/);
    expect((await r.read(0, 4096)).equals(data.subarray(0, 4096))).toBe(true);
  });

  it('reset() forgets what was fetched: the object replaced reads as the new one', async () => {
    let data = Buffer.from('old contents of the object');
    const r = new ObjectReader((start, end) => Promise.resolve(Buffer.from(data.subarray(start, end + 1))), data.length);
    expect((await r.read(0, 100)).toString()).toBe('old contents of the object');
    data = Buffer.from('new');
    r.reset(data.length);
    expect((await r.read(0, 100)).toString()).toBe('new');
  });
});
