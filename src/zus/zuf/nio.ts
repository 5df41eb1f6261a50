// zuf NIO, the server side: at mount, t1 (one pmem block device) is handed to the kernel with
// ZU_IOC_GRAB_PMEM and its slots are mapped through that special file, so zuf.ko and zusd share the
// same memory; GET_MULTY answers which t1 block holds each page of a file (filling the chunk first),
// for reading or, with write-back tiers, for writing; PUT_MULTY takes the bytes the kernel wrote
// into such blocks as the file's; ZU_IOC_UNMAP takes the kernel's map of a chunk back before its
// slot is reused. The t2 members go to the kernel too (ZU_IOC_GRAB_T2): chunks spilled to t2 and
// brought back are moved by its t2 engine (ZU_IOC_IOMAP_EXEC), never by this process.
import { fstatSync, fsyncSync } from 'node:fs';
import type { ZusOperations } from '../../fs/operations.js';
import { PosixFs } from '../../fs/posix-fs.js';
import { ZUFS_DT_BLOCK_SIZE } from '../../pools/device-table.js';
import type { KernelTiers } from '../../pools/format.js';
import type { OpenMember } from '../../pools/t1.js';
import type { T2Engine } from '../../pools/t2.js';
import { TieredBackend, type TieredChunkStore } from '../../pools/tiered-chunk-store.js';
import { FsError, errno } from '../../fs/errors.js';
import {
  IOM_T1_READ, IOM_T1_WRITE, IOM_T2_READ, IOM_T2_READ_LEN, IOM_T2_WRITE, IOM_T2_WRITE_LEN, ZU_IOC_GRAB_PMEM, ZU_IOC_GRAB_T2,
  ZU_IOC_IOMAP_EXEC, ZU_IOC_UNMAP, zufs_iom_word, zufs_ioc_iomap_exec, zufs_ioc_pmem, zufs_ioc_t2, zufs_ioc_unmap,
} from '../abi/zus-api.js';
import { closeQuiet, openSpecial, zufIoctl } from './sys-extra.js';

/** NIO maps 4 KiB pages: the device table's block size (t1Blocks() answers in these units). */
export const NIO_PAGE = ZUFS_DT_BLOCK_SIZE;

/** Server-wide NIO counters (zufs status). */
export interface NioCounters {
  maps: number; // pages answered mapped by GET_MULTY
  unmaps: number; // ZU_IOC_UNMAP calls
  unmapErrors: number;
  puts: number; // PUT_MULTY answered
  putsStale: number; // ... with -ESTALE
}

/** ioctl(fd, cmd, arg) as the special file sees it; tests pass a recorder instead. */
export type ZufIoctl = (fd: number, cmd: number, arg: Buffer, what: string) => void;

/** ZU_IOC_GRAB_PMEM on `fd` (a fresh special file): t1 member 0 of super block sbId is the block
 * device open as `memberFd`. Returns the device size the kernel mapped. */
export function grabPmem(fd: number, sbId: bigint, sbKey: bigint, memberFd: number, ioctl: ZufIoctl = zufIoctl): number {
  const a = Buffer.alloc(zufs_ioc_pmem.size);
  const f = zufs_ioc_pmem.fields;
  a.writeBigUInt64LE(sbId, f.sb_id);
  a.writeBigUInt64LE(sbKey, f.sb_key);
  a.writeUInt32LE(0, f.dev_index);
  a.writeInt32LE(memberFd, f.fd);
  ioctl(fd, ZU_IOC_GRAB_PMEM, a, 'ZU_IOC_GRAB_PMEM');
  return Number(a.readBigUInt64LE(f.t1_size));
}

/** ZU_IOC_GRAB_T2 on `fd`: t2 member `devIndex` (of the device table) of super block sbId is the
 * block device open as `memberFd`. Returns the member size the kernel took. */
export function grabT2(fd: number, sbId: bigint, sbKey: bigint, devIndex: number, memberFd: number, ioctl: ZufIoctl = zufIoctl): number {
  const a = Buffer.alloc(zufs_ioc_t2.size);
  const f = zufs_ioc_t2.fields;
  a.writeBigUInt64LE(sbId, f.sb_id);
  a.writeBigUInt64LE(sbKey, f.sb_key);
  a.writeUInt32LE(devIndex, f.dev_index);
  a.writeInt32LE(memberFd, f.fd);
  ioctl(fd, ZU_IOC_GRAB_T2, a, 'ZU_IOC_GRAB_T2');
  return Number(a.readBigUInt64LE(f.t2_size));
}

const T2_REF_BITS = 40n; // a t2 ref in IOMAP words: device-table index << 40 | block

/** The kernel's t2 engine for super block sbId: one ZU_IOC_IOMAP_EXEC per move (synchronous: the
 * kernel copies between pmem and the device's page cache). */
