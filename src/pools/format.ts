// `zufs format` and mount-time checks of the tier devices: formatDevices() writes the device table
// (device-table.ts) to every t1/t2 member and initialises the journal; openTiers() reads and checks
// the tables at mount (same volume, every member present, bound to this store), claims the members
// (flock, or O_EXCL on block devices) and maps them. In FUSE mode t1 is a file in /dev/shm or on a
// DAX mount (or /dev/pmemN) and t2 a regular file or block device; the format is the same for zuf.
import { createHash } from 'node:crypto';
import { closeSync, constants as fsc, fstatSync, ftruncateSync, fsyncSync, openSync, promises as fsp, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { errno, fsError, toErrno } from '../fs/errors.js';
import {
  checkSameVolume,
  decodeDeviceTable,
  type DeviceTable,
  type DevMember,
  dtError,
  encodeDeviceTable,
  newUuid,
  ZUFS_DEV_NUMA_NONE,
  ZUFS_DT_ALIGN,
  ZUFS_DT_BLOCK_SIZE,
  ZUFS_DT_DATA_OFFSET,
  ZUFS_DT_MAX_MEMBERS,
  ZUFS_DT_SIZE,
  ZUFS_DT_VERSION_MAJOR,
  ZUFS_DT_VERSION_MINOR,
} from './device-table.js';
import { Journal } from './journal.js';
import { type OpenMember, slotSizeFor, T1Space } from './t1.js';
import { type T2Engine, T2Space } from './t2.js';

const flock = koffi.load('libc.so.6').func('int flock(int fd, int op)') as (fd: number, op: number) => number;
const LOCK_EX = 2;
const LOCK_NB = 4;

/** The `tiers:` key of a mount (src/zus/config.ts), sizes in bytes. A list gives several members. */
export interface TiersConfig {
  t1?: string | readonly string[];
  t2?: string | readonly string[];
  t1_size?: number;
  t2_size?: number;
  writeback?: boolean;
}

export interface FormatOptions {
  t1: string | readonly string[];
  t2?: string | readonly string[];
  /** Default: a new random uuid. */
  volumeUuid?: string;
  /** Size for t1 members that are regular files (created or resized); block devices use their size. */
  t1Size?: number;
  t2Size?: number;
  /** Journal size in bytes, a multiple of 2 MiB. Default: 1/8 of t1 member 0, between 2 MiB and 1 GiB. */
  journalSize?: number;
  /** Shown by status and in refusals, e.g. the mount name. */
  label?: string;
  /** Overwrite members that hold another volume's table. */
  force?: boolean;
}

export interface FormatResult {
  volumeUuid: string;
  journalBytes: number;
  members: (DevMember & { path: string })[];
}

const list = (v: string | readonly string[] | undefined): string[] => (v === undefined ? [] : typeof v === 'string' ? [v] : [...v]);
const alignDown = (n: number): number => Math.floor(n / ZUFS_DT_ALIGN) * ZUFS_DT_ALIGN;

interface Probe {
  bytes: number;
  numa: number;
  block: boolean;
}

function sysfsNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Size and NUMA node of a member; creates or resizes a regular file when `size` is given. */
function probe(path: string, size: number | undefined, role: string): Probe {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if (toErrno(e) !== errno.ENOENT) throw e;
    if (size === undefined) throw fsError(errno.ENOENT, `${role} ${path} does not exist: create it or give ${role}_size`);
    closeSync(openSync(path, 'wx', 0o600));
    st = statSync(path);
  }
  if (st.isBlockDevice()) {
    const r = BigInt(st.rdev);
    const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
    const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
    const dev = `/sys/dev/block/${major}:${minor}`;
    const sectors = sysfsNumber(`${dev}/size`);
    if (sectors === undefined) throw fsError(errno.EIO, `${role} ${path}: cannot read its size from ${dev}/size`);
    const numa = sysfsNumber(`${dev}/device/numa_node`) ?? sysfsNumber(`${dev}/../device/numa_node`);
    return { bytes: alignDown(sectors * 512), numa: numa === undefined || numa < 0 || numa > 254 ? ZUFS_DEV_NUMA_NONE : numa, block: true };
  }
  if (!st.isFile()) throw fsError(errno.EINVAL, `${role} ${path} is neither a regular file nor a block device`);
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || size < 2 * ZUFS_DT_DATA_OFFSET) throw dtError('BAD_SIZE', `${role}_size ${size} is below 4 MiB`);
    if (size % ZUFS_DT_ALIGN !== 0) throw dtError('BAD_SIZE', `${role}_size ${size} is not a multiple of 2 MiB`);
    if (st.size !== size) {
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, size);
      } finally {
        closeSync(fd);
      }
    }
    return { bytes: size, numa: ZUFS_DEV_NUMA_NONE, block: false };
  }
  if (st.size === 0) throw dtError('BAD_SIZE', `${role} ${path} is empty: give ${role}_size`);
  return { bytes: alignDown(st.size), numa: ZUFS_DEV_NUMA_NONE, block: false };
}

