// The posix layout over an object store: file data in an ObjectChunkStore (S3 or WebDAV), metadata in
// another backend's MetaStore (redis, mongodb or local, named in the YAML). The metadata backend's
// own chunk store is left unused; stats() reports the bytes the object store holds.
import type { Backend, ChunkStore, MetaStats, MetaStore } from '../types.js';

/** A chunk store that can count its bytes and may hold connections. */
export interface CountingChunkStore extends ChunkStore {
  usage?(): Promise<number>;
  close?(): Promise<void>;
}

class ComposedMeta implements MetaStore {
  /** The metadata engine's change feed: keeps gateways sharing the volume coherent. */
  readonly watch: MetaStore['watch'];
  constructor(
    private readonly inner: MetaStore,
    private readonly chunks: CountingChunkStore,
  ) {
    this.watch = inner.watch?.bind(inner);
  }
  getInode: MetaStore['getInode'] = (ino) => this.inner.getInode(ino);
  lookup: MetaStore['lookup'] = (parent, name) => this.inner.lookup(parent, name);
  readdir: MetaStore['readdir'] = (parent, after, limit) => this.inner.readdir(parent, after, limit);
  getXattr: MetaStore['getXattr'] = (ino, name) => this.inner.getXattr(ino, name);
  listXattrs: MetaStore['listXattrs'] = (ino) => this.inner.listXattrs(ino);
  commit: MetaStore['commit'] = (txn) => this.inner.commit(txn);
  allocIds: MetaStore['allocIds'] = (count) => this.inner.allocIds(count);

  async stats(): Promise<MetaStats> {
    const s = await this.inner.stats();
    return this.chunks.usage ? { inodes: s.inodes, bytes: await this.chunks.usage() } : s;
  }
}

/** `meta`'s metadata with `chunks` for data. close() closes both; sync() syncs the metadata (an
 * object store has acknowledged every PUT durably already). */
export function composeBackend(meta: Backend, chunks: CountingChunkStore, kind = `${meta.kind}+objects`): Backend {
  return {
    kind,
    meta: new ComposedMeta(meta.meta, chunks),
    chunks,
    ...(meta.locks && { locks: meta.locks }),
    sync: () => meta.sync(),
    close: async () => {
      await meta.close();
      await chunks.close?.();
    },
  };
}
