// The zuf transport's server side: starts the mount thread and one pinned ZT worker per (CPU,
// channel), answers mount/umount jobs (a filesystem per super block, a zus_inode pool each) and
// runs every ZT op on this (main) thread against the mount's ZusOperations, replying in place in
// the channel's op buffer, which is mapped here too (koffi.view of the worker's mmap address).
import koffi from 'koffi';
import { Worker } from 'node:worker_threads';
import type { ZusOperations } from '../../fs/operations.js';
import { PosixFs } from '../../fs/posix-fs.js';
import { errno, toErrno } from '../../fs/errors.js';
import { allowedCpus } from '../sys/affinity.js';
import {
  EZUFS_ASYNC, ZUFS_DPP_POOL_FIRST, ZUFS_ERRNO_MAX, ZUFS_FEATURE_IOMAP_EXEC, ZUFS_FEATURE_NIO, ZUFS_FEATURE_T1, ZUFS_FSC_CLOSE_SYNC, ZUFS_FSC_NIO_READS, ZUFS_FSC_NIO_WRITES, ZUFS_FSC_XATTR, ZUFS_M_ADD_CHANNEL, ZUFS_M_MOUNT, ZUFS_M_RDONLY, ZUFS_M_UMOUNT,
  ZUFS_MAX_ZT_CHANNELS, ZUFS_OP_BUF_DEF, ZUFS_OP_MAX_OPT, ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_STATFS, ZU_IOC_ASYNC_DONE, ZU_IOC_BREAK_ALL,
  zufs_ioc_async_done, zufs_ioc_break_all, zufs_ioc_hdr, zufs_ioc_mount, zufs_mount_info,
} from '../abi/zus-api.js';
import { COOKIE_SHIFT } from './handlers.js';
import { makeCookie, opTable, publish, refresh, type Ctx, type SbState } from './handlers.js';
import { ZiPool } from './pool.js';
import { NioGrab, NioMount, tieredStoreOf, type NioCounters } from './nio.js';
import type { KernelTiers } from '../../pools/format.js';
import type { TierStats } from '../../pools/tiered-chunk-store.js';
import { closeQuiet, openSpecial, zufIoctl } from './sys-extra.js';
import type { MountWorkerData, WorkerNotice, ZtWorkerData } from './zuf-worker.js';

/** What a filesystem factory learns about a kernel-initiated mount. */
export interface ZufMountRequest {
  fsType: string;
  config: string; // -o config=PATH ('' if absent)
  options: string; // the rest of -o, verbatim
  readOnly: boolean;
  sbId: bigint;
  sbKey: bigint;
  /** Set when the kernel offers t1 and NIO: pass it to openTiers (tiers: mounts), which hands it
   * the t1 members (it grabs a single pmem device for the kernel and answers the fd to map the t1
   * slots from) and then the t2 members (the kernel's t2 engine takes them over). */
  kernelTiers?: KernelTiers;
}

export interface ZufServeOptions {
  root?: string; // where the zuf root is mounted (default /sys/fs/zuf)
  /** fs type name ("zufs-mem") → the filesystem to serve for each mount of that type. */
  types: Record<string, (req: ZufMountRequest) => Promise<ZusOperations> | ZusOperations>;
  channelsPerCpu?: number; // foreground ZT channels per CPU at start (1..2), default 1
  /** Foreground channels a CPU may grow to when the kernel finds them all busy (ZUFS_M_ADD_CHANNEL);
   * default 4, at most ZUFS_MAX_ZT_CHANNELS - 1. */
  maxChannelsPerCpu?: number;
  cpus?: number[]; // default: the CPUs this process may run on
  opBufSize?: number;
  poolSize?: number; // bytes of zus_inode pool per super block (128 bytes per cached inode)
  /** fs type → ms: an op of that type still running after this long is answered -EZUFS_ASYNC,
   * its channel freed, and completed later with ZU_IOC_ASYNC_DONE (network backends). */
  asyncAfterMs?: Record<string, number>;
  log?: (msg: string) => void;
}

