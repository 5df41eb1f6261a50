// GridFS files of the MongoDB native layout: which file a name means (the latest revision, as
// openDownloadStreamByName picks it), a streamed reader per open file, and a local staging file per
// writer that is uploaded whole at close. Nothing here holds a whole GridFS file in memory.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GridFSBucket, type Db, type GridFSBucketReadStream, type ObjectId } from 'mongodb';

export const GRIDFS_SUFFIX = '.gridfs';
/** A forward jump this small is read through instead of starting a new download. */
const SKIP_AHEAD = 1024 * 1024;

export interface GridFile {
  id: ObjectId;
  filename: string;
  length: number;
  uploadDate: Date;
}

export function bucketOf(db: Db, bucket: string): GridFSBucket {
  return new GridFSBucket(db, { bucketName: bucket });
}

function toFile(d: { _id: unknown; filename?: unknown; length?: unknown; uploadDate?: unknown }): GridFile | undefined {
  if (typeof d.filename !== 'string') return undefined;
  const len = typeof d.length === 'number' ? d.length : Number(d.length);
  return {
    id: d._id as ObjectId,
    filename: d.filename,
    length: Number.isSafeInteger(len) ? len : 0,
    uploadDate: d.uploadDate instanceof Date ? d.uploadDate : new Date(0),
  };
}

/** Every revision of `filename`, newest first. */
export async function revisions(db: Db, bucket: string, filename: string): Promise<GridFile[]> {
  const docs = await db.collection(`${bucket}.files`).find({ filename }, { projection: { filename: 1, length: 1, uploadDate: 1 } }).toArray();
  return docs
    .map(toFile)
    .filter((f): f is GridFile => f !== undefined)
    .sort((a, b) => b.uploadDate.getTime() - a.uploadDate.getTime());
}

/** The latest revision of every file name in the bucket. Sorted here: FerretDB sorts by scanning. */
export async function listFiles(db: Db, bucket: string): Promise<GridFile[]> {
  const latest = new Map<string, GridFile>();
  const cursor = db.collection(`${bucket}.files`).find({}, { projection: { filename: 1, length: 1, uploadDate: 1 }, batchSize: 1000 });
  for await (const d of cursor) {
    const f = toFile(d);
    if (!f) continue;
    const have = latest.get(f.filename);
    if (!have || have.uploadDate < f.uploadDate) latest.set(f.filename, f);
  }
  return [...latest.values()];
}

/** Sequential reads continue one download stream; a jump elsewhere starts a ranged one. */
export class GridReader {
  private stream: GridFSBucketReadStream | undefined;
  private it: AsyncIterator<Buffer> | undefined;
  private pos = 0;
  private pending: Buffer = Buffer.alloc(0);
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly bucket: GridFSBucket,
    private readonly file: GridFile,
  ) {}

  /** Reads are serialized: the kernel's readahead may send several at once. */
  read(offset: number, len: number): Promise<Buffer> {
    const p = this.tail.then(() => this.readNow(offset, len));
    this.tail = p.catch(() => undefined);
    return p;
  }

  private async readNow(offset: number, len: number): Promise<Buffer> {
    try {
      return await this.readStream(offset, len);
    } catch (err) {
      this.close(); // a failed stream is not continued: the next read starts a new one
      throw err;
    }
  }

  private async readStream(offset: number, len: number): Promise<Buffer> {
    const end = Math.min(this.file.length, offset + len);
    if (offset >= end) return Buffer.alloc(0);
    if (!this.it || offset < this.pos || offset > this.pos + this.pending.length + SKIP_AHEAD) this.restart(offset);
    const parts: Buffer[] = [];
    let have = 0;
    const want = end - offset;
    while (have < want) {
      if (this.pending.length === 0) {
        const next = await this.it!.next();
        if (next.done) break;
        this.pending = next.value;
      }
      if (this.pos < offset) {
        const skip = Math.min(offset - this.pos, this.pending.length);
        this.pending = this.pending.subarray(skip);
        this.pos += skip;
        continue;
      }
      const take = Math.min(want - have, this.pending.length);
      parts.push(this.pending.subarray(0, take));
      this.pending = this.pending.subarray(take);
      this.pos += take;
      have += take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private restart(offset: number): void {
    this.close();
    this.stream = this.bucket.openDownloadStream(this.file.id, { start: offset, end: this.file.length }); // the driver's default end is 0
    this.it = this.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.pos = offset;
    this.pending = Buffer.alloc(0);
  }

  close(): void {
    this.stream?.destroy();
    this.stream = undefined;
    this.it = undefined;
  }
}

let stageDir: Promise<string> | undefined;

/** A writer's copy of a GridFS file in a local temporary file. */
export class GridStage {
  private constructor(
    private readonly path: string,
    private readonly fd: FileHandle,
    public size: number,
  ) {}

  /** An empty stage, or one holding the current content of `from` (downloaded, streamed). */
  static async create(bucket: GridFSBucket, from: GridFile | undefined): Promise<GridStage> {
    stageDir ??= mkdtemp(join(tmpdir(), 'zufs-mongo-stage-'));
    const dir = await stageDir;
    const path = join(dir, `${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      if (from && from.length > 0) await pipeline(bucket.openDownloadStream(from.id), createWriteStream(path));
      const fd = await open(path, from && from.length > 0 ? 'r+' : 'w+');
      return new GridStage(path, fd, from?.length ?? 0);
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
  }

  async read(offset: number, len: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(len, this.size - offset));
    if (n === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(n);
    const { bytesRead } = await this.fd.read(buf, 0, n, offset);
    return buf.subarray(0, bytesRead);
  }

  async write(offset: number, data: Buffer): Promise<void> {
    await this.fd.write(data, 0, data.length, offset);
    this.size = Math.max(this.size, offset + data.length);
  }

  async truncate(size: number): Promise<void> {
    await this.fd.truncate(size);
    this.size = size;
  }

  /** Uploads the staged bytes as a new revision of `filename`, then removes the older revisions
   * (after, so a failed upload leaves the old file). Returns the new file. */
  async upload(db: Db, bucket: GridFSBucket, bucketName: string, filename: string): Promise<GridFile> {
    const old = await revisions(db, bucketName, filename);
    const up = bucket.openUploadStream(filename);
    const src = this.size === 0 ? Readable.from([]) : createReadStream(this.path, { start: 0, end: this.size - 1, highWaterMark: 256 * 1024 });
    try {
      await pipeline(src, up);
    } catch (err) {
      await up.abort().catch(() => undefined); // remove the chunks written so far
      throw err;
    }
    for (const f of old) await bucket.delete(f.id);
    return { id: up.id, filename, length: this.size, uploadDate: new Date() };
  }

  async close(): Promise<void> {
    await this.fd.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
