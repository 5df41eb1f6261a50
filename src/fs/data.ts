// File data over the ChunkStore: chunk-split reads (holes as zeros) and writes, truncation that
// frees chunks, fallocate (allocate, keep size, punch hole, zero range) and SEEK_DATA/SEEK_HOLE at
// chunk granularity. These functions touch chunks only; callers hold the inode lock and commit
// the size/time changes they return.
import type { InodeRecord } from '../backends/types.js';
import { checkOffset, FsCore, MAX_FILE_SIZE } from './core.js';
import { errno, fsError } from './errors.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SEEK_DATA, SEEK_HOLE } from './operations.js';

export async function readData(core: FsCore, rec: InodeRecord, offset: number, len: number): Promise<Buffer> {
  checkOffset(offset);
  if (!Number.isSafeInteger(len) || len < 0) throw fsError(errno.EINVAL, `bad read length ${len}`);
  if (offset >= rec.size || len === 0) return Buffer.alloc(0);
  const end = Math.min(offset + len, rec.size);
  const n = end - offset;
  const cs = core.chunkSize;
  const first = Math.floor(offset / cs);
  const last = Math.floor((end - 1) / cs);
  if (first === last) {
    const b = await core.chunks.read(rec.ino, first, offset - first * cs, n);
    if (b.length === n) return b;
    const out = Buffer.alloc(n);
    b.copy(out, 0, 0, Math.min(b.length, n));
    return out;
  }
  const out = Buffer.alloc(n);
  const reads: Promise<void>[] = [];
  for (let idx = first; idx <= last; idx++) {
    const cStart = idx * cs;
    const lo = Math.max(offset, cStart);
    const hi = Math.min(end, cStart + cs);
    const at = lo - offset;
    reads.push(
      core.chunks.read(rec.ino, idx, lo - cStart, hi - lo).then((b) => {
        b.copy(out, at, 0, Math.min(b.length, hi - lo));
      }),
    );
  }
  await Promise.all(reads);
  return out;
}

export async function writeData(core: FsCore, rec: InodeRecord, offset: number, data: Buffer): Promise<void> {
  await writeRange(core, rec, offset, data.length, (idx, off, at, n) => core.chunks.write(rec.ino, idx, off, data.subarray(at, at + n)));
}

/** Writes `len` bytes at `offset` chunk by chunk: `put` writes bytes [at, at + n) of the range at
 * `off` of chunk `idx`. Records the chunks in the chunk map once every piece is written. */
export async function writeRange(
  core: FsCore,
  rec: InodeRecord,
  offset: number,
  len: number,
  put: (idx: number, off: number, at: number, n: number) => Promise<void>,
): Promise<void> {
  checkOffset(offset);
  const end = offset + len;
  if (end > MAX_FILE_SIZE) throw fsError(errno.EFBIG);
  const cs = core.chunkSize;
  const first = Math.floor(offset / cs);
  const last = Math.floor((end - 1) / cs);
  if (first === last) {
    await put(first, offset - first * cs, 0, len);
  } else {
    const writes: Promise<void>[] = [];
    for (let idx = first; idx <= last; idx++) {
      const cStart = idx * cs;
      const lo = Math.max(offset, cStart);
      const hi = Math.min(end, cStart + cs);
      writes.push(put(idx, lo - cStart, lo - offset, hi - lo));
    }
    await Promise.all(writes);
  }
  core.chunkMap.add(rec.ino, first, last);
}

/** Drops the data past `newSize` (whole chunks removed, the last one shortened). Growing needs no
 * chunk work: bytes past the old end are holes, and shrinking always cut the stored tail. */
export async function truncateData(core: FsCore, rec: InodeRecord, newSize: number): Promise<void> {
  if (newSize >= rec.size) return;
  const cs = core.chunkSize;
  const keep = Math.ceil(newSize / cs);
  const tail = newSize % cs;
  await Promise.all([
    core.chunks.remove(rec.ino, keep),
    tail !== 0 ? core.chunks.truncate(rec.ino, keep - 1, tail) : Promise.resolve(),
  ]);
  core.chunkMap.remove(rec.ino, keep);
}

/** Makes [start, end) read as zeros: whole chunks inside are removed, partial ones zeroed where
 * they hold data (a hole stays a hole). */
