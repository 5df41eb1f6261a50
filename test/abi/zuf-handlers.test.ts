// The zuf transport's op handlers without a kernel: requests are encoded into an op buffer the
// way zuf.ko lays them out (zus_api.h offsets), run against PosixFs over MemoryBackend, and the
// in-place replies and the shared zus_inode pool are checked byte for byte.
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory.js';
import { PosixFs } from '../../src/fs/posix-fs.js';
import { FsError } from '../../src/fs/errors.js';
import {
  ZUFS_OP_EVICT_INODE, ZUFS_OP_LOOKUP, ZUFS_OP_NEW_INODE, ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_READ, ZUFS_OP_READDIR,
  ZUFS_OP_WRITE, ZUFS_OP_XATTR_GET, ZUFS_OP_XATTR_SET, ZUFS_OP_XATTR_LIST, zu_dpp_t_pool, zu_dpp_t_val, zufs_dir_entry,
  zufs_ioc_IO, zufs_ioc_hdr, zufs_ioc_lookup, zufs_ioc_new_inode, zufs_ioc_readdir, zufs_ioc_xattr, zus_inode,
} from '../../src/zus/abi/zus-api.js';
import { readZusInode, writeZufsStr, writeZusInode } from '../../src/zus/abi/codec.js';
import { makeCookie, opTable, publish, type Ctx, type SbState } from '../../src/zus/zuf/handlers.js';
import { ZiPool } from '../../src/zus/zuf/pool.js';

const H = zufs_ioc_hdr.fields;

async function setup(): Promise<{ ctx: Ctx; sb: SbState }> {
  const ab = new ArrayBuffer(256 * 1024);
  const fs = new PosixFs(new MemoryBackend());
  const sb: SbState = { idx: 3, fs, pool: ZiPool.anonymous(1, 64 * 1024), fsType: 'zufs-mem', sbId: 1n, sbKey: 2n };
  await publish(sb, await fs.getattr(fs.rootIno));
  return { ctx: { dv: new DataView(ab), u8: new Uint8Array(ab), sbs: new Map([[3, sb]]) }, sb };
}

function op(ctx: Ctx, code: number, len = 0): DataView {
  ctx.u8.fill(0, 0, ZUFS_OP_PAYLOAD_OFF);
  ctx.dv.setUint16(H.operation, code, true);
  ctx.dv.setUint32(H.offset, ZUFS_OP_PAYLOAD_OFF, true);
  ctx.dv.setUint32(H.len, len, true);
  return ctx.dv;
}

async function run(ctx: Ctx, code: number): Promise<void> {
  await opTable[code]!(ctx);
}

async function create(ctx: Ctx, sb: SbState, name: string, mode: number, target?: string): Promise<bigint> {
  const dv = op(ctx, ZUFS_OP_NEW_INODE);
  const F = zufs_ioc_new_inode.fields;
  writeZusInode(dv, F.zi, { ino: 0, mode, nlink: 1, uid: 1000, gid: 2000, rdev: 0, size: 0, blocks: 0, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, generation: 0 });
  dv.setBigUint64(F.dir_ii, makeCookie(sb.idx, sb.fs.rootIno), true);
  writeZufsStr(dv, F.str, name);
  if (target) {
    const b = Buffer.from(target);
    ctx.u8.set(b, ZUFS_OP_PAYLOAD_OFF);
    dv.setUint32(H.len, b.length, true);
  }
  await run(ctx, ZUFS_OP_NEW_INODE);
  return dv.getBigUint64(F.zus_ii, true);
}

