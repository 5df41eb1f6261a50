// Object native layout against real servers (MinIO for S3, nginx for WebDAV): what the store's own
// clients put is what the filesystem shows, and what the filesystem writes is what they read back.
// The filesystem is called the way a transport calls it (no kernel here; the FUSE e2e is separate).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, Socket, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '../../src/backends/http/s3.js';
import { WebDavClient } from '../../src/backends/http/webdav.js';
import { ObjectNativeFs } from '../../src/fs/native/object-native.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../src/fs/operations.js';
import { s3Config, startServer, uniqueName, unavailable, type TestServer } from '../servers/servers.js';
import { caller, captureLog, errnoOf, listDir, readFile, split, walk, writeFile, type LogLine } from './helpers.js';

const T = 180_000;

/** What a test needs from one store kind: a fresh mount URL and the store's own client calls. */
interface Kit {
  url: string;
  put(path: string, body: Buffer | string): Promise<void>;
  get(path: string): Promise<Buffer | undefined>;
  exists(path: string): Promise<boolean>;
}

async function s3Kit(server: TestServer): Promise<Kit & { client: S3Client; prefix: string; creds: { accessKeyId: string; secretAccessKey: string } }> {
  const c = s3Config(server.url);
  const client = new S3Client(c);
  const prefix = `${uniqueName('native')}/`;
  const url = `s3://${c.bucket}/${prefix}?endpoint=${encodeURIComponent(c.endpoint)}&region=${c.region}&addressing=path`;
  return {
    url,
    client,
    prefix,
    creds: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    put: async (p, b) => void (await client.putObject(prefix + p, Buffer.from(b))),
    get: (p) => client.getObject(prefix + p),
    exists: async (p) => (await client.headObject(prefix + p)) !== undefined,
  };
}

async function davKit(server: TestServer): Promise<Kit & { client: WebDavClient }> {
  const base = server.url.endsWith('/') ? server.url : `${server.url}/`;
  const dir = uniqueName('native');
  await new WebDavClient({ url: base }).mkcol(`${dir}/`);
  const client = new WebDavClient({ url: `${base}${dir}/` });
  return {
    url: `webdav+${base}${dir}/`,
    client,
    put: (p, b) => client.put(p, Buffer.from(b)),
    get: (p) => client.get(p),
    exists: async (p) => (await client.propfind(p, 0)) !== undefined,
  };
}

async function mount(kit: Kit, creds?: { accessKeyId: string; secretAccessKey: string }, name = 'objtest'): Promise<{ fs: ObjectNativeFs; lines: LogLine[] }> {
  const { log, lines } = captureLog('info');
  const fs = await ObjectNativeFs.open(kit.url, { log, mount: name, connectTimeoutMs: 2000, commandTimeoutMs: 10_000, cacheMs: 0, ...creds });
  return { fs, lines };
}

async function writeAt(fs: ObjectNativeFs, path: string, offset: number, data: string | Buffer): Promise<void> {
  const ino = await walk(fs, path);
  const fh = await fs.open(caller, ino, 1);
  try {
    await fs.write(ino, fh, offset, Buffer.from(data));
    await fs.flush(ino, fh);
  } finally {
    await fs.release(ino, fh);
  }
}

async function mkdir(fs: ObjectNativeFs, path: string): Promise<void> {
  const { dir, name } = split(path);
  await fs.newInode(caller, await walk(fs, dir), name, { mode: 0o40755 });
}

async function rename(fs: ObjectNativeFs, from: string, to: string, flags = 0): Promise<void> {
  const a = split(from);
  const b = split(to);
  await fs.rename(caller, await walk(fs, a.dir), a.name, await walk(fs, b.dir), b.name, flags);
}

