// The thread that writes unsolicited notifications (FUSE_NOTIFY_INVAL_*) to the kernel. The kernel
// handles one inside write(2), and FUSE_NOTIFY_INVAL_ENTRY takes the directory's inode lock: when a
// request on that directory is waiting for our reply, the write waits for it. On the main thread
// that would stop the event loop that has to send the reply; here only this thread waits.
// It owns its fd (a clone of the connection's) and closes it when told to stop, so a write can
// never land on a reused descriptor.
import { parentPort, workerData } from 'node:worker_threads';
import { errno as E } from '../../fs/errors.js';
import { close, errno, setThreadName, write } from '../sys/libc.js';

export interface NotifyWorkerData {
  fd: number;
}

/** To the worker: one notification to write, or 'stop'. */
export interface NotifyRequest {
  id: number;
  bytes: Uint8Array;
}

/** From the worker, for every request once written: errno 0, or why the kernel refused it
 * (ENOENT and friends, "nothing cached", count as 0). */
export interface NotifyDone {
  id: number;
  errno: number;
  code: number;
}

const port = parentPort!;
const fd = (workerData as NotifyWorkerData).fd;
setThreadName('zus-fuse-notify');
port.on('message', (m: NotifyRequest | 'stop') => {
  if (m === 'stop') {
    close(fd);
    port.close();
    return;
  }
  const b = m.bytes;
  const code = new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(4, true);
  let no = write(fd, b, b.byteLength) >= 0 ? 0 : errno();
  // ENOENT: the kernel holds no such inode or name (nothing to drop); ENODEV: unmounted;
  // ENOTDIR/EBUSY: the name is now something else, or a mountpoint.
  if (no === E.ENOENT || no === E.ENODEV || no === E.ENOTDIR || no === E.EBUSY) no = 0;
  port.postMessage({ id: m.id, errno: no, code } satisfies NotifyDone);
});
