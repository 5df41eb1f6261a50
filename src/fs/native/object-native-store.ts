// The two object stores the object native layout mounts, behind one small interface: S3 (a bucket
// and key prefix; directories are common prefixes plus "dir/" marker objects) and WebDAV (real
// collections). Paths are relative to the mount root, components joined by '/', '' = the root.
// Every call is one or a few requests on the shared clients, each bounded by their timeouts.
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { HttpStoreError } from '../../backends/http/agent.js';
import { S3ObjectStore, WebDavObjectStore } from '../../backends/http/object-chunks.js';
import { objectStoreFromUrl } from '../../backends/http/open.js';
import type { S3Client } from '../../backends/http/s3.js';
import type { WebDavClient } from '../../backends/http/webdav.js';
import { errno, fsError } from '../errors.js';

export interface StoreEntry {
  name: string;
  isDir: boolean;
  size: number;
  /** 0 when the store gave none (S3 prefixes without a marker). */
  mtimeMs: number;
  etag?: string | undefined;
}

export interface ObjectStoreTimeouts {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
}

export interface NativeObjectStore {
  readonly kind: 's3' | 'webdav';
  /** Whether a directory can be renamed in one atomic server operation (WebDAV MOVE). */
  readonly atomicDirRename: boolean;
  /** Fails when the bucket or base collection is unreachable or missing (checked at mount). */
  probe(): Promise<void>;
  /** The members of a directory. Names that cannot be path components are dropped by the caller. */
  list(dir: string): Promise<StoreEntry[]>;
  /** A file or directory at `path`, or undefined. */
  stat(path: string): Promise<StoreEntry | undefined>;
  /** Whether the directory has any member (objects other than its own marker). */
  hasMembers(dir: string): Promise<boolean>;
  /** Bytes [start, end] (inclusive) of a file; ENOENT when it is gone. `signal` abandons it. */
  get(path: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer>;
  /** Stores a small body whole. */
  put(path: string, body: Buffer): Promise<string | undefined>;
  /** Stores `size` bytes of an open file, streamed or in parts, never read whole into memory. */
  putFile(path: string, file: FileHandle, fileName: string, size: number): Promise<string | undefined>;
  /** An upload fed while a new file is still being written (S3 multipart; absent: whole uploads
   * only), and the size from which it is worth one (smaller files are one PUT at close). */
  beginUpload?(path: string, file: FileHandle): EarlyUpload;
  readonly earlyUploadFrom?: number;
  deleteFile(path: string): Promise<void>;
  /** Server-side copy of a file (S3 CopyObject, WebDAV COPY). */
  copyFile(from: string, to: string): Promise<void>;
  /** WebDAV MOVE (files and collections); undefined on S3, which has no rename. */
  move?(from: string, to: string, isDir: boolean, overwrite: boolean): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** Removes an empty directory's marker or collection. */
  rmdir(path: string): Promise<void>;
}

/** Opens the store named by an s3:// or webdav+http(s):// URL (open.ts parses it). */
export function openNativeObjectStore(url: string, o: ObjectStoreTimeouts & { partSize: number; multipartThreshold: number }): NativeObjectStore {
  const { store, prefix } = objectStoreFromUrl(url, {
    connectTimeoutMs: o.connectTimeoutMs,
    headersTimeoutMs: o.commandTimeoutMs,
    bodyTimeoutMs: o.commandTimeoutMs,
    ...(o.accessKeyId !== undefined && { accessKeyId: o.accessKeyId }),
    ...(o.secretAccessKey !== undefined && { secretAccessKey: o.secretAccessKey }),
  });
  if (store instanceof S3ObjectStore) {
    const root = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    return new S3NativeStore(store.client, root, o.partSize, o.multipartThreshold);
  }
  if (store instanceof WebDavObjectStore) return new WebDavNativeStore(store.client);
  throw fsError(errno.EINVAL, `${url}: not an S3 or WebDAV URL`);
}

function parseTime(s: string | undefined): number {
  if (!s) return 0;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : 0;
}

/** S3: "a/b" is the object <prefix>a/b; the directory "a" is every key under <prefix>a/, with an
 * optional zero-byte marker object "<prefix>a/" (what rclone, s3fs and the console create). */
export class S3NativeStore implements NativeObjectStore {
  readonly kind = 's3';
  readonly atomicDirRename = false;

