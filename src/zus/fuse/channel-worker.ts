// One FUSE channel: a worker thread pinned to a CPU that blocks in a synchronous read() on its
// cloned /dev/fuse fd and forwards each request's bytes to the main thread (the ArrayBuffer is
// transferred, never shared or reused). It owns no fd: the main thread closes them after it exits.
// Reading here, not on the libuv pool, is what keeps the server from deadlocking on its own mount.
import { parentPort, workerData } from 'node:worker_threads';
import { errno as E } from '../../fs/errors.js';
import { pinCurrentThread } from '../sys/affinity.js';
import { errno, read, setThreadName } from '../sys/libc.js';

export interface ChannelWorkerData {
  index: number;
  fd: number;
  cpu: number;
  /** max_write plus room for the headers: the kernel refuses reads into anything smaller. */
  bufferSize: number;
  /** Requests up to this size are copied into an exact-size buffer; larger ones hand over the read buffer. */
  copyBelow: number;
}

/** Messages to the main thread besides request bytes (which arrive as a bare Uint8Array). */
export type ChannelNotice = { kind: 'pinned'; cpu: number } | { kind: 'pin-failed'; cpu: number; message: string } | { kind: 'read-failed'; errno: number };

function serve(d: ChannelWorkerData): void {
  const port = parentPort!;
  setThreadName(`zus-fuse-${d.index}`);
  try {
    pinCurrentThread(d.cpu);
    port.postMessage({ kind: 'pinned', cpu: d.cpu } satisfies ChannelNotice);
  } catch (e) {
    port.postMessage({ kind: 'pin-failed', cpu: d.cpu, message: (e as Error).message } satisfies ChannelNotice);
  }
  // allocUnsafeSlow: an unpooled, uninitialised ArrayBuffer of its own (transferable, no 1 MiB memset).
  let ab = Buffer.allocUnsafeSlow(d.bufferSize).buffer;
  let view = new Uint8Array(ab);
  for (;;) {
    const n = read(d.fd, view, d.bufferSize);
    if (n < 0) {
      const no = errno();
      // EINTR: a signal; ENOENT: the request was interrupted before we got it; EAGAIN: spurious.
      if (no === E.EINTR || no === E.ENOENT || no === E.EAGAIN) continue;
      // ENODEV: unmounted or aborted, the normal end of a channel.
      if (no !== E.ENODEV) port.postMessage({ kind: 'read-failed', errno: no } satisfies ChannelNotice);
      return;
    }
    if (n <= d.copyBelow) {
      const copy = ab.slice(0, n);
      port.postMessage(new Uint8Array(copy), [copy]);
    } else {
      port.postMessage(new Uint8Array(ab, 0, n), [ab]);
      ab = Buffer.allocUnsafeSlow(d.bufferSize).buffer;
      view = new Uint8Array(ab);
    }
  }
}

serve(workerData as ChannelWorkerData);
