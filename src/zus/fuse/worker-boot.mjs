// Starts a TypeScript worker entry when zusd runs from sources (tsx, vitest): tsx does not pass
// its loader to worker threads, so the worker registers it before importing the real entry.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