export function kernelT2Engine(fd: number, sbId: bigint, sbKey: bigint, firstIndex: number, ioctl: ZufIoctl = zufIoctl): T2Engine {
  const X = zufs_ioc_iomap_exec.fields;
  const a = Buffer.alloc(zufs_ioc_iomap_exec.size + 3 * 8);
  return {
    move(toT2, member, t2Off, t1Off, blocks) {
      a.fill(0);
      a.writeBigUInt64LE(sbId, X.sb_id);
      a.writeBigUInt64LE(sbKey, X.sb_key);
      a.writeUInt32LE(1, X.wait_for_done);
      a.writeUInt32LE(3, X.ziom + 12); // ziom.iom_n
      const ref = (BigInt(firstIndex + member) << T2_REF_BITS) | BigInt(t2Off / NIO_PAGE);
      const words = toT2
        ? [zufs_iom_word(IOM_T2_WRITE, ref), zufs_iom_word(IOM_T1_READ, BigInt(t1Off / NIO_PAGE)), zufs_iom_word(IOM_T2_WRITE_LEN, BigInt(blocks))]
        : [zufs_iom_word(IOM_T2_READ, ref), zufs_iom_word(IOM_T1_WRITE, BigInt(t1Off / NIO_PAGE)), zufs_iom_word(IOM_T2_READ_LEN, BigInt(blocks))];
      words.forEach((w, i) => a.writeBigUInt64LE(w, zufs_ioc_iomap_exec.size + 8 * i));
      ioctl(fd, ZU_IOC_IOMAP_EXEC, a, 'ZU_IOC_IOMAP_EXEC');
    },
  };
}

/**
 * The mount-time half, offered to openTiers (KernelTiers) when the kernel has T1 | NIO. It grabs t1
 * when t1 is exactly one block device and the chunk size is whole pages, and returns the special
 * file to map the slots from; otherwise it leaves t1 alone and says why (`reason`). With t1
 * grabbed and the kernel's t2 engine offered, it hands the t2 members over too (`t2Reason` says
 * why not).
 */
export class NioGrab implements KernelTiers {
  fd = -1; // the special file that grabbed t1, once it did
  asked = false; // openTiers called t1MapFd (the mount has tiers)
  reason = '';
  devicePath = '';
  t2Reason = 'no t2';
  t2Paths: string[] = []; // the t2 members the kernel took

  constructor(
    private readonly root: string,
    private readonly sbId: bigint,
    private readonly sbKey: bigint,
    private readonly kernelT2 = false, // the kernel offers ZUFS_FEATURE_IOMAP_EXEC
  ) {}

  readonly t1MapFd = (members: readonly OpenMember[], chunkSize: number): number | undefined => {
    this.asked = true;
    if (members.length !== 1) return this.refuse(`t1 has ${members.length} members (NIO maps one)`);
    const m = members[0]!;
    if (!fstatSync(m.fd).isBlockDevice()) return this.refuse(`t1 ${m.path} is not a block device (NIO needs pmem, e.g. /dev/pmem0)`);
    if (chunkSize % NIO_PAGE !== 0) return this.refuse(`chunk size ${chunkSize} is not a multiple of ${NIO_PAGE}`);
    let fd = -1;
    try {
      // dirty page-cache pages of the device (an earlier mapping through it) must not be written
      // back later over what the kernel and this process now write directly
      fsyncSync(m.fd);
      fd = openSpecial(this.root);
      const size = grabPmem(fd, this.sbId, this.sbKey, m.fd);
      if (size < m.bytes) throw new Error(`the kernel mapped ${size} bytes of ${m.path}, its device table says ${m.bytes}`);
    } catch (e) {
      closeQuiet(fd);
      return this.refuse(`grabbing t1 ${m.path} failed: ${(e as Error).message}`);
    }
    this.fd = fd;
    this.devicePath = m.path;
    return fd;
  };

  private refuse(why: string): undefined {
    this.reason = why;
    return undefined;
  }

  readonly t2Engine = (members: readonly OpenMember[], firstIndex: number): T2Engine | undefined => {
    if (!this.kernelT2) return this.refuseT2('the kernel has no t2 engine (ZUFS_FEATURE_IOMAP_EXEC)');
    const notBlock = members.find((m) => !fstatSync(m.fd).isBlockDevice());
    if (notBlock) return this.refuseT2(`t2 ${notBlock.path} is not a block device`);
    try {
      for (const [i, m] of members.entries()) grabT2(this.fd, this.sbId, this.sbKey, firstIndex + i, m.fd);
    } catch (e) {
      return this.refuseT2(`grabbing t2 failed: ${(e as Error).message}`);
    }
    this.t2Paths = members.map((m) => m.path);
    return kernelT2Engine(this.fd, this.sbId, this.sbKey, firstIndex);
  };

