// t2: the spill tier (a block device or a regular file), slots of the same size as t1's in the
// data area of each member. Only clean chunks live here (dirty ones stay pinned in t1), so t2 needs
// no journal: after a crash its contents are simply forgotten. A chunk moves between a t1 slot and
// a t2 slot in one copy: here with asynchronous positional I/O from and to the t1 mapping (a slow
// disk never blocks the event loop), or, over zuf, by the kernel's t2 engine (T2Engine), in which
// case this process never reads or writes t2.
import { promises as fsp } from 'node:fs';
import { errno, fsError } from '../fs/errors.js';
import { ZUFS_DT_BLOCK_SIZE, ZUFS_DT_DATA_OFFSET } from './device-table.js';
import { type OpenMember, SlotAllocator, type T1Space } from './t1.js';

/** zuf.ko's t2 engine (ZU_IOC_IOMAP_EXEC): moves whole 4 KiB blocks between t1 and a t2 member. */
export interface T2Engine {
  /** `blocks` blocks from t1 byte `t1Off` to byte `t2Off` of t2 member `member` (`toT2`), or back. */
  move(toT2: boolean, member: number, t2Off: number, t1Off: number, blocks: number): void;
}

export class T2Space {
  readonly allocator: SlotAllocator;
  /** Slot → [member index, byte offset]. */
  private readonly where: { m: number; off: number }[] = [];

  constructor(
    readonly members: OpenMember[],
    readonly slotSize: number,
    private readonly handles: fsp.FileHandle[],
    private readonly t1: T1Space,
    readonly engine?: T2Engine,
  ) {
    for (const [i, m] of members.entries()) {
      const n = Math.floor((m.bytes - ZUFS_DT_DATA_OFFSET) / slotSize);
      for (let s = 0; s < n; s++) this.where.push({ m: i, off: ZUFS_DT_DATA_OFFSET + s * slotSize });
    }
    this.allocator = new SlotAllocator(this.where.length);
  }

  get slots(): number {
    return this.where.length;
  }

  /** Copies the first `len` bytes of t1 slot `t1Slot` into t2 slot `slot`. */
  async write(slot: number, t1Slot: number, len: number): Promise<void> {
    const w = this.where[slot]!;
    if (this.engine) return this.engine.move(true, w.m, w.off, this.t1.deviceOffset(t1Slot), Math.ceil(len / ZUFS_DT_BLOCK_SIZE));
    const data = this.t1.view(t1Slot).subarray(0, len);
    let done = 0;
    while (done < len) {
      const { bytesWritten } = await this.handles[w.m]!.write(data, done, len - done, w.off + done);
      if (bytesWritten <= 0) throw fsError(errno.EIO, `t2 ${this.members[w.m]!.path}: short write`);
      done += bytesWritten;
    }
  }

  /** Copies the first `len` bytes of t2 slot `slot` into t1 slot `t1Slot` (whole 4 KiB blocks with
   * the engine: bytes past `len` in the last one are what the spill wrote there). */
  async read(slot: number, t1Slot: number, len: number): Promise<void> {
    const w = this.where[slot]!;
    if (this.engine) return this.engine.move(false, w.m, w.off, this.t1.deviceOffset(t1Slot), Math.ceil(len / ZUFS_DT_BLOCK_SIZE));
    const dst = this.t1.view(t1Slot);
    let done = 0;
    while (done < len) {
      const { bytesRead } = await this.handles[w.m]!.read(dst, done, len - done, w.off + done);
      if (bytesRead <= 0) throw fsError(errno.EIO, `t2 ${this.members[w.m]!.path}: short read`);
      done += bytesRead;
    }
  }
}