export interface ZufStats {
  transport: 'zuf';
  channels: { cpu: number; channel: number; served: number }[];
  ops: Record<string, number>;
  mounts: number;
  asyncReplies: number;
  /** NIO: pages GET_MULTY answered mapped; ZU_IOC_UNMAP calls (and the failed ones). */
  nioMaps: number;
  nioUnmaps: number;
  nioUnmapErrors: number;
  /** NIO writes: PUT_MULTY answered, and those refused (-ESTALE: revoked first, written again). */
  nioPuts: number;
  nioPutsStale: number;
  /** The t1/t2 counters of each mounted super block with tiers. */
  tiers: { sb: number; fsType: string; config: string; counters: TierStats }[];
}

interface Chan {
  cpu: number;
  channel: number;
  worker: Worker;
  ctl: Int32Array;
  ctx?: Ctx;
  served: number;
}

const H = zufs_ioc_hdr.fields;
const M = zufs_mount_info.fields;
const ZMI = zufs_ioc_mount.fields.zmi;

function workerFor(data: ZtWorkerData | MountWorkerData): Worker {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new Worker(new URL('../fuse/worker-boot.mjs', here), { workerData: { ...data, entry: new URL('./zuf-worker.ts', here).href } })
    : new Worker(new URL('./zuf-worker.js', here), { workerData: data });
}

function cstr(dv: DataView, at: number, max: number): string {
  const u = new Uint8Array(dv.buffer, dv.byteOffset + at, max);
  const end = u.indexOf(0);
  return Buffer.from(u.subarray(0, end < 0 ? max : end)).toString('utf8');
}

/** The errno range rule of zus_api.h: anything a filesystem throws becomes -1..-ZUFS_ERRNO_MAX. */
function replyErr(e: unknown): number {
  const no = toErrno(e);
  return no >= 1 && no <= ZUFS_ERRNO_MAX ? -no : -errno.EIO;
}

export class ZufServer {
  private readonly root: string;
  private readonly chans: Chan[] = [];
  private readonly sbs = new Map<number, SbState>();
  private readonly opCounts = new Array<number>(ZUFS_OP_MAX_OPT).fill(0);
  private mountWorker: Worker | undefined;
  private mountCtl: Int32Array | undefined;
  private mountDv: DataView | undefined;
  private nextSb = 1;
  private asyncReplies = 0;
  private kernFeatures = 0n;
  private readonly nioCounters: NioCounters = { maps: 0, unmaps: 0, unmapErrors: 0, puts: 0, putsStale: 0 };
  private ctlFd = -1;
  private running = 0;
  private resolveExit!: () => void;
  private stopping = false;
  /** Resolves when every worker has exited (BREAK_ALL, stop(), or the kernel side went away). */
  readonly exited: Promise<void>;

