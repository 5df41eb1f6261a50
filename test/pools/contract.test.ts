// The backend contract through the tiers: a tiered backend must be indistinguishable from the store
// it wraps, with write-back on and off, over memory and over the local store (reopened).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend } from '../../src/backends/index.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import { tieredBackend } from '../../src/pools/tiered-chunk-store.js';
import { defineBackendContract } from '../contract/backend-contract.js';
import { MiB, tierDirs } from './helpers.js';

for (const writeback of [true, false]) {
  defineBackendContract({
    name: `tiered memory (writeback ${writeback})`,
    fresh: async () => {
      const d = tierDirs();
      const backend = await tieredBackend(new MemoryBackend({ chunkSize: 64 * 1024 }), { t1: d.t1, t2: d.t2, t1_size: 8 * MiB, t2_size: 8 * MiB, writeback }, { storeKey: 'memory' });
      return {
        backend,
        destroy: async () => {
          await backend.close();
          d.cleanup();
        },
      };
    },
  });
}

defineBackendContract({
  name: 'tiered local (writeback)',
  fresh: async () => {
    const d = tierDirs();
    const vol = mkdtempSync(join(tmpdir(), 'zufs-tl-'));
    const cfg = { t1: d.t1, t2: d.t2, t1_size: 8 * MiB, t2_size: 8 * MiB, writeback: true };
    const open = async () => tieredBackend(await openBackend(`local://${vol}`, { chunkSize: 64 * 1024 }), cfg, { storeKey: `local://${vol}` });
    let last = await open();
    return {
      backend: last,
      reopen: async () => (last = await open()),
      destroy: async () => {
        await last.close();
        d.cleanup();
        rmSync(vol, { recursive: true, force: true });
      },
    };
  },
});
