// When the object native layout's writes reach the store, against real servers (MinIO, nginx): a
// created file becomes an object at its first close or fsync (one PUT with its bytes); on S3 a
// large new file is sent while it is written (parts), and a write below what was sent falls back
// to the whole upload at close; an upload that fails fails fsync and close with
// the errno and keeps the bytes for the next try. S3 lookups in a small listed directory re-list it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '../../src/backends/http/s3.js';
import { WebDavClient } from '../../src/backends/http/webdav.js';
import { ObjectNativeFs } from '../../src/fs/native/object-native.js';
import type { NativeObjectStore, S3NativeStore } from '../../src/fs/native/object-native-store.js';
import { s3Config, startServer, uniqueName, unavailable, type TestServer } from '../servers/servers.js';
import { caller, captureLog, errnoOf, listDir, walk } from './helpers.js';

const T = 180_000;
const MiB = 1024 * 1024;

interface Kit {
  url: string;
  creds?: { accessKeyId: string; secretAccessKey: string };
  get(path: string): Promise<Buffer | undefined>;
  put(path: string, body: string): Promise<void>;
}

async function kitFor(kind: 's3' | 'webdav', server: TestServer): Promise<Kit> {
  if (kind === 's3') {
    const c = s3Config(server.url);
    const client = new S3Client(c);
    const prefix = `${uniqueName('uploads')}/`;
    return {
      url: `s3://${c.bucket}/${prefix}?endpoint=${encodeURIComponent(c.endpoint)}&region=${c.region}&addressing=path`,
      creds: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
      get: (p) => client.getObject(prefix + p),
      put: async (p, b) => void (await client.putObject(prefix + p, Buffer.from(b))),
    };
  }
  const base = server.url.endsWith('/') ? server.url : `${server.url}/`;
  const dir = uniqueName('uploads');
  await new WebDavClient({ url: base }).mkcol(`${dir}/`);
  const client = new WebDavClient({ url: `${base}${dir}/` });
  return { url: `webdav+${base}${dir}/`, get: (p) => client.get(p), put: (p, b) => client.put(p, Buffer.from(b)) };
}

const storeOf = (fs: ObjectNativeFs): NativeObjectStore => (fs as unknown as { store: NativeObjectStore }).store;

/** Counts calls of an object's method, optionally failing the next `fail` of them. */
function spy<T extends object>(obj: T, method: keyof T & string): { calls: number; fail: number } {
  const s = { calls: 0, fail: 0 };
  const orig = (obj[method] as (...a: unknown[]) => Promise<unknown>).bind(obj);
  (obj as Record<string, unknown>)[method] = async (...a: unknown[]) => {
    s.calls++;
    if (s.fail > 0) {
      s.fail--;
      throw Object.assign(new Error(`${method}: injected failure`), { code: 'EIO' });
    }
    return orig(...a);
  };
  return s;
}

