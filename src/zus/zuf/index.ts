// The zuf transport. Unlike FUSE, the kernel initiates mounts: the server registers fs types
// (zufs-mem, zufs-redis, ...) and `mount -t zufs-mem -o config=FILE none DIR` asks it for a
// filesystem. So this transport's shape is serve() (register, then answer mounts), not the
// Transport.mount(fs, opts) of src/zus/transport.ts; a ZufServer reports stats the same way.
import { ZufServer, type ZufServeOptions } from './server.js';

export { ZufServer } from './server.js';
export type { ZufMountRequest, ZufServeOptions, ZufStats } from './server.js';

export interface ZufTransport {
  readonly name: 'zuf';
  /** Registers the fs types and starts the mount thread and the ZT channels. */
  serve(opts: ZufServeOptions): Promise<ZufServer>;
}

export const zufTransport: ZufTransport = {
  name: 'zuf',
  async serve(opts) {
    const s = new ZufServer(opts);
    await s.start();
    return s;
  },
};