  private refuseT2(why: string): undefined {
    this.t2Reason = why;
    return undefined;
  }

  close(): void {
    closeQuiet(this.fd);
    this.fd = -1;
  }
}

/** The tiered chunk store under a filesystem built by openFilesystem, if it has one. */
export function tieredStoreOf(fs: ZusOperations): TieredChunkStore | undefined {
  return fs instanceof PosixFs && fs.backend instanceof TieredBackend ? fs.backend.chunks : undefined;
}

/** One mount's NIO: answers GET_MULTY from the chunk store, revokes with ZU_IOC_UNMAP. */
export class NioMount {
  private loggedUnmapError = false;

  constructor(
    readonly store: TieredChunkStore,
    private readonly fd: number, // any special file of the zuf root (the grabbing one)
    private readonly sbId: bigint,
    private readonly sbKey: bigint,
    readonly counters: NioCounters,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly ioctl: ZufIoctl = zufIoctl,
  ) {}

  /**
   * IOMAP words for pages [firstPage, firstPage + asked) of `ino`, a file of `size` bytes: one per
   * page, IOM_T1_READ (IOM_T1_WRITE when `write`) with its t1 block, or 0. Stops after the first
   * chunk with a page it does not map and, for reading, at the end of the file; answers at least
   * one word.
   */
  async map(ino: number, firstPage: number, asked: number, size: number, write = false): Promise<bigint[]> {
    const perChunk = this.store.chunkSize / NIO_PAGE;
    const lastPage = write ? firstPage + asked : Math.ceil(size / NIO_PAGE);
    const type = write ? IOM_T1_WRITE : IOM_T1_READ;
    const words: bigint[] = [];
    let page = firstPage;
    while (words.length < asked && page < lastPage) {
      const idx = Math.floor(page / perChunk);
      const inChunk = page - idx * perChunk;
      const n = Math.min(asked - words.length, perChunk - inChunk, lastPage - page);
      const blocks = await this.store.t1Blocks(ino, idx, inChunk, n, write);
      for (const bn of blocks) words.push(bn ? zufs_iom_word(type, BigInt(bn)) : 0n);
      const mapped = blocks.filter((bn) => bn !== 0).length;
      this.counters.maps += mapped;
      if (mapped < n) break;
      page += n;
    }
    if (words.length === 0) words.push(0n);
    return words;
  }

  /**
   * PUT_MULTY: the kernel wrote bytes [pos, pos + len) of `ino` into t1, consecutive from block `bn`
   * (pages it was given for writing). They become the file's as with a write of them; ESTALE when
   * any of those blocks was revoked first (the kernel writes the bytes again with WRITE). `mmap`:
   * stores through a shared mapping, opened or committed (TieredChunkStore.placed).
   */
  async put(fs: ZusOperations, ino: number, pos: number, len: number, bn: number, mmap?: 'open' | 'commit'): Promise<void> {
    if (!(fs instanceof PosixFs)) throw new FsError(errno.EINVAL, 'PUT_MULTY on a filesystem without a chunk store');
    const start = bn * NIO_PAGE + (pos % NIO_PAGE); // device byte of pos
    this.counters.puts++;
    await fs.writePlaced(ino, pos, len, async (idx, off, at, n) => {
      if (await this.store.placed(ino, idx, off, n, start + at, mmap)) return;
      this.counters.putsStale++;
      throw new FsError(errno.ESTALE, `PUT_MULTY of ino ${ino} chunk ${idx}: its t1 blocks were revoked first`);
    });
  }

  /** The chunk's slot is about to stop holding it: the kernel's map of its pages goes first. */
  revoke(ino: number, idx: number): void {
    const perChunk = this.store.chunkSize / NIO_PAGE;
    const a = Buffer.alloc(zufs_ioc_unmap.size);
    const f = zufs_ioc_unmap.fields;
    a.writeBigUInt64LE(this.sbId, f.sb_id);
    a.writeBigUInt64LE(this.sbKey, f.sb_key);
    a.writeBigUInt64LE(BigInt(ino), f.ino);
    a.writeBigUInt64LE(BigInt(idx * perChunk), f.first);
    a.writeBigUInt64LE(BigInt(perChunk), f.count);
    this.counters.unmaps++;
    try {
      this.ioctl(this.fd, ZU_IOC_UNMAP, a, 'ZU_IOC_UNMAP');
    } catch (e) {
      // the super block is going (umount) or the kernel refused: nothing here can do better
      this.counters.unmapErrors++;
      if (!this.loggedUnmapError) this.log(`zuf: NIO unmap of ino ${ino} chunk ${idx} failed: ${(e as Error).message} (further failures only counted)`);
      this.loggedUnmapError = true;
    }
  }
}
