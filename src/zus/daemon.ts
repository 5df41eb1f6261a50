// zusd: one process serving every mount of a config. Opens each backend, builds its filesystem,
// attaches it through a transport, answers `zufs status`/`zufs umount` on a control socket, and
// unmounts, drains and closes everything on SIGINT/SIGTERM.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config, MountConfig } from './config.js';
import { mountPassword } from './config.js';
import { redactUrl } from '../backends/index.js';
import type { MountHandle, Transport } from './transport.js';
import { listenControl, type ControlRequest, type DaemonStatus } from './control.js';
import type { ZusOperations } from '../fs/operations.js';
import { openFilesystem } from './filesystems.js';
import { PosixFs } from '../fs/posix-fs.js';
import { tierStats } from '../pools/tiered-chunk-store.js';

export type TransportChoice = 'auto' | 'fuse' | 'zuf';

interface Mounted {
  config: MountConfig;
  mountpoint: string;
  fs: ZusOperations;
  handle: MountHandle;
  since: Date;
  log: Logger;
  closing?: Promise<void>; // the drain after the kernel side went away; awaited by everyone
}

/** The transport for `zufs mount`. FUSE serves mounts zusd starts itself; with zuf.ko the kernel
 * starts mounts instead (`zufs serve` + mount -t zufs-*), so 'auto' means FUSE here. */
export async function pickTransport(choice: TransportChoice): Promise<Transport> {
  if (choice === 'zuf') throw new Error('the zuf transport serves kernel-initiated mounts: run `zufs serve`');
  const { fuseTransport } = await import('./fuse/index.js');
  return fuseTransport;
}

export class Zusd {
  private readonly mounts = new Map<string, Mounted>();
  private server: net.Server | undefined;
  private socketPath: string | undefined;
  private stopping: Promise<void> | undefined;
  /** Resolves once the daemon has no mounts left and has shut down. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly transport: Transport,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Mounts every mount of the config (or the one whose mountpoint is overridden). Any failure
   * unmounts what was already mounted and rethrows. */
  async start(mountpointOverride?: string): Promise<void> {
    if (mountpointOverride && this.config.mounts.length > 1) {
      throw new Error(`${this.config.file} declares ${this.config.mounts.length} mounts; a mountpoint on the command line needs exactly one (or leave it out and give each mount a mountpoint: key)`);
    }
    try {
      for (const m of this.config.mounts) {
        const mountpoint = path.resolve(mountpointOverride ?? m.mountpoint ?? '');
        if (!mountpointOverride && !m.mountpoint) throw new Error(`mount "${m.name}" has no mountpoint: key and none was given on the command line`);
        await this.mountOne(m, mountpoint);
      }
      await this.listen();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async mountOne(m: MountConfig, mountpoint: string): Promise<void> {
    const log = this.log.child({ mount: m.name });
    if (!existsSync(mountpoint)) mkdirSync(mountpoint, { recursive: true });
    log.info({ url: redactUrl(m.url), mountpoint, layout: m.layout, transport: this.transport.name }, 'mounting');
    const fs = await openFilesystem(m, { log, password: mountPassword(m) });
    let handle: MountHandle;
    try {
      handle = await this.transport.mount(fs, {
        mountpoint,
        fsName: redactUrl(m.url),
        fsType: m.fs,
        readOnly: m.read_only,
        allowOther: m.allow_other,
        channels: m.channels ?? os.availableParallelism(),
        attrTimeoutMs: m.attr_timeout,
        log,
      });
    } catch (e) {
      await fs.destroy().catch(() => undefined);
      throw e;
    }
    const entry: Mounted = { config: m, mountpoint, fs, handle, since: new Date(), log };
    this.mounts.set(mountpoint, entry);
    log.info({ mountpoint }, 'mounted');
    void handle.closed.then(() => this.onClosed(entry));
  }

  /** The kernel side went away (our unmount, or someone ran umount): drain and close the store.
   * Every caller gets the same promise, so `zufs umount` answers only once the store is closed. */
  private onClosed(entry: Mounted): Promise<void> {
    entry.closing ??= (async () => {
      try {
        await entry.fs.destroy();
        entry.log.info({ mountpoint: entry.mountpoint }, 'unmounted');
      } catch (e) {
        entry.log.error({ err: e }, 'closing the store after unmount failed');
      }
      if (this.mounts.get(entry.mountpoint) === entry) this.mounts.delete(entry.mountpoint);
      if (this.mounts.size === 0) void this.stop();
    })();
    return entry.closing;
  }

  async unmount(mountpoint: string): Promise<boolean> {
    const entry = this.mounts.get(path.resolve(mountpoint));
    if (!entry) return false;
    await entry.handle.unmount();
    await entry.handle.closed;
    await this.onClosed(entry);
    return true;
  }

  status(): DaemonStatus {
    return {
      pid: process.pid,
      rssBytes: process.memoryUsage.rss(),
      mounts: [...this.mounts.values()].map((m) => ({
        name: m.config.name,
        url: redactUrl(m.config.url),
        mountpoint: m.mountpoint,
        fs: m.config.fs,
        layout: m.config.layout,
        since: m.since.toISOString(),
        stats: m.handle.stats(),
        ...(m.fs instanceof PosixFs && { tiers: tierStats(m.fs.backend) }),
      })),
    };
  }

  /** Unmounts everything, drains, closes stores and the control socket. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const entry of [...this.mounts.values()]) {
        try {
          await entry.handle.unmount();
          await entry.handle.closed;
        } catch (e) {
          entry.log.error({ err: e }, 'unmount failed');
        }
        await this.onClosed(entry);
      }
      this.server?.close();
      if (this.socketPath) rmSync(this.socketPath, { force: true });
      this.resolveDone();
    })();
    return this.stopping;
  }

  private async listen(): Promise<void> {
    const ctl = await listenControl((req) => this.control(req));
    this.server = ctl.server;
    this.socketPath = ctl.path;
  }

  private async control(req: ControlRequest): Promise<unknown> {
    switch (req.cmd) {
      case 'status':
        return { ok: true, status: this.status() };
      case 'umount':
        return { ok: true, found: await this.unmount(String(req.mountpoint)) };
      default:
        return { ok: false, error: `unknown command ${String(req.cmd)}` };
    }
  }
}