  constructor(private readonly opts: ZufServeOptions) {
    this.root = opts.root ?? '/sys/fs/zuf';
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  private track(w: Worker): void {
    this.running++;
    w.on('error', (e) => this.log(`zuf worker error: ${e.message}`));
    w.on('exit', () => {
      if (--this.running === 0) this.resolveExit();
    });
  }

  async start(): Promise<void> {
    await this.startMountThread();
    const cpus = this.opts.cpus ?? allowedCpus();
    const per = Math.min(Math.max(this.opts.channelsPerCpu ?? 1, 1), 2);
    const ready: Promise<void>[] = [];
    for (const cpu of cpus) for (let ch = 0; ch < per; ch++) ready.push(this.startZt(cpu, ch));
    await Promise.all(ready);
    this.log(`zuf: ${this.chans.length} ZT channels on CPUs ${cpus.join(',')}`);
  }

  private startMountThread(): Promise<void> {
    const ctl = new SharedArrayBuffer(8);
    const buf = new SharedArrayBuffer(zufs_ioc_mount.size);
    this.mountCtl = new Int32Array(ctl);
    this.mountDv = new DataView(buf);
    const types = Object.keys(this.opts.types).map((fsname) => ({ fsname, magic: 0x5a554653, async: this.opts.asyncAfterMs?.[fsname] !== undefined }));
    const w = workerFor({ role: 'mount', root: this.root, types, ctl, buf });
    this.mountWorker = w;
    this.track(w);
    return new Promise((resolve, reject) => {
      w.on('message', (m: WorkerNotice) => {
        if (m.kind === 'registered') {
          this.kernFeatures = m.kernFeatures;
          this.log(`zuf: registered ${types.map((t) => t.fsname).join(', ')} (kernel ABI ${m.kernMajor}.${m.kernMinor}, ${m.onlineCpus} CPUs)`);
          resolve();
        } else if (m.kind === 'failed') {
          reject(Object.assign(new Error(`zuf mount thread: ${m.message}`), { errno: m.errno }));
        } else if (m.kind === 'mount') {
          void this.onMount();
        }
      });
      w.on('exit', () => reject(new Error('zuf mount thread exited')));
    });
  }

  private startZt(cpu: number, channel: number): Promise<void> {
    const ctlSab = new SharedArrayBuffer(8);
    const w = workerFor({ role: 'zt', root: this.root, cpu, channel, opBufSize: this.opts.opBufSize ?? ZUFS_OP_BUF_DEF, ctl: ctlSab });
    const chan: Chan = { cpu, channel, worker: w, ctl: new Int32Array(ctlSab), served: 0 };
    this.track(w);
    return new Promise((resolve, reject) => {
      w.on('message', (m: WorkerNotice) => {
        if (m.kind === 'op') void this.onOp(chan);
        else if (m.kind === 'ready') {
          const ab = koffi.view(m.addr, m.size);
          chan.ctx = { dv: new DataView(ab), u8: new Uint8Array(ab), sbs: this.sbs };
          chan.cpu = m.cpu;
          this.chans.push(chan);
          resolve();
        } else if (m.kind === 'failed') reject(Object.assign(new Error(`ZT(${cpu}.${channel}): ${m.message}`), { errno: m.errno }));
      });
      w.on('exit', () => reject(new Error(`ZT(${cpu}.${channel}) exited`)));
    });
  }

  /** The super block an op belongs to (its first field is a cookie, or the sb index for STATFS). */
  private sbOf(dv: DataView, op: number): SbState | undefined {
    const v = dv.getBigUint64(zufs_ioc_hdr.size, true);
    return this.sbs.get(Number(op === ZUFS_OP_STATFS ? v : v >> COOKIE_SHIFT));
  }

  private async onOp(chan: Chan): Promise<void> {
    const ctx = chan.ctx!;
    const op = ctx.dv.getUint16(H.operation, true);
    const sb = this.sbOf(ctx.dv, op);
    const asyncMs = sb && this.opts.asyncAfterMs?.[sb.fsType];
    if (asyncMs !== undefined && sb) return this.onOpAsync(chan, op, sb, asyncMs);
    chan.served++;
    let err = 0;
    try {
      const h = op < opTable.length ? opTable[op] : undefined;
      if (!h) err = -errno.ENOSYS;
      else {
        this.opCounts[op]!++;
        await h(ctx);
      }
    } catch (e) {
      err = replyErr(e);
    }
    ctx.dv.setInt32(H.err, err, true);
    if (err) ctx.dv.setUint32(H.len, 0, true);
    Atomics.store(chan.ctl, 0, 1);
    Atomics.notify(chan.ctl, 0);
  }

  /**
   * Runs the op on a private copy of the request; if it is not done within `ms`, answers
   * -EZUFS_ASYNC (the channel serves others) and completes it later with ZU_IOC_ASYNC_DONE.
   */
  private async onOpAsync(chan: Chan, op: number, sb: SbState, ms: number): Promise<void> {
    const shared = chan.ctx!;
    const inLen = shared.dv.getUint16(H.in_len, true);
    const payloadLen = shared.dv.getUint32(H.len, true);
    const ab = new ArrayBuffer(ZUFS_OP_PAYLOAD_OFF + payloadLen);
    const priv: Ctx = { dv: new DataView(ab), u8: new Uint8Array(ab), sbs: this.sbs };
    priv.u8.set(shared.u8.subarray(0, ZUFS_OP_PAYLOAD_OFF + payloadLen));
    chan.served++;
    this.opCounts[op]!++;
    const h = op < opTable.length ? opTable[op] : undefined;
    const run = h ? h(priv).then(() => 0, replyErr) : Promise.resolve(-errno.ENOSYS);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'async'>((r) => (timer = setTimeout(() => r('async'), ms)));
    const first = await Promise.race([run, late]);
    clearTimeout(timer);
    const finish = (err: number): number => {
      priv.dv.setInt32(H.err, err, true);
      if (err) priv.dv.setUint32(H.len, 0, true);
      return err ? 0 : priv.dv.getUint32(H.len, true);
    };
    if (first !== 'async') {
      const n = finish(first);
      shared.u8.set(priv.u8.subarray(0, inLen));
      shared.u8.set(priv.u8.subarray(ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_PAYLOAD_OFF + n), ZUFS_OP_PAYLOAD_OFF);
    } else {
      this.asyncReplies++;
      shared.dv.setInt32(H.err, -EZUFS_ASYNC, true);
      shared.dv.setUint32(H.len, 0, true);
    }
    Atomics.store(chan.ctl, 0, 1);
    Atomics.notify(chan.ctl, 0);
    if (first !== 'async') return;

    const n = finish(await run);
    const A = zufs_ioc_async_done.fields;
    const buf = Buffer.alloc(zufs_ioc_async_done.size + inLen + n);
    buf.writeBigUInt64LE(sb.sbId, A.sb_id);
    buf.writeBigUInt64LE(sb.sbKey, A.sb_key);
    buf.writeBigUInt64LE(priv.dv.getBigUint64(H.op_id, true), A.op_id);
    buf.writeUInt32LE(inLen, A.reply_size);
    buf.writeUInt32LE(n, A.payload_len);
    buf.set(priv.u8.subarray(0, inLen), zufs_ioc_async_done.size);
    buf.set(priv.u8.subarray(ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_PAYLOAD_OFF + n), zufs_ioc_async_done.size + inLen);
    try {
      if (this.ctlFd < 0) this.ctlFd = openSpecial(this.root);
      zufIoctl(this.ctlFd, ZU_IOC_ASYNC_DONE, buf, 'ZU_IOC_ASYNC_DONE');
    } catch (e) {
      // the application was killed, or the op was failed at shutdown: nothing left to answer
      this.log(`zuf: async completion of op ${op}: ${(e as Error).message}`);
    }
  }

  private async onMount(): Promise<void> {
    const dv = this.mountDv!;
    const op = dv.getUint16(H.operation, true);
    let err = 0;
    try {
      if (op === ZUFS_M_MOUNT) await this.mount(dv);
      else if (op === ZUFS_M_UMOUNT) await this.umount(dv);
      else if (op === ZUFS_M_ADD_CHANNEL) err = await this.addChannel(dv);
      else err = -errno.EINVAL;
    } catch (e) {
      this.log(`zuf: mount op ${op} failed: ${(e as Error).message}`);
      err = replyErr(e);
    }
    dv.setInt32(H.err, err, true);
    Atomics.store(this.mountCtl!, 0, 1);
    Atomics.notify(this.mountCtl!, 0);
  }

  private async mount(dv: DataView): Promise<void> {
    const zfi = Number(dv.getBigUint64(ZMI + M.zus_zfi, true));
    const fsType = Object.keys(this.opts.types)[zfi - 1];
    if (!fsType) throw Object.assign(new Error(`unknown fs cookie ${zfi}`), { errno: errno.ENODEV });
    const sbId = dv.getBigUint64(ZMI + M.sb_id, true);
    const sbKey = dv.getBigUint64(ZMI + M.sb_key, true);
    const kernelNio = (this.kernFeatures & (ZUFS_FEATURE_T1 | ZUFS_FEATURE_NIO)) === (ZUFS_FEATURE_T1 | ZUFS_FEATURE_NIO);
    const grab = kernelNio ? new NioGrab(this.root, sbId, sbKey, (this.kernFeatures & ZUFS_FEATURE_IOMAP_EXEC) !== 0n) : undefined;
    const req: ZufMountRequest = {
      fsType,
      config: cstr(dv, ZMI + M.config, 256),
      options: cstr(dv, ZMI + M.mount_options, 512),
      readOnly: (dv.getUint32(ZMI + M.mount_flags, true) & ZUFS_M_RDONLY) !== 0,
      sbId,
      sbKey,
      ...(grab && { kernelTiers: grab }),
    };
    let fs: ZusOperations;
    let pool: ZiPool;
    try {
      fs = await this.opts.types[fsType]!(req);
    } catch (e) {
      grab?.close();
      throw e;
    }
    try {
      pool = ZiPool.open(this.root, sbId, sbKey, ZUFS_DPP_POOL_FIRST, this.opts.poolSize ?? 8 << 20);
    } catch (e) {
      await fs.destroy().catch(() => undefined);
      grab?.close();
      throw e;
    }
    const idx = this.nextSb++;
    const nio = this.nioFor(grab, fs, sbId, sbKey);
    const sb: SbState = { idx, fs, pool, fsType, sbId, sbKey, config: req.config, ...(nio && { nio }), ...(grab && { t1Grab: grab }) };
    try {
      const rootAttr = await fs.getattr(fs.rootIno);
      this.sbs.set(idx, sb);
      dv.setBigUint64(ZMI + M._zi, await publish(sb, rootAttr), true);
      // another gateway changed an inode: its shared zus_inode is rewritten, so the kernel's next
      // getattr sees it (its t1 blocks were revoked by the store); a name: the directory's
      // names_gen moves, so the kernel looks up that directory's dentries again
      fs.onInvalidate = async (inv) => {
        if (inv.ino !== undefined) await refresh(sb, inv.ino);
        else sb.pool.bumpNamesGen(inv.parent);
      };
    } catch (e) {
      this.sbs.delete(idx);
      pool.close();
      await fs.destroy().catch(() => undefined);
      grab?.close();
      throw e;
    }
    dv.setBigUint64(ZMI + M.zus_sbi, BigInt(idx), true);
    dv.setBigUint64(ZMI + M.zus_ii, makeCookie(idx, fs.rootIno), true);
    const closeSync = fs instanceof PosixFs && fs.flushesOnClose; // else a close has nothing to tell us
    const nioCaps = nio ? ZUFS_FSC_NIO_READS | (nio.store.writesBack ? ZUFS_FSC_NIO_WRITES : 0) : 0;
    dv.setUint32(ZMI + M.fs_caps, ZUFS_FSC_XATTR | nioCaps | (closeSync ? ZUFS_FSC_CLOSE_SYNC : 0), true);
    dv.setUint32(ZMI + M.s_blocksize_bits, 12, true);
    this.log(`zuf: mounted ${fsType} sb ${req.sbId} config=${req.config || '-'} options=${req.options || '-'}`);
  }

  /**
   * NIO reads for a new super block, or undefined (READ as before) with one log line saying why:
   * on only when the kernel has T1 | NIO, the mount has tiers, t1 is one block device that the
   * kernel grabbed (NioGrab), and the filesystem's chunks go through a tiered chunk store.
   */
  private nioFor(grab: NioGrab | undefined, fs: ZusOperations, sbId: bigint, sbKey: bigint): NioMount | undefined {
    const store = tieredStoreOf(fs);
    let why: string;
    if (!grab) why = `the kernel does not offer t1 and NIO (kern_features 0x${this.kernFeatures.toString(16)})`;
    else if (!grab.asked) why = 'the mount has no tiers: (t1 was never opened)';
    else if (grab.fd < 0) why = grab.reason;
    else if (!store) why = 'its filesystem has no tiered chunk store';
    else {
      const nio = new NioMount(store, grab.fd, sbId, sbKey, this.nioCounters, (m) => this.log(m));
      store.onRevoke = (ino, chunkIdx) => nio.revoke(ino, chunkIdx);
      const writes = store.writesBack ? 'writes on' : 'writes off (write-through tiers: WRITE goes to the store first)';
      this.log(`zuf: sb ${sbId}: NIO reads on, ${writes}: t1 ${grab.devicePath} grabbed by the kernel, its slots mapped through the special file`);
      if (store.hasT2) {
        this.log(grab.t2Paths.length ? `zuf: sb ${sbId}: t2 engine on: ${grab.t2Paths.join(', ')} held by the kernel, which moves chunks between t1 and t2` : `zuf: sb ${sbId}: t2 engine off (zusd reads and writes t2): ${grab.t2Reason}`);
      }
      return nio;
    }
    this.log(`zuf: sb ${sbId}: NIO reads off (ZUFS_OP_READ as before): ${why}`);
    return undefined;
  }

  /** Dynamic channels: the kernel found every channel of a CPU busy. Answers 0 once the new ZT
   * is registered, or a refusal (that CPU is then not asked again). */
  private async addChannel(dv: DataView): Promise<number> {
    const cpu = dv.getUint32(ZMI + M.cpu, true);
    const channel = dv.getUint32(ZMI + M.channel_no, true);
    const max = Math.min(this.opts.maxChannelsPerCpu ?? 4, ZUFS_MAX_ZT_CHANNELS - 1);
    const have = this.chans.filter((c) => c.cpu === cpu).length;
    if (this.stopping || have >= max || !(this.opts.cpus ?? allowedCpus()).includes(cpu)) {
      this.log(`zuf: CPU ${cpu} busy, no channel added (${have} there, limit ${max})`);
      return -errno.ENOSPC;
    }
    await this.startZt(cpu, channel);
    this.log(`zuf: CPU ${cpu} busy: channel ${channel} added (${have + 1} there, limit ${max})`);
    return 0;
  }

  private async umount(dv: DataView): Promise<void> {
    const idx = Number(dv.getBigUint64(ZMI + M.zus_sbi, true));
    const sb = this.sbs.get(idx);
    if (!sb) return;
    this.sbs.delete(idx);
    sb.fs.onInvalidate = undefined;
    await sb.fs.destroy();
    sb.pool.close();
    sb.t1Grab?.close(); // after the store closed: t1 is unmapped by now
    this.log(`zuf: unmounted sb ${idx}`);
  }

  stats(): ZufStats {
    const ops: Record<string, number> = {};
    this.opCounts.forEach((n, i) => {
      if (n) ops[String(i)] = n;
    });
    return {
      transport: 'zuf',
      channels: this.chans.map((c) => ({ cpu: c.cpu, channel: c.channel, served: c.served })),
      ops,
      mounts: this.sbs.size,
      asyncReplies: this.asyncReplies,
      nioMaps: this.nioCounters.maps,
      nioUnmaps: this.nioCounters.unmaps,
      nioUnmapErrors: this.nioCounters.unmapErrors,
      nioPuts: this.nioCounters.puts,
      nioPutsStale: this.nioCounters.putsStale,
      tiers: [...this.sbs.values()].flatMap((sb) => {
        const store = tieredStoreOf(sb.fs);
        return store ? [{ sb: sb.idx, fsType: sb.fsType, config: sb.config ?? '', counters: store.stats() }] : [];
      }),
    };
  }

  /** BREAK_ALL: every ZT and the mount thread return to user space and exit. */
  async stop(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    for (const c of this.chans) Atomics.store(c.ctl, 1, 1);
    if (this.mountCtl) Atomics.store(this.mountCtl, 1, 1);
    const fd = openSpecial(this.root);
    try {
      zufIoctl(fd, ZU_IOC_BREAK_ALL, Buffer.alloc(zufs_ioc_break_all.size), 'ZU_IOC_BREAK_ALL');
    } finally {
      closeQuiet(fd);
    }
    for (const c of this.chans) Atomics.notify(c.ctl, 0);
    if (this.mountCtl) Atomics.notify(this.mountCtl, 0);
    await this.exited;
    closeQuiet(this.ctlFd);
    for (const sb of this.sbs.values()) {
      await sb.fs.destroy().catch(() => undefined);
      sb.t1Grab?.close();
    }
  }
}
