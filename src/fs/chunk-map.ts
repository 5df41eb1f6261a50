// Which chunks of a regular file exist, as far as this gateway knows, so that st_blocks shows
// what is stored (a sparse 5 GiB file with one written chunk is one chunk in `du`). Learned from
// chunks.list at open and kept up to date by this gateway's writes, truncates and fallocates;
// unknown files fall back to a size-based estimate.
export class ChunkMap {
  private readonly files = new Map<number, Set<number>>();

  constructor(
    private readonly chunkSize: number,
    private readonly maxFiles: number,
  ) {}

  known(ino: number): boolean {
    return this.files.has(ino);
  }

  set(ino: number, idxs: Iterable<number>): void {
    if (!this.files.has(ino) && this.files.size >= this.maxFiles) {
      const oldest = this.files.keys().next();
      if (!oldest.done) this.files.delete(oldest.value);
    }
    this.files.set(ino, new Set(idxs));
  }

  /** Chunks first..last (inclusive) now exist. */
  add(ino: number, first: number, last: number): void {
    const s = this.files.get(ino);
    if (!s) return;
    for (let i = first; i <= last; i++) s.add(i);
  }

  /** Chunks with from <= idx < to are gone. */
  remove(ino: number, from: number, to = Infinity): void {
    const s = this.files.get(ino);
    if (!s) return;
    if (to - from <= s.size) {
      for (let i = from; i < to; i++) s.delete(i);
    } else {
      for (const i of s) if (i >= from && i < to) s.delete(i);
    }
  }

  forget(ino: number): void {
    this.files.delete(ino);
  }

  /** 512-byte blocks held by the file's chunks (the chunk holding EOF counted up to EOF, in 4 KiB
   * units), or undefined when this gateway does not know the file's chunks. */
  blocks(ino: number, size: number): number | undefined {
    const s = this.files.get(ino);
    if (!s) return undefined;
    const cs = this.chunkSize;
    let bytes = s.size * cs;
    const tail = size % cs;
    const lastIdx = Math.floor(size / cs);
    if (tail !== 0 && s.has(lastIdx)) bytes -= cs - Math.min(cs, Math.ceil(tail / 4096) * 4096);
    return Math.ceil(bytes / 512);
  }
}