  readonly earlyUploadFrom: number;

  constructor(
    readonly client: S3Client,
    readonly root: string,
    private readonly partSize: number,
    private readonly multipartThreshold: number,
  ) {
    this.earlyUploadFrom = Math.max(partSize, multipartThreshold);
  }

  beginUpload(path: string, file: FileHandle): EarlyUpload {
    return new S3EarlyUpload(this.client, this.key(path), file, this.partSize);
  }

  key(path: string): string {
    return this.root + path;
  }

  dirKey(path: string): string {
    return path === '' ? this.root : `${this.root}${path}/`;
  }

  async probe(): Promise<void> {
    await this.client.listPage({ prefix: this.root, maxKeys: 1 });
  }

  async list(dir: string): Promise<StoreEntry[]> {
    const prefix = this.dirKey(dir);
    const files: StoreEntry[] = [];
    const dirs = new Map<string, StoreEntry>();
    let token: string | undefined;
    // ListObjectsV2 pages chain by continuation token: they cannot be fetched concurrently.
    do {
      const page = await this.client.listPage({ prefix, delimiter: '/', maxKeys: 1000, ...(token !== undefined && { continuationToken: token }) });
      for (const o of page.objects) {
        const name = o.key.slice(prefix.length);
        if (name === '') continue; // the directory's own marker
        files.push({ name, isDir: false, size: o.size, mtimeMs: parseTime(o.lastModified), etag: o.etag });
      }
      for (const p of page.prefixes) {
        const name = p.slice(prefix.length, -1);
        dirs.set(name, { name, isDir: true, size: 0, mtimeMs: 0 });
      }
      token = page.nextContinuationToken;
    } while (token);
    // A key and a prefix of one name ("a" and "a/b"): the directory wins, as in mountpoint-s3.
    return [...dirs.values(), ...files.filter((f) => !dirs.has(f.name))];
  }

  async stat(path: string): Promise<StoreEntry | undefined> {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (path === '') return { name, isDir: true, size: 0, mtimeMs: 0 };
    const [head, under] = await Promise.all([
      this.client.headObject(this.key(path)),
      this.client.listPage({ prefix: this.dirKey(path), maxKeys: 1 }),
    ]);
    if (under.objects.length > 0 || under.prefixes.length > 0) {
      const marker = under.objects.find((o) => o.key === this.dirKey(path));
      return { name, isDir: true, size: 0, mtimeMs: marker ? parseTime(marker.lastModified) : 0 };
    }
    if (!head) return undefined;
    return { name, isDir: false, size: head.size, mtimeMs: parseTime(head.lastModified), etag: head.etag };
  }

  async hasMembers(dir: string): Promise<boolean> {
    const prefix = this.dirKey(dir);
    const page = await this.client.listPage({ prefix, maxKeys: 2 });
    return page.objects.some((o) => o.key !== prefix) || page.prefixes.length > 0;
  }

