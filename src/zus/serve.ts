// `zufs serve`: the zuf transport's daemon. zusd registers one filesystem type per store family
// with zuf.ko and answers kernel-initiated mounts (`mount -t zufs-redis -o config=FILE none DIR`),
// each served by the same filesystems as the FUSE transport.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { configFromUrl, loadConfig, mountPassword, type MountConfig } from './config.js';
import { listenControl } from './control.js';
import { openFilesystem } from './filesystems.js';
import type { ZufMountRequest } from './zuf/index.js';
import * as abi from './abi/zus-api.js';
import { FsError, errno } from '../fs/errors.js';

/** ZUFS_OP_* code → name, so `zufs status` shows `READ=12` rather than `14=12`. */
const OP_NAMES: Record<string, string> = Object.fromEntries(
  Object.entries(abi)
    .filter(([k, v]) => k.startsWith('ZUFS_OP_') && typeof v === 'number' && v < abi.ZUFS_OP_MAX_OPT)
    .map(([k, v]) => [String(v), k.slice('ZUFS_OP_'.length)]),
);

export const ZUF_FS_TYPES = ['zufs-mem', 'zufs-local', 'zufs-redis', 'zufs-mongo', 'zufs-s3', 'zufs-webdav'] as const;

/** Mounts the zuf root if the module is loaded and the root is not mounted yet. */
export function ensureZufRoot(root: string): void {
  const mounted = readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === root && l.split(' ')[2] === 'zuf');
  if (mounted) return;
  if (!readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.split('\t')[1] === 'zuf')) {
    throw new Error('zuf.ko is not loaded (modprobe zuf, or insmod kernel/zuf.ko); use the FUSE transport instead');
  }
  if (!existsSync(root)) throw new Error(`${root} does not exist`);
  const r = spawnSync('mount', ['-t', 'zuf', 'nodev', root], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t zuf nodev ${root}: ${r.stderr.trim()}`);
}

/** The mount config a kernel mount asks for: its -o config= file (the entry of that fs type), or
 * a default store when none is given (zufs-mem: memory, zufs-local: the embedded default). */
function mountConfigFor(req: ZufMountRequest, defaultLocalUrl: string): MountConfig {
  if (!req.config) {
    if (req.fsType === 'zufs-mem') return configFromUrl('memory://zuf', { name: 'mem' }).mounts[0]!;
    if (req.fsType === 'zufs-local') return configFromUrl(defaultLocalUrl, { name: 'default' }).mounts[0]!;
    throw new FsError(errno.EINVAL, `mount -t ${req.fsType} needs -o config=FILE`);
  }
  const cfg = loadConfig(req.config);
  const m = cfg.mounts.filter((x) => x.fs === req.fsType);
  if (m.length !== 1) throw new FsError(errno.EINVAL, `${req.config}: expected exactly one mount of fs ${req.fsType}, found ${m.length}`);
  return { ...m[0]!, read_only: m[0]!.read_only || req.readOnly };
}

export async function serveZuf(root: string, log: Logger, defaultLocalUrl: string, opts: { maxChannelsPerCpu?: number } = {}): Promise<void> {
  ensureZufRoot(root);
  const { zufTransport } = await import('./zuf/index.js');
  const open = async (req: ZufMountRequest) => {
    try {
      const m = mountConfigFor(req, defaultLocalUrl);
      // native layouts stage a file between open and close (an upload or replace at close);
      // zuf.ko sends no open/close to the server yet, so they would fail at the first write
      if (m.layout === 'native') {
        throw new FsError(errno.EOPNOTSUPP, `${m.name}: the native layout needs open/close, which the zuf transport does not carry yet; mount it with zufs mount (FUSE)`);
      }
      const mlog = log.child({ mount: m.name });
      mlog.info({ fs: req.fsType, config: req.config || '(default)' }, 'zuf mount');
      return await openFilesystem(m, { log: mlog, password: mountPassword(m), ...(req.kernelTiers && { kernelTiers: req.kernelTiers }) });
    } catch (e) {
      log.error({ err: e, fs: req.fsType, config: req.config }, 'zuf mount refused');
      throw e;
    }
  };
  const server = await zufTransport.serve({
    root,
    types: Object.fromEntries(ZUF_FS_TYPES.map((t) => [t, open])),
    ...opts,
    log: (msg) => log.info(msg),
  });
  const startedAt = new Date().toISOString();
  const ctl = await listenControl(async (req) => {
    if (req.cmd !== 'status') return { ok: false, error: `zufs serve answers status only (unmount with umount(8))` };
    const st = server.stats();
    return {
      ok: true,
      status: {
        pid: process.pid,
        rssBytes: process.memoryUsage.rss(),
        mounts: [
          {
            name: 'zuf',
            url: root,
            mountpoint: `${root} (${st.mounts} kernel mounts)`,
            fs: ZUF_FS_TYPES.join(','),
            layout: '-',
            since: startedAt,
            stats: {
              transport: 'zuf',
              channels: st.channels.map((c) => ({ cpu: c.cpu, served: c.served })).sort((a, b) => a.cpu - b.cpu),
              ops: Object.fromEntries(Object.entries(st.ops).map(([k, v]) => [OP_NAMES[k] ?? k, v])),
              nio: { maps: st.nioMaps, unmaps: st.nioUnmaps, unmapErrors: st.nioUnmapErrors, puts: st.nioPuts, putsStale: st.nioPutsStale },
            },
          },
          // one more entry per kernel mount with tiers: its t1/t2 counters (zuf knows no mountpoint)
          ...st.tiers.map((t) => ({
            name: `zuf sb ${t.sb}`,
            url: t.config || '-',
            mountpoint: `${root} sb ${t.sb}`,
            fs: t.fsType,
            layout: '-',
            since: startedAt,
            stats: { transport: 'zuf' },
            tiers: t.counters,
          })),
        ],
      },
    };
  });
  let signals = 0;
  const stop = (sig: string): void => {
    if (++signals > 1) process.exit(1);
    log.info({ sig }, 'zuf: BREAK_ALL and exit');
    void server.stop();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.send?.({ ready: true, mounts: [root] });
  process.disconnect?.();
  await server.exited;
  ctl.server.close();
  rmSync(ctl.path, { force: true });
  log.info('zusd (zuf) stopped');
  log.flush();
  // Every mount is gone and every worker has exited: nothing may keep a stopped daemon alive. If a
  // handle still does, say which, then exit anyway.
  setTimeout(() => {
    log.warn({ handles: process.getActiveResourcesInfo() }, 'zuf: handles still open 2 s after stopping; exiting anyway');
    log.flush();
    process.exit(0);
  }, 2000).unref();
}
