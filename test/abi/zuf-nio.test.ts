// The server side of zuf NIO without a kernel: GET_MULTY and PUT_MULTY are encoded into an op buffer
// as zuf.ko lays them out and answered by the handlers from a real TieredChunkStore over a t1 file
// in /dev/shm (each mapped block is read back from that file, and the kernel's writes into blocks
// are writes into that file); ZU_IOC_UNMAP and ZU_IOC_GRAB_PMEM go to a recording ioctl, which only
// records calls and injects failures.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { tieredBackend } from '../../src/pools/tiered-chunk-store.js';
import {
  IOM_T1_READ, IOM_T1_WRITE, IOM_T2_READ, IOM_T2_READ_LEN, IOM_T2_WRITE, IOM_T2_WRITE_LEN, ZU_IOC_GRAB_T2, ZU_IOC_IOMAP_EXEC,
  zufs_ioc_iomap_exec, zufs_ioc_t2, ZUFS_OP_GET_MULTY, ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_PUT_MULTY, ZUFS_RW_WRITE, zufs_iom_word, ZU_IOC_GRAB_PMEM, ZU_IOC_UNMAP, zufs_ioc_IO, zufs_ioc_hdr,
  zufs_ioc_pmem, zufs_ioc_unmap, zufs_iom_type, zufs_iom_val,
} from '../../src/zus/abi/zus-api.js';
import { makeCookie, opTable, publish, type Ctx, type SbState } from '../../src/zus/zuf/handlers.js';
import { grabPmem, grabT2, kernelT2Engine, NioGrab, NioMount, tieredStoreOf, type NioCounters } from '../../src/zus/zuf/nio.js';
import { ZiPool } from '../../src/zus/zuf/pool.js';
import { t1Block } from '../helpers/t1-block.js';

const H = zufs_ioc_hdr.fields;
const F = zufs_ioc_IO.fields;
const CS = 64 * 1024; // 16 pages per chunk
const PAGE = 4096;
const ROOT = { uid: 0, gid: 0, pid: 0, umask: 0 };

interface Call {
  cmd: number;
  arg: Buffer;
}

