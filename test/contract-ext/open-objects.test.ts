// Opening object-store chunk stores from URLs: the volume file pins the chunk size, bad URLs fail
// with EINVAL before any request, and data written through one open is read through the next.
import { afterAll, describe, expect, it } from 'vitest';
import { closeSharedAgents } from '../../src/backends/http/agent.js';
import { objectStoreFromUrl, openObjectChunkStore } from '../../src/backends/http/open.js';
import { errno, toErrno } from '../../src/fs/errors.js';
import { s3Config, startServer, uniqueName, unavailable, type ServerKind, type TestServer } from '../servers/servers.js';

const started: TestServer[] = [];
async function server(kind: ServerKind): Promise<TestServer> {
  const s = await startServer(kind);
  started.push(s);
  return s;
}
afterAll(async () => {
  await closeSharedAgents();
  for (const s of started) await s.stop();
});

describe('object store URLs', () => {
  it('rejects what it cannot open with EINVAL', () => {
    const cases = ['not a url', 'ftp://x/y', 's3:///nobucket', 's3://b/p?endpoint=http://h&bogus=1', 's3://b/p?addressing=sideways'];
    for (const url of cases) {
      let err: unknown;
      try {
        objectStoreFromUrl(url, { accessKeyId: 'a', secretAccessKey: 'b' });
      } catch (e) {
        err = e;
      }
      expect(toErrno(err), url).toBe(errno.EINVAL);
    }
  });
});

for (const kind of ['s3', 'webdav'] as const) {
  const skip = unavailable(kind);
  describe.skipIf(skip !== undefined)(`openObjectChunkStore on ${kind}${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 60_000 }, () => {
    it('pins the chunk size in the volume and finds the data again', async () => {
      const s = await server(kind);
      const vol = uniqueName('open');
      let url: string;
      const creds = kind === 's3' ? { accessKeyId: s3Config(s.url).accessKeyId, secretAccessKey: s3Config(s.url).secretAccessKey } : {};
      if (kind === 's3') url = `s3://${s3Config(s.url).bucket}/${vol}?endpoint=${encodeURIComponent(s.url)}`;
      else url = `webdav+${s.url.replace(/\/?$/, '/')}${vol}/`;
      const a = await openObjectChunkStore(url, { ...creds, chunkSize: 8192 });
      expect(a.chunkSize).toBe(8192);
      await a.write(5, 1, 100, Buffer.from('persisted'));
      const b = await openObjectChunkStore(url, creds);
      expect(b.chunkSize).toBe(8192);
      expect((await b.read(5, 1, 100, 9)).toString()).toBe('persisted');
      expect((await openObjectChunkStore(url, { ...creds, chunkSize: 4096 })).chunkSize).toBe(8192); // a volume keeps its size
      await b.remove(5, 0);
      expect(await b.list(5)).toEqual([]);
    });
  });
}
