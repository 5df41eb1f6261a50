// The tier device table and mount-time checks: format, validate, refuse foreign or broken devices.
import { closeSync, openSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errno } from '../../src/fs/errors.js';
import { crc32c } from '../../src/pools/crc32c.js';
import {
  decodeDeviceTable,
  type DeviceTable,
  DeviceTableError,
  encodeDeviceTable,
  ZUFS_DT_SIZE,
} from '../../src/pools/device-table.js';
import { formatDevices, openTiers, type Tiers } from '../../src/pools/format.js';
import { MiB, type TierDirs, tierDirs } from './helpers.js';

let d: TierDirs;
const opened: Tiers[] = [];
beforeEach(() => {
  d = tierDirs();
});
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
  d.cleanup();
});

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(ZUFS_DT_SIZE);
  readSync(fd, b, 0, ZUFS_DT_SIZE, 0);
  closeSync(fd);
  return b;
}

async function open(cfg: Parameters<typeof openTiers>[0], storeKey = 'store-a'): Promise<Tiers> {
  const t = await openTiers(cfg, { storeKey, chunkSize: 64 * 1024 });
  opened.push(t);
  return t;
}

async function refusal(p: Promise<unknown>): Promise<DeviceTableError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DeviceTableError);
  return e as DeviceTableError;
}