/** The table at the start of `path`: null when the first 4 KiB are all zero (a fresh file or device). */
function readTable(path: string): DeviceTable | null {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(ZUFS_DT_SIZE);
    const n = readSync(fd, b, 0, ZUFS_DT_SIZE, 0);
    if (n < ZUFS_DT_SIZE ? b.subarray(0, n).every((x) => x === 0) : b.every((x) => x === 0)) return null;
    return decodeDeviceTable(b, path);
  } finally {
    closeSync(fd);
  }
}

function writeTable(path: string, t: DeviceTable, journalFresh: boolean): void {
  const fd = openSync(path, 'r+');
  try {
    if (journalFresh) Journal.initialize(fd, ZUFS_DT_DATA_OFFSET);
    writeSync(fd, encodeDeviceTable(t), 0, ZUFS_DT_SIZE, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a new device table on every member and an empty journal on t1 member 0.
 * Refuses members holding another volume's table unless `force`. */
export function formatDevices(opts: FormatOptions): FormatResult {
  const t1 = list(opts.t1);
  const t2 = list(opts.t2);
  if (t1.length === 0) throw fsError(errno.EINVAL, 'format: at least one t1 device is needed');
  if (t1.length + t2.length > ZUFS_DT_MAX_MEMBERS) throw fsError(errno.EINVAL, `format: ${t1.length + t2.length} devices, at most ${ZUFS_DT_MAX_MEMBERS}`);
  const paths = [...t1, ...t2];
  if (new Set(paths).size !== paths.length) throw fsError(errno.EINVAL, 'format: a device is listed twice');
  const volumeUuid = opts.volumeUuid ?? newUuid();
  const members: (DevMember & { path: string })[] = paths.map((path, i) => {
    const role = i < t1.length ? 't1' : 't2';
    const p = probe(path, role === 't1' ? opts.t1Size : opts.t2Size, role);
    if (!opts.force) {
      let old: DeviceTable | null = null;
      try {
        old = readTable(path);
      } catch {
        old = null; // unreadable or corrupt: formatting is how it gets fixed
      }
      if (old && old.volumeUuid !== volumeUuid) {
        throw dtError('FOREIGN_VOLUME', `${path} holds tier volume ${old.volumeUuid}${old.label ? ` ("${old.label}")` : ''}: refusing to format it without --force`);
      }
    }
    if (p.bytes < 2 * ZUFS_DT_DATA_OFFSET) throw dtError('BAD_SIZE', `${role} ${path}: ${p.bytes} bytes, at least 4 MiB are needed`);
    return { path, uuid: newUuid(), blocks: p.bytes / ZUFS_DT_BLOCK_SIZE, role, numa: p.numa };
  });
  const t1Data = members[0]!.blocks * ZUFS_DT_BLOCK_SIZE - ZUFS_DT_DATA_OFFSET;
  const journalBytes = opts.journalSize ?? Math.min(1024 * 1024 * 1024, Math.max(ZUFS_DT_ALIGN, alignDown(t1Data / 8)));
  if (journalBytes % ZUFS_DT_ALIGN !== 0 || journalBytes <= 0 || journalBytes >= t1Data) {
    throw dtError('BAD_SIZE', `journal size ${journalBytes}: a multiple of 2 MiB smaller than t1 member 0's ${t1Data} data bytes`);
  }
  const table: DeviceTable = {
    versionMajor: ZUFS_DT_VERSION_MAJOR,
    versionMinor: ZUFS_DT_VERSION_MINOR,
    volumeUuid,
    devUuid: members[0]!.uuid,
    devIndex: 0,
    flags: 0n,
    ctimeNs: BigInt(Date.now()) * 1000000n,
    journalBlocks: journalBytes / ZUFS_DT_BLOCK_SIZE,
    storeId: Buffer.alloc(16),
    label: opts.label ?? '',
    members: members.map(({ uuid, blocks, role, numa }) => ({ uuid, blocks, role, numa })),
  };
  // Member 0 last: until it is written, the set does not exist as a whole.
  for (let i = members.length - 1; i >= 0; i--) writeTable(members[i]!.path, { ...table, devUuid: members[i]!.uuid, devIndex: i }, i === 0);
  return { volumeUuid, journalBytes, members };
}

/** The tier devices of one mount, checked, claimed and mapped. */
export interface Tiers {
  readonly table: DeviceTable;
  readonly t1: T1Space;
  readonly t2: T2Space | undefined;
  readonly journal: Journal;
  /** True when openTiers formatted the devices itself (they were new). */
  readonly formatted: boolean;
  close(): Promise<void>;
}

export interface OpenTiersOptions {
  /** Identifies the store volume the tiers cache (e.g. redacted URL + volume): a set bound to another store is refused. */
  storeKey: string;
  /** The backend's chunk size: one t1/t2 slot per chunk. */
  chunkSize: number;
  label?: string;
  /** zuf: the kernel takes the tier devices over (src/zus/zuf/nio.ts). */
  kernel?: KernelTiers;
}

/** What zuf.ko offers a mount's tiers. */
export interface KernelTiers {
  /** Given the opened t1 members and the chunk size: an fd to map t1 from instead of the member's
   * own (the special file that grabbed it; one member only), or undefined to map the member. */
  t1MapFd(members: readonly OpenMember[], chunkSize: number): number | undefined;
  /** Once t1MapFd answered an fd, given the opened t2 members and the device-table index of the
   * first: the kernel's t2 engine (it took the members over), or undefined to do t2 I/O here. */
  t2Engine(members: readonly OpenMember[], firstIndex: number): T2Engine | undefined;
}

export function storeIdOf(storeKey: string): Buffer {
  return createHash('sha256').update(storeKey).digest().subarray(0, 16);
}

function claim(fd: number, path: string): void {
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    throw fsError(errno.EBUSY, `${path} is in use by another zusd (or another mount of this one)`);
  }
}

/** Opens the tier devices of a mount. New devices (missing files, or all-zero first 4 KiB) are
 * formatted on the spot; anything else must carry a valid table of one set, bound to this store. */
export async function openTiers(cfg: TiersConfig, opts: OpenTiersOptions): Promise<Tiers> {
  const t1Paths = list(cfg.t1);
  const t2Paths = list(cfg.t2);
  if (t1Paths.length === 0) throw fsError(errno.EINVAL, 'tiers: needs t1 (a /dev/shm file, a file on a DAX mount, or /dev/pmemN)');
  const fresh = (p: string): boolean => {
    try {
      return readTable(p) === null;
    } catch (e) {
      if (toErrno(e) === errno.ENOENT) return true;
      throw e;
    }
  };
  let formatted = false;
  if (t1Paths.every(fresh) && t2Paths.every(fresh)) {
    formatDevices({ t1: t1Paths, t2: t2Paths, t1Size: cfg.t1_size, t2Size: cfg.t2_size, label: opts.label });
    formatted = true;
  }
  const main = readTable(t1Paths[0]!);
  if (!main) throw dtError('NOT_FORMATTED', `t1 ${t1Paths[0]} is not formatted: run "zufs format"`);
  if (main.devIndex !== 0) throw dtError('MISSING_MEMBER', `t1 ${t1Paths[0]} is member ${main.devIndex} of tier volume ${main.volumeUuid}; configure its member 0 first`);
  const given = [...t1Paths.map((p) => ({ p, role: 't1' as const })), ...t2Paths.map((p) => ({ p, role: 't2' as const }))];
  const tables = given.map(({ p, role }, i) => {
    let t: DeviceTable | null;
    try {
      t = i === 0 ? main : readTable(p);
    } catch (e) {
      if (toErrno(e) === errno.ENOENT) throw dtError('MISSING_MEMBER', `${role} ${p} does not exist, but t1 ${t1Paths[0]} is formatted with it: restore it or run "zufs format"`);
      throw e;
    }
    if (!t) throw dtError('NOT_FORMATTED', `${role} ${p} is not formatted but t1 is: run "zufs format" with every device`);
    checkSameVolume(main, t, p, role);
    return t;
  });
  const t1Uuids = main.members.filter((m) => m.role === 't1').map((m) => m.uuid);
  const t2Uuids = main.members.filter((m) => m.role === 't2').map((m) => m.uuid);
  const order = (uuids: string[], ts: DeviceTable[], role: string): void => {
    const missing = uuids.filter((u) => !ts.some((t) => t.devUuid === u));
    if (missing.length) throw dtError('MISSING_MEMBER', `tier volume ${main.volumeUuid}: ${role} member(s) ${missing.join(', ')} not configured`);
    ts.forEach((t, i) => {
      if (t.devUuid !== uuids[i]) throw dtError('CORRUPT', `${role} devices are configured in another order than formatted`);
    });
  };
  order(t1Uuids, tables.slice(0, t1Paths.length), 't1');
  order(t2Uuids, tables.slice(t1Paths.length), 't2');

  const storeId = storeIdOf(opts.storeKey);
  if (main.storeId.every((x) => x === 0)) {
    for (const [i, { p }] of [...given.entries()].reverse()) writeTable(p, { ...tables[i]!, storeId }, false);
    main.storeId = storeId;
  } else if (!main.storeId.equals(storeId)) {
    throw dtError(
      'WRONG_STORE',
      `tier volume ${main.volumeUuid}${main.label ? ` ("${main.label}")` : ''} on ${t1Paths[0]} caches another store, and may hold its unflushed writes: refusing it; mount that store, or run "zufs format" to reuse the devices`,
    );
  }

  const t1Members: OpenMember[] = [];
  const t2Members: OpenMember[] = [];
  const t2Handles: fsp.FileHandle[] = [];
  const cleanup = async (): Promise<void> => {
    for (const m of t1Members) closeSync(m.fd);
    for (const h of t2Handles) await h.close();
  };
  try {
    for (const [i, p] of t1Paths.entries()) {
      const fd = openSync(p, fsc.O_RDWR);
      t1Members.push({ path: p, fd, bytes: main.members[i]!.blocks * ZUFS_DT_BLOCK_SIZE });
      claim(fd, p);
    }
    for (const [i, p] of t2Paths.entries()) {
      const h = await fsp.open(p, fsc.O_RDWR);
      t2Handles.push(h);
      t2Members.push({ path: p, fd: h.fd, bytes: main.members[t1Paths.length + i]!.blocks * ZUFS_DT_BLOCK_SIZE });
      claim(h.fd, p);
    }
    for (const m of [...t1Members, ...t2Members]) {
      const st = fstatSync(m.fd);
      if (st.isFile() && st.size < m.bytes) throw dtError('BAD_SIZE', `${m.path} is ${st.size} bytes, its device table says ${m.bytes}`);
    }
    const journalBytes = main.journalBlocks * ZUFS_DT_BLOCK_SIZE;
    const slotSize = slotSizeFor(opts.chunkSize);
    const mapFd = opts.kernel?.t1MapFd(t1Members, opts.chunkSize);
    const t1 = new T1Space(t1Members, slotSize, journalBytes, mapFd);
    // the kernel moves t2 chunks itself; the handles stay open only as the flock claim
    const engine = mapFd !== undefined && t2Members.length ? opts.kernel!.t2Engine(t2Members, t1Paths.length) : undefined;
    const t2 = t2Members.length ? new T2Space(t2Members, slotSize, t2Handles, t1, engine) : undefined;
    const journal = new Journal(t1Members[0]!.fd, ZUFS_DT_DATA_OFFSET, journalBytes, t1Paths[0]!);
    let closed = false;
    return {
      table: main,
      t1,
      t2,
      journal,
      formatted,
      async close() {
        if (closed) return;
        closed = true;
        t1.close();
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
