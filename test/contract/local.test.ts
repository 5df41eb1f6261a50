// The backend contract against the local backend, a fresh volume directory per test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import type { Backend } from '../../src/backends/types.js';
import { defineBackendContract } from './backend-contract.js';

defineBackendContract({
  name: 'local',
  fresh: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zufs-local-'));
    let current: Backend = await LocalBackend.open(dir, { chunkSize: 64 * 1024 });
    return {
      backend: current,
      reopen: async () => (current = await LocalBackend.open(dir)),
      destroy: async () => {
        await current.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});
