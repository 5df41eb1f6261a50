// What the differential tests share: a seeded generator (so a failing sequence can be replayed
// from its seed), an operation's outcome as a comparable value, and a short fingerprint of a
// file's bytes.

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Outcome = { ok: unknown } | { err: string };

/** `{ ok: value }` (true when there is none), or `{ err: code }` — compared as JSON. */
export async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    const v = await run();
    return { ok: v === undefined ? true : v };
  } catch (e) {
    return { err: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
}

/** Length, the first 64 bytes and a position-weighted checksum: a misplaced byte changes it. */
export function digest(buf: Buffer): string {
  return `${buf.length}:${buf.subarray(0, 64).toString('hex')}:${buf.reduce((s, v, i) => (s + v * (i + 1)) % 1_000_000_007, 0)}`;
}
