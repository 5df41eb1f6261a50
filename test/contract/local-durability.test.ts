// What only the local backend has to prove: one process per volume, recovery from a torn log
// tail, snapshots taken while changes keep coming, and nothing acknowledged lost to a SIGKILL.
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import type { Backend } from '../../src/backends/types.js';
import { errno, toErrno } from '../../src/fs/errors.js';
import { inode } from './backend-contract.js';

let dir: string;
const opened: Backend[] = [];
const openVol = async (opts = {}): Promise<LocalBackend> => {
  const b = await LocalBackend.open(dir, { chunkSize: 4096, ...opts });
  opened.push(b);
  return b;
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zufs-local-d-'));
});
afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
  await rm(dir, { recursive: true, force: true });
});

async function wals(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('wal.')).sort();
}

/** Everything a backend holds for the given inodes and directory 1, for comparisons. */
async function dump(b: Backend, inos: number[]): Promise<unknown> {
  const out: Record<string, unknown> = { dir: [], stats: await b.meta.stats() };
  let after = 0;
  for (;;) {
    const page = await b.meta.readdir(1, after, 100);
    (out['dir'] as unknown[]).push(...page);
    if (page.length < 100) break;
    after = page[page.length - 1]!.cookie;
  }
  for (const ino of inos) {
    const chunks = await b.chunks.list(ino);
    out[ino] = {
      inode: await b.meta.getInode(ino),
      xattrs: Object.fromEntries(await Promise.all((await b.meta.listXattrs(ino)).map(async (n) => [n, (await b.meta.getXattr(ino, n))!.toString('hex')]))),
      chunks: await Promise.all(chunks.map(async (i) => [i, (await b.chunks.read(ino, i, 0, b.chunks.chunkSize)).toString('hex')])),
    };
  }
  return out;
}

