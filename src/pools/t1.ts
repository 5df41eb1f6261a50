// t1: the fast tier (a pmem block device, a file on a DAX mount, or a shared-memory file in
// /dev/shm), mapped once with MAP_SHARED and carved into fixed-size slots. A slot holds one chunk of
// the store, so a slot is the backend's chunk size rounded up to 4 KiB (ZUFS_DT_BLOCK_SIZE): a
// cached chunk is one contiguous range that a later zuf NIO path can hand out as consecutive t1
// blocks, and the allocator is a free list of equal slots with no fragmentation. Member 0 starts
// with the journal; slots never straddle a member or a 1 GiB mapping window. On a zuf mount with NIO
// the slots are mapped from another fd (the special file that grabbed the device: mapFd) at the same
// offsets, so the kernel and this process share the memory; deviceOffset() names a slot's bytes.
import koffi from 'koffi';
import { fsError, errno } from '../fs/errors.js';
import { MAP_SHARED, mmapChecked, munmap, PROT_READ, PROT_WRITE } from '../zus/sys/libc.js';
import { ZUFS_DT_BLOCK_SIZE, ZUFS_DT_DATA_OFFSET } from './device-table.js';

/** One opened member device: its fd and size in bytes. */
export interface OpenMember {
  path: string;
  fd: number;
  bytes: number;
}

const WINDOW_BYTES = 1024 * 1024 * 1024;

export function slotSizeFor(chunkSize: number): number {
  return Math.ceil(chunkSize / ZUFS_DT_BLOCK_SIZE) * ZUFS_DT_BLOCK_SIZE;
}

/** A stack of free slot numbers; allocation and release are O(1). */
export class SlotAllocator {
  private readonly free: Int32Array;
  private top: number;
  constructor(readonly slots: number) {
    this.free = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.free[i] = slots - 1 - i;
    this.top = slots;
  }
  /** A free slot, or -1 when all are taken. */
  alloc(): number {
    return this.top === 0 ? -1 : this.free[--this.top]!;
  }
  release(slot: number): void {
    if (this.top >= this.slots) throw new RangeError('slot released twice');
    this.free[this.top++] = slot;
  }
  get used(): number {
    return this.slots - this.top;
  }
}

export class T1Space {
  readonly allocator: SlotAllocator;
  private readonly views: Buffer[] = [];
  private readonly offsets: number[] = []; // byte offset of each slot in its member device
  private readonly maps: { ptr: unknown; len: number }[] = [];
  private closed = false;

  /** `journalBytes` at the start of member 0's data area are left to the journal. `mapFd` (one
   * member only) is mapped instead of the member's own fd, at the same offsets. */
  constructor(
    readonly members: OpenMember[],
    readonly slotSize: number,
    readonly journalBytes: number,
    mapFd?: number,
  ) {
    if (mapFd !== undefined && members.length !== 1) throw fsError(errno.EINVAL, `t1: a map fd needs exactly one member, not ${members.length}`);
    const perWindow = Math.max(1, Math.floor(WINDOW_BYTES / slotSize));
    try {
      for (const [i, m] of members.entries()) {
        const start = ZUFS_DT_DATA_OFFSET + (i === 0 ? journalBytes : 0);
        let n = Math.floor((m.bytes - start) / slotSize);
        let off = start;
        while (n > 0) {
          const k = Math.min(n, perWindow);
          const len = k * slotSize;
          const ptr = mmapChecked(len, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd ?? m.fd, off);
          this.maps.push({ ptr, len });
          const buf = Buffer.from(koffi.view(ptr as never, len));
          for (let s = 0; s < k; s++) {
            this.views.push(buf.subarray(s * slotSize, (s + 1) * slotSize));
            this.offsets.push(off + s * slotSize);
          }
          off += len;
          n -= k;
        }
      }
    } catch (e) {
      this.unmap();
      throw fsError(errno.EIO, `t1 ${members[0]?.path}: cannot map: ${(e as Error).message}`, e);
    }
    if (this.views.length === 0) throw fsError(errno.ENOSPC, `t1 ${members[0]?.path}: no room for one ${slotSize}-byte slot after the journal`);
    this.allocator = new SlotAllocator(this.views.length);
  }

  get slots(): number {
    return this.views.length;
  }

  /** Byte offset of the slot's first byte in its member device (a multiple of 4 KiB). */
  deviceOffset(slot: number): number {
    return this.offsets[slot]!;
  }

  /** The slot's memory (slotSize bytes, shared with the device). Invalid after close(). */
  view(slot: number): Buffer {
    if (this.closed) throw fsError(errno.EIO, 't1 is closed');
    return this.views[slot]!;
  }

  private unmap(): void {
    for (const m of this.maps.splice(0)) munmap(m.ptr, m.len);
  }

  /** Unmaps; every view handed out must be dead by now. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.views.length = 0;
    this.unmap();
  }
}
