// A ChunkStore over an HTTP object store (S3 or WebDAV): one object per chunk, named
// `<prefix>chunks/<ino>/<idx>`. A read is a ranged GET; a write of a whole chunk is one PUT, a partial
// write reads the chunk, patches it and PUTs it back (object stores have no partial update).
// Read-modify-writes of one chunk are serialized inside this process; across gateways the metadata
// engine's close-to-open discipline decides who writes a file. An object is written whole by every
// PUT, so a reader never sees a torn chunk.
import type { ChunkStore } from '../types.js';
import { closeSharedAgents } from './agent.js';
import { S3Client, type S3Options } from './s3.js';
import { WebDavClient, type WebDavOptions } from './webdav.js';
import { KeyedMutex } from '../keyed-mutex.js';

/** What the chunk store needs from an object store. Keys use '/' separators. */
export interface ObjectStore {
  readonly kind: string;
  get(key: string, range?: { start: number; end?: number }): Promise<Buffer | undefined>;
  put(key: string, data: Buffer): Promise<void>;
  /** Deletes the objects; missing ones are fine. */
  deleteMany(keys: string[]): Promise<void>;
  /** Deletes every object under the prefix (which ends in '/'). */
  deletePrefix(prefix: string): Promise<void>;
  /** Objects directly under the prefix (which ends in '/'): their names after it, and sizes. */
  list(prefix: string): Promise<Array<{ name: string; size: number }>>;
  /** Bytes held by every object under the prefix. */
  bytesUnder(prefix: string): Promise<number>;
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3';
  constructor(readonly client: S3Client) {}

  get(key: string, range?: { start: number; end?: number }): Promise<Buffer | undefined> {
    return this.client.getObject(key, range);
  }

  async put(key: string, data: Buffer): Promise<void> {
    await this.client.putObject(key, data);
  }

  deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 1) return this.client.deleteObject(keys[0]!);
    return this.client.deleteObjects(keys);
  }

  async deletePrefix(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.client.listAll(prefix)) keys.push(o.key);
    if (keys.length > 0) await this.client.deleteObjects(keys);
  }

  async list(prefix: string): Promise<Array<{ name: string; size: number }>> {
    const out: Array<{ name: string; size: number }> = [];
    for await (const o of this.client.listAll(prefix)) {
      const name = o.key.slice(prefix.length);
      if (!name.includes('/')) out.push({ name, size: o.size });
    }
    return out;
  }

  async bytesUnder(prefix: string): Promise<number> {
    let n = 0;
    for await (const o of this.client.listAll(prefix)) n += o.size;
    return n;
  }
}

export class WebDavObjectStore implements ObjectStore {
  readonly kind = 'webdav';
  constructor(readonly client: WebDavClient) {}

  get(key: string, range?: { start: number; end?: number }): Promise<Buffer | undefined> {
    return this.client.get(key, range);
  }

  put(key: string, data: Buffer): Promise<void> {
    return this.client.put(key, data);
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const k of keys) await this.client.delete(k);
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.client.delete(prefix);
  }

  async list(prefix: string): Promise<Array<{ name: string; size: number }>> {
    const ents = await this.client.list(prefix);
    return ents.filter((e) => !e.isCollection).map((e) => ({ name: e.name, size: e.size }));
  }

  async bytesUnder(prefix: string): Promise<number> {
    let n = 0;
    for (const e of await this.client.list(prefix)) {
      n += e.isCollection ? await this.bytesUnder(e.path) : e.size;
    }
    return n;
  }
}


export interface ObjectChunkStoreOptions {
  /** Bytes per chunk. Default 4 MiB: one request per 4 MiB keeps per-request cost small while a
   * partial write still rewrites a bounded object. */
  chunkSize?: number;
  /** Key prefix of the volume, e.g. "vol1/" (a missing trailing '/' is added). Default "". */
  prefix?: string;
}

export const DEFAULT_OBJECT_CHUNK_SIZE = 4 * 1024 * 1024;

export class ObjectChunkStore implements ChunkStore {
  readonly chunkSize: number;
  private readonly root: string;
  private readonly mutex = new KeyedMutex();

  constructor(
    readonly store: ObjectStore,
    opts: ObjectChunkStoreOptions = {},
  ) {
    this.chunkSize = opts.chunkSize ?? DEFAULT_OBJECT_CHUNK_SIZE;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 1) throw new RangeError(`bad chunkSize ${this.chunkSize}`);
    const p = opts.prefix ?? '';
    this.root = `${p === '' || p.endsWith('/') ? p : `${p}/`}chunks/`;
  }

  private dir(ino: number): string {
    return `${this.root}${ino}/`;
  }

  private key(ino: number, idx: number): string {
    return `${this.root}${ino}/${idx}`;
  }

  async read(ino: number, idx: number, off: number, len: number): Promise<Buffer> {
    if (len <= 0 || off >= this.chunkSize) return Buffer.alloc(0);
    const data = await this.store.get(this.key(ino, idx), { start: off, end: off + len - 1 });
    return data ?? Buffer.alloc(0);
  }

  async write(ino: number, idx: number, off: number, data: Buffer): Promise<void> {
    const end = off + data.length;
    if (off < 0 || end > this.chunkSize) throw new RangeError(`chunk write [${off}, ${end}) outside chunk`);
    const key = this.key(ino, idx);
    await this.mutex.run(key, async () => {
      if (off === 0 && end === this.chunkSize) {
        await this.store.put(key, Buffer.from(data));
        return;
      }
      const old = (await this.store.get(key)) ?? Buffer.alloc(0);
      const next = Buffer.alloc(Math.max(old.length, end));
      old.copy(next);
      data.copy(next, off);
      await this.store.put(key, next);
    });
  }

  async truncate(ino: number, idx: number, len: number): Promise<void> {
    const key = this.key(ino, idx);
    await this.mutex.run(key, async () => {
      if (len <= 0) {
        await this.store.deleteMany([key]);
        return;
      }
      const old = await this.store.get(key);
      if (old && old.length > len) await this.store.put(key, Buffer.from(old.subarray(0, len)));
    });
  }

  async remove(ino: number, fromIdx: number, toIdx?: number): Promise<void> {
    if (fromIdx <= 0 && toIdx === undefined) {
      await this.store.deletePrefix(this.dir(ino));
      return;
    }
    const doomed = (await this.list(ino)).filter((i) => i >= fromIdx && (toIdx === undefined || i < toIdx));
    if (doomed.length > 0) await this.store.deleteMany(doomed.map((i) => this.key(ino, i)));
  }

  async list(ino: number): Promise<number[]> {
    const objs = await this.store.list(this.dir(ino));
    return objs
      .map((o) => Number(o.name))
      .filter((n) => Number.isSafeInteger(n) && n >= 0)
      .sort((a, b) => a - b);
  }

  /** Bytes held by every chunk of the volume (a listing of the whole volume: statfs, not hot paths). */
  usage(): Promise<number> {
    return this.store.bytesUnder(this.root);
  }
}

/** A chunk store on S3. */
export function s3ChunkStore(s3: S3Options, opts: ObjectChunkStoreOptions = {}): ObjectChunkStore {
  return new ObjectChunkStore(new S3ObjectStore(new S3Client(s3)), opts);
}

/** A chunk store on WebDAV. */
export function webdavChunkStore(dav: WebDavOptions, opts: ObjectChunkStoreOptions = {}): ObjectChunkStore {
  return new ObjectChunkStore(new WebDavObjectStore(new WebDavClient(dav)), opts);
}

export { closeSharedAgents };