describe('local backend durability', () => {
  it('lets only one open of a volume at a time, with a clear error', async () => {
    const a = await openVol();
    const err = await LocalBackend.open(dir).then(
      (b) => b.close(),
      (e: unknown) => e,
    );
    expect(toErrno(err)).toBe(errno.EBUSY);
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    await a.close();
    const again = await openVol();
    expect(await again.meta.stats()).toEqual({ inodes: 0, bytes: 0 });
  });

  it('refuses use after close', async () => {
    const b = await openVol();
    await b.close();
    await expect(b.meta.getInode(1)).rejects.toMatchObject({ errno: errno.EIO });
    await expect(b.chunks.write(1, 0, 0, Buffer.from('x'))).rejects.toMatchObject({ errno: errno.EIO });
    await b.close(); // twice is fine
  });

  it('drops a torn log tail and keeps appending after the last good record', async () => {
    let b = await openVol();
    await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
    await b.chunks.write(10, 0, 0, Buffer.from('kept'));
    await b.sync();
    await b.close();
    const [wal] = await wals();
    // A crash in the middle of an append: a frame header promising more bytes than follow.
    const torn = Buffer.alloc(20);
    torn.writeUInt32LE(500, 0);
    await appendFile(join(dir, wal!), torn);
    b = await openVol();
    expect(b.recovery.droppedTailBytes).toBe(20);
    expect(await b.meta.getInode(10)).toEqual(inode(10));
    await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(11) }] });
    await b.close();
    b = await openVol();
    expect(b.recovery.droppedTailBytes).toBe(0);
    expect(await b.meta.getInode(11)).toEqual(inode(11));
    expect((await b.chunks.read(10, 0, 0, 100)).toString()).toBe('kept');
  });

  it('drops a last record whose checksum does not match', async () => {
    let b = await openVol();
    await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
    await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(11) }] });
    await b.abandon(); // crash: the record of inode 11 is the last one
    const [wal] = await wals();
    const bytes = await readFile(join(dir, wal!));
    bytes[bytes.length - 3] ^= 0xff; // flip a byte inside the last record's payload
    await writeFile(join(dir, wal!), bytes);
    b = await openVol();
    expect(b.recovery.droppedTailBytes).toBeGreaterThan(0);
    expect(await b.meta.getInode(10)).toEqual(inode(10));
    expect(await b.meta.getInode(11)).toBeUndefined();
  });

  it('refuses a damaged snapshot instead of serving a partial volume', async () => {
    const b = await openVol();
    await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(10) }] });
    await b.compactNow();
    await b.close();
    const snap = join(dir, 'snapshot');
    const bytes = await readFile(snap);
    await writeFile(snap, bytes.subarray(0, bytes.length - 5));
    const err = await LocalBackend.open(dir).then(
      (x) => x.close(),
      (e: unknown) => e,
    );
    expect(toErrno(err)).toBe(errno.EIO);
    expect((err as Error).message).toContain('snapshot');
  });

  it('compacts into snapshots while changes keep coming, losing nothing', async () => {
    let b = await openVol({ compactBytes: 4096 });
    const inos: number[] = [];
    const work: Array<Promise<unknown>> = [];
    for (let n = 0; n < 400; n++) {
      const ino = 100 + n;
      inos.push(ino);
      work.push(
        (async () => {
          await b.meta.commit({
            checks: [{ parent: 1, name: `f${n}`, ino: null }],
            ops: [
              { op: 'putInode', inode: inode(ino, { size: n }) },
              { op: 'putDentry', parent: 1, name: `f${n}`, ino, cookie: 2 + n },
              { op: 'setXattr', ino, name: 'user.n', value: Buffer.from([n & 0xff, 0, n >> 8]) },
            ],
          });
          await b.chunks.write(ino, n % 4, n, Buffer.from(`chunk ${n}`));
          if (n % 5 === 0) await b.meta.commit({ checks: [{ parent: 1, name: `f${n}`, ino }], ops: [{ op: 'delDentry', parent: 1, name: `f${n}` }, { op: 'delInode', ino }] });
          if (n % 7 === 0) await b.chunks.truncate(ino, n % 4, n + 3);
          if (n % 11 === 0) await b.chunks.remove(ino, 0);
        })(),
      );
      if (n % 50 === 0) await Promise.all(work.splice(0));
    }
    await Promise.all(work);
    await b.compactNow();
    await b.meta.commit({ checks: [], ops: [{ op: 'putInode', inode: inode(99, { size: 1 }) }] }); // after the last snapshot
    inos.push(99);
    const ids = await b.meta.allocIds(5);
    const before = await dump(b, inos);
    expect((await wals()).length).toBe(1);
    expect((await stat(join(dir, 'snapshot'))).size).toBeGreaterThan(0);
    await b.close();
    b = await openVol({ compactBytes: 4096 });
    expect(b.recovery.snapshotOps).toBeGreaterThan(0);
    expect(await dump(b, inos)).toEqual(before);
    expect(await b.meta.allocIds(1)).toBeGreaterThanOrEqual(ids + 5);
  });

  it('after a crash, re-zeroes what a truncate dropped even if the hole punch was lost', async () => {
    let b = await openVol();
    await b.chunks.write(10, 0, 0, Buffer.alloc(4096, 0x41));
    await b.chunks.write(10, 1, 0, Buffer.alloc(4096, 0x42));
    await b.chunks.write(11, 0, 0, Buffer.alloc(4096, 0x43));
    await b.chunks.write(12, 0, 0, Buffer.alloc(100, 0x44));
    await b.sync();
    await b.chunks.truncate(10, 0, 10);
    await b.chunks.remove(11, 0);
    await b.sync();
    await b.abandon(); // a crash: no clean-shutdown record
    // ... in which the disk kept the log records but not the punches: put the old bytes back.
    const { open: openFile } = await import('node:fs/promises');
    const f10 = await openFile(join(dir, 'data', '0a', '10'), 'r+');
    await f10.write(Buffer.alloc(4086, 0x41), 0, 4086, 10);
    await f10.close();
    await writeFile(join(dir, 'data', '0b', '11'), Buffer.alloc(4096, 0x43));
    b = await openVol();
    expect(b.recovery.unclean).toBe(true);
    expect(b.recovery.scrubbedFiles).toBe(2);
    await b.chunks.write(10, 0, 4000, Buffer.from('z'));
    const got = await b.chunks.read(10, 0, 0, 4096);
    expect(got.subarray(0, 10).equals(Buffer.alloc(10, 0x41))).toBe(true);
    expect(got.subarray(10, 4000).equals(Buffer.alloc(3990))).toBe(true);
    await b.chunks.write(11, 0, 50, Buffer.from('y'));
    expect((await b.chunks.read(11, 0, 0, 4096)).equals(Buffer.concat([Buffer.alloc(50), Buffer.from('y')]))).toBe(true);
    expect((await b.chunks.read(12, 0, 0, 4096)).equals(Buffer.alloc(100, 0x44))).toBe(true);
    await b.close();
    b = await openVol();
    expect(b.recovery.unclean).toBe(false);
    expect(b.recovery.scrubbedFiles).toBe(0);
  });

  it('gives a removed file\'s data back to the file system', async () => {
    const b = await openVol();
    await b.chunks.write(10, 0, 0, Buffer.alloc(4096, 1));
    await b.chunks.write(10, 5, 0, Buffer.alloc(4096, 2));
    const file = join(dir, 'data', '0a', '10');
    expect((await stat(file)).size).toBe(6 * 4096);
    await b.chunks.remove(10, 5);
    expect((await stat(file)).size).toBe(4096);
    await b.chunks.remove(10, 0);
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await b.chunks.list(10)).toEqual([]);
  });

  it('loses nothing acknowledged when the process is SIGKILLed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/local-crash-child.ts', import.meta.url)), dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: fileURLToPath(new URL('../..', import.meta.url)), // where tsx resolves from
    });
    let acked = -1;
    let synced = -1;
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited early: ${code} ${sig}`))));
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const [what, n] = buf.slice(0, nl).split(' ');
          buf = buf.slice(nl + 1);
          if (what === 'ack') acked = Number(n);
          if (what === 'synced') synced = Number(n);
        }
        if (acked >= 300) child.kill('SIGKILL');
      });
    });
    expect(synced).toBeGreaterThanOrEqual(289);
    const b = await openVol();
    const ents = await b.meta.readdir(1, 0, 100_000);
    expect(ents.length).toBeGreaterThanOrEqual(acked + 1);
    // A prefix: every entry up to the last one present, no holes.
    ents.forEach((e, i) => expect(e).toEqual({ name: `f${i}`, ino: 100 + i, cookie: i + 2 }));
    for (let n = 0; n <= acked; n++) {
      expect((await b.meta.getInode(100 + n))!.generation).toBe(n);
      expect((await b.chunks.read(100 + n, n % 3, 100, 8)).toString()).toBe(`data${String(n).padStart(4, '0')}`);
    }
  }, 60_000);
});