  async get(path: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer> {
    const b = await this.client.getObject(this.key(path), { start, end }, signal);
    if (!b) throw fsError(errno.ENOENT, `/${path} is no longer in the bucket`);
    return b;
  }

  put(path: string, body: Buffer): Promise<string> {
    return this.client.putObject(this.key(path), body);
  }

  async putFile(path: string, file: FileHandle, _fileName: string, size: number): Promise<string> {
    const key = this.key(path);
    if (size <= this.multipartThreshold) return this.client.putObject(key, await readRange(file, 0, size));
    const uploadId = await this.client.createMultipartUpload(key);
    try {
      const count = Math.ceil(size / this.partSize);
      const etags: string[] = new Array(count);
      let next = 0;
      // Two parts in flight: at most 2 × partSize bytes of the file are in memory at once.
      const worker = async (): Promise<void> => {
        while (next < count) {
          const n = next++;
          const start = n * this.partSize;
          const body = await readRange(file, start, Math.min(size, start + this.partSize) - start);
          etags[n] = await this.client.uploadPart(key, uploadId, n + 1, body);
        }
      };
      await Promise.all([worker(), worker()]);
      return await this.client.completeMultipartUpload(key, uploadId, etags);
    } catch (err) {
      await this.client.abortMultipartUpload(key, uploadId);
      throw err;
    }
  }

  deleteFile(path: string): Promise<void> {
    return this.client.deleteObject(this.key(path));
  }

  copyFile(from: string, to: string): Promise<void> {
    return this.client.copyObject(this.key(from), this.key(to));
  }

  async mkdir(path: string): Promise<void> {
    await this.client.putObject(this.dirKey(path), Buffer.alloc(0));
  }

  rmdir(path: string): Promise<void> {
    return this.client.deleteObject(this.dirKey(path));
  }
}

/**
 * An upload that starts while a file is written from its start, so the store receives it while the
 * writer is still writing instead of all after close. It reads the staging file (the bytes are
 * there already); the caller promises that nothing below `sent` changes once offered — a write or
 * truncate there abandons it (abort) and the file is uploaded whole at close, as without one.
 */
export interface EarlyUpload {
  /** Bytes from offset 0 already handed to the store. */
  readonly sent: number;
  /** The staging file holds `size` bytes now: send what can be sent. */
  offer(size: number): void;
  /** Sends the rest of the `size` bytes and completes; the object's ETag. Rejects when any part
   * failed (the caller then uploads whole). */
  finish(size: number): Promise<string | undefined>;
  /** Abandons it; the store keeps the object it had. */
  abort(): void;
}

/** Parts in flight of one early upload: at most this × partSize bytes of the file are in memory. */
const EARLY_PARTS_IN_FLIGHT = 4;

/** S3: a multipart upload whose parts go as soon as the file holds each whole part. */
class S3EarlyUpload implements EarlyUpload {
  sent = 0;
  /** What the staging file holds. */
  private size = 0;
  private readonly uploadId: Promise<string>;
  private readonly etags: string[] = [];
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;
  private aborted = false;

  constructor(
    private readonly client: S3Client,
    private readonly key: string,
    private readonly file: FileHandle,
    private readonly partSize: number,
  ) {
    this.uploadId = client.createMultipartUpload(key);
    this.uploadId.catch((err) => (this.failure ??= err));
  }

  offer(size: number): void {
    this.size = size;
    while (!this.aborted && this.failure === undefined && this.running.size < EARLY_PARTS_IN_FLIGHT && size - this.sent >= this.partSize) {
      this.part(this.sent, this.partSize);
      this.sent += this.partSize;
    }
  }

  private part(start: number, len: number): void {
    const n = this.etags.length;
    this.etags.push('');
    const p = (async () => {
      const id = await this.uploadId;
      const body = await readRange(this.file, start, len);
      this.etags[n] = await this.client.uploadPart(this.key, id, n + 1, body);
    })()
      .catch((err) => void (this.failure ??= err))
      .finally(() => {
        this.running.delete(p);
        this.offer(this.size); // a slot is free: the next whole part, if the file has one
      });
    this.running.add(p);
  }

  async finish(size: number): Promise<string | undefined> {
    this.size = size;
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure !== undefined) throw this.failure;
    // The rest in parts as well (the last one may be short, or the file may end on a part boundary).
    while (this.sent < size || this.etags.length === 0) {
      const len = Math.min(this.partSize, size - this.sent);
      this.part(this.sent, len);
      this.sent += len;
      while (this.running.size >= EARLY_PARTS_IN_FLIGHT) await Promise.race([...this.running]);
    }
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure !== undefined) throw this.failure;
    return this.client.completeMultipartUpload(this.key, await this.uploadId, this.etags);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    void (async () => {
      await Promise.allSettled([...this.running]);
      const id = await this.uploadId.catch(() => undefined);
      if (id !== undefined) await this.client.abortMultipartUpload(this.key, id);
    })();
  }
}

