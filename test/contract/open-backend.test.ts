// openBackend(): the scheme picks the backend, and every malformed URL fails with EINVAL and a
// message that names the problem without leaking credentials; redactUrl() hides secrets.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBackend, redactUrl } from '../../src/backends/index.js';
import { errno, toErrno } from '../../src/fs/errors.js';
import { freePort } from '../helpers/redis-server.js';

async function failure(url: string, opts = {}): Promise<Error> {
  const err = await openBackend(url, opts).then(
    async (b) => {
      await b.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err, `${url} should not open`).toBeInstanceOf(Error);
  return err as Error;
}

describe('openBackend', () => {
  it('opens memory://', async () => {
    const b = await openBackend('memory://', { chunkSize: 8192 });
    expect(b.kind).toBe('memory');
    expect(b.chunks.chunkSize).toBe(8192);
    await b.close();
  });

  it('opens local:///path and creates the volume', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zufs-open-'));
    try {
      const b = await openBackend(`local://${join(dir, 'vol one')}`, { chunkSize: 8192 });
      expect(b.kind).toBe('local');
      expect(b.chunks.chunkSize).toBe(8192);
      await b.meta.commit({ checks: [], ops: [{ op: 'putDentry', parent: 1, name: 'x', ino: 2, cookie: 2 }] });
      await b.close();
      const again = await openBackend(`local://${encodeURI(join(dir, 'vol one'))}`);
      expect(again.chunks.chunkSize).toBe(8192);
      expect(await again.meta.lookup(1, 'x')).toBe(2);
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects what it cannot open, with EINVAL and a reason', async () => {
    const cases: Array<[string, string, Record<string, unknown>?]> = [
      ['not a url', 'not a URL'],
      ['ftp://host/x', 'unknown scheme "ftp"'],
      ['s3x://bucket', 'unknown scheme'],
      ['local://host/path', 'no host'],
      ['local:relative/path', 'absolute'],
      ['local:///', 'absolute'],
      ['redis://127.0.0.1:6379/0', 'volume'],
      ['redis://127.0.0.1:6379/zero?volume=v', 'database must be a number'],
      ['redis://127.0.0.1:6379/0?volume=v&timeout=5', 'unknown parameter "timeout"'],
      ['redis://127.0.0.1/0?volume=v', 'commandTimeoutMs', { commandTimeoutMs: -1 }],
      ['memory://', 'chunkSize', { chunkSize: 1.5 }],
    ];
    for (const [url, why, opts] of cases) {
      const err = await failure(url, opts);
      expect(toErrno(err), url).toBe(errno.EINVAL);
      expect(err.message, url).toContain(why);
    }
  });

  it('hands mongodb:// to the mongodb backend', async () => {
    const port = await freePort();
    const r = await openBackend(`mongodb://127.0.0.1:${port}/zufs`, { volume: 'v', connectTimeoutMs: 500 }).then(
      async (b) => {
        expect(b.kind).toContain('mongo');
        await b.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    if (r) expect(r.message).not.toContain('unknown scheme');
  }, 15_000);

  it('never puts a password into an error message', async () => {
    const err = await failure('redis://user:hunter2@127.0.0.1:6379/x?volume=v');
    expect(err.message).not.toContain('hunter2');
    expect(err.message).toContain('***');
  });
});

describe('redactUrl', () => {
  it('hides passwords in userinfo and secret query parameters', () => {
    expect(redactUrl('redis://user:hunter2@host:6379/0?volume=v')).toBe('redis://user:***@host:6379/0?volume=v');
    expect(redactUrl('redis://:hunter2@host:6379/0')).toBe('redis://:***@host:6379/0');
    expect(redactUrl('redis://hunter2@host')).not.toContain('hunter2');
    expect(redactUrl('rediss://u:p%40ss@h/1')).toBe('rediss://u:***@h/1');
    expect(redactUrl('mongodb://admin:s3cret@db1,db2/app?authSource=admin')).not.toContain('s3cret');
    expect(redactUrl('https://s3.example/bucket?X-Amz-Signature=abc&X-Amz-Credential=AK/x&list-type=2')).toBe(
      'https://s3.example/bucket?X-Amz-Signature=***&X-Amz-Credential=***&list-type=2',
    );
    expect(redactUrl('webdav://alice@dav.example/x?password=pw')).toBe('webdav://alice@dav.example/x?password=***');
    expect(redactUrl('local:///var/lib/zufs')).toBe('local:///var/lib/zufs');
    expect(redactUrl('garbage://a:b@')).not.toContain(':b@');
    expect(redactUrl('%%not a url user:pw@x')).not.toContain('pw@');
  });
});
