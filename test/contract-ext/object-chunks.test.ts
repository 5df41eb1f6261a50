// The backend contract on the posix layout over object stores: data chunks in S3 (MinIO) or WebDAV
// (nginx), metadata in the local backend (so the persistence case runs too). One fresh key prefix
// per test on one server per store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { closeSharedAgents } from '../../src/backends/http/agent.js';
import { composeBackend } from '../../src/backends/http/compose.js';
import { ObjectChunkStore, S3ObjectStore, WebDavObjectStore, type ObjectStore } from '../../src/backends/http/object-chunks.js';
import { S3Client } from '../../src/backends/http/s3.js';
import { WebDavClient } from '../../src/backends/http/webdav.js';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import type { Backend } from '../../src/backends/types.js';
import { defineBackendContract } from '../contract/backend-contract.js';
import { s3Config, startServer, uniqueName, unavailable, type ServerKind, type TestServer } from '../servers/servers.js';

const servers = new Map<ServerKind, Promise<TestServer>>();
const serverUrl = async (kind: ServerKind): Promise<string> => {
  let s = servers.get(kind);
  if (!s) {
    s = startServer(kind);
    servers.set(kind, s);
  }
  return (await s).url;
};

afterAll(async () => {
  await closeSharedAgents();
  for (const s of servers.values()) await (await s).stop();
});

const CHUNK = 64 * 1024;

function target(kind: 's3' | 'webdav', store: (url: string) => ObjectStore): void {
  defineBackendContract({
    name: `local metadata + ${kind === 's3' ? 'S3 (MinIO)' : 'WebDAV (nginx)'} chunks`,
    skip: unavailable(kind),
    timeoutMs: 30_000,
    fresh: async () => {
      const url = await serverUrl(kind);
      const prefix = `${uniqueName('vol')}/`;
      const dir = await mkdtemp(join(tmpdir(), 'zufs-objmeta-'));
      const open = async (): Promise<Backend> => {
        const meta = await LocalBackend.open(dir, { chunkSize: CHUNK });
        return composeBackend(meta, new ObjectChunkStore(store(url), { chunkSize: CHUNK, prefix }), `local+${kind}`);
      };
      let current = await open();
      return {
        backend: current,
        reopen: async () => (current = await open()),
        destroy: async () => {
          await current.close().catch(() => undefined);
          await store(url).deletePrefix(prefix);
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  });
}

target('s3', (url) => new S3ObjectStore(new S3Client({ ...s3Config(url), bucket: s3Config(url).bucket })));
target('webdav', (url) => new WebDavObjectStore(new WebDavClient({ url })));
