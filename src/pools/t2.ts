// t2: the spill tier (a block device or a regular file), slots of the same size as t1's in the
// data area of each member, read and written with asynchronous positional I/O so a slow disk never
// blocks the event loop. Only clean chunks live here (dirty ones stay pinned in t1), so t2 needs no
// journal: after a crash its contents are simply forgotten.
import { promises as fsp } from 'node:fs';
import { errno, fsError } from '../fs/errors.js';
import { ZUFS_DT_DATA_OFFSET } from './device-table.js';
import { type OpenMember, SlotAllocator } from './t1.js';

export class T2Space {
  readonly allocator: SlotAllocator;
  /** Slot → [member index, byte offset]. */
  private readonly where: { m: number; off: number }[] = [];
  private readonly handles: fsp.FileHandle[];

  constructor(
    readonly members: OpenMember[],
    readonly slotSize: number,
    handles: fsp.FileHandle[],
  ) {
    this.handles = handles;
    for (const [i, m] of members.entries()) {
      const n = Math.floor((m.bytes - ZUFS_DT_DATA_OFFSET) / slotSize);
      for (let s = 0; s < n; s++) this.where.push({ m: i, off: ZUFS_DT_DATA_OFFSET + s * slotSize });
    }
    this.allocator = new SlotAllocator(this.where.length);
  }

  get slots(): number {
    return this.where.length;
  }

  async write(slot: number, data: Buffer): Promise<void> {
    const w = this.where[slot]!;
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handles[w.m]!.write(data, done, data.length - done, w.off + done);
      if (bytesWritten <= 0) throw fsError(errno.EIO, `t2 ${this.members[w.m]!.path}: short write`);
      done += bytesWritten;
    }
  }

  /** Reads `len` bytes of the slot into `dst`. */
  async read(slot: number, dst: Buffer, len: number): Promise<void> {
    const w = this.where[slot]!;
    let done = 0;
    while (done < len) {
      const { bytesRead } = await this.handles[w.m]!.read(dst, done, len - done, w.off + done);
      if (bytesRead <= 0) throw fsError(errno.EIO, `t2 ${this.members[w.m]!.path}: short read`);
      done += bytesRead;
    }
  }
}
