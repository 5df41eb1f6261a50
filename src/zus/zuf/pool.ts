// The zus_inode pool of one super block: pool memory allocated through the kernel
// (ZU_IOC_ALLOC_POOL on a special file of its own, keyed by sb_id + sb_key) and mmap'd here; one
// 128-byte slot per inode the kernel holds, addressed by a dpp_t (offset | pool number).
import koffi from 'koffi';
import { FsError, errno } from '../../fs/errors.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, mmapChecked, munmap } from '../sys/libc.js';
import { ZUFS_INODE_SIZE, ZU_IOC_ALLOC_POOL, zu_enc_dpp_t, zufs_ioc_alloc_pool, zus_inode } from '../abi/zus-api.js';
import { closeQuiet, openSpecial, zufIoctl } from './sys-extra.js';
import { writeZusInode, type ZiAttr } from '../abi/codec.js';

export class ZiPool {
  private readonly slots = new Map<number, number>(); // ino -> slot
  private readonly free: number[] = [];
  private next = 1; // slot 0 stays unused: a zero dpp offset is never handed out
  private closed = false; // after close() the memory is unmapped: never touch dv again

  private constructor(
    readonly dv: DataView,
    readonly poolNo: number,
    readonly size: number,
    private readonly onClose: () => void,
  ) {}

  /** Pool memory not shared with a kernel: for host tests of the op handlers. */
  static anonymous(poolNo: number, size: number): ZiPool {
    return new ZiPool(new DataView(new ArrayBuffer(size)), poolNo, size, () => undefined);
  }

  static open(root: string, sbId: bigint, sbKey: bigint, poolNo: number, size: number): ZiPool {
    const fd = openSpecial(root);
    try {
      const a = Buffer.alloc(zufs_ioc_alloc_pool.size);
      const f = zufs_ioc_alloc_pool.fields;
      a.writeBigUInt64LE(sbId, f.sb_id);
      a.writeBigUInt64LE(sbKey, f.sb_key);
      a.writeUInt32LE(poolNo, f.pool_no);
      a.writeBigUInt64LE(BigInt(size), f.size);
      zufIoctl(fd, ZU_IOC_ALLOC_POOL, a, 'ZU_IOC_ALLOC_POOL');
      const got = Number(a.readBigUInt64LE(f.pool_size));
      const ptr = mmapChecked(got, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      return new ZiPool(new DataView(koffi.view(ptr, got)), poolNo, got, () => {
        munmap(ptr, got);
        closeQuiet(fd);
      });
    } catch (e) {
      closeQuiet(fd);
      throw e;
    }
  }

  /** Writes the attributes of `a.ino` into its slot (allocated on first use); returns the dpp_t. */
  put(a: ZiAttr, symlink?: Uint8Array): bigint {
    if (this.closed) throw new FsError(errno.ESTALE, 'super block unmounted');
    let slot = this.slots.get(a.ino);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.next++;
      if ((slot + 1) * ZUFS_INODE_SIZE > this.size) {
        this.next--;
        throw new FsError(errno.ENOSPC, 'zus_inode pool full');
      }
      this.slots.set(a.ino, slot);
    }
    writeZusInode(this.dv, slot * ZUFS_INODE_SIZE, a, symlink);
    return zu_enc_dpp_t(slot * ZUFS_INODE_SIZE, this.poolNo);
  }

  has(ino: number): boolean {
    return !this.closed && this.slots.has(ino);
  }

  offsetOf(ino: number): number | undefined {
    if (this.closed) return undefined;
    const s = this.slots.get(ino);
    return s === undefined ? undefined : s * ZUFS_INODE_SIZE;
  }

  /** Another gateway changed a name in directory `ino`: the kernel looks its dentries up again. */
  bumpNamesGen(ino: number): void {
    const off = this.offsetOf(ino);
    if (off === undefined) return;
    const at = off + zus_inode.fields['i_dir.names_gen'];
    this.dv.setBigUint64(at, this.dv.getBigUint64(at, true) + 1n, true);
  }

  /** The kernel evicted the inode: its slot may be reused. */
  release(ino: number): void {
    if (this.closed) return;
    const slot = this.slots.get(ino);
    if (slot === undefined) return;
    this.slots.delete(ino);
    new Uint8Array(this.dv.buffer, slot * ZUFS_INODE_SIZE, ZUFS_INODE_SIZE).fill(0);
    this.free.push(slot);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}