const dirs: string[] = [];
const toClose: PosixFs[] = [];
afterEach(async () => {
  for (const fs of toClose.splice(0)) await fs.destroy();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(writeback = false): Promise<{ ctx: Ctx; sb: SbState; fs: PosixFs; calls: Call[]; counters: NioCounters; t1: string; failUnmaps: { n: number } }> {
  const dir = mkdtempSync(join('/dev/shm', 'zufs-nio-'));
  dirs.push(dir);
  const t1 = join(dir, 't1');
  const backend = await tieredBackend(new MemoryBackend({ chunkSize: CS }), { t1, t1_size: 8 * 1024 * 1024, writeback }, { storeKey: 'mem' });
  const fs = new PosixFs(backend);
  toClose.push(fs);
  const calls: Call[] = [];
  const failUnmaps = { n: 0 };
  const recorder = (_fd: number, cmd: number, arg: Buffer): void => {
    calls.push({ cmd, arg: Buffer.from(arg) });
    if (cmd === ZU_IOC_UNMAP && failUnmaps.n > 0) {
      failUnmaps.n--;
      throw Object.assign(new Error('ZU_IOC_UNMAP: No such file or directory'), { errno: 2 });
    }
  };
  const counters: NioCounters = { maps: 0, unmaps: 0, unmapErrors: 0, puts: 0, putsStale: 0 };
  const store = tieredStoreOf(fs)!;
  const nio = new NioMount(store, 77, 11n, 22n, counters, () => undefined, recorder);
  store.onRevoke = (ino, idx) => nio.revoke(ino, idx);
  const sb: SbState = { idx: 4, fs, pool: ZiPool.anonymous(1, 64 * 1024), fsType: 'zufs-local', sbId: 11n, sbKey: 22n, nio };
  await publish(sb, await fs.getattr(fs.rootIno));
  const ab = new ArrayBuffer(256 * 1024);
  return { ctx: { dv: new DataView(ab), u8: new Uint8Array(ab), sbs: new Map([[4, sb]]) }, sb, fs, calls, counters, t1, failUnmaps };
}

async function file(fs: PosixFs, name: string, data: Buffer, at = 0): Promise<number> {
  const a = await fs.newInode(ROOT, fs.rootIno, name, { mode: 0o100644 });
  if (data.length) await fs.write(a.ino, 0, at, data);
  return a.ino;
}

/** GET_MULTY for `pages` pages from `pos` (for writing with `write`); returns the answered words. */
async function getMulty(ctx: Ctx, ino: number, pos: number, pages: number, write = false): Promise<bigint[]> {
  ctx.u8.fill(0, 0, ZUFS_OP_PAYLOAD_OFF);
  ctx.dv.setUint16(H.operation, ZUFS_OP_GET_MULTY, true);
  ctx.dv.setUint32(H.offset, ZUFS_OP_PAYLOAD_OFF, true);
  ctx.dv.setUint32(H.len, pages * PAGE, true);
  ctx.dv.setBigUint64(F.zus_ii, makeCookie(4, ino), true);
  ctx.dv.setBigUint64(F.filepos, BigInt(pos), true);
  if (write) ctx.dv.setBigUint64(F.rw, BigInt(ZUFS_RW_WRITE), true);
  await opTable[ZUFS_OP_GET_MULTY]!(ctx);
  const len = ctx.dv.getUint32(H.len, true);
  expect(len % 8).toBe(0);
  return Array.from({ length: len / 8 }, (_, i) => ctx.dv.getBigUint64(ZUFS_OP_PAYLOAD_OFF + 8 * i, true));
}

const deviceBytes = (t1: string, bn: number, len = PAGE): Buffer => t1Block(t1, bn, len);

const pattern = (seed: number, len: number): Buffer => Buffer.from(Array.from({ length: len }, (_, i) => (seed * 13 + i * 5) % 251 || 1));
const bnOf = (w: bigint): number => {
  expect(zufs_iom_type(w)).toBe(IOM_T1_READ);
  return Number(zufs_iom_val(w));
};

describe('zuf NIO: GET_MULTY', () => {
  it('answers one IOM_T1_READ word per page up to the end of the file; the blocks hold the file bytes', async () => {
    const { ctx, fs, t1, counters } = await setup();
    const data = pattern(1, 10_000);
    const ino = await file(fs, 'f', data);
    const words = await getMulty(ctx, ino, 0, 8);
    expect(words.length).toBe(3);
    const bns = words.map(bnOf);
    expect(bns).toEqual([bns[0], bns[0]! + 1, bns[0]! + 2]);
    const dev = deviceBytes(t1, bns[0]!, 3 * PAGE);
    expect(dev.subarray(0, 10_000).equals(data)).toBe(true);
    expect(dev.subarray(10_000).every((x) => x === 0)).toBe(true);
    expect(counters.maps).toBe(3);
  });

  it('spans chunks (one word per page, at most the pages asked) and fills chunks from the store like a read', async () => {
    const { ctx, fs, t1 } = await setup();
    const data = pattern(2, 40 * PAGE);
    const ino = await file(fs, 'big', data);
    const store = tieredStoreOf(fs)!;
    await store.invalidate(ino); // cold: GET_MULTY must fill from the store
    const words = await getMulty(ctx, ino, 8 * PAGE, 30);
    expect(words.length).toBe(30);
    words.forEach((w, i) => expect(deviceBytes(t1, bnOf(w)).equals(data.subarray((8 + i) * PAGE, (9 + i) * PAGE))).toBe(true));
  });

  it('a hole answers 0 and stops there; a page past the chunk length inside the file answers 0', async () => {
    const { ctx, fs } = await setup();
    const ino = await file(fs, 'sparse', Buffer.from('tail'), 2 * CS); // chunks 0 and 1 are holes
    expect(await getMulty(ctx, ino, 0, 4)).toEqual([0n, 0n, 0n, 0n]);
    const words = await getMulty(ctx, ino, 2 * CS, 1);
    expect(words.length).toBe(1);
    bnOf(words[0]!);
    // the file grows past the chunk's bytes (truncate up): pages of the chunk past its length answer 0
    await fs.setattr(ROOT, ino, { size: 2 * CS + 3 * PAGE });
    const more = await getMulty(ctx, ino, 2 * CS, 3);
    expect(more.length).toBe(3);
    expect(more.slice(1)).toEqual([0n, 0n]);
  });

  it('refuses an unaligned filepos or a length under one page', async () => {
    const { ctx, fs } = await setup();
    const ino = await file(fs, 'f', Buffer.from('x'));
    await expect(getMulty(ctx, ino, 100, 1)).rejects.toMatchObject({ errno: 22 });
    await expect(getMulty(ctx, ino, 0, 0)).rejects.toMatchObject({ errno: 22 });
  });

  it('without NIO on the super block it answers one 0 word (the kernel reads with READ)', async () => {
    const { ctx, sb, fs } = await setup();
    const ino = await file(fs, 'f', Buffer.from('abc'));
    ctx.sbs.set(4, { ...sb, nio: undefined });
    expect(await getMulty(ctx, ino, 0, 4)).toEqual([0n]);
  });
});

describe('zuf NIO: revocation', () => {
  const unmaps = (calls: Call[]): { ino: bigint; first: bigint; count: bigint; sb: [bigint, bigint] }[] =>
    calls
      .filter((c) => c.cmd === ZU_IOC_UNMAP)
      .map(({ arg }) => {
        const U = zufs_ioc_unmap.fields;
        return { ino: arg.readBigUInt64LE(U.ino), first: arg.readBigUInt64LE(U.first), count: arg.readBigUInt64LE(U.count), sb: [arg.readBigUInt64LE(U.sb_id), arg.readBigUInt64LE(U.sb_key)] };
      });

  it('truncating a file removes its chunks: ZU_IOC_UNMAP for each cached chunk, pages idx*16 .. +16', async () => {
    const { ctx, fs, calls, counters } = await setup();
    const ino = await file(fs, 'f', pattern(3, 3 * CS));
    await getMulty(ctx, ino, 0, 48);
    expect(unmaps(calls)).toEqual([]);
    await fs.setattr(ROOT, ino, { size: CS + 100 }); // chunk 2 removed, chunk 1 cut in place
    expect(unmaps(calls)).toEqual([{ ino: BigInt(ino), first: 32n, count: 16n, sb: [11n, 22n] }]);
    await fs.setattr(ROOT, ino, { size: 0 });
    expect(unmaps(calls).map((u) => u.first).sort()).toEqual([0n, 16n, 32n]);
    expect(counters.unmaps).toBe(3);
  });

  it('writes in place need no unmap; a peer change (invalidate) unmaps every cached chunk of the file', async () => {
    const { ctx, fs, calls } = await setup();
    const ino = await file(fs, 'f', pattern(4, 2 * CS));
    await getMulty(ctx, ino, 0, 32);
    await fs.write(ino, 0, 5, Buffer.from('in place'));
    expect(unmaps(calls)).toEqual([]);
    await tieredStoreOf(fs)!.invalidateAll();
    expect(unmaps(calls).map((u) => [u.ino, u.first]).sort()).toEqual([[BigInt(ino), 0n], [BigInt(ino), 16n]]);
  });

  it('a failing ZU_IOC_UNMAP is counted, not thrown: the truncate still completes', async () => {
    const { ctx, fs, counters, failUnmaps } = await setup();
    const ino = await file(fs, 'f', pattern(5, CS));
    await getMulty(ctx, ino, 0, 1);
    failUnmaps.n = 1;
    await fs.setattr(ROOT, ino, { size: 0 });
    expect(counters).toMatchObject({ unmaps: 1, unmapErrors: 1 });
    expect((await fs.getattr(ino)).size).toBe(0);
  });
});

describe('zuf NIO: t1 grab', () => {
  it('ZU_IOC_GRAB_PMEM carries sb_id, sb_key, dev_index 0 and the member fd, and answers t1_size', () => {
    const seen: Buffer[] = [];
    const size = grabPmem(5, 7n, 9n, 42, (_fd, cmd, arg) => {
      expect(cmd).toBe(ZU_IOC_GRAB_PMEM);
      seen.push(Buffer.from(arg));
      arg.writeBigUInt64LE(64n << 20n, zufs_ioc_pmem.fields.t1_size);
    });
    const P = zufs_ioc_pmem.fields;
    expect([seen[0]!.readBigUInt64LE(P.sb_id), seen[0]!.readBigUInt64LE(P.sb_key), seen[0]!.readUInt32LE(P.dev_index), seen[0]!.readInt32LE(P.fd)]).toEqual([7n, 9n, 0, 42]);
    expect(size).toBe(64 << 20);
  });

  it('ZU_IOC_GRAB_T2 carries the device-table index and fd; the t2 engine sends one move as three IOMAP words', () => {
    const seen: { cmd: number; arg: Buffer }[] = [];
    const rec = (_fd: number, cmd: number, arg: Buffer): void => {
      seen.push({ cmd, arg: Buffer.from(arg) });
      if (cmd === ZU_IOC_GRAB_T2) arg.writeBigUInt64LE(32n << 20n, zufs_ioc_t2.fields.t2_size);
    };
    expect(grabT2(5, 7n, 9n, 2, 43, rec)).toBe(32 << 20);
    const T = zufs_ioc_t2.fields;
    expect([seen[0]!.cmd, seen[0]!.arg.readUInt32LE(T.dev_index), seen[0]!.arg.readInt32LE(T.fd), seen[0]!.arg.readBigUInt64LE(T.sb_key)]).toEqual([ZU_IOC_GRAB_T2, 2, 43, 9n]);
    const engine = kernelT2Engine(5, 7n, 9n, 2, rec);
    engine.move(true, 1, 4 * 1024 * 1024, 6 * 1024 * 1024, 64); // t2 member 1 = device-table index 3
    engine.move(false, 0, 2 * 1024 * 1024, 8 * 1024 * 1024, 3);
    const words = (b: Buffer): [number, bigint][] =>
      [0, 1, 2].map((i) => {
        const w = b.readBigUInt64LE(zufs_ioc_iomap_exec.size + 8 * i);
        return [zufs_iom_type(w), zufs_iom_val(w)];
      });
    const X = zufs_ioc_iomap_exec.fields;
    expect([seen[1]!.cmd, seen[1]!.arg.readUInt32LE(X.wait_for_done), seen[1]!.arg.readUInt32LE(X.ziom + 12), seen[1]!.arg.readBigUInt64LE(X.sb_id)]).toEqual([ZU_IOC_IOMAP_EXEC, 1, 3, 7n]);
    expect(words(seen[1]!.arg)).toEqual([[IOM_T2_WRITE, (3n << 40n) | 1024n], [IOM_T1_READ, 1536n], [IOM_T2_WRITE_LEN, 64n]]);
    expect(words(seen[2]!.arg)).toEqual([[IOM_T2_READ, (2n << 40n) | 512n], [IOM_T1_WRITE, 2048n], [IOM_T2_READ_LEN, 3n]]);
  });

  it('leaves t2 to zusd (and says why) without the kernel engine or for a t2 that is not a block device', () => {
    const shm = openSync('/dev/shm', 'r');
    try {
      const off = new NioGrab('/nonexistent-zuf-root', 1n, 2n, false);
      expect(off.t2Engine([{ path: '/dev/shm/t2', fd: shm, bytes: 1 }], 1)).toBeUndefined();
      expect(off.t2Reason).toMatch(/no t2 engine/);
      const on = new NioGrab('/nonexistent-zuf-root', 1n, 2n, true);
      expect(on.t2Engine([{ path: '/dev/shm/t2', fd: shm, bytes: 1 }], 1)).toBeUndefined();
      expect(on.t2Reason).toMatch(/not a block device/);
    } finally {
      closeSync(shm);
    }
  });

  it('leaves t1 alone (and says why) for several members or a t1 that is not a block device', () => {
    const g = new NioGrab('/nonexistent-zuf-root', 1n, 2n);
    const shm = openSync('/dev/shm', 'r');
    try {
      expect(g.t1MapFd([{ path: 'a', fd: shm, bytes: 1 }, { path: 'b', fd: shm, bytes: 1 }], CS)).toBeUndefined();
      expect(g.reason).toMatch(/2 members/);
      expect(g.t1MapFd([{ path: '/dev/shm/x', fd: shm, bytes: 1 }], CS)).toBeUndefined();
      expect(g.reason).toMatch(/not a block device/);
      expect([g.asked, g.fd]).toEqual([true, -1]);
    } finally {
      closeSync(shm);
    }
  });
});

/** What zuf.ko does for a write into blocks it holds writable: the bytes into the t1 device at
 * block `bn` (+ the offset in the page), then PUT_MULTY (`between` runs in between). Returns last_pos. */
async function kernelWrite(ctx: Ctx, t1: string, ino: number, pos: number, data: Buffer, bn: number, between?: () => Promise<void>): Promise<bigint> {
  const fd = openSync(t1, 'r+');
  try {
    writeSync(fd, data, 0, data.length, bn * PAGE + (pos % PAGE));
  } finally {
    closeSync(fd);
  }
  await between?.();
  ctx.u8.fill(0, 0, ZUFS_OP_PAYLOAD_OFF);
  ctx.dv.setUint16(H.operation, ZUFS_OP_PUT_MULTY, true);
  ctx.dv.setUint32(H.offset, ZUFS_OP_PAYLOAD_OFF, true);
  ctx.dv.setUint32(H.len, data.length, true);
  ctx.dv.setBigUint64(F.zus_ii, makeCookie(4, ino), true);
  ctx.dv.setBigUint64(F.filepos, BigInt(pos), true);
  ctx.dv.setBigUint64(F.rw, BigInt(ZUFS_RW_WRITE), true);
  ctx.dv.setUint32(F.iom_n, 1, true);
  ctx.dv.setBigUint64(F.iom_e, zufs_iom_word(IOM_T1_WRITE, BigInt(bn)), true);
  await opTable[ZUFS_OP_PUT_MULTY]!(ctx);
  return ctx.dv.getBigUint64(F.last_pos, true);
}

const wbnOf = (w: bigint): number => {
  expect(zufs_iom_type(w)).toBe(IOM_T1_WRITE);
  return Number(zufs_iom_val(w));
};

describe('zuf NIO: writes (GET_MULTY for writing, PUT_MULTY)', () => {
  it('maps pages for writing past EOF; PUT_MULTY makes the bytes the file\'s: size, data, and the store after a flush', async () => {
    const { ctx, fs, t1, counters } = await setup(true);
    const ino = await file(fs, 'f', pattern(6, 100));
    const words = await getMulty(ctx, ino, 0, 4, true);
    expect(words.length).toBe(4);
    const bns = words.map(wbnOf);
    expect(await kernelWrite(ctx, t1, ino, 2 * PAGE + 7, Buffer.from('written by zuf'), bns[2]!)).toBe(BigInt(2 * PAGE + 7 + 14));
    expect((await fs.getattr(ino)).size).toBe(2 * PAGE + 21);
    const all = await fs.read(ino, 0, 0, 3 * PAGE);
    expect(all.subarray(0, 100).equals(pattern(6, 100))).toBe(true);
    expect(all.subarray(100, 2 * PAGE + 7).every((x) => x === 0)).toBe(true);
    expect(all.subarray(2 * PAGE + 7).toString()).toBe('written by zuf');
    expect(counters).toMatchObject({ puts: 1, putsStale: 0 });
    // a read GET_MULTY now maps the written pages for reading, same blocks
    expect((await getMulty(ctx, ino, 0, 3)).map(bnOf)).toEqual(bns.slice(0, 3));
    await tieredStoreOf(fs)!.flush();
    await tieredStoreOf(fs)!.invalidateAll(); // forget the cache: the bytes come back from the store
    expect((await fs.read(ino, 0, 2 * PAGE, PAGE)).subarray(7).toString()).toBe('written by zuf');
  });

  it('PUT_MULTY after the blocks were revoked answers ESTALE and changes nothing', async () => {
    const { ctx, fs, t1, counters } = await setup(true);
    const ino = await file(fs, 'f', pattern(7, 2 * PAGE));
    await tieredStoreOf(fs)!.flush(); // uploaded and clean: a peer's change drops it
    const [w] = await getMulty(ctx, ino, 0, 1, true);
    // the kernel copied its bytes, then the server revoked the blocks (a peer's change) before the PUT_MULTY
    const revoke = (): Promise<void> => tieredStoreOf(fs)!.invalidateAll();
    await expect(kernelWrite(ctx, t1, ino, 0, Buffer.from('stale'), wbnOf(w!), revoke)).rejects.toMatchObject({ errno: 116 });
    expect((await fs.read(ino, 0, 0, 2 * PAGE)).equals(pattern(7, 2 * PAGE))).toBe(true);
    expect(counters).toMatchObject({ puts: 1, putsStale: 1 });
  });

  it('write-through tiers map nothing for writing; PUT_MULTY without NIO is refused', async () => {
    const { ctx, sb, fs } = await setup(false);
    const ino = await file(fs, 'f', pattern(8, PAGE));
    expect((await getMulty(ctx, ino, 0, 2, true)).every((w) => w === 0n)).toBe(true);
    ctx.sbs.set(4, { ...sb, nio: undefined });
    await expect(kernelWrite(ctx, '/dev/null', ino, 0, Buffer.from('x'), 1024)).rejects.toMatchObject({ errno: 22 });
  });
});
