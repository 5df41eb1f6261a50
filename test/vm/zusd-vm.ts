// The zusd the VM suites run (bundled by build.sh): the zuf transport serving
//   zufs-mem  — PosixFs over MemoryBackend, one volume per mount;
//   zufs-slow — the same, but LOOKUP of "slow*" names and XATTR_GET of "user.slow" take SLOW_MS,
//               and ops still running after ASYNC_MS are answered async (frees the channel).
// Runs until SIGTERM/SIGINT, then BREAK_ALL.
import type { Attr, Caller } from '../../src/fs/operations.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { zufTransport } from '../../src/zus/zuf/index.js';

const SLOW_MS = Number(process.env.SLOW_MS ?? 500);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class SlowFs extends PosixFs {
  override async lookup(c: Caller, dir: number, name: string): Promise<Attr> {
    if (name.startsWith('slow')) await sleep(SLOW_MS);
    return super.lookup(c, dir, name);
  }

  override async getxattr(c: Caller, ino: number, name: string): Promise<Buffer> {
    if (name === 'user.slow') await sleep(SLOW_MS);
    return super.getxattr(c, ino, name);
  }
}

const root = process.argv[2] ?? '/sys/fs/zuf';
const log = (m: string): void => {
  process.stderr.write(`${m}\n`);
};
const server = await zufTransport.serve({
  root,
  types: {
    'zufs-mem': () => new PosixFs(new MemoryBackend()),
    'zufs-slow': () => new SlowFs(new MemoryBackend()),
  },
  asyncAfterMs: { 'zufs-slow': Number(process.env.ASYNC_MS ?? 50) },
  channelsPerCpu: Number(process.env.ZUF_CHANNELS ?? 1),
  maxChannelsPerCpu: Number(process.env.ZUF_MAX_CHANNELS ?? 4),
  log,
});
process.stdout.write('zusd-vm: ready\n');
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  log(`zusd-vm: stopping, stats ${JSON.stringify(server.stats())}`);
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await server.exited;
process.exit(0);
