// A blocking thread of the zuf transport: either a ZT (pinned to one CPU, registered as channel
// (cpu, n), looping on ZU_IOC_WAIT_OPT with its op buffer mmap'd) or the mount thread (registers
// the fs types, loops on ZU_IOC_MOUNT). It blocks in synchronous koffi calls — never on libuv's
// pool — and parks on an Atomics.wait while the main thread answers in place.
import koffi from 'koffi';
import { parentPort, workerData } from 'node:worker_threads';
import { errno as E } from '../../fs/errors.js';
import { pinCurrentThread } from '../sys/affinity.js';
import { close, errno, ioctl, mmapChecked, MAP_SHARED, PROT_READ, PROT_WRITE } from '../sys/libc.js';
import {
  ZUFS_FEATURE_ASYNC, ZUFS_FEATURE_NIO, ZUFS_FEATURE_OPBUF_IO, ZUFS_FEATURE_POOLS, ZUFS_FEATURE_T1, ZUFS_M_BREAK, ZUFS_MAJOR_VERSION, ZUFS_MINOR_VERSION, ZUFS_OP_BREAK,
  ZU_IOC_INIT_THREAD, ZU_IOC_MOUNT, ZU_IOC_NUMA_MAP, ZU_IOC_REGISTER_FS, ZU_IOC_WAIT_OPT, register_fs_info,
  zufs_ioc_hdr, zufs_ioc_init, zufs_ioc_mount, zufs_ioc_numa_map, zufs_ioc_register_fs,
} from '../abi/zus-api.js';
import { openSpecial } from './sys-extra.js';

export interface ZtWorkerData {
  role: 'zt';
  root: string;
  cpu: number;
  channel: number;
  opBufSize: number;
  /** Int32Array over it: [0] = 1 when the main thread has written the reply; [1] = 1 to stop. */
  ctl: SharedArrayBuffer;
}

export interface MountWorkerData {
  role: 'mount';
  root: string;
  types: { fsname: string; magic: number; async: boolean }[];
  ctl: SharedArrayBuffer;
  /** zufs_ioc_mount bytes, shared with the main thread. */
  buf: SharedArrayBuffer;
}

export type WorkerNotice =
  | { kind: 'ready'; addr: bigint; size: number; cpu: number }
  | { kind: 'registered'; onlineCpus: number; kernMajor: number; kernMinor: number; kernFeatures: bigint }
  | { kind: 'op' }
  | { kind: 'mount' }
  | { kind: 'exit'; reason: string }
  | { kind: 'failed'; errno: number; message: string };

const port = parentPort!;
const post = (m: WorkerNotice): void => port.postMessage(m);

function fail(e: unknown): never {
  const err = e as { errno?: number; message?: string };
  post({ kind: 'failed', errno: err.errno ?? E.EIO, message: err.message ?? String(e) });
  process.exit(1);
}

/** Parks until the main thread answered (ctl[0] = 1); false if asked to stop. */
function awaitReply(ctl: Int32Array): boolean {
  for (;;) {
    if (Atomics.load(ctl, 1) === 1) return false;
    if (Atomics.load(ctl, 0) === 1) return true;
    Atomics.wait(ctl, 0, 0, 1000);
  }
}