async function remove(fs: ObjectNativeFs, path: string, isDir: boolean): Promise<void> {
  const { dir, name } = split(path);
  await fs.removeDentry(caller, await walk(fs, dir), name, isDir);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

for (const kind of ['s3', 'webdav'] as const) {
  const skip = unavailable(kind);
  describe.skipIf(skip !== undefined)(`object native layout on ${kind}${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
    let server: TestServer;
    let kit: Kit;
    let creds: { accessKeyId: string; secretAccessKey: string } | undefined;
    let fs: ObjectNativeFs;
    let lines: LogLine[];

    beforeAll(async () => {
      server = await startServer(kind);
      if (kind === 's3') {
        const k = await s3Kit(server);
        kit = k;
        creds = k.creds;
      } else {
        kit = await davKit(server);
      }
      ({ fs, lines } = await mount(kit, creds));
    }, T);

    afterAll(async () => {
      await fs?.destroy();
      await server?.stop();
    }, T);

    it('an object put with the store client is a file with its content and size', async () => {
      await kit.put('truth/hello.txt', 'hello from the client');
      const attr = await fs.getattr(await walk(fs, 'truth/hello.txt'));
      expect(attr.size).toBe(21);
      expect(attr.mode).toBe(0o100644);
      expect((await fs.getattr(await walk(fs, 'truth'))).mode).toBe(0o40755);
      expect((await readFile(fs, 'truth/hello.txt')).toString()).toBe('hello from the client');
      expect(await listDir(fs, 'truth', true)).toEqual(['hello.txt']);
    });

    it('a file written through the mount is read back by the store client byte for byte', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await writeFile(fs, 'out.bin', data, true);
      expect(sha((await kit.get('out.bin'))!)).toBe(sha(data));
      expect((await readFile(fs, 'out.bin')).equals(data)).toBe(true);
    });

    it('random writes, appends and truncates are staged and uploaded at close', async () => {
      await kit.put('edit.txt', 'abcdefghij');
      await writeAt(fs, 'edit.txt', 3, 'XYZ'); // the middle of an existing object
      expect((await kit.get('edit.txt'))!.toString()).toBe('abcXYZghij');
      await writeAt(fs, 'edit.txt', 10, '+tail'); // an append
      expect((await kit.get('edit.txt'))!.toString()).toBe('abcXYZghij+tail');
      const ino = await walk(fs, 'edit.txt');
      await fs.setattr(caller, ino, { size: 4 }); // truncate(1): not open
      expect((await kit.get('edit.txt'))!.toString()).toBe('abcX');
      await fs.setattr(caller, ino, { size: 6 }); // extends with zeros
      expect((await kit.get('edit.txt'))!).toEqual(Buffer.from('abcX\0\0'));
      // ftruncate while open, then a write past the end: one upload at close shows both.
      const fh = await fs.open(caller, ino, 2);
      await fs.setattr(caller, ino, { size: 2, fh });
      await fs.write(ino, fh, 5, Buffer.from('!'));
      expect((await fs.getattr(ino)).size).toBe(6);
      expect((await fs.read(ino, fh, 0, 100)).equals(Buffer.from('ab\0\0\0!'))).toBe(true);
      expect((await kit.get('edit.txt'))!.toString()).toBe('abcX\0\0'); // not uploaded before close
      await fs.sync(ino, fh, false);
      expect((await kit.get('edit.txt'))!).toEqual(Buffer.from('ab\0\0\0!'));
      await fs.release(ino, fh);
      // truncate(2) by path while another descriptor is open: in the store at once, and the
      // reader's read-ahead of the old object is dropped.
      const rd = await fs.open(caller, ino, 0);
      expect((await fs.read(ino, rd, 0, 100)).length).toBe(6);
      await fs.setattr(caller, ino, { size: 1 });
      expect((await kit.get('edit.txt'))!.toString()).toBe('a');
      expect((await fs.read(ino, rd, 0, 100)).toString()).toBe('a');
      await fs.release(ino, rd);
    });

    it('rename of a file moves the object; NOREPLACE and EXCHANGE', async () => {
      await kit.put('mv/a.txt', 'A');
      await kit.put('mv/b.txt', 'B');
      await rename(fs, 'mv/a.txt', 'mv/c.txt');
      expect(await kit.exists('mv/a.txt')).toBe(false);
      expect((await kit.get('mv/c.txt'))!.toString()).toBe('A');
      expect(await errnoOf(rename(fs, 'mv/c.txt', 'mv/b.txt', RENAME_NOREPLACE))).toBe('EEXIST');
      expect(await errnoOf(rename(fs, 'mv/c.txt', 'mv/b.txt', RENAME_EXCHANGE))).toBe('EINVAL');
      await rename(fs, 'mv/c.txt', 'mv/b.txt'); // over an existing file
      expect((await kit.get('mv/b.txt'))!.toString()).toBe('A');
      expect(await listDir(fs, 'mv')).toEqual(['b.txt']);
    });

    it(kind === 's3' ? 'rename of a directory is EXDEV with a log line (mv copies)' : 'rename of a directory is one MOVE', async () => {
      await kit.put('tree/x/1.txt', 'one');
      await kit.put('tree/x/sub/2.txt', 'two');
      if (kind === 's3') {
        expect(await errnoOf(rename(fs, 'tree/x', 'tree/y'))).toBe('EXDEV');
        expect(lines.some((l) => l.level === 40 && /^mount objtest: rename \/tree\/x: .*EXDEV/.test(l.msg))).toBe(true);
        expect(await kit.exists('tree/x/1.txt')).toBe(true);
      } else {
        await rename(fs, 'tree/x', 'tree/y');
        expect(await kit.exists('tree/x/1.txt')).toBe(false);
        expect((await kit.get('tree/y/sub/2.txt'))!.toString()).toBe('two');
        expect((await readFile(fs, 'tree/y/1.txt')).toString()).toBe('one');
      }
    });

    it('mkdir, rmdir and ENOTEMPTY; an emptied directory stays until rmdir', async () => {
      await mkdir(fs, 'made');
      if (kind === 's3') expect(await kit.exists('made/')).toBe(true); // the marker others see
      expect(await listDir(fs, 'made')).toEqual([]);
      await writeFile(fs, 'made/f', 'x', true);
      expect(await errnoOf(remove(fs, 'made', true))).toBe('ENOTEMPTY');
      expect(await errnoOf(remove(fs, 'made/f', true))).toBe('ENOTDIR');
      expect(await errnoOf(remove(fs, 'made', false))).toBe('EISDIR');
      await remove(fs, 'made/f', false);
      expect(await kit.exists('made/f')).toBe(false);
      await remove(fs, 'made', true);
      expect(await errnoOf(walk(fs, 'made'))).toBe('ENOENT');
      // A directory that existed only through its last object (no marker) stays after unlinking it.
      await kit.put('implicit/only', 'o');
      await remove(fs, 'implicit/only', false);
      expect(await listDir(fs, 'implicit')).toEqual([]);
      await remove(fs, 'implicit', true);
      expect(await errnoOf(mkdir(fs, 'truth'))).toBe('EEXIST');
    });

    it('what the store cannot honour fails at once with EPERM/ENOTSUP and a warn line naming the mount', async () => {
      await kit.put('victim', 'v');
      const ino = await walk(fs, 'victim');
      const root = fs.rootIno;
      const before = lines.filter((l) => l.level === 40).length;
      const cases: [string, () => Promise<unknown>][] = [
        ['EPERM', () => fs.setattr(caller, ino, { mode: 0o100600 })],
        ['EPERM', () => fs.setattr(caller, ino, { uid: 4321 })],
        ['EPERM', () => fs.setattr(caller, ino, { mtimeNs: 1_000_000_000n })],
        ['EPERM', () => fs.addDentry(caller, root, 'hard', ino)],
        ['EPERM', () => fs.newInode(caller, root, 'soft', { mode: 0o120777, symlink: 'victim' })],
        ['EPERM', () => fs.newInode(caller, root, 'fifo', { mode: 0o010644 })],
        ['ENOTSUP', () => fs.fallocate(ino, 0, 0, 0, 4096)],
        ['ENOTSUP', () => fs.setxattr(caller, ino, 'user.color', Buffer.from('blue'), 0)],
        ['EPERM', () => fs.setxattr(caller, ino, kind === 's3' ? 'user.s3.etag' : 'user.dav.etag', Buffer.from('x'), 0)],
      ];
      for (const [want, f] of cases) expect(await errnoOf(f())).toBe(want);
      const warns = lines.filter((l) => l.level === 40).slice(before);
      expect(warns.length).toBe(cases.length);
      for (const w of warns) expect(w.msg).toMatch(/^mount objtest: /);
      expect(await kit.exists('hard')).toBe(false);
      expect(await fs.setattr(caller, ino, { mode: 0o100644, mtimeNs: 'now' })).toMatchObject({ mode: 0o100644 });
      expect(await errnoOf(fs.getxattr(caller, ino, 'user.color'))).toBe('ENODATA');
    });

    // nginx's dav_ext reports no getetag in PROPFIND, so user.dav.etag is absent on it.
    it.skipIf(kind === 'webdav')('the ETag is a read-only xattr', async () => {
      await kit.put('tagged', 'some bytes');
      const ino = await walk(fs, 'tagged');
      const name = 'user.s3.etag';
      expect(await fs.listxattr(caller, ino)).toEqual([name]);
      expect((await fs.getxattr(caller, ino, name)).toString()).toMatch(/^"?[0-9a-f-]+"?$/);
    });

    if (kind === 's3') {
      it('a 64 MiB file is uploaded with multipart from the staging file and reads back whole', async () => {
        const ino = (await fs.newInode(caller, fs.rootIno, 'big.bin', { mode: 0o100644 })).ino;
        const fh = await fs.open(caller, ino, 1);
        const h = createHash('sha256');
        const chunk = randomBytes(1024 * 1024);
        for (let i = 0; i < 64; i++) {
          chunk.writeUInt32LE(i, 0);
          h.update(chunk);
          await fs.write(ino, fh, i * chunk.length, chunk);
        }
        await fs.flush(ino, fh);
        await fs.release(ino, fh);
        const k = kit as Awaited<ReturnType<typeof s3Kit>>;
        const head = await k.client.headObject(`${k.prefix}big.bin`);
        expect(head?.size).toBe(64 * 1024 * 1024);
        expect(head?.etag).toMatch(/-8"?$/); // 8 parts of 8 MiB
        const back = createHash('sha256');
        const fh2 = await fs.open(caller, ino, 0);
        for (let off = 0; ; ) {
          const b = await fs.read(ino, fh2, off, 128 * 1024);
          if (b.length === 0) break;
          back.update(b);
          off += b.length;
        }
        await fs.release(ino, fh2);
        expect(back.digest('hex')).toBe(h.digest('hex'));
      });

      it('a directory of 10,000 objects lists each once', async () => {
        const k = kit as Awaited<ReturnType<typeof s3Kit>>;
        const names = Array.from({ length: 10_000 }, (_, i) => `k${i}`);
        let next = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (next < names.length) {
              const n = names[next++]!;
              await k.client.putObject(`${k.prefix}many/${n}`, Buffer.from(n));
            }
          }),
        );
        const t = Date.now();
        const listed = await listDir(fs, 'many', true, 500);
        expect(Date.now() - t).toBeLessThan(20_000);
        expect(listed.length).toBe(10_000);
        expect(new Set(listed).size).toBe(10_000);
        expect((await readFile(fs, 'many/k4242')).toString()).toBe('k4242');
      });
    }
  });
}

/** A TCP relay in front of a real server that can stop answering (freeze) or vanish (kill). */
class Relay {
  private server: Server;
  private readonly sockets = new Set<Socket>();
  frozen = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      if (this.frozen) return;
      const up = new Socket();
      this.sockets.add(up);
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
      up.connect(this.target.port, this.target.host, () => {
        client.on('data', (d) => {
          if (!this.frozen) up.write(d);
        });
        up.on('data', (d) => {
          if (!this.frozen) client.write(d);
        });
      });
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  async kill(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

for (const kind of ['s3', 'webdav'] as const) {
  const skip = unavailable(kind);
  describe.skipIf(skip !== undefined)(`object native layout on ${kind}: a dead server${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
    it('a silent server fails with ETIMEDOUT within the timeout, a gone one with EIO; never a hang', async () => {
      const server = await startServer(kind);
      const up = new URL(server.url);
      const relay = new Relay({ host: up.hostname, port: Number(up.port) });
      await relay.start();
      try {
        const kit = kind === 's3' ? await s3Kit(server) : await davKit(server);
        const viaRelay = kit.url.replace(`${up.hostname}:${up.port}`, `127.0.0.1:${relay.port}`).replace(encodeURIComponent(`${up.hostname}:${up.port}`), encodeURIComponent(`127.0.0.1:${relay.port}`));
        await kit.put('f', 'data');
        const creds = 'creds' in kit ? (kit as { creds: { accessKeyId: string; secretAccessKey: string } }).creds : {};
        const { log, lines } = captureLog('info');
        const fs = await ObjectNativeFs.open(viaRelay, { log, mount: 'dead', connectTimeoutMs: 500, commandTimeoutMs: 800, cacheMs: 0, ...creds });
        expect((await readFile(fs, 'f')).toString()).toBe('data');
        relay.frozen = true;
        let t = Date.now();
        expect(await errnoOf(readFile(fs, 'f'))).toBe('ETIMEDOUT');
        expect(Date.now() - t).toBeLessThan(4000);
        await relay.kill();
        t = Date.now();
        expect(await errnoOf(readFile(fs, 'f'))).toMatch(/^(EIO|ETIMEDOUT)$/);
        expect(Date.now() - t).toBeLessThan(4000);
        expect(lines.some((l) => l.level === 40 && /^mount dead: store request failed/.test(l.msg))).toBe(true);
        await fs.destroy();
      } finally {
        await relay.kill().catch(() => undefined);
        await server.stop();
      }
    });
  });
}
