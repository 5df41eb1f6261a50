// A separate process serving one memory mount through the FUSE transport, for tests that kill or
// exit a server: `node [--import tsx] mount-child.mjs MOUNTPOINT serve|exit src|dist`.
// `exit` calls process.exit(0) right after mounting, without unmounting.
import { pino } from 'pino';

const [mp, mode, from] = process.argv.slice(2);
const base = from === 'dist' ? '../../dist/src' : '../../src';
const { PosixFs } = await import(`${base}/fs/posix-fs.js`);
const { MemoryBackend } = await import(`${base}/backends/memory.js`);
const { fuseTransport } = await import(`${base}/zus/fuse/index.js`);

const log = pino({ level: 'warn' }, pino.destination(2));
await fuseTransport.mount(new PosixFs(new MemoryBackend()), {
  mountpoint: mp, fsName: 'memory:child', fsType: 'zufs-memory', readOnly: false, allowOther: false,
  channels: 2, attrTimeoutMs: 1000, log,
});
process.stdout.write('MOUNTED\n');
if (mode === 'exit') setImmediate(() => process.exit(0));
