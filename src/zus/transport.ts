// What a transport (FUSE now, zuf.ko next) offers the daemon: attach one filesystem to one
// mountpoint, serve it on pinned worker threads, and detach cleanly.
import type { Logger } from 'pino';
import type { ZusOperations } from '../fs/operations.js';

export interface MountOptions {
  mountpoint: string;
  fsName: string; // shown in /proc/mounts as the source, e.g. "redis://127.0.0.1:6379/0"
  fsType: string; // e.g. "zufs-redis"; FUSE shows it as "fuse.zufs-redis"
  readOnly: boolean;
  allowOther: boolean;
  channels: number; // worker threads (FUSE: cloned /dev/fuse fds); default: one per CPU
  attrTimeoutMs: number; // kernel attribute/entry cache lifetime; 0 disables caching
  log: Logger;
}

export interface MountHandle {
  readonly mountpoint: string;
  /** Resolves when the kernel side is gone (unmounted by us, `umount`, or the fd was closed). */
  readonly closed: Promise<void>;
  /** Unmount (lazily if busy), stop every worker, and resolve once all of them have exited. */
  unmount(): Promise<void>;
  /** Counters for `zufs status`: requests served per channel, per op. */
  stats(): TransportStats;
}

export interface TransportStats {
  transport: 'fuse' | 'zuf';
  channels: { cpu: number; served: number }[];
  ops: Record<string, number>;
  /** zuf NIO reads: pages GET_MULTY answered mapped, ZU_IOC_UNMAP calls (and failed ones). */
  nio?: { maps: number; unmaps: number; unmapErrors: number; puts: number; putsStale: number };
}

export interface Transport {
  readonly name: 'fuse' | 'zuf';
  mount(fs: ZusOperations, opts: MountOptions): Promise<MountHandle>;
}