describe('device table', () => {
  it('round-trips every field, with a fixed little-endian layout', () => {
    const t: DeviceTable = {
      versionMajor: 1,
      versionMinor: 0,
      volumeUuid: '11111111-2222-3333-4444-555555555555',
      devUuid: 'aaaaaaaa-0000-0000-0000-000000000002',
      devIndex: 1,
      flags: 0n,
      ctimeNs: 123456789n,
      journalBlocks: 512,
      storeId: Buffer.alloc(16, 7),
      label: 'cache01',
      members: [
        { uuid: 'aaaaaaaa-0000-0000-0000-000000000001', blocks: 2048, role: 't1', numa: 0 },
        { uuid: 'aaaaaaaa-0000-0000-0000-000000000002', blocks: 4096, role: 't2', numa: 0xff },
      ],
    };
    const b = encodeDeviceTable(t);
    expect(b.length).toBe(4096);
    expect(b.readUInt32LE(0)).toBe(0x5446535a);
    expect(b.toString('hex', 16, 32)).toBe('11111111222233334444555555555555');
    expect(b.readBigUInt64LE(56)).toBe(2048n); // t1_blocks
    expect(b.readBigUInt64LE(64)).toBe(4096n); // t2_blocks
    expect(b.readUInt16LE(72)).toBe(1); // dev_index
    expect(b.readUInt16LE(74)).toBe(1); // t1_count
    expect(b.readBigUInt64LE(128 + 32 + 16)).toBe(4096n); // members[1].blocks
    expect(b.readUInt8(128 + 32 + 24)).toBe(2); // members[1].role
    expect(decodeDeviceTable(b, 'x')).toEqual(t);
  });

  it('refuses a torn table (checksum), a newer major version and inconsistent fields', () => {
    formatDevices({ t1: d.t1, t1Size: 8 * MiB });
    const good = readHead(d.t1);
    const torn = Buffer.from(good);
    torn[200] = (torn[200]! + 1) & 0xff;
    expect(() => decodeDeviceTable(torn, 't1')).toThrow(expect.objectContaining({ reason: 'BAD_CHECKSUM', errno: errno.EIO }));
    const t = decodeDeviceTable(good, 't1');
    expect(() => encodeDeviceTable({ ...t, members: [{ ...t.members[0]!, blocks: 1000 }] })).toThrow(expect.objectContaining({ reason: 'BAD_SIZE' }));
    expect(() => encodeDeviceTable({ ...t, devUuid: '00000000-0000-0000-0000-000000000000' })).toThrow(expect.objectContaining({ reason: 'CORRUPT' }));
    const v2 = encodeDeviceTable(t);
    v2.writeUInt16LE(2, 4);
    v2.writeUInt32LE(0, 8);
    v2.writeUInt32LE(crc32c(v2), 8);
    expect(() => decodeDeviceTable(v2, 't1')).toThrow(expect.objectContaining({ reason: 'BAD_VERSION', errno: errno.EPROTONOSUPPORT }));
  });

  it('formats t1 and t2 files (sizes 2 MiB aligned) and opens them at mount, binding the store', async () => {
    const r = formatDevices({ t1: d.t1, t2: d.t2, t1Size: 16 * MiB, t2Size: 32 * MiB, label: 'm1' });
    expect(statSync(d.t1).size).toBe(16 * MiB);
    expect(statSync(d.t2).size).toBe(32 * MiB);
    expect(r.journalBytes).toBe(2 * MiB);
    const t1 = decodeDeviceTable(readHead(d.t1), 't1');
    const t2 = decodeDeviceTable(readHead(d.t2), 't2');
    expect(t1.volumeUuid).toBe(r.volumeUuid);
    expect(t2.volumeUuid).toBe(r.volumeUuid);
    expect(t2.devIndex).toBe(1);
    expect(t1.members.map((m) => [m.role, m.blocks])).toEqual([
      ['t1', 4096],
      ['t2', 8192],
    ]);
    expect(t1.storeId.every((x) => x === 0)).toBe(true);
    const tiers = await open({ t1: d.t1, t2: d.t2 });
    expect(tiers.formatted).toBe(false);
    expect(tiers.t1.slots).toBe((16 - 2 - 2) * 16); // 64 KiB slots after the 2 MiB head and journal
    expect(tiers.t2!.slots).toBe((32 - 2) * 16);
    expect(decodeDeviceTable(readHead(d.t2), 't2').storeId.equals(tiers.table.storeId)).toBe(true);
  });

  it('formats new devices on first mount, and refuses a second claim while mounted', async () => {
    const tiers = await open({ t1: d.t1, t2: d.t2, t1_size: 8 * MiB, t2_size: 8 * MiB });
    expect(tiers.formatted).toBe(true);
    const e = await openTiers({ t1: d.t1, t2: d.t2 }, { storeKey: 'store-a', chunkSize: 65536 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toMatchObject({ errno: errno.EBUSY });
  });

  it('refuses a device of another volume, with both volumes in the message', async () => {
    const a = formatDevices({ t1: d.t1, t2: d.t2, t1Size: 8 * MiB, t2Size: 8 * MiB, label: 'a' });
    const other = tierDirs();
    try {
      const b = formatDevices({ t1: other.t1, t2: other.t2, t1Size: 8 * MiB, t2Size: 8 * MiB, label: 'b' });
      const e = await refusal(open({ t1: d.t1, t2: other.t2 }));
      expect(e.reason).toBe('FOREIGN_VOLUME');
      expect(e.message).toContain(b.volumeUuid);
      expect(e.message).toContain(a.volumeUuid);
      expect(e.message).toContain(other.t2);
    } finally {
      other.cleanup();
    }
  });

  it('refuses a set bound to another store, and a t2 that is missing or swapped', async () => {
    formatDevices({ t1: d.t1, t2: d.t2, t1Size: 8 * MiB, t2Size: 8 * MiB });
    await (await open({ t1: d.t1, t2: d.t2 }, 'store-a')).close();
    opened.length = 0;
    expect((await refusal(open({ t1: d.t1, t2: d.t2 }, 'store-b'))).reason).toBe('WRONG_STORE');
    expect((await refusal(open({ t1: d.t1 }, 'store-a'))).reason).toBe('MISSING_MEMBER');
    expect((await refusal(open({ t1: d.t2, t2: d.t1 }, 'store-a'))).reason).toBe('MISSING_MEMBER');
  });

  it('refuses an unformatted device that holds data, and formatting another volume without force', async () => {
    writeFileSync(d.t1, Buffer.alloc(8 * MiB, 1));
    const e = await refusal(open({ t1: d.t1 }));
    expect(e.reason).toBe('NOT_FORMATTED');
    expect(e.message).toContain('zufs format');
    formatDevices({ t1: d.t1 });
    expect(() => formatDevices({ t1: d.t1 })).toThrow(expect.objectContaining({ reason: 'FOREIGN_VOLUME' }));
    expect(() => formatDevices({ t1: d.t1, force: true })).not.toThrow();
  });

  it('rejects sizes that are not 2 MiB multiples', () => {
    expect(() => formatDevices({ t1: d.t1, t1Size: 5 * MiB })).toThrow(expect.objectContaining({ reason: 'BAD_SIZE' }));
    const fd = openSync(d.t2, 'w');
    writeSync(fd, Buffer.alloc(1));
    closeSync(fd);
    expect(() => formatDevices({ t1: d.t1, t1Size: 8 * MiB, t2: d.t2 })).toThrow(expect.objectContaining({ reason: 'BAD_SIZE' }));
  });
});
