// Sizes ("64MiB", "4k", 1048576) and durations ("5s", "250ms", "2m") as written in configs and flags.

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Bytes from a number or a string with a unit; throws a message naming the bad value. */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`invalid size ${v}: expected a whole number of bytes`);
    return v;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const mult = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined) throw new Error(`invalid size "${v}": expected e.g. 4096, 64KiB, 1MiB, 2GiB`);
  return Math.round(Number(m[1]) * mult);
}

/** Milliseconds from a number (ms) or a string with a unit. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new Error(`invalid duration ${v}: expected milliseconds >= 0`);
    return v;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(v);
  if (!m) throw new Error(`invalid duration "${v}": expected e.g. 250ms, 5s, 2m`);
  return Number(m[1]) * TIME_UNITS[m[2]!]!;
}
