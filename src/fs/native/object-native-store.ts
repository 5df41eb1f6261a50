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
  /** Bytes [start, end] (inclusive) of a file; ENOENT when it is gone. */
  get(path: string, start: number, end: number): Promise<Buffer>;
  /** Stores a small body whole. */
  put(path: string, body: Buffer): Promise<string | undefined>;
  /** Stores `size` bytes of an open file, streamed or in parts, never read whole into memory. */
  putFile(path: string, file: FileHandle, fileName: string, size: number): Promise<string | undefined>;
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

  constructor(
    readonly client: S3Client,
    readonly root: string,
    private readonly partSize: number,
    private readonly multipartThreshold: number,
  ) {}

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

  async get(path: string, start: number, end: number): Promise<Buffer> {
    const b = await this.client.getObject(this.key(path), { start, end });
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

  async get(path: string, start: number, end: number): Promise<Buffer> {
    const b = await this.client.get(path, { start, end });
    if (!b) throw fsError(errno.ENOENT, `/${path} is no longer on the server`);
    return b;
  }

  async put(path: string, body: Buffer): Promise<undefined> {
    await this.client.put(path, body);
    return undefined;
  }

  async putFile(path: string, _file: FileHandle, fileName: string, size: number): Promise<string | undefined> {
    if (size === 0) return this.put(path, Buffer.alloc(0));
    return this.client.putStream(path, () => createReadStream(fileName, { start: 0, end: size - 1 }), size);
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
