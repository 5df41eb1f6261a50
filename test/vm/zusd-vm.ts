// A minimal zusd for the zuf transport: serves `zufs-mem` (PosixFs over MemoryBackend, one volume
// per mount) until SIGTERM/SIGINT, then BREAK_ALL. Used by the VM tests; `zufs serve` wraps the same.
import { MemoryBackend } from '../../backends/memory.js';
import { PosixFs } from '../../fs/posix-fs.js';
import { zufTransport } from './index.js';

const root = process.argv[2] ?? '/sys/fs/zuf';
const log = (m: string): void => {
  process.stderr.write(`${m}\n`);
};
const server = await zufTransport.serve({
  root,
  types: { 'zufs-mem': () => new PosixFs(new MemoryBackend()) },
  channelsPerCpu: Number(process.env.ZUF_CHANNELS ?? 1),
  log,
});
process.stdout.write('zusd-zuf: ready\n');
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  log(`zusd-zuf: stopping, stats ${JSON.stringify(server.stats())}`);
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await server.exited;
process.exit(0);