for (const kind of ['s3', 'webdav'] as const) {
  const skip = unavailable(kind);
  describe.skipIf(skip !== undefined)(`object native uploads on ${kind}${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
    let server: TestServer;
    let kit: Kit;
    let fs: ObjectNativeFs;

    beforeAll(async () => {
      server = await startServer(kind);
      kit = await kitFor(kind, server);
      const { log } = captureLog('info');
      fs = await ObjectNativeFs.open(kit.url, {
        log,
        mount: 'uploads',
        connectTimeoutMs: 2000,
        commandTimeoutMs: 10_000,
        cacheMs: 0,
        multipartThresholdBytes: 5 * MiB,
        partSizeBytes: 5 * MiB,
        ...kit.creds,
      });
    }, T);

    afterAll(async () => {
      await fs?.destroy();
      await server?.stop();
    }, T);

    it('a created file is an object from its first close: one PUT with its bytes, none at create', async () => {
      const puts = spy(storeOf(fs), 'put');
      const putFiles = spy(storeOf(fs), 'putFile');
      const ino = (await fs.newInode(caller, fs.rootIno, 'new.txt', { mode: 0o100644 })).ino;
      const fh = await fs.open(caller, ino, 1);
      await fs.write(ino, fh, 0, Buffer.from('fresh bytes'));
      expect(await kit.get('new.txt')).toBeUndefined(); // not in the store before close
      // ...but this mount shows it, by lookup and in its directory.
      expect((await fs.lookup(caller, fs.rootIno, 'new.txt')).size).toBe(11);
      expect(await listDir(fs, '')).toContain('new.txt');
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
      expect((await kit.get('new.txt'))?.toString()).toBe('fresh bytes');
      expect(puts.calls + putFiles.calls).toBe(1);
    });

    it('touch (create, close) makes an empty object; mknod makes one without an open; fsync makes one', async () => {
      let ino = (await fs.newInode(caller, fs.rootIno, 'touched', { mode: 0o100644 })).ino;
      let fh = await fs.open(caller, ino, 1);
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
      expect((await kit.get('touched'))?.length).toBe(0);

      await fs.newInode(caller, fs.rootIno, 'mknoded', { mode: 0o100644 });
      for (let i = 0; i < 100 && (await kit.get('mknoded')) === undefined; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await kit.get('mknoded'))?.length).toBe(0);

      ino = (await fs.newInode(caller, fs.rootIno, 'synced', { mode: 0o100644 })).ino;
      fh = await fs.open(caller, ino, 1);
      await fs.write(ino, fh, 0, Buffer.from('durable'));
      await fs.sync(ino, fh, false);
      expect((await kit.get('synced'))?.toString()).toBe('durable'); // fsync waited for the store
      await fs.release(ino, fh);
    });

    it('a file created and unlinked before its close never reaches the store', async () => {
      const ino = (await fs.newInode(caller, fs.rootIno, 'ephemeral', { mode: 0o100644 })).ino;
      const fh = await fs.open(caller, ino, 1);
      await fs.write(ino, fh, 0, Buffer.from('gone'));
      await fs.removeDentry(caller, fs.rootIno, 'ephemeral', false);
      expect(await errnoOf(walk(fs, 'ephemeral'))).toBe('ENOENT');
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
      expect(await kit.get('ephemeral')).toBeUndefined();
    });

    it.skipIf(kind !== 's3')('a large new file is sent while it is written, and reads back whole', async () => {
      const s3 = spy((storeOf(fs) as S3NativeStore).client, 'uploadPart');
      const putFiles = spy(storeOf(fs), 'putFile');
      const data = randomBytes(18 * MiB + 333);
      const ino = (await fs.newInode(caller, fs.rootIno, 'large.bin', { mode: 0o100644 })).ino;
      const fh = await fs.open(caller, ino, 1);
      for (let off = 0; off < data.length; off += MiB) await fs.write(ino, fh, off, data.subarray(off, off + MiB));
      for (let i = 0; i < 200 && s3.calls < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(s3.calls).toBeGreaterThanOrEqual(3); // three whole 5 MiB parts went before close
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
      expect(putFiles.calls).toBe(0); // no whole upload at close
      expect((await kit.get('large.bin'))!.equals(data)).toBe(true);
    });

    it.skipIf(kind !== 's3')('a write below what was sent abandons the early upload: close uploads whole, the store has every byte', async () => {
      const putFiles = spy(storeOf(fs), 'putFile');
      const data = randomBytes(16 * MiB);
      const ino = (await fs.newInode(caller, fs.rootIno, 'patched.bin', { mode: 0o100644 })).ino;
      const fh = await fs.open(caller, ino, 1);
      for (let off = 0; off < data.length; off += MiB) await fs.write(ino, fh, off, data.subarray(off, off + MiB));
      const patch = Buffer.from('rewritten after it was sent');
      await fs.write(ino, fh, 100, patch);
      patch.copy(data, 100);
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
      expect(putFiles.calls).toBe(1);
      expect((await kit.get('patched.bin'))!.equals(data)).toBe(true);
    });

    it.skipIf(kind !== 's3')('an early upload that fails falls back to the whole upload at close', async () => {
      const early = spy((storeOf(fs) as S3NativeStore).client, 'uploadPart');
      early.fail = 1;
      const data = randomBytes(12 * MiB + 5);
      const ino = (await fs.newInode(caller, fs.rootIno, 'retried.bin', { mode: 0o100644 })).ino;
      const fh = await fs.open(caller, ino, 1);
      for (let off = 0; off < data.length; off += MiB) await fs.write(ino, fh, off, data.subarray(off, off + MiB));
      await fs.flush(ino, fh);
      await fs.release(ino, fh);
      expect(early.calls).toBeGreaterThan(0);
      expect((await kit.get('retried.bin'))!.equals(data)).toBe(true);
    });

    it('an upload that fails fails fsync and close with the errno; the bytes stay for the next try', async () => {
      await kit.put('keep.txt', 'old');
      const putFiles = spy(storeOf(fs), 'putFile');
      const ino = await walk(fs, 'keep.txt');
      const fh = await fs.open(caller, ino, 1);
      await fs.write(ino, fh, 0, Buffer.from('NEW'));
      putFiles.fail = 2;
      expect(await errnoOf(fs.sync(ino, fh, false))).toBe('EIO');
      expect(await errnoOf(fs.flush(ino, fh))).toBe('EIO');
      expect((await kit.get('keep.txt'))?.toString()).toBe('old');
      await fs.flush(ino, fh); // the store is back: the staged bytes go
      expect((await kit.get('keep.txt'))?.toString()).toBe('NEW');
      await fs.release(ino, fh);
    });

    it.skipIf(kind !== 's3')('lookups in a small directory listed before re-list it instead of a HEAD and a LIST per name', async () => {
      const { log } = captureLog('info');
      const cached = await ObjectNativeFs.open(kit.url, { log, mount: 'relist', connectTimeoutMs: 2000, commandTimeoutMs: 10_000, cacheMs: 400, ...kit.creds });
      try {
        for (let i = 0; i < 20; i++) await kit.put(`small/f${i}`, `${i}`);
        await kit.put('small/sub/x', 'x');
        expect(await listDir(cached, '')).toContain('small');
        expect((await listDir(cached, 'small')).length).toBe(21);
        const dir = await walk(cached, 'small');
        await new Promise((r) => setTimeout(r, 450)); // the listing is no longer trusted
        const stats = spy(storeOf(cached), 'stat');
        const lists = spy(storeOf(cached), 'list');
        for (let i = 0; i < 20; i++) expect((await cached.lookup(caller, dir, `f${i}`)).size).toBe(String(i).length);
        expect((await cached.lookup(caller, dir, 'sub')).mode & 0o170000).toBe(0o040000);
        expect(await errnoOf(cached.lookup(caller, dir, 'absent'))).toBe('ENOENT');
        expect(stats.calls).toBe(0);
        expect(lists.calls).toBeLessThanOrEqual(6); // the root and `small`, again only when 400 ms ran out
        await kit.put('small/late', 'seen'); // made by another tool: seen once the listing is stale
        await new Promise((r) => setTimeout(r, 450));
        expect((await cached.lookup(caller, dir, 'late')).size).toBe(4);
        expect(stats.calls).toBe(0);
      } finally {
        await cached.destroy();
      }
    });
  });
}