describe('zuf op handlers', () => {
  it('NEW_INODE publishes a zus_inode in pool 1 and answers its dpp_t and cookie', async () => {
    const { ctx, sb } = await setup();
    const cookie = await create(ctx, sb, 'f', 0o100644);
    const dpp = ctx.dv.getBigUint64(zufs_ioc_new_inode.fields._zi, true);
    expect(zu_dpp_t_pool(dpp)).toBe(1);
    expect(Number(zu_dpp_t_val(dpp)) % 128).toBe(0);
    const zi = readZusInode(sb.pool.dv, Number(zu_dpp_t_val(dpp)));
    expect(cookie).toBe(makeCookie(3, zi.ino));
    expect(zi.mode).toBe(0o100644);
    expect([zi.uid, zi.gid, zi.nlink, zi.size]).toEqual([1000, 2000, 1, 0]);
  });

  it('WRITE then READ move bytes through the payload and update i_size in the pool', async () => {
    const { ctx, sb } = await setup();
    const cookie = await create(ctx, sb, 'f', 0o100644);
    const F = zufs_ioc_IO.fields;
    let dv = op(ctx, ZUFS_OP_WRITE, 11);
    dv.setBigUint64(F.zus_ii, cookie, true);
    dv.setBigUint64(F.filepos, 5n, true);
    ctx.u8.set(Buffer.from('hello world'), ZUFS_OP_PAYLOAD_OFF);
    await run(ctx, ZUFS_OP_WRITE);
    expect(dv.getBigUint64(F.last_pos, true)).toBe(16n);
    expect(readZusInode(sb.pool.dv, sb.pool.offsetOf(Number(cookie & 0xffffffffffn))!).size).toBe(16);

    dv = op(ctx, ZUFS_OP_READ, 100);
    dv.setBigUint64(F.zus_ii, cookie, true);
    await run(ctx, ZUFS_OP_READ);
    expect(dv.getUint32(H.len, true)).toBe(16);
    expect(dv.getBigUint64(F.last_pos, true)).toBe(16n);
    expect(Buffer.from(ctx.u8.subarray(ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_PAYLOAD_OFF + 16)).toString('latin1')).toBe('\0\0\0\0\0hello world');
  });

  it('LOOKUP answers the same slot for the same inode and ENOENT for a missing name', async () => {
    const { ctx, sb } = await setup();
    await create(ctx, sb, 'f', 0o100600);
    const first = ctx.dv.getBigUint64(zufs_ioc_new_inode.fields._zi, true);
    const F = zufs_ioc_lookup.fields;
    let dv = op(ctx, ZUFS_OP_LOOKUP);
    dv.setBigUint64(F.dir_ii, makeCookie(3, sb.fs.rootIno), true);
    writeZufsStr(dv, F.str, 'f');
    await run(ctx, ZUFS_OP_LOOKUP);
    expect(dv.getBigUint64(F._zi, true)).toBe(first);
    dv = op(ctx, ZUFS_OP_LOOKUP);
    dv.setBigUint64(F.dir_ii, makeCookie(3, sb.fs.rootIno), true);
    writeZufsStr(dv, F.str, 'nope');
    await expect(run(ctx, ZUFS_OP_LOOKUP)).rejects.toMatchObject({ errno: 2 });
  });

  it('an unknown super block in a cookie is ESTALE, not a crash', async () => {
    const { ctx } = await setup();
    const dv = op(ctx, ZUFS_OP_LOOKUP);
    dv.setBigUint64(zufs_ioc_lookup.fields.dir_ii, makeCookie(99, 1), true);
    await expect(run(ctx, ZUFS_OP_LOOKUP)).rejects.toBeInstanceOf(FsError);
  });

  it('READDIR packs 8-byte aligned zufs_dir_entry records and reports the end', async () => {
    const { ctx, sb } = await setup();
    for (let i = 0; i < 5; i++) await create(ctx, sb, `n${i}`, 0o100644);
    const F = zufs_ioc_readdir.fields;
    const dv = op(ctx, ZUFS_OP_READDIR, 64 * 1024);
    dv.setBigUint64(F.dir_ii, makeCookie(3, sb.fs.rootIno), true);
    await run(ctx, ZUFS_OP_READDIR);
    const count = dv.getUint32(F.count, true);
    const names: string[] = [];
    let off = ZUFS_OP_PAYLOAD_OFF;
    for (let i = 0; i < count; i++) {
      const rec = dv.getUint16(off + zufs_dir_entry.fields.rec_len, true);
      const n = dv.getUint8(off + zufs_dir_entry.fields.name_len);
      expect(rec % 8).toBe(0);
      names.push(Buffer.from(ctx.u8.subarray(off + zufs_dir_entry.size, off + zufs_dir_entry.size + n)).toString());
      off += rec;
    }
    expect(off - ZUFS_OP_PAYLOAD_OFF).toBe(dv.getUint32(H.len, true));
    expect(names.sort()).toEqual(['.', '..', 'n0', 'n1', 'n2', 'n3', 'n4']);
    expect(dv.getUint32(F.more, true)).toBe(0);
  });

  it('a short symlink target is inline in the zus_inode', async () => {
    const { ctx, sb } = await setup();
    await create(ctx, sb, 'l', 0o120777, 'tgt');
    const dpp = ctx.dv.getBigUint64(zufs_ioc_new_inode.fields._zi, true);
    const at = Number(zu_dpp_t_val(dpp)) + zus_inode.fields.i_symlink;
    expect(Buffer.from(new Uint8Array(sb.pool.dv.buffer, at, 4)).toString('latin1')).toBe('tgt\0');
  });

  it('XATTR_SET / GET (size query, then value) / LIST', async () => {
    const { ctx, sb } = await setup();
    const cookie = await create(ctx, sb, 'f', 0o100644);
    const F = zufs_ioc_xattr.fields;
    const named = (code: number, len: number, name: string): DataView => {
      const dv = op(ctx, code, len);
      dv.setBigUint64(F.zus_ii, cookie, true);
      ctx.u8.set(Buffer.from(name), F.name);
      dv.setUint16(F.name_len, name.length, true);
      return dv;
    };
    named(ZUFS_OP_XATTR_SET, 4, 'user.k');
    ctx.u8.set(Buffer.from('blue'), ZUFS_OP_PAYLOAD_OFF);
    await run(ctx, ZUFS_OP_XATTR_SET);
    let dv = named(ZUFS_OP_XATTR_GET, 0, 'user.k');
    await run(ctx, ZUFS_OP_XATTR_GET);
    expect(dv.getUint32(F.value_size, true)).toBe(4);
    dv = named(ZUFS_OP_XATTR_GET, 2, 'user.k');
    await expect(run(ctx, ZUFS_OP_XATTR_GET)).rejects.toMatchObject({ errno: 34 });
    dv = named(ZUFS_OP_XATTR_LIST, 100, '');
    await run(ctx, ZUFS_OP_XATTR_LIST);
    expect(Buffer.from(ctx.u8.subarray(ZUFS_OP_PAYLOAD_OFF, ZUFS_OP_PAYLOAD_OFF + dv.getUint32(H.len, true))).toString()).toBe('user.k\0');
  });

  it('EVICT_INODE frees the pool slot for reuse', async () => {
    const { ctx, sb } = await setup();
    const cookie = await create(ctx, sb, 'f', 0o100644);
    const ino = Number(cookie & 0xffffffffffn);
    expect(sb.pool.has(ino)).toBe(true);
    const dv = op(ctx, ZUFS_OP_EVICT_INODE);
    dv.setBigUint64(32, cookie, true);
    await run(ctx, ZUFS_OP_EVICT_INODE);
    expect(sb.pool.has(ino)).toBe(false);
  });
});
