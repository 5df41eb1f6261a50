// The S3 and WebDAV clients against real servers (MinIO, nginx), and what every HTTP store must do
// when the server is gone or silent: fail within the configured timeout with an errno, never hang.
import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSharedAgents, HttpStoreError } from '../../src/backends/http/agent.js';
import { S3Client, encodeS3 } from '../../src/backends/http/s3.js';
import { WebDavClient } from '../../src/backends/http/webdav.js';
import { parseXml, find, children } from '../../src/backends/http/xml.js';
import { errno, toErrno } from '../../src/fs/errors.js';
import { freePort, s3Config, startServer, uniqueName, unavailable, type TestServer } from '../servers/servers.js';

afterAll(async () => {
  await closeSharedAgents();
});

const s3Skip = unavailable('s3');
describe.skipIf(s3Skip !== undefined)(`S3 client${s3Skip ? ` (skipped: ${s3Skip})` : ''}`, { timeout: 60_000 }, () => {
  let server: TestServer;
  let s3: S3Client;
  let p: string;
  beforeAll(async () => {
    server = await startServer('s3');
    s3 = new S3Client(s3Config(server.url));
    p = `${uniqueName('client')}/`;
  }, 60_000);
  afterAll(async () => {
    if (s3) {
      const keys: string[] = [];
      for await (const o of s3.listAll(p)) keys.push(o.key);
      await s3.deleteObjects(keys);
    }
    await server?.stop();
  });

  it('puts, gets, ranges, heads and deletes, awkward keys included', async () => {
    const key = `${p}dir/ü b+c %20 (1)!*'.txt`;
    await s3.putObject(key, Buffer.from('hello, object world'));
    expect((await s3.getObject(key))!.toString()).toBe('hello, object world');
    expect((await s3.getObject(key, { start: 7, end: 12 }))!.toString()).toBe('object');
    expect((await s3.getObject(key, { start: 14 }))!.toString()).toBe('world');
    expect((await s3.getObject(key, { start: 100, end: 200 }))!.length).toBe(0);
    const head = await s3.headObject(key);
    expect(head!.size).toBe(19);
    expect(head!.etag).toBe(`"${createHash('md5').update('hello, object world').digest('hex')}"`);
    await s3.deleteObject(key);
    expect(await s3.getObject(key)).toBeUndefined();
    expect(await s3.headObject(key)).toBeUndefined();
    await s3.deleteObject(key); // deleting twice is fine
  });

  it('stores an empty object', async () => {
    await s3.putObject(`${p}empty`, Buffer.alloc(0));
    expect((await s3.getObject(`${p}empty`))!.length).toBe(0);
    expect((await s3.headObject(`${p}empty`))!.size).toBe(0);
  });

  it('lists 1,200 keys across pages with continuation tokens, and by delimiter', async () => {
    const dir = `${p}many/`;
    const keys = Array.from({ length: 1200 }, (_, i) => `${dir}k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((k) => s3.putObject(k, Buffer.from(k))));
    }
    await s3.putObject(`${dir}sub/x`, Buffer.from('x'));
    const first = await s3.listPage({ prefix: dir, maxKeys: 1000 });
    expect(first.objects.length).toBe(1000);
    expect(first.nextContinuationToken).toBeTruthy();
    const seen: string[] = [];
    for await (const o of s3.listAll(dir, 500)) seen.push(o.key);
    expect(seen.length).toBe(1201);
    expect(seen.slice(0, 1200)).toEqual(keys);
    const top = await s3.listPage({ prefix: dir, delimiter: '/', maxKeys: 1000, startAfter: `${dir}k01190` });
    expect(top.objects.map((o) => o.key)).toEqual(keys.slice(1191));
    expect(top.prefixes).toEqual([`${dir}sub/`]);
    await s3.deleteObjects([...keys, `${dir}sub/x`]);
    expect((await s3.listPage({ prefix: dir })).objects).toEqual([]);
  });

  it('copies server-side', async () => {
    await s3.putObject(`${p}src`, Buffer.from('copy me'));
    await s3.copyObject(`${p}src`, `${p}dst dir/copy`);
    expect((await s3.getObject(`${p}dst dir/copy`))!.toString()).toBe('copy me');
    const err = await s3.copyObject(`${p}missing`, `${p}x`).catch((e: unknown) => e);
    expect(toErrno(err)).toBe(errno.ENOENT);
  });

  it('uploads 12 MiB in multipart and reads it back whole and in ranges', async () => {
    const big = Buffer.alloc(12 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const etag = await s3.putObjectMultipart(`${p}big`, big, 5 * 1024 * 1024);
    expect(etag).toMatch(/-3"?$/); // three parts
    const back = await s3.getObject(`${p}big`);
    expect(back!.length).toBe(big.length);
    expect(back!.equals(big)).toBe(true);
    const mid = await s3.getObject(`${p}big`, { start: 5 * 1024 * 1024 - 10, end: 5 * 1024 * 1024 + 9 });
    expect(mid!.equals(big.subarray(5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10))).toBe(true);
  });

  it('switches to multipart above the threshold by itself', async () => {
    const c = new S3Client({ ...s3Config(server.url), multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    const data = Buffer.alloc(7 * 1024 * 1024, 9);
    await c.putObject(`${p}auto`, data);
    expect((await c.headObject(`${p}auto`))!.etag).toMatch(/-2"$/);
  });

  it('maps a wrong secret to EACCES and a missing bucket to ENOENT', async () => {
    const bad = new S3Client({ ...s3Config(server.url), secretAccessKey: 'wrong-secret' });
    const e1 = await bad.getObject(`${p}x`).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(HttpStoreError);
    expect(toErrno(e1)).toBe(errno.EACCES);
    const nob = new S3Client({ ...s3Config(server.url), bucket: 'no-such-bucket-zufs' });
    const e2 = await nob.putObject('x', Buffer.from('x')).catch((e: unknown) => e);
    expect(toErrno(e2)).toBe(errno.ENOENT);
    expect((e2 as HttpStoreError).storeCode).toBe('NoSuchBucket');
  });
});

describe('S3 signing', () => {
  it('reproduces the AWS SigV4 example for a ranged GET (S3 API reference, "Example: GET Object")', async () => {
    const c = new S3Client({
      endpoint: 'https://s3.amazonaws.com',
      bucket: 'examplebucket',
      addressing: 'virtual',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    });
    const h = await c.signedHeaders('GET', 'test.txt', {}, { range: 'bytes=0-9' }, undefined, new Date('2013-05-24T00:00:00Z'));
    expect(h['authorization']).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });
});

describe('S3 addressing', () => {
  it('builds path-style and virtual-host URLs with S3 key encoding', () => {
    const base = { endpoint: 'https://s3.example.com:8443', bucket: 'bkt', accessKeyId: 'a', secretAccessKey: 'b' };
    expect(new S3Client(base).url('a b/c+d', { 'list-type': '2' })).toBe('https://s3.example.com:8443/bkt/a%20b/c%2Bd?list-type=2');
    expect(new S3Client({ ...base, addressing: 'virtual' }).url('x/../y')).toBe('https://bkt.s3.example.com:8443/x/%2E%2E/y');
    expect(encodeS3("!'()*~-._")).toBe('%21%27%28%29%2A~-._');
  });
});

const davSkip = unavailable('webdav');
describe.skipIf(davSkip !== undefined)(`WebDAV client${davSkip ? ` (skipped: ${davSkip})` : ''}`, { timeout: 30_000 }, () => {
  let server: TestServer;
  let dav: WebDavClient;
  let p: string;
  beforeAll(async () => {
    server = await startServer('webdav');
    p = `${uniqueName('dav')}/`;
    dav = new WebDavClient({ url: server.url });
  }, 60_000);
  afterAll(async () => {
    await dav?.delete(p).catch(() => undefined);
    await server?.stop();
  });

  it('makes collections, puts, lists with PROPFIND, moves, copies and deletes', async () => {
    await dav.mkcolAll(`${p}a/b`);
    await dav.mkcol(`${p}a`); // existing: fine
    await dav.put(`${p}a/b/file one.txt`, Buffer.from('0123456789'));
    await dav.put(`${p}a/ü.bin`, Buffer.from([0, 1, 2]));
    const ents = await dav.list(`${p}a/`);
    expect(ents.map((e) => [e.name, e.isCollection, e.size]).sort()).toEqual([
      ['b', true, 0],
      ['ü.bin', false, 3],
    ]);
    const self = await dav.propfind(`${p}a/b/file one.txt`, 0);
    expect(self).toHaveLength(1);
    expect(self![0]!.size).toBe(10);
    expect(self![0]!.path).toBe(`${p}a/b/file one.txt`);
    expect((await dav.get(`${p}a/b/file one.txt`, { start: 2, end: 4 }))!.toString()).toBe('234');
    expect((await dav.get(`${p}a/b/file one.txt`, { start: 50 }))!.length).toBe(0);
    await dav.move(`${p}a/b/file one.txt`, `${p}a/moved.txt`);
    expect(await dav.get(`${p}a/b/file one.txt`)).toBeUndefined();
    await dav.copy(`${p}a/moved.txt`, `${p}a/copy.txt`);
    expect((await dav.get(`${p}a/copy.txt`))!.toString()).toBe('0123456789');
    const noClobber = await dav.move(`${p}a/copy.txt`, `${p}a/moved.txt`, false).catch((e: unknown) => e);
    expect(toErrno(noClobber)).toBe(errno.EEXIST);
    await dav.delete(`${p}a/`);
    expect(await dav.propfind(`${p}a/`, 0)).toBeUndefined();
    expect(await dav.list(`${p}a/`)).toEqual([]);
  });

  it('creates missing parents on put', async () => {
    await dav.put(`${p}deep/er/still/f`, Buffer.from('x'));
    expect((await dav.get(`${p}deep/er/still/f`))!.toString()).toBe('x');
  });
});

describe('xml reader', () => {
  it('reads namespaced multistatus replies, entities and CDATA', () => {
    const doc = parseXml(
      '<?xml version="1.0"?><!-- c --><d:multistatus xmlns:d="DAV:"><d:response><d:href>/a%20b/&amp;x</d:href>' +
        '<d:propstat><d:prop><lp1:getcontentlength xmlns:lp1="DAV:">12</lp1:getcontentlength><d:resourcetype/></d:prop></d:propstat>' +
        '</d:response><d:response><d:href><![CDATA[/<y>]]></d:href></d:response></d:multistatus>',
    );
    expect(doc.name).toBe('multistatus');
    const rs = children(doc, 'response');
    expect(rs.map((r) => find(r, 'href')!.text)).toEqual(['/a%20b/&x', '/<y>']);
    expect(find(rs[0]!, 'getcontentlength')!.text).toBe('12');
    expect(() => parseXml('<a><b></a>')).toThrow();
  });
});

describe('unreachable and silent HTTP servers', () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers: only the client's own timeouts can end a request.
    silent = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('fails fast with EIO when nothing listens (S3 and WebDAV)', async () => {
    const port = await freePort();
    const s3 = new S3Client({ endpoint: `http://127.0.0.1:${port}`, bucket: 'b', accessKeyId: 'a', secretAccessKey: 's', connectTimeoutMs: 500 });
    const dav = new WebDavClient({ url: `http://127.0.0.1:${port}/`, connectTimeoutMs: 500 });
    const t0 = Date.now();
    const [e1, e2] = await Promise.all([s3.getObject('k').catch((e: unknown) => e), dav.get('k').catch((e: unknown) => e)]);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(toErrno(e1)).toBe(errno.EIO);
    expect(toErrno(e2)).toBe(errno.EIO);
  });

  it('times out with ETIMEDOUT when the server accepts but never answers', async () => {
    const opts = { headersTimeoutMs: 400, bodyTimeoutMs: 400, connectTimeoutMs: 400 };
    const s3 = new S3Client({ endpoint: `http://127.0.0.1:${silentPort}`, bucket: 'b', accessKeyId: 'a', secretAccessKey: 's', ...opts });
    const dav = new WebDavClient({ url: `http://127.0.0.1:${silentPort}/`, ...opts });
    const t0 = Date.now();
    const [e1, e2] = await Promise.all([
      s3.putObject('k', Buffer.from('x')).catch((e: unknown) => e),
      dav.propfind('', 1).catch((e: unknown) => e),
    ]);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(350);
    expect(took).toBeLessThan(4000);
    expect(toErrno(e1)).toBe(errno.ETIMEDOUT);
    expect(toErrno(e2)).toBe(errno.ETIMEDOUT);
  });
});

describe('flaky HTTP servers', () => {
  it('retries idempotent requests after a 503 or a dropped connection, and nothing else', async () => {
    const seen: string[] = [];
    let n = 0;
    const srv = createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      n++;
      if (req.url === '/drop' && n % 2 === 1) {
        req.socket.destroy(); // dies under the request
        return;
      }
      if (req.url === '/busy' && n % 2 === 1) {
        res.writeHead(503).end('busy');
        return;
      }
      if (req.method === 'MOVE') {
        res.writeHead(503).end('busy');
        return;
      }
      res.writeHead(200).end('fine');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const dav = new WebDavClient({ url: `http://127.0.0.1:${port}/` });
      n = 0;
      expect((await dav.get('busy'))!.toString()).toBe('fine');
      n = 0;
      expect((await dav.get('drop'))!.toString()).toBe('fine');
      seen.length = 0;
      const err = await dav.move('a', 'b').catch((e: unknown) => e);
      expect(toErrno(err)).toBe(errno.EAGAIN);
      expect(seen).toEqual(['MOVE /a']); // not idempotent: sent once
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
