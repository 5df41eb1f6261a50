// The FUSE session without a kernel: requests laid out as the kernel sends them go through the
// dispatch table to a stub filesystem, and the replies written to the "device" are decoded.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsError, errno as E } from '../../src/fs/errors.js';
import type { Attr, DirentOut, SetAttr, ZusOperations } from '../../src/fs/operations.js';
import * as A from '../../src/zus/fuse/abi.js';
import { F_RDLCK, F_UNLCK, F_WRLCK, LOCK_END_MAX } from '../../src/fs/operations.js';
import { encodeInvalidation } from '../../src/zus/fuse/codec.js';
import { fuseHandlers, LOCK_INIT_FLAGS, WANTED_INIT_FLAGS } from '../../src/zus/fuse/handlers.js';
import { Session } from '../../src/zus/fuse/session.js';
import { captureLog, cstr, ReplySink, request, u32s, u64s, type LogLine, type Reply } from './wire.js';

function attr(ino: number, mode = 0o100644): Attr {
  return {
    ino, mode, nlink: 1, uid: 1000, gid: 100, rdev: 0, size: 5000, blocks: 16, blksize: 4096,
    atimeNs: 1_700_000_000_123_456_789n, mtimeNs: -1_500_000_000n, ctimeNs: 0n, btimeNs: 0n, generation: 7,
  };
}

const notImplemented = (): never => {
  throw new FsError(E.ENOSYS);
};

/** Optional members: absent unless a test sets them (the transport checks for them). */
const OPTIONAL = new Set<string | symbol>(['getlk', 'setlk', 'onInvalidate']);

/** Only what a test sets exists; everything else is ENOSYS. */
function stubFs(over: Partial<ZusOperations>): ZusOperations & { evicted: number[] } {
  const evicted: number[] = [];
  const base = {
    rootIno: 1,
    evicted,
    evict: async (ino: number) => void evicted.push(ino),
  };
  return new Proxy({ ...base, ...over } as ZusOperations & { evicted: number[] }, {
    get: (t, k) => (k in t ? (t as unknown as Record<string | symbol, unknown>)[k] : OPTIONAL.has(k) ? undefined : notImplemented),
  });
}

let sink: ReplySink;
let lines: LogLine[];

function session(fs: ZusOperations, attrTimeoutMs = 1500): Session {
  const c = captureLog();
  lines = c.lines;
  return new Session(fs, fuseHandlers(), { attrTimeoutMs, bufferSize: (1 << 20) + 4096, log: c.log });
}

/** Dispatches and waits until the handler's promise chain has run. */
async function send(s: Session, opcode: number, body: Buffer, o: Parameters<typeof request>[2] = {}): Promise<number> {
  const { bytes, unique } = request(opcode, body, o);
  s.dispatch(sink.chan, bytes);
  await new Promise((r) => setImmediate(r));
  return unique;
}

function only(unique: number): Reply {
  const r = sink.replies().filter((x) => x.unique === unique);
  expect(r).toHaveLength(1);
  return r[0]!;
}

beforeEach(() => {
  sink = new ReplySink();
});
afterEach(() => sink.close());