function runZt(d: ZtWorkerData): void {
  const ctl = new Int32Array(d.ctl);
  let fd = -1;
  let view: DataView;
  try {
    pinCurrentThread(d.cpu);
    fd = openSpecial(d.root);
    const init = Buffer.alloc(zufs_ioc_init.size);
    init.writeUInt32LE(d.channel, zufs_ioc_init.fields.channel_no);
    init.writeUInt32LE(d.opBufSize, zufs_ioc_init.fields.max_command);
    if (ioctl(fd, ZU_IOC_INIT_THREAD, init) < 0) throw Object.assign(new Error('ZU_IOC_INIT_THREAD'), { errno: errno() });
    const cpu = init.readUInt32LE(zufs_ioc_init.fields.cpu);
    const size = init.readUInt32LE(zufs_ioc_init.fields.op_buf_size);
    const p = mmapChecked(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const addr = koffi.address(p);
    view = new DataView(koffi.view(p, size));
    post({ kind: 'ready', addr, size, cpu });
  } catch (e) {
    fail(e);
  }
  const arg = Buffer.alloc(zufs_ioc_hdr.size);
  for (;;) {
    if (ioctl(fd, ZU_IOC_WAIT_OPT, arg) < 0) {
      const no = errno();
      if (no === E.EINTR || no === E.EAGAIN) {
        if (Atomics.load(ctl, 1) === 1) break;
        continue;
      }
      post({ kind: 'failed', errno: no, message: 'ZU_IOC_WAIT_OPT' });
      break;
    }
    if (view.getUint16(zufs_ioc_hdr.fields.operation, true) === ZUFS_OP_BREAK) break;
    Atomics.store(ctl, 0, 0);
    post({ kind: 'op' });
    if (!awaitReply(ctl)) break;
  }
  close(fd);
  post({ kind: 'exit', reason: 'break' });
}

function runMount(d: MountWorkerData): void {
  const ctl = new Int32Array(d.ctl);
  const shared = new Uint8Array(d.buf);
  let fd = -1;
  try {
    fd = openSpecial(d.root);
    let kernMajor = 0;
    let kernMinor = 0;
    let kernFeatures = 0n;
    const nio = ZUFS_FEATURE_T1 | ZUFS_FEATURE_NIO;
    d.types.forEach((t, i) => {
      const rf = Buffer.alloc(zufs_ioc_register_fs.size);
      const rfi = zufs_ioc_register_fs.fields.rfi;
      rf.writeBigUInt64LE(BigInt(i + 1), zufs_ioc_register_fs.fields.zus_zfi);
      rf.write(t.fsname, rfi + register_fs_info.fields.fsname, 15, 'latin1');
      rf.writeUInt32LE(t.magic >>> 0, rfi + register_fs_info.fields.FS_magic);
      rf.writeUInt16LE(ZUFS_MAJOR_VERSION, rfi + register_fs_info.fields.api_major);
      rf.writeUInt16LE(ZUFS_MINOR_VERSION, rfi + register_fs_info.fields.api_minor);
      rf.writeUInt32LE(1, rfi + register_fs_info.fields.s_time_gran);
      const register = (features: bigint): void => {
        rf.writeBigUInt64LE(features, rfi + register_fs_info.fields.features);
        if (ioctl(fd, ZU_IOC_REGISTER_FS, rf) < 0) {
          throw Object.assign(new Error(`ZU_IOC_REGISTER_FS ${t.fsname} (kernel ABI ${rf.readUInt16LE(zufs_ioc_register_fs.fields.kern_major)}.${rf.readUInt16LE(zufs_ioc_register_fs.fields.kern_minor)})`), { errno: errno() });
        }
      };
      const base = ZUFS_FEATURE_POOLS | ZUFS_FEATURE_OPBUF_IO | (t.async ? ZUFS_FEATURE_ASYNC : 0n);
      // t1 and NIO reads when the kernel has them; an older kernel refuses unknown features
      // (EOPNOTSUPP) and gets the base set
      try {
        register(base | nio);
      } catch (e) {
        if ((e as { errno?: number }).errno !== E.EOPNOTSUPP) throw e;
        register(base);
      }
      kernFeatures = rf.readBigUInt64LE(zufs_ioc_register_fs.fields.kern_features);
      kernMajor = rf.readUInt16LE(zufs_ioc_register_fs.fields.kern_major);
      kernMinor = rf.readUInt16LE(zufs_ioc_register_fs.fields.kern_minor);
    });
    const nm = Buffer.alloc(zufs_ioc_numa_map.size);
    const onlineCpus = ioctl(fd, ZU_IOC_NUMA_MAP, nm) < 0 ? 0 : nm.readUInt32LE(zufs_ioc_numa_map.fields.online_cpus);
    post({ kind: 'registered', onlineCpus, kernMajor, kernMinor, kernFeatures });
  } catch (e) {
    fail(e);
  }
  const mbuf = Buffer.alloc(zufs_ioc_mount.size);
  for (;;) {
    if (ioctl(fd, ZU_IOC_MOUNT, mbuf) < 0) {
      const no = errno();
      if (no === E.EINTR || no === E.EAGAIN) {
        if (Atomics.load(ctl, 1) === 1) break;
        continue;
      }
      post({ kind: 'failed', errno: no, message: 'ZU_IOC_MOUNT' });
      break;
    }
    if (mbuf.readUInt16LE(zufs_ioc_hdr.fields.operation) === ZUFS_M_BREAK) break;
    shared.set(mbuf);
    Atomics.store(ctl, 0, 0);
    post({ kind: 'mount' });
    if (!awaitReply(ctl)) break;
    mbuf.set(shared);
  }
  close(fd);
  post({ kind: 'exit', reason: 'break' });
}

const d = workerData as ZtWorkerData | MountWorkerData;
if (d.role === 'zt') runZt(d);
else runMount(d);
