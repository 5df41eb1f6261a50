// The fs-type registry: turns one validated mount config into the filesystem (ZusOperations)
// that a transport serves — a backend opened from the URL, under the layout the config names.
import type { Logger } from 'pino';
import type { MountConfig } from './config.js';
import type { ZusOperations } from '../fs/operations.js';
import { FsError, errno } from '../fs/errors.js';
import { openBackend } from '../backends/index.js';
import { PosixFs } from '../fs/posix-fs.js';

export interface OpenOptions {
  log: Logger;
  password?: string;
}

export async function openFilesystem(m: MountConfig, opts: OpenOptions): Promise<ZusOperations> {
  if (m.layout === 'native') {
    throw new FsError(errno.ENOTSUP, `mount "${m.name}": layout "native" is not implemented yet for ${m.fs}; use layout: posix`);
  }
  if (m.tiers) {
    throw new FsError(errno.ENOTSUP, `mount "${m.name}": tiers: (t1 cache, t2 spill) is not implemented yet; remove the key`);
  }
  const backend = await openBackend(withPassword(m.url, opts.password), {
    volume: m.volume,
    connectTimeoutMs: m.connect_timeout,
    commandTimeoutMs: m.timeout,
    chunkSize: m.chunk_size,
  });
  return new PosixFs(backend, { log: opts.log });
}

/** The store URL with the secret from password_env/password_file put in its userinfo. */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}
