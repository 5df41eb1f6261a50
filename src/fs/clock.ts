// The filesystem clock: nanoseconds since the epoch with sub-millisecond resolution, strictly
// increasing within a process so that two changes in a row always show two different ctimes.
const base = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
let last = 0n;

export function nowNs(): bigint {
  let t = base + process.hrtime.bigint();
  if (t <= last) t = last + 1n;
  last = t;
  return t;
}