describe('FUSE session', () => {
  it('answers INIT with the flags it wants that the kernel offers, no lock flags without getlk/setlk, and 1 MiB writes', async () => {
    const s = session(stubFs({}));
    const offered = 0x7fffffff; // everything up to FUSE_INIT_EXT
    const u = await send(s, A.FUSE_INIT, Buffer.concat([u32s(7, 45, 131072, offered, 0), Buffer.alloc(44)]));
    const r = only(u);
    expect(r.error).toBe(0);
    expect(r.body.length).toBe(A.INIT_OUT_SIZE);
    expect(r.body.readUInt32LE(A.INIT_OUT_MAJOR)).toBe(7);
    expect(r.body.readUInt32LE(A.INIT_OUT_MINOR)).toBe(A.FUSE_KERNEL_MINOR_VERSION);
    const flags = r.body.readUInt32LE(A.INIT_OUT_FLAGS);
    expect(flags).toBe(WANTED_INIT_FLAGS);
    expect(flags & (A.FUSE_POSIX_LOCKS | A.FUSE_FLOCK_LOCKS | A.FUSE_WRITEBACK_CACHE)).toBe(0);
    for (const f of [A.FUSE_ASYNC_READ, A.FUSE_BIG_WRITES, A.FUSE_PARALLEL_DIROPS, A.FUSE_DO_READDIRPLUS, A.FUSE_POSIX_ACL, A.FUSE_DONT_MASK, A.FUSE_MAX_PAGES]) {
      expect(flags & f).toBe(f);
    }
    expect(r.body.readUInt32LE(A.INIT_OUT_MAX_WRITE)).toBe(1 << 20);
    expect(r.body.readUInt16LE(A.INIT_OUT_MAX_PAGES)).toBe(256);
    expect(r.body.readUInt32LE(A.INIT_OUT_MAX_READAHEAD)).toBe(131072);
    expect(s.proto.initialized).toBe(true);
  });

  it('speaks an older kernel minor, grants only offered flags, and caps writes at 128 KiB without MAX_PAGES', async () => {
    const s = session(stubFs({}));
    const u = await send(s, A.FUSE_INIT, Buffer.concat([u32s(7, 26, 65536, A.FUSE_ASYNC_READ | A.FUSE_BIG_WRITES), Buffer.alloc(48)]));
    const r = only(u);
    expect(r.body.readUInt32LE(A.INIT_OUT_MINOR)).toBe(26);
    expect(r.body.readUInt32LE(A.INIT_OUT_FLAGS)).toBe(A.FUSE_ASYNC_READ | A.FUSE_BIG_WRITES);
    expect(r.body.readUInt32LE(A.INIT_OUT_MAX_WRITE)).toBe(128 * 1024);
  });

  it('refuses a protocol it cannot speak with EPROTO', async () => {
    const s = session(stubFs({}));
    const u = await send(s, A.FUSE_INIT, Buffer.concat([u32s(8, 0, 0, 0), Buffer.alloc(48)]));
    expect(only(u).error).toBe(-E.EPROTO);
  });

  it('answers unknown opcodes and STATX with ENOSYS, once', async () => {
    const s = session(stubFs({}));
    const u1 = await send(s, A.FUSE_STATX, Buffer.alloc(24));
    const u2 = await send(s, 4000, Buffer.alloc(8));
    const u3 = await send(s, A.FUSE_COPY_FILE_RANGE, Buffer.alloc(56));
    expect(only(u1).error).toBe(-E.ENOSYS);
    expect(only(u2).error).toBe(-E.ENOSYS);
    expect(only(u3).error).toBe(-E.ENOSYS);
    expect(sink.replies()).toHaveLength(3);
    expect(s.opStats()).toMatchObject({ STATX: 1, OTHER: 1, COPY_FILE_RANGE: 1 });
  });

  it('LOOKUP returns fuse_entry_out with timeouts, attributes and nanosecond times (negative too)', async () => {
    let seen: unknown[] = [];
    const s = session(stubFs({ lookup: async (c, dir, name) => ((seen = [c.uid, c.gid, c.pid, dir, name]), attr(42)) }), 1500);
    const u = await send(s, A.FUSE_LOOKUP, cstr('héllo'), { nodeid: 1, uid: 1000, gid: 100, pid: 77 });
    const b = only(u).body;
    expect(seen).toEqual([1000, 100, 77, 1, 'héllo']);
    expect(b.length).toBe(A.ENTRY_OUT_SIZE);
    expect(Number(b.readBigUInt64LE(A.ENTRY_NODEID))).toBe(42);
    expect(Number(b.readBigUInt64LE(A.ENTRY_GENERATION))).toBe(7);
    expect(Number(b.readBigUInt64LE(A.ENTRY_VALID))).toBe(1);
    expect(b.readUInt32LE(A.ENTRY_VALID_NSEC)).toBe(500_000_000);
    const a = A.ENTRY_ATTR;
    expect(Number(b.readBigUInt64LE(a + A.ATTR_SIZE))).toBe(5000);
    expect(b.readUInt32LE(a + A.ATTR_MODE)).toBe(0o100644);
    expect(b.readBigInt64LE(a + A.ATTR_ATIME)).toBe(1_700_000_000n);
    expect(b.readUInt32LE(a + A.ATTR_ATIMENSEC)).toBe(123_456_789);
    expect(b.readBigInt64LE(a + A.ATTR_MTIME)).toBe(-2n); // -1.5 s = -2 s + 0.5 s
    expect(b.readUInt32LE(a + A.ATTR_MTIMENSEC)).toBe(500_000_000);
    expect(b.readUInt32LE(a + A.ATTR_UID)).toBe(1000);
  });

  it('counts lookups and evicts when FORGET / BATCH_FORGET drop them to zero, replying to neither', async () => {
    const fs = stubFs({ lookup: async (_c, _d, name) => attr(name === 'a' ? 10 : 11) });
    const s = session(fs);
    await send(s, A.FUSE_LOOKUP, cstr('a'));
    await send(s, A.FUSE_LOOKUP, cstr('a'));
    await send(s, A.FUSE_LOOKUP, cstr('b'));
    expect(s.referencedInodes).toBe(2);
    await send(s, A.FUSE_FORGET, u64s(1), { nodeid: 10 });
    expect(fs.evicted).toEqual([]);
    await send(s, A.FUSE_BATCH_FORGET, Buffer.concat([u32s(2, 0), u64s(10, 1, 11, 1)]));
    expect(fs.evicted.sort()).toEqual([10, 11]);
    expect(s.referencedInodes).toBe(0);
    await send(s, A.FUSE_FORGET, u64s(1), { nodeid: 1 }); // the root is never evicted
    expect(fs.evicted).toHaveLength(2);
    expect(sink.replies()).toHaveLength(3); // the three lookups only
  });

  it('maps expected errors quietly and unexpected ones to EIO with a warning naming the op', async () => {
    const s = session(stubFs({
      lookup: async () => {
        throw new FsError(E.ENOENT);
      },
      getattr: async () => {
        throw new Error('backend exploded');
      },
    }));
    const u1 = await send(s, A.FUSE_LOOKUP, cstr('nope'));
    const u2 = await send(s, A.FUSE_GETATTR, Buffer.alloc(16), { nodeid: 5 });
    expect(only(u1).error).toBe(-E.ENOENT);
    expect(only(u2).error).toBe(-E.EIO);
    const warns = lines.filter((l) => l.level >= 40);
    expect(warns).toHaveLength(1);
    expect(warns[0]!.op).toBe('GETATTR');
    expect(lines.some((l) => l.level === 20 && l.op === 'LOOKUP')).toBe(true);
  });

  it('refuses a name that is not valid UTF-8 (EILSEQ) instead of mangling it', async () => {
    let called = false;
    const s = session(stubFs({ lookup: async () => ((called = true), attr(2)) }));
    const u = await send(s, A.FUSE_LOOKUP, cstr(Buffer.from([0x66, 0xff, 0x6f])));
    expect(only(u).error).toBe(-E.EILSEQ);
    expect(called).toBe(false);
  });

  it('GETXATTR/LISTXATTR: size 0 asks the length, too small is ERANGE, big enough returns the bytes', async () => {
    const s = session(stubFs({
      getxattr: async () => Buffer.from('value!'),
      listxattr: async () => ['user.a', 'user.bb'],
    }));
    const probe = await send(s, A.FUSE_GETXATTR, Buffer.concat([u32s(0, 0), cstr('user.x')]));
    expect(only(probe).body.readUInt32LE(0)).toBe(6);
    const small = await send(s, A.FUSE_GETXATTR, Buffer.concat([u32s(3, 0), cstr('user.x')]));
    expect(only(small).error).toBe(-E.ERANGE);
    const full = await send(s, A.FUSE_GETXATTR, Buffer.concat([u32s(100, 0), cstr('user.x')]));
    expect(only(full).body.toString()).toBe('value!');
    const lprobe = await send(s, A.FUSE_LISTXATTR, u32s(0, 0));
    expect(only(lprobe).body.readUInt32LE(0)).toBe(15);
    const lsmall = await send(s, A.FUSE_LISTXATTR, u32s(14, 0));
    expect(only(lsmall).error).toBe(-E.ERANGE);
    const lfull = await send(s, A.FUSE_LISTXATTR, u32s(15, 0));
    expect(only(lfull).body.toString()).toBe('user.a\0user.bb\0');
  });

  it('SETXATTR (compat 8-byte header) passes name, value and flags', async () => {
    let got: unknown[] = [];
    const s = session(stubFs({ setxattr: async (_c, ino, name, value, flags) => void (got = [ino, name, value.toString(), flags]) }));
    const u = await send(s, A.FUSE_SETXATTR, Buffer.concat([u32s(3, 1), cstr('user.k'), Buffer.from('abc')]), { nodeid: 9 });
    expect(only(u).error).toBe(0);
    expect(got).toEqual([9, 'user.k', 'abc', 1]);
  });

  it('SETATTR decodes every valid bit', async () => {
    let got: SetAttr = {};
    const s = session(stubFs({ setattr: async (_c, _i, req) => ((got = req), attr(3)) }));
    const b = Buffer.alloc(A.SETATTR_IN_SIZE);
    b.writeUInt32LE(A.FATTR_MODE | A.FATTR_UID | A.FATTR_GID | A.FATTR_SIZE | A.FATTR_ATIME | A.FATTR_ATIME_NOW | A.FATTR_MTIME | A.FATTR_CTIME | A.FATTR_FH, A.SETATTR_VALID);
    b.writeBigUInt64LE(17n, A.SETATTR_FH);
    b.writeBigUInt64LE(2n ** 40n, A.SETATTR_SIZE);
    b.writeBigInt64LE(-3n, A.SETATTR_MTIME);
    b.writeUInt32LE(250, A.SETATTR_MTIMENSEC);
    b.writeBigInt64LE(1234n, A.SETATTR_CTIME);
    b.writeUInt32LE(5, A.SETATTR_CTIMENSEC);
    b.writeUInt32LE(0o104755, A.SETATTR_MODE);
    b.writeUInt32LE(65534, A.SETATTR_UID);
    b.writeUInt32LE(4242, A.SETATTR_GID);
    const u = await send(s, A.FUSE_SETATTR, b, { nodeid: 3 });
    expect(only(u).body.length).toBe(A.ATTR_OUT_SIZE);
    expect(got).toEqual({
      mode: 0o104755, uid: 65534, gid: 4242, size: 2 ** 40, atimeNs: 'now', mtimeNs: -3n * 1_000_000_000n + 250n,
      ctimeNs: 1234_000_000_005n, fh: 17,
    });
  });

  it('MKDIR/MKNOD/CREATE pass the umask in the Caller and the mode as the kernel meant it', async () => {
    const calls: unknown[][] = [];
    const s = session(stubFs({
      newInode: async (c, dir, name, req) => (calls.push([c.umask, dir, name, req.mode, req.rdev]), attr(50, req.mode)),
      open: async (_c, ino, flags) => (calls.push(['open', ino, flags]), 99),
    }));
    await send(s, A.FUSE_MKDIR, Buffer.concat([u32s(0o755, 0o022), cstr('d')]), { nodeid: 4 });
    await send(s, A.FUSE_MKNOD, Buffer.concat([u32s(0o010600, 0, 0o077, 0), cstr('p')]), { nodeid: 4 });
    const u = await send(s, A.FUSE_CREATE, Buffer.concat([u32s(0o100 | 0o200 | 2, 0o100666, 0o002, 0), cstr('f')]), { nodeid: 4 });
    expect(calls).toEqual([
      [0o022, 4, 'd', 0o040755, undefined],
      [0o077, 4, 'p', 0o010600, 0],
      [0o002, 4, 'f', 0o100666, undefined],
      ['open', 50, 2], // O_CREAT|O_EXCL stripped, O_RDWR kept
    ]);
    const r = only(u);
    expect(r.body.length).toBe(A.ENTRY_OUT_SIZE + A.OPEN_OUT_SIZE);
    expect(Number(r.body.readBigUInt64LE(A.ENTRY_OUT_SIZE))).toBe(99);
  });

  it('READDIR packs what fits, 8-byte aligned, with cookies and DT_ types', async () => {
    const names = Array.from({ length: 200 }, (_, i) => `entry-${i}`);
    let asked = 0;
    const s = session(stubFs({
      readdir: async (_c, _d, cookie, max) => {
        asked = max;
        return names.slice(cookie, cookie + max).map((name, i): DirentOut => ({ name, ino: 100 + cookie + i, type: i % 2 ? 0o040000 : 0o100000, next: cookie + i + 1 }));
      },
    }));
    const u = await send(s, A.FUSE_READDIR, Buffer.concat([u64s(1, 0), u32s(4096, 0, 0, 0), u64s(0)]));
    const b = only(u).body;
    expect(asked).toBeGreaterThan(0);
    expect(b.length).toBeLessThanOrEqual(4096);
    let o = 0;
    let n = 0;
    while (o < b.length) {
      const namelen = b.readUInt32LE(o + 16);
      expect(b.toString('utf8', o + 24, o + 24 + namelen)).toBe(`entry-${n}`);
      expect(Number(b.readBigUInt64LE(o))).toBe(100 + n);
      expect(Number(b.readBigUInt64LE(o + 8))).toBe(n + 1);
      expect(b.readUInt32LE(o + 20)).toBe(n % 2 ? 4 : 8);
      o += (24 + namelen + 7) & ~7;
      n++;
    }
    expect(o).toBe(b.length);
    expect(n).toBeGreaterThan(100);
    expect(4096 - b.length).toBeLessThan(40); // the next entry would not have fitted
  });

  it('READDIRPLUS counts a lookup only for entries it sent, never for . and ..', async () => {
    const fs = stubFs({
      readdir: async () => [
        { name: '.', ino: 1, type: 0o040000, next: 1, attr: attr(1, 0o040755) },
        { name: '..', ino: 1, type: 0o040000, next: 2, attr: attr(1, 0o040755) },
        ...Array.from({ length: 100 }, (_, i): DirentOut => ({ name: `f${i}`, ino: 10 + i, type: 0o100000, next: 3 + i, attr: attr(10 + i) })),
      ],
    });
    const s = session(fs);
    const u = await send(s, A.FUSE_READDIRPLUS, Buffer.concat([u64s(1, 0), u32s(4096, 0, 0, 0), u64s(0)]));
    const b = only(u).body;
    const sent = Math.floor(4096 / 160); // direntplus records of short names are 160 bytes
    expect(b.length).toBe(sent * 160);
    expect(Number(b.readBigUInt64LE(0))).toBe(0); // "." carries no entry
    expect(s.referencedInodes).toBe(sent - 2);
  });

  it('WRITE hands the data to the filesystem and READ returns at most the asked size', async () => {
    let wrote = '';
    const s = session(stubFs({
      write: async (_i, _fh, off, data) => ((wrote = `${off}:${data.toString()}`), data.length),
      read: async () => Buffer.from('0123456789'),
    }));
    const wu = await send(s, A.FUSE_WRITE, Buffer.concat([u64s(1, 4096), u32s(5, 0), u64s(0), u32s(0, 0), Buffer.from('hello')]));
    expect(wrote).toBe('4096:hello');
    expect(only(wu).body.readUInt32LE(0)).toBe(5);
    const ru = await send(s, A.FUSE_READ, Buffer.concat([u64s(1, 0), u32s(4, 0), u64s(0), u32s(0, 0)]));
    expect(only(ru).body.toString()).toBe('0123');
  });

  it('large READ replies (gathered with writev) carry the exact bytes, clipped to the asked size', async () => {
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const s = session(stubFs({ read: async () => big }));
    const u = await send(s, A.FUSE_READ, Buffer.concat([u64s(1, 0), u32s(262_144, 0), u64s(0), u32s(0, 0)]));
    const r = only(u);
    expect(r.len).toBe(16 + 262_144);
    expect(r.body.equals(big.subarray(0, 262_144))).toBe(true);
    const u2 = await send(s, A.FUSE_READLINK, Buffer.alloc(0));
    expect(only(u2).error).toBe(-E.ENOSYS); // the next reply is whole and in order after a writev
  });

  it('drops replies once the channel is closed and never replies twice', async () => {
    const s = session(stubFs({ getattr: async () => attr(2) }));
    sink.chan.open = false;
    await send(s, A.FUSE_GETATTR, Buffer.alloc(16));
    expect(sink.replies()).toHaveLength(0);
  });

  it('INIT asks for POSIX and flock locks from a filesystem with getlk/setlk', async () => {
    const s = session(stubFs({ getlk: async () => ({ type: F_UNLCK, start: 0, end: 0, pid: 0 }), setlk: async () => undefined }));
    const u = await send(s, A.FUSE_INIT, Buffer.concat([u32s(7, 38, 0, 0x7fffffff, 0), Buffer.alloc(44)]));
    expect(only(u).body.readUInt32LE(A.INIT_OUT_FLAGS) & LOCK_INIT_FLAGS).toBe(A.FUSE_POSIX_LOCKS | A.FUSE_FLOCK_LOCKS);
  });

  it('SETLK/GETLK decode fuse_lk_in (owner, OFFSET_MAX, flock flag) and encode fuse_lk_out; FLUSH/RELEASE pass lock owners', async () => {
    const calls: unknown[] = [];
    const s = session(stubFs({
      setlk: async (_c, ino, fh, owner, lock, opts) => void calls.push({ ino, fh, owner, lock, flock: opts.flock, wait: opts.wait }),
      getlk: async () => ({ type: F_WRLCK, start: 10, end: LOCK_END_MAX, pid: 0 }),
      flush: async (_ino, _fh, owner) => void calls.push({ flush: owner }),
      release: async (_ino, _fh, owner) => void calls.push({ release: owner }),
    }));
    await send(s, A.FUSE_INIT, Buffer.concat([u32s(7, 38, 0, 0x7fffffff, 0), Buffer.alloc(44)]));
    const lkIn = (type: number, flags: number): Buffer =>
      Buffer.concat([u64s(3), u32s(0xdeadbeef, 0x12345678), u64s(100), u32s(0xffffffff, 0x7fffffff), u32s(type, 4321, flags, 0)]);
    const u1 = await send(s, A.FUSE_SETLK, lkIn(F_WRLCK, 0), { nodeid: 9 });
    expect(only(u1).error).toBe(0);
    const u2 = await send(s, A.FUSE_SETLK, lkIn(F_UNLCK, A.FUSE_LK_FLOCK), { nodeid: 9 });
    expect(only(u2).error).toBe(0);
    expect(calls).toEqual([
      { ino: 9, fh: 3, owner: '12345678:deadbeef', lock: { type: F_WRLCK, start: 100, end: LOCK_END_MAX, pid: 4321 }, flock: false, wait: false },
      { ino: 9, fh: 3, owner: '12345678:deadbeef', lock: { type: F_UNLCK, start: 100, end: LOCK_END_MAX, pid: 4321 }, flock: true, wait: false },
    ]);
    const g = only(await send(s, A.FUSE_GETLK, lkIn(F_RDLCK, 0), { nodeid: 9 }));
    expect(g.body.length).toBe(A.LK_OUT_SIZE);
    expect(g.body.readBigUInt64LE(0)).toBe(10n);
    expect(g.body.readBigUInt64LE(8)).toBe(0x7fffffffffffffffn);
    expect(g.body.readUInt32LE(16)).toBe(F_WRLCK);
    calls.length = 0;
    await send(s, A.FUSE_FLUSH, Buffer.concat([u64s(3), u32s(0, 0), u32s(1, 2)]), { nodeid: 9 });
    await send(s, A.FUSE_RELEASE, Buffer.concat([u64s(3), u32s(0, A.FUSE_RELEASE_FLOCK_UNLOCK), u32s(5, 6)]), { nodeid: 9 });
    await send(s, A.FUSE_RELEASE, Buffer.concat([u64s(3), u32s(0, 0), u32s(5, 6)]), { nodeid: 9 });
    expect(calls).toEqual([{ flush: '2:1' }, { release: '6:5' }, { release: undefined }]);
  });

  it('INTERRUPT of a waiting SETLKW aborts the wait: the request is answered EINTR', async () => {
    const s = session(stubFs({
      setlk: (_c, _ino, _fh, _owner, _lock, opts) =>
        new Promise<void>((_resolve, reject) => opts.signal!.addEventListener('abort', () => reject(new FsError(E.EINTR)))),
    }));
    await send(s, A.FUSE_INIT, Buffer.concat([u32s(7, 38, 0, 0x7fffffff, 0), Buffer.alloc(44)]));
    const body = Buffer.concat([u64s(3, 1), u64s(0, 0), u32s(F_WRLCK, 1, 0, 0)]);
    const u = await send(s, A.FUSE_SETLKW, body, { nodeid: 9 });
    expect(sink.replies().filter((r) => r.unique === u)).toHaveLength(0);
    await send(s, A.FUSE_INTERRUPT, u64s(u));
    await new Promise((r) => setImmediate(r));
    expect(only(u).error).toBe(-E.EINTR);
  });

  it('invalidation notifications: unique 0, the code in the error field, attributes-only inode, NUL-terminated name', () => {
    const i = encodeInvalidation({ ino: 42 });
    expect(i.length).toBe(16 + A.NOTIFY_INVAL_INODE_OUT_SIZE);
    expect(i.readUInt32LE(0)).toBe(i.length);
    expect(i.readInt32LE(4)).toBe(A.FUSE_NOTIFY_INVAL_INODE);
    expect(i.readBigUInt64LE(8)).toBe(0n);
    expect(i.readBigUInt64LE(16)).toBe(42n);
    expect(i.readBigInt64LE(24)).toBe(-1n);
    const e = encodeInvalidation({ parent: 7, name: 'héllo' });
    expect(e.readUInt32LE(0)).toBe(e.length);
    expect(e.readInt32LE(4)).toBe(A.FUSE_NOTIFY_INVAL_ENTRY);
    expect(e.readBigUInt64LE(16)).toBe(7n);
    expect(e.readUInt32LE(24)).toBe(6);
    expect(e.subarray(32).toString('latin1')).toBe(Buffer.from('héllo\0').toString('latin1'));
  });
});
