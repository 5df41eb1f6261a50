// The FUSE transport: serves a ZusOperations vector on a stock kernel through /dev/fuse, with no
// libfuse. Requests are handled on the main thread; by default the main event loop also reads them
// (see FuseReader in connection.ts; ZUFS_FUSE_READER=workers reads them on MountOptions.channels
// pinned worker threads instead). The filesystem's lifetime stays with the caller: after `closed`
// resolves it calls fs.destroy() (the transport never does).
import type { ZusOperations } from '../../fs/operations.js';
import type { MountHandle, MountOptions, Transport } from '../transport.js';
import { FuseConnection } from './connection.js';

export { FuseConnection, MAX_WRITE, type FuseReader } from './connection.js';

export const fuseTransport: Transport = {
  name: 'fuse',
  async mount(fs: ZusOperations, opts: MountOptions): Promise<MountHandle> {
    const c = new FuseConnection(fs, opts);
    await c.start();
    return c;
  },
};
