// Framed records for the local volume's write-ahead log and snapshot, and the group-committing
// log writer. A frame is [u32 length][u32 crc32(payload)][payload: JSON array of LogOps], little
// endian. A torn or corrupt frame ends the readable log: everything after it was never
// acknowledged by sync(), because frames are only ever appended.
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { LogOp } from './meta-state.js';

const HEADER = 8;
/** Larger frames are treated as corruption rather than allocated. */
const MAX_FRAME = 256 * 1024 * 1024;

export function frame(ops: readonly LogOp[]): Buffer {
  const payload = Buffer.from(JSON.stringify(ops));
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

export interface ReadResult {
  /** Bytes of whole, valid frames from the start of the file. */
  validBytes: number;
  /** Why reading stopped before the end of the file, if it did. */
  stoppedBy?: string;
}

/** Reads every valid frame of a file in order, handing each decoded record to `onRecord`. */
export async function readFrames(fh: FileHandle, onRecord: (ops: LogOp[]) => void): Promise<ReadResult> {
  const size = (await fh.stat()).size;
  let pos = 0;
  let buf = Buffer.alloc(0);
  let bufStart = 0; // file offset of buf[0]
  const fill = async (need: number): Promise<boolean> => {
    // Ensure buf covers [pos, pos + need).
    if (pos + need > size) return false;
    const have = bufStart + buf.length - pos;
    if (have >= need) return true;
    const keep = buf.subarray(pos - bufStart);
    const want = Math.max(need - keep.length, 1 << 20);
    const chunk = Buffer.allocUnsafe(Math.min(want, size - (bufStart + buf.length)));
    let got = 0;
    while (got < chunk.length) {
      const { bytesRead } = await fh.read(chunk, got, chunk.length - got, bufStart + buf.length + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    buf = Buffer.concat([keep, chunk.subarray(0, got)]);
    bufStart = pos;
    return buf.length >= need;
  };
  while (pos < size) {
    if (!(await fill(HEADER))) return { validBytes: pos, stoppedBy: 'torn frame header' };
    const off = pos - bufStart;
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (len > MAX_FRAME) return { validBytes: pos, stoppedBy: `implausible frame length ${len}` };
    if (!(await fill(HEADER + len))) return { validBytes: pos, stoppedBy: 'torn frame' };
    const p = pos - bufStart + HEADER;
    const payload = buf.subarray(p, p + len);
    if (crc32(payload) !== crc) return { validBytes: pos, stoppedBy: 'crc mismatch' };
    let ops: LogOp[];
    try {
      ops = JSON.parse(payload.toString('utf8')) as LogOp[];
    } catch {
      return { validBytes: pos, stoppedBy: 'undecodable frame' };
    }
    if (!Array.isArray(ops)) return { validBytes: pos, stoppedBy: 'undecodable frame' };
    onRecord(ops);
    pos += HEADER + len;
  }
  return { validBytes: pos };
}

/** Writes whole buffers at a position, looping over short writes. */
export async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Appends frames to the active log file. Frames appended while a write is in flight are gathered
 * and written together by the next single write (group commit); fsync is left to sync(). A write
 * failure poisons the writer: the in-memory state is then ahead of the log and must not be used on.
 */
export class LogWriter {
  private batch: Buffer[] | null = null;
  private queued = 0; // bytes appended but not yet handed to write()
  private batchDone: Promise<void> | null = null;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  constructor(
    private fh: FileHandle,
    private offset: number,
  ) {}

  get size(): number {
    return this.offset + this.queued;
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Resolves once the frame is written to the file (not yet fsynced). */
  append(f: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.batch) {
      const bufs: Buffer[] = [];
      this.batch = bufs;
      this.batchDone = this.tail.then(() => {
        if (this.batch === bufs) this.batch = null;
        return this.write(bufs);
      });
      this.tail = this.batchDone.catch(() => {});
    }
    this.batch.push(f);
    this.queued += f.length;
    return this.batchDone!;
  }

  /** Resolves when everything appended so far is written. */
  async flush(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure;
  }

  /** Writes everything appended so far and fsyncs the file. */
  async sync(): Promise<void> {
    await this.flush();
    await this.fh.sync();
  }

  /** Switches to another file: frames appended before this call go to the old file (which is
   * then fsynced and closed), frames appended after it go to `fh` from `offset`. */
  switchTo(fh: FileHandle, offset: number): Promise<void> {
    this.batch = null;
    const done = this.tail.then(async () => {
      const old = this.fh;
      try {
        await old.sync();
      } catch (err) {
        this.failure ??= new Error(`local backend: fsync of the metadata log failed: ${(err as Error).message}`, { cause: err });
        throw this.failure;
      }
      this.fh = fh;
      this.offset = offset;
      await old.close();
    });
    this.tail = done.catch(() => {});
    return done;
  }

  async close(): Promise<void> {
    try {
      await this.sync();
    } finally {
      await this.fh.close();
    }
  }

  /** Closes the file as a crash would leave it: no flush of queued frames, no fsync. */
  async abandon(): Promise<void> {
    this.failure ??= new Error('local backend: log abandoned');
    await this.tail;
    await this.fh.close();
  }

  private async write(bufs: Buffer[]): Promise<void> {
    if (this.failure) throw this.failure;
    const data = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
    this.queued -= data.length;
    const at = this.offset;
    this.offset += data.length;
    try {
      await writeAll(this.fh, data, at);
    } catch (err) {
      this.failure = new Error(`local backend: write to the metadata log failed: ${(err as Error).message}`, { cause: err });
      throw this.failure;
    }
  }
}
