// Local staging of object-store files opened for writing: objects cannot be patched in place, so
// the first write (or truncate) copies the object into a file under <tmpdir>/zufs-staging-<pid>/,
// writes and truncates go to that file, and the file is uploaded whole at close or fsync. The copy
// is made with ranged GETs of DOWNLOAD_CHUNK bytes, so memory stays bounded whatever the size.
import { mkdirSync, rmSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Mutex } from '../mutex.js';
import { readRange } from './object-native-store.js';

const DOWNLOAD_CHUNK = 8 * 1024 * 1024;

export class StagingDir {
  readonly dir: string;
  private next = 1;

  constructor(base = tmpdir()) {
    this.dir = join(base, `zufs-staging-${process.pid}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** A new empty staging file; `tag` (the mount) keeps files of several mounts apart. */
  async create(tag: string): Promise<StageFile> {
    const name = join(this.dir, `${tag.replace(/[^A-Za-z0-9_.-]/g, '_')}-${this.next++}`);
    const fh = await open(name, 'w+', 0o600);
    return new StageFile(name, fh);
  }

  /** Removes the directory if no file is left in it (files kept after a failed upload stay). */
  cleanup(): void {
    try {
      rmSync(this.dir, { recursive: false });
    } catch {
      // not empty, or already gone
    }
  }
}

export class StageFile {
  size = 0;
  /** Holds bytes the store does not have yet. */
  dirty = false;
  /** Serializes writes, truncates and uploads of this file. */
  readonly lock = new Mutex();

  constructor(
    readonly name: string,
    readonly fh: FileHandle,
  ) {}

  /** Copies an object into the (empty) file with ranged reads until a short one. */
  async load(get: (start: number, end: number) => Promise<Buffer>): Promise<void> {
    for (let off = 0; ; ) {
      const b = await get(off, off + DOWNLOAD_CHUNK - 1);
      if (b.length > 0) await this.fh.write(b, 0, b.length, off);
      off += b.length;
      this.size = off;
      if (b.length < DOWNLOAD_CHUNK) return;
    }
  }

  read(offset: number, len: number): Promise<Buffer> {
    if (offset >= this.size || len <= 0) return Promise.resolve(Buffer.alloc(0));
    return readRange(this.fh, offset, Math.min(len, this.size - offset));
  }

  async write(offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, offset + data.length);
    this.dirty = true;
  }

  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.size = size;
    this.dirty = true;
  }

  /** Closes and deletes the file (`keep`: leaves it on disk, for staged bytes an upload lost).
   * Off the event loop: a synchronous unlink per file was the largest item in zusd's profile of
   * a loop of small-file writes. */
  async close(keep = false): Promise<void> {
    await this.fh.close().catch(() => undefined);
    if (!keep) await rm(this.name, { force: true });
  }
}