async function zeroRange(core: FsCore, ino: number, start: number, end: number, existing: Set<number>): Promise<void> {
  const cs = core.chunkSize;
  const firstFull = Math.ceil(start / cs);
  const endFull = Math.floor(end / cs);
  const work: Promise<void>[] = [];
  if (firstFull < endFull) {
    work.push(core.chunks.remove(ino, firstFull, endFull));
    for (const idx of existing) if (idx >= firstFull && idx < endFull) existing.delete(idx);
    core.chunkMap.remove(ino, firstFull, endFull);
  }
  const partial = new Set<number>();
  if (start % cs !== 0 || Math.floor(start / cs) === Math.floor((end - 1) / cs)) partial.add(Math.floor(start / cs));
  if (end % cs !== 0) partial.add(Math.floor((end - 1) / cs));
  for (const idx of partial) {
    if (!existing.has(idx)) continue;
    const cStart = idx * cs;
    const lo = Math.max(start, cStart) - cStart;
    const hi = Math.min(end, cStart + cs) - cStart;
    if (lo === 0 && hi === cs) {
      work.push(core.chunks.remove(ino, idx, idx + 1));
      existing.delete(idx);
      core.chunkMap.remove(ino, idx, idx + 1);
    } else if (hi === cs) {
      work.push(core.chunks.truncate(ino, idx, lo));
      if (lo === 0) {
        existing.delete(idx);
        core.chunkMap.remove(ino, idx, idx + 1);
      }
    } else {
      work.push(
        core.chunks.read(ino, idx, lo, hi - lo).then(async (b) => {
          if (b.length > 0) await core.chunks.write(ino, idx, lo, Buffer.alloc(Math.min(b.length, hi - lo)));
        }),
      );
    }
  }
  await Promise.all(work);
}

/** Creates the chunks of [start, end) that do not exist yet (zero-filled up to the range end).
 * Stores hold zeros as real bytes, so a range larger than core.fallocateMaxBytes is not
 * allocated (it stays a hole; the size still grows): one log line says so. */
async function allocateRange(core: FsCore, ino: number, start: number, end: number, existing: Set<number>): Promise<void> {
  const cs = core.chunkSize;
  const work: Promise<void>[] = [];
  const first = Math.floor(start / cs);
  const last = Math.floor((end - 1) / cs);
  let have = 0;
  for (const idx of existing) if (idx >= first && idx <= last) have++;
  if ((last - first + 1 - have) * cs > core.fallocateMaxBytes) {
    core.log?.info({ ino, offset: start, len: end - start, limit: core.fallocateMaxBytes }, 'fallocate range left sparse: larger than fallocateMaxBytes');
    return;
  }
  for (let idx = first; idx <= last; idx++) {
    if (existing.has(idx)) continue;
    const hi = Math.min(end, (idx + 1) * cs) - idx * cs;
    work.push(core.chunks.write(ino, idx, hi - 1, Buffer.alloc(1)));
    existing.add(idx);
  }
  await Promise.all(work);
  core.chunkMap.set(ino, existing);
}

/** Applies fallocate to the chunks and returns the new size (times are the caller's). */
export async function fallocateData(core: FsCore, rec: InodeRecord, mode: number, offset: number, len: number): Promise<number> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len <= 0) {
    throw fsError(errno.EINVAL, 'bad fallocate range');
  }
  const known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~known) throw fsError(errno.EOPNOTSUPP, `fallocate mode ${mode} is not supported`);
  if (mode & FALLOC_FL_PUNCH_HOLE && mode & FALLOC_FL_ZERO_RANGE) throw fsError(errno.EINVAL);
  if (mode & FALLOC_FL_PUNCH_HOLE && !(mode & FALLOC_FL_KEEP_SIZE)) throw fsError(errno.EOPNOTSUPP);
  const end = offset + len;
  if (end > MAX_FILE_SIZE) throw fsError(errno.EFBIG);
  const existing = new Set(await core.chunks.list(rec.ino));
  core.chunkMap.set(rec.ino, existing);
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    await zeroRange(core, rec.ino, offset, end, existing);
    return rec.size;
  }
  if (mode & FALLOC_FL_ZERO_RANGE) await zeroRange(core, rec.ino, offset, end, existing);
  await allocateRange(core, rec.ino, offset, end, existing);
  return mode & FALLOC_FL_KEEP_SIZE ? rec.size : Math.max(rec.size, end);
}

export async function seekData(core: FsCore, rec: InodeRecord, offset: number, whence: number): Promise<number> {
  if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw fsError(errno.EINVAL, `llseek whence ${whence}`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= rec.size) throw fsError(errno.ENXIO);
  const cs = core.chunkSize;
  const idx0 = Math.floor(offset / cs);
  const list = await core.chunks.list(rec.ino);
  if (!core.chunkMap.known(rec.ino)) core.chunkMap.set(rec.ino, list);
  if (whence === SEEK_DATA) {
    const idx = list.find((i) => i >= idx0);
    if (idx === undefined) throw fsError(errno.ENXIO);
    const pos = idx === idx0 ? offset : idx * cs;
    if (pos >= rec.size) throw fsError(errno.ENXIO);
    return pos;
  }
  const have = new Set(list);
  let idx = idx0;
  while (have.has(idx)) idx++;
  return Math.min(Math.max(offset, idx * cs), rec.size);
}