/** Read size of a streamed WebDAV upload (createReadStream's default, 64 KiB, costs 16× the calls). */
const STREAM_CHUNK = 1024 * 1024;

/** WebDAV: files are resources, directories are collections; MOVE renames either atomically. */
export class WebDavNativeStore implements NativeObjectStore {
  readonly kind = 'webdav';
  readonly atomicDirRename = true;

  constructor(readonly client: WebDavClient) {}

  async probe(): Promise<void> {
    const self = await this.client.propfind('', 0);
    if (!self) throw new HttpStoreError('ENOENT', `webdav: the base collection ${this.client.base.href} does not exist`, 404);
  }

  async list(dir: string): Promise<StoreEntry[]> {
    return (await this.client.list(dir === '' ? '' : `${dir}/`)).map((e) => ({
      name: e.name,
      isDir: e.isCollection,
      size: e.isCollection ? 0 : e.size,
      mtimeMs: parseTime(e.lastModified),
      etag: e.etag,
    }));
  }

  async stat(path: string): Promise<StoreEntry | undefined> {
    const name = path.slice(path.lastIndexOf('/') + 1);
    let got = await this.client.propfind(path, 0);
    // Servers that answer for "dir" only as "dir/" (nginx sends 404 or a redirect): ask again.
    if (!got && path !== '') got = await this.client.propfind(`${path}/`, 0);
    const e = got?.[0];
    if (!e) return undefined;
    return { name, isDir: e.isCollection, size: e.isCollection ? 0 : e.size, mtimeMs: parseTime(e.lastModified), etag: e.etag };
  }

  async hasMembers(dir: string): Promise<boolean> {
    return (await this.client.list(`${dir}/`)).length > 0;
  }

  async get(path: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer> {
    const b = await this.client.get(path, { start, end }, signal);
    if (!b) throw fsError(errno.ENOENT, `/${path} is no longer on the server`);
    return b;
  }

  async put(path: string, body: Buffer): Promise<undefined> {
    await this.client.put(path, body);
    return undefined;
  }

  async putFile(path: string, _file: FileHandle, fileName: string, size: number): Promise<string | undefined> {
    if (size === 0) return this.put(path, Buffer.alloc(0));
    return this.client.putStream(path, () => createReadStream(fileName, { start: 0, end: size - 1, highWaterMark: STREAM_CHUNK }), size);
  }

  deleteFile(path: string): Promise<void> {
    return this.client.delete(path);
  }

  copyFile(from: string, to: string): Promise<void> {
    return this.client.copy(from, to);
  }

  move(from: string, to: string, isDir: boolean, overwrite: boolean): Promise<void> {
    return isDir ? this.client.move(`${from}/`, `${to}/`, overwrite) : this.client.move(from, to, overwrite);
  }

  mkdir(path: string): Promise<void> {
    return this.client.mkcol(`${path}/`);
  }

  rmdir(path: string): Promise<void> {
    return this.client.delete(`${path}/`);
  }
}

/** `len` bytes of an open file from `pos` (short only at its end). */
export async function readRange(file: FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await file.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === len ? buf : buf.subarray(0, got);
}

export const READAHEAD_MIN = 1024 * 1024;
export const READAHEAD_MAX = 8 * 1024 * 1024;
/** Windows fetched ahead of the one being read, while reads stay sequential. */
export const READAHEAD_DEPTH = 4;

/** Bytes [start, start + len) of the object, being fetched by one ranged GET. */
interface Window {
  start: number;
  len: number;
  data: Promise<Buffer>;
  abort: AbortController;
  /** Reads waiting on it: a window someone waits for is never abandoned. */
  waiters: number;
}

/**
 * The reads of one open file that is not staged: ranged GETs. The first read fetches
 * max(len, 1 MiB); once a read lands in what was fetched ahead, the reads are sequential and up to
 * READAHEAD_DEPTH more windows are kept in flight beyond it, each twice the last up to 8 MiB (so at
 * most 8 MiB × (1 + READAHEAD_DEPTH) per open file). A read outside every window is random access:
 * the windows nobody waits for are abandoned (their requests aborted) and it starts afresh.
 */
export class ObjectReader {
  private windows: Window[] = [];
  /** Where the next window starts. */
  private next = 0;
  /** Length of the next window. */
  private size = READAHEAD_MIN;
  /** Where the object ended, once a window came back short: nothing is fetched from there on. */
  private eofAt = Infinity;
  private lastEnd = -1;

