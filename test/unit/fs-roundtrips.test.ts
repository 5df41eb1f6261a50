// Backend round trips per operation on hot paths. Remote stores pay one network round trip per
// call, so these counts are the performance contract of PosixFs: a cached getattr costs none, a
// write inside a file one chunk write plus one inode commit, a read one chunk read per chunk.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import type { Backend } from '../../src/backends/types.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { mkfile, noUmask, root, S_IFREG } from './fs-helpers.js';

function counted(be: Backend): { backend: Backend; calls: string[] } {
  const calls: string[] = [];
  const wrap = <T extends object>(obj: T, prefix: string): T =>
    new Proxy(obj, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls.push(`${prefix}.${String(prop)}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return {
    calls,
    backend: {
      kind: be.kind,
      meta: wrap(be.meta, 'meta'),
      chunks: wrap(be.chunks, 'chunks'),
      sync: () => be.sync(),
      close: () => be.close(),
    },
  };
}

async function setup(cache = true, exclusive = false) {
  const { backend, calls } = counted(new MemoryBackend({ chunkSize: 64 * 1024 }));
  const fs = new PosixFs(backend, { cache, exclusive });
  const f = await mkfile(fs, 1, 'f');
  const fh = await fs.open(root, f.ino, 2);
  await fs.write(f.ino, fh, 0, Buffer.alloc(100_000, 1));
  calls.length = 0;
  return { fs, calls, ino: f.ino, fh };
}

describe('round trips on hot paths (inode cache on)', () => {
  test('getattr of a cached inode makes no backend call', async () => {
    const { fs, calls, ino } = await setup();
    await fs.getattr(ino);
    await fs.getattr(ino);
    expect(calls).toEqual([]);
  });

  test('a write within one chunk is one chunk write and one commit', async () => {
    const { fs, calls, ino, fh } = await setup();
    await fs.write(ino, fh, 200_000, Buffer.alloc(4096, 2));
    expect(calls).toEqual(['chunks.write', 'meta.commit']);
  });

  test('a read within one chunk is one chunk read; across two chunks, two', async () => {
    const { fs, calls, ino, fh } = await setup();
    await fs.read(ino, fh, 4096, 4096);
    expect(calls).toEqual(['chunks.read']);
    calls.length = 0;
    await fs.read(ino, fh, 60_000, 10_000);
    expect(calls).toEqual(['chunks.read', 'chunks.read']);
  });

  test('a create costs one commit once ids are reserved; a lookup one dentry lookup', async () => {
    const { fs, calls } = await setup();
    await fs.newInode(noUmask, 1, 'g', { mode: S_IFREG | 0o644 });
    expect(calls).toEqual(['meta.commit']);
    calls.length = 0;
    await fs.lookup(root, 1, 'g');
    expect(calls).toEqual(['meta.lookup']);
  });
});

describe('security.capability, asked for by the kernel before every write', () => {
  const CAPS = 'security.capability';
  const noData = (p: Promise<unknown>) => expect(p).rejects.toMatchObject({ errno: 61 }); // ENODATA

  test('its absence is read once: then writes cost a chunk write and a commit, as without it', async () => {
    const { fs, calls, ino, fh } = await setup();
    await noData(fs.getxattr(root, ino, CAPS));
    expect(calls).toEqual(['meta.getXattr']);
    for (let i = 0; i < 3; i++) {
      calls.length = 0;
      await noData(fs.getxattr(root, ino, CAPS));
      await fs.write(ino, fh, 4096 * i, Buffer.alloc(4096, 3));
      expect(calls).toEqual(['chunks.write', 'meta.commit']);
    }
  });

  test('a capability set here, by another gateway, or removed is seen', async () => {
    const be = new MemoryBackend({ chunkSize: 64 * 1024 });
    const fs = new PosixFs(be, {});
    const peer = new PosixFs(be, {});
    const f = await mkfile(fs, 1, 'f');
    await noData(fs.getxattr(root, f.ino, CAPS));
    await fs.setxattr(root, f.ino, CAPS, Buffer.from('cap1'), 0);
    expect((await fs.getxattr(root, f.ino, CAPS)).toString()).toBe('cap1');
    await fs.removexattr(root, f.ino, CAPS);
    await noData(fs.getxattr(root, f.ino, CAPS));
    await peer.setxattr(root, f.ino, CAPS, Buffer.from('cap2'), 0);
    await fs.open(root, f.ino, 0); // close-to-open: the record is read again, its ctime moved
    expect((await fs.getxattr(root, f.ino, CAPS)).toString()).toBe('cap2');
  });
});

describe('shared volume (default) vs exclusive', () => {
  test('shared: open re-reads the inode (and chunk list, in parallel); unlink of a last link its link count', async () => {
    const { fs, calls, ino } = await setup();
    await fs.open(root, ino, 0);
    expect(calls).toEqual(['meta.getInode', 'chunks.list']);
    calls.length = 0;
    await fs.open(root, 1, 0);
    expect(calls).toEqual(['meta.getInode']);
    calls.length = 0;
    await fs.removeDentry(root, 1, 'f', false);
    expect(calls).toEqual(['meta.lookup', 'meta.getInode', 'meta.commit']);
  });

  test('exclusive: open costs nothing; unlink is one lookup and one commit', async () => {
    const { fs, calls, ino } = await setup(true, true);
    await fs.open(root, ino, 0);
    expect(calls).toEqual([]);
    await fs.removeDentry(root, 1, 'f', false);
    expect(calls).toEqual(['meta.lookup', 'meta.commit']);
  });
});

describe('with the inode cache off', () => {
  test('getattr reads the backend every time', async () => {
    const { fs, calls, ino } = await setup(false);
    await fs.getattr(ino);
    await fs.getattr(ino);
    expect(calls).toEqual(['meta.getInode', 'meta.getInode']);
  });
});
