// Tiering through a real mount: a working set larger than t1 but smaller than t1 + t2, read twice
// after a cold start; the second pass makes no store requests (zusd's own counters) — it is served
// from t1, and from t2 for what t1 had to spill.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBuilt, shOk, startMount, tierCounters, tmpDir } from '../helpers/mount.js';
import { redisUnavailable, startRedis } from '../helpers/redis-server.js';

/** Reads every file with O_DIRECT so the page cache cannot answer for the tiers. */
function readAll(dir: string): void {
  shOk(`for f in ${dir}/w*; do dd if=$f of=/dev/null bs=1M iflag=direct status=none; done`);
}

describe.skipIf(!cliBuilt() || Boolean(redisUnavailable))('tiering on redis', () => {
  it('working set > t1 and < t1 + t2: the second pass makes no store requests', async () => {
    const redis = await startRedis();
    const dir = tmpDir('zufs-tiering-');
    const cfg = path.join(dir, 'zufs.yaml');
    const mnt = path.join(dir, 'mnt');
    // 1 MiB chunks: t1 holds 8, t2 holds 24; the working set is 20 chunks
    shOk(
      `printf '%s\\n' 'mounts:' '  - name: tiered' '    url: ${redis.url}?volume=tiering' '    chunk_size: 1MiB' ` +
        `'    tiers: { t1: /dev/shm/${path.basename(dir)}.t1, t2: ${dir}/t2, t1_size: 8MiB, t2_size: 32MiB, writeback: true }' > ${cfg}`,
    );
    try {
      const writer = await startMount(cfg, mnt);
      shOk(`for i in 1 2 3 4 5; do head -c 4194304 /dev/urandom > ${mnt}/w$i; done && sync`);
      expect(await writer.stop()).toBe(0); // drains write-back to Redis; the tiers start cold next time

      const reader = await startMount(cfg, mnt);
      try {
        const t0 = tierCounters(mnt);
        readAll(mnt);
        const t1 = tierCounters(mnt);
        expect(t1.storeReads - t0.storeReads).toBeGreaterThanOrEqual(20); // cold: from Redis
        expect(t1.t2!.spills).toBeGreaterThan(0); // t1 is too small: chunks went to t2
        readAll(mnt);
        const t2 = tierCounters(mnt);
        expect(t2.storeReads - t1.storeReads).toBe(0);
        expect(t2.t1.hits + t2.t2!.hits - (t1.t1.hits + t1.t2!.hits)).toBeGreaterThanOrEqual(20);
        expect(t2.t2!.hits).toBeGreaterThan(t1.t2!.hits);
      } finally {
        await reader.stop();
      }
    } finally {
      await redis.stop();
      shOk(`rm -f /dev/shm/${path.basename(dir)}.t1`);
    }
  }, 120_000);
});
