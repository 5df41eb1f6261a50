// File data of a local volume: one sparse file per inode under data/<ino & 0xff>/<ino>, chunk idx
// at offset idx * chunkSize. Open handles are cached (LRU, bounded); files written since the last
// sync are remembered so sync() fsyncs exactly those (and the directories that gained entries).
import { constants } from 'node:fs';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { punchHole } from './libc.js';
import { writeAll } from './wal.js';

interface Slot {
  fh: FileHandle;
  refs: number;
  /** Dropped from the cache while in use: the last user closes it. */
  doomed: boolean;
}

const ZERO_PIECE = 1 << 20;
const SYNC_PARALLEL = 16;

export class DataFiles {
  private readonly slots = new Map<number, Slot>(); // insertion order = LRU order
  private readonly opening = new Map<number, Promise<Slot | undefined>>();
  private readonly dirty = new Set<number>();
  private readonly dirtyDirs = new Set<string>();
  private readonly madeDirs = new Set<string>();
  private zeros: Buffer | undefined;

  constructor(
    private readonly root: string, // <volume>/data
    private readonly maxOpen: number,
  ) {}

  path(ino: number): string {
    return join(this.root, (ino & 0xff).toString(16).padStart(2, '0'), String(ino));
  }

  /** Runs fn with the inode's file open; undefined when it does not exist and create is false. */
  async with<T>(ino: number, create: boolean, fn: (fh: FileHandle | undefined) => Promise<T>): Promise<T> {
    const slot = await this.acquire(ino, create);
    try {
      return await fn(slot?.fh);
    } finally {
      if (slot) this.release(ino, slot);
    }
  }

  /** Reads [pos, pos + len) of the file; bytes past its end read as zeros. */
  async read(ino: number, pos: number, len: number): Promise<Buffer> {
    const buf = Buffer.alloc(len);
    await this.with(ino, false, async (fh) => {
      if (!fh) return;
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    });
    return buf;
  }

  async write(ino: number, pos: number, data: Buffer): Promise<void> {
    await this.with(ino, true, async (fh) => {
      await writeAll(fh!, data, pos);
    });
    this.dirty.add(ino);
  }

  /** Makes [pos, pos + len) read as zeros again: a hole where the file system can punch one. */
  async zero(ino: number, pos: number, len: number): Promise<void> {
    if (len <= 0) return;
    await this.with(ino, false, async (fh) => {
      if (!fh) return;
      const size = (await fh.stat()).size;
      if (pos >= size) return;
      const end = Math.min(pos + len, size);
      if (await punchHole(fh.fd, pos, end - pos)) return;
      this.zeros ??= Buffer.alloc(ZERO_PIECE);
      for (let at = pos; at < end; at += ZERO_PIECE) await writeAll(fh, this.zeros.subarray(0, Math.min(ZERO_PIECE, end - at)), at);
    });
    this.dirty.add(ino);
  }

  /** Cuts the file to `size` bytes (never grows it). */
  async truncate(ino: number, size: number): Promise<void> {
    await this.with(ino, false, async (fh) => {
      if (fh && (await fh.stat()).size > size) await fh.truncate(size);
    });
    this.dirty.add(ino);
  }

  async remove(ino: number): Promise<void> {
    const pending = this.opening.get(ino);
    if (pending) await pending.catch(() => undefined);
    const slot = this.slots.get(ino);
    if (slot) {
      this.slots.delete(ino);
      if (slot.refs === 0) await slot.fh.close();
      else slot.doomed = true;
    }
    try {
      await unlink(this.path(ino));
      this.dirtyDirs.add(join(this.path(ino), '..'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.dirty.delete(ino);
  }

  /** fsyncs every file written and every directory changed since the last call. */
  async sync(): Promise<void> {
    const inos = [...this.dirty];
    this.dirty.clear();
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs.clear();
    try {
      // A few at a time: thousands of dirty files must not mean thousands of open descriptors.
      for (let i = 0; i < inos.length; i += SYNC_PARALLEL) {
        await Promise.all(inos.slice(i, i + SYNC_PARALLEL).map((ino) => this.with(ino, false, async (fh) => fh?.sync())));
      }
      for (const d of dirs) await fsyncDir(d);
    } catch (err) {
      for (const ino of inos) this.dirty.add(ino);
      for (const d of dirs) this.dirtyDirs.add(d);
      throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.opening.values()].map((p) => p.catch(() => undefined)));
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => s.fh.close()));
  }

  private async acquire(ino: number, create: boolean): Promise<Slot | undefined> {
    for (;;) {
      const s = this.slots.get(ino);
      if (s) {
        this.slots.delete(ino);
        this.slots.set(ino, s); // most recently used
        s.refs++;
        return s;
      }
      const pending = this.opening.get(ino);
      if (!pending) break;
      const got = await pending.catch(() => undefined);
      if (got || !create) {
        if (!got) return undefined;
        continue;
      }
    }
    const p = this.openFile(ino, create);
    this.opening.set(ino, p);
    try {
      const s = await p;
      if (s) {
        this.slots.set(ino, s);
        s.refs++;
        this.evict();
      }
      return s;
    } finally {
      this.opening.delete(ino);
    }
  }

  private release(_ino: number, s: Slot): void {
    s.refs--;
    if (s.refs > 0) return;
    if (s.doomed) void s.fh.close().catch(() => {});
    else this.evict();
  }

  private evict(): void {
    if (this.slots.size <= this.maxOpen) return;
    for (const [ino, s] of this.slots) {
      if (this.slots.size <= this.maxOpen) break;
      if (s.refs > 0) continue;
      this.slots.delete(ino);
      void s.fh.close().catch(() => {});
    }
  }

  private async openFile(ino: number, create: boolean): Promise<Slot | undefined> {
    const path = this.path(ino);
    try {
      return { fh: await open(path, constants.O_RDWR), refs: 0, doomed: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!create) return undefined;
    }
    const dir = join(path, '..');
    if (!this.madeDirs.has(dir)) {
      const made = await mkdir(dir, { recursive: true });
      if (made !== undefined) this.dirtyDirs.add(this.root);
      this.madeDirs.add(dir);
    }
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    this.dirtyDirs.add(dir);
    return { fh, refs: 0, doomed: false };
  }
}

export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
