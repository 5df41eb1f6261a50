// The backend contract against MemoryBackend, the reference implementation.
import { MemoryBackend } from '../../src/backends/memory.js';
import { defineBackendContract } from './backend-contract.js';

defineBackendContract({
  name: 'memory',
  fresh: async () => {
    const backend = new MemoryBackend({ chunkSize: 64 * 1024 });
    return { backend, destroy: () => backend.close() };
  },
});