  constructor(
    private readonly get: (start: number, end: number, signal: AbortSignal) => Promise<Buffer>,
    /** The object's size as last listed: no window starts at or past it (a short one still ends the
     * file wherever the store says it ends). */
    private sizeHint: number,
  ) {}

  /** Forgets what was fetched (the object was replaced). */
  reset(sizeHint?: number): void {
    for (const w of this.windows) if (w.waiters === 0) w.abort.abort();
    this.windows = [];
    this.eofAt = Infinity;
    if (sizeHint !== undefined) this.sizeHint = sizeHint;
  }

  async read(offset: number, len: number): Promise<Buffer> {
    const end = offset + len;
    let i = this.windows.findIndex((w) => offset >= w.start && offset < w.start + w.len);
    if (i < 0) {
      const sequential = offset === this.lastEnd;
      this.reset();
      this.next = offset;
      this.size = sequential ? Math.min(READAHEAD_MAX, this.size * 2) : READAHEAD_MIN;
      this.add(Math.max(len, this.size), true);
      i = 0;
    } else {
      // A hit: drop what lies more than one window behind, keep DEPTH windows beyond this one.
      if (i > 1) {
        this.windows.splice(0, i - 1);
        i = 1;
      }
      while (this.windows.length - 1 - i < READAHEAD_DEPTH && this.next < Math.min(this.eofAt, this.sizeHint)) {
        this.size = Math.min(READAHEAD_MAX, this.size * 2);
        this.add(this.size, false);
      }
    }
    this.lastEnd = end;
    const parts: Buffer[] = [];
    let pos = offset;
    // A snapshot: other reads of this file may drop or replace windows while this one waits.
    for (const w of this.windows.slice(i)) {
      if (pos >= end || pos < w.start || pos >= w.start + w.len) break;
      w.waiters++;
      let b: Buffer;
      try {
        b = await w.data;
      } catch (err) {
        if (w.abort.signal.aborted) break; // abandoned past the end: the store said where it ends
        if (this.windows.includes(w)) this.reset(); // the next read asks again
        throw err;
      } finally {
        w.waiters--;
      }
      if (pos - w.start >= b.length) break;
      const part = b.subarray(pos - w.start, Math.min(b.length, end - w.start));
      parts.push(part);
      pos += part.length;
      if (b.length < w.len) break; // the object ends inside this window
    }
    // A read past what is in flight (a huge read, or the windows were dropped meanwhile).
    if (pos < end && pos < this.eofAt) {
      const rest = await this.get(pos, end - 1, new AbortController().signal);
      if (rest.length > 0) parts.push(rest);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private add(len: number, first: boolean): void {
    const w: Window = { start: this.next, len, data: undefined as unknown as Promise<Buffer>, abort: new AbortController(), waiters: 0 };
    w.data = this.get(w.start, w.start + len - 1, w.abort.signal).then((b) => {
      if (b.length < len) this.ended(w.start + b.length);
      return b;
    });
    // A window abandoned or failed with no reader waiting must not be an unhandled rejection.
    w.data.catch(() => undefined);
    this.windows.push(w);
    this.next += len;
    if (first) this.size = Math.max(this.size, Math.min(READAHEAD_MAX, len));
  }

  private ended(at: number): void {
    if (at >= this.eofAt) return;
    this.eofAt = at;
    // Windows past the end can only come back empty.
    for (const w of this.windows) if (w.start >= at && w.waiters === 0) w.abort.abort();
  }
}
