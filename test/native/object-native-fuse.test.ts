// Object native layout through the kernel: ObjectNativeFs served in this process by the FUSE
// transport over real MinIO and nginx, used with ordinary tools (cp, cat, ls, mv, rm -r, dd) in
// child processes, while the store's own clients read and write the same objects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '../../src/backends/http/s3.js';
import { WebDavClient } from '../../src/backends/http/webdav.js';
import { ObjectNativeFs } from '../../src/fs/native/object-native.js';
import { s3Config, startServer, uniqueName, unavailable, type TestServer } from '../servers/servers.js';
import { captureLog, type FuseMount, fuseUnavailable, type LogLine, mountFuse, sh, shOk } from './helpers.js';

interface Store {
  url: string;
  creds?: { accessKeyId: string; secretAccessKey: string };
  put(p: string, body: string): Promise<void>;
  get(p: string): Promise<string | undefined>;
}

async function storeFor(kind: 's3' | 'webdav', server: TestServer): Promise<Store> {
  if (kind === 's3') {
    const c = s3Config(server.url);
    const client = new S3Client(c);
    const prefix = `${uniqueName('fuse')}/`;
    return {
      url: `s3://${c.bucket}/${prefix}?endpoint=${encodeURIComponent(c.endpoint)}&region=${c.region}&addressing=path`,
      creds: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
      put: async (p, b) => void (await client.putObject(prefix + p, Buffer.from(b))),
      get: async (p) => (await client.getObject(prefix + p))?.toString(),
    };
  }
  const base = server.url.endsWith('/') ? server.url : `${server.url}/`;
  const dir = uniqueName('fuse');
  await new WebDavClient({ url: base }).mkcol(`${dir}/`);
  const client = new WebDavClient({ url: `${base}${dir}/` });
  return {
    url: `webdav+${base}${dir}/`,
    put: (p, b) => client.put(p, Buffer.from(b)),
    get: async (p) => (await client.get(p))?.toString(),
  };
}

const T = 180_000;

for (const kind of ['s3', 'webdav'] as const) {
  const skip = unavailable(kind) ?? fuseUnavailable;
  describe.skipIf(skip !== undefined)(`object native layout on ${kind} through FUSE${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
    let server: TestServer;
    let store: Store;
    let fs: ObjectNativeFs;
    let m: FuseMount | undefined;
    let mp: string;
    let lines: LogLine[];

    beforeAll(async () => {
      server = await startServer(kind);
      store = await storeFor(kind, server);
      const cap = captureLog('info');
      lines = cap.lines;
      fs = await ObjectNativeFs.open(store.url, { log: cap.log, mount: 'e2e', connectTimeoutMs: 2000, commandTimeoutMs: 10_000, cacheMs: 0, ...store.creds });
      m = await mountFuse(fs, { tmpPrefix: 'zufs-objnative-', fsName: store.url.replace(/\?.*/, ''), fsType: `zufs-${kind}`, log: cap.log });
      mp = m.mp;
    }, T);

    afterAll(async () => {
      await m?.close();
      await server?.stop();
    }, T);

    it('objects from the store are files; cp, cat, ls, dd conv=notrunc, append and truncate reach the store', async () => {
      await store.put('docs/readme.txt', 'hello object');
      expect(await shOk('cat docs/readme.txt; echo; stat -c "%s %F %a" docs/readme.txt docs', mp)).toBe('hello object\n12 regular file 644\n0 directory 755\n');
      await shOk('head -c 3000000 /dev/urandom > /tmp/zufs-objnative-src && cp /tmp/zufs-objnative-src copy.bin && cmp /tmp/zufs-objnative-src copy.bin', mp);
      expect(await shOk('md5sum < copy.bin', mp)).toBe(await shOk('md5sum < /tmp/zufs-objnative-src && rm /tmp/zufs-objnative-src'));
      await shOk('printf "written by printf" > note && printf " and more" >> note', mp);
      expect(await store.get('note')).toBe('written by printf and more');
      await shOk('printf XY | dd of=note bs=1 seek=8 conv=notrunc status=none', mp);
      expect(await store.get('note')).toBe('written XY printf and more');
      await shOk('truncate -s 7 note', mp);
      expect(await store.get('note')).toBe('written');
      await shOk('mkdir -p new/deep && printf v > new/deep/file', mp);
      expect(await store.get('new/deep/file')).toBe('v');
      expect(await shOk('ls', mp)).toBe('copy.bin\ndocs\nnew\nnote\n');
    });

    it('mv of a file and of a directory; rm -r', async () => {
      await shOk('mkdir -p tree/a && printf 1 > tree/a/one && printf 2 > tree/a/two && mv tree/a/one tree/a/uno', mp);
      expect(await store.get('tree/a/uno')).toBe('1');
      expect(await store.get('tree/a/one')).toBeUndefined();
      await shOk('mv tree/a tree/b', mp); // S3: rename(2) is EXDEV and mv copies; WebDAV: one MOVE
      expect(await shOk('ls tree; cat tree/b/uno tree/b/two', mp)).toBe('b\n12');
      expect(await store.get('tree/b/two')).toBe('2');
      expect(await store.get('tree/a/two')).toBeUndefined();
      if (kind === 's3') expect(lines.some((l) => l.level === 40 && /rename \/tree\/a: .*EXDEV/.test(l.msg))).toBe(true);
      await shOk('rm -r tree', mp);
      expect(await store.get('tree/b/uno')).toBeUndefined();
      expect((await sh('ls tree', mp)).code).not.toBe(0);
    });

    it('what the store cannot honour fails at once with the precise errno', async () => {
      await store.put('victim', 'v');
      const expectations: [string, RegExp][] = [
        ['chmod 600 victim', /Operation not permitted/],
        ['ln victim hard', /Operation not permitted/],
        ['ln -s victim soft', /Operation not permitted/],
        ['fallocate -l 1M victim', /Operation not supported/],
        ['setfattr -n user.color -v blue victim', /Operation not supported/],
      ];
      for (const [cmd, want] of expectations) {
        const r = await sh(cmd, mp);
        expect(r.code, cmd).not.toBe(0);
        expect(r.err, cmd).toMatch(want);
      }
      expect(await store.get('hard')).toBeUndefined();
    });
  });
}
