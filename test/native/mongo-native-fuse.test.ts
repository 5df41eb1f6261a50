// MongoDB native-layout truth through the kernel: MongoNativeFs served in this process by the FUSE
// transport, used with ordinary tools (cat, echo, cp, ls, rm, mv, mkdir) in child processes, while
// the mongodb driver reads and writes the same documents and GridFS files.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GridFSBucket, Int32, Long, MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoNativeFs } from '../../src/fs/native/mongo-native.js';
import { startServer, unavailable, uniqueName, type TestServer } from '../servers/servers.js';
import { captureLog, type FuseMount, fuseUnavailable, type LogLine, mountFuse, sh, shOk } from './helpers.js';

const skip = unavailable('mongo') ?? fuseUnavailable;

const T = 120_000;

describe.skipIf(skip !== undefined)(`mongodb native layout through FUSE${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
  let server: TestServer;
  let client: MongoClient;
  let db: Db;
  let fs: MongoNativeFs;
  let m: FuseMount | undefined;
  let mp: string;
  let lines: LogLine[];

  beforeAll(async () => {
    server = await startServer('mongo');
    const dbName = uniqueName('mnf').replace(/[^a-zA-Z0-9_-]/g, '_');
    client = new MongoClient(server.url, { serverSelectionTimeoutMS: 5000, promoteValues: false, promoteLongs: false });
    await client.connect();
    db = client.db(dbName);
    await db.collection('users').insertOne({ _id: 'ada' as never, name: 'Ada', logins: new Int32(3) });
    const c = captureLog('info');
    lines = c.lines;
    const url = `${server.url}${dbName}`;
    fs = await MongoNativeFs.open(url, { log: c.log, mount: 'e2e', connectTimeoutMs: 3000, commandTimeoutMs: 5000 });
    m = await mountFuse(fs, { tmpPrefix: 'zufs-mongo-native-', fsName: url, fsType: 'zufs-mongo', log: c.log });
    mp = m.mp;
  }, T);

  afterAll(async () => {
    await m?.close();
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
    await server?.stop();
  }, T);

  it('cat, echo >, cp, ls, mv, rm on documents are what the driver sees', async () => {
    expect(await shOk('ls; ls users', mp)).toBe('users\nada.json\n');
    expect(JSON.parse(await shOk('cat users/ada.json', mp))).toEqual({ _id: 'ada', name: 'Ada', logins: 3 });
    await shOk(`echo '{"name": "Grace", "born": {"$date": "1906-12-09T00:00:00Z"}, "n": 10000000000}' > users/grace.json`, mp);
    const grace = await db.collection('users').findOne({ _id: 'grace' as never });
    expect(grace!['name']).toBe('Grace');
    expect(grace!['born']).toEqual(new Date('1906-12-09T00:00:00Z'));
    expect(grace!['n']).toBeInstanceOf(Long);
    expect(await shOk('ls users', mp)).toBe('ada.json\ngrace.json\n');
    expect(await shOk('stat -c "%s %F %a" users/grace.json users', mp)).toMatch(/^\d+ regular file 644\n0 directory 755\n$/);
    // cat | edit | save round trips: the text shown is the text stored back.
    const edited = path.join(os.tmpdir(), `zufs-mongo-ada-${process.pid}.json`);
    await shOk(`sed 's/"Ada"/"Ada L."/' users/ada.json > ${edited} && cat ${edited} > users/ada.json && rm ${edited}`, mp);
    const ada = await db.collection('users').findOne({ _id: 'ada' as never });
    expect(ada!['name']).toBe('Ada L.');
    expect(ada!['logins']).toEqual(new Int32(3));
    // A copy keeps the _id in its text: under another name in the same collection that disagrees (EINVAL).
    const clash = await sh('cp users/grace.json users/hopper.json', mp);
    expect(clash.err).toMatch(/Invalid argument/);
    expect(await db.collection('users').findOne({ _id: 'hopper' as never })).toBeNull();
    await shOk('mkdir archive && cp users/grace.json archive/ && mv users/ada.json users/lovelace.json', mp);
    expect((await db.collection('archive').findOne({ _id: 'grace' as never }))!['name']).toBe('Grace');
    expect((await db.collection('users').find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id).sort()).toEqual(['grace', 'lovelace']);
    await shOk('rm archive/grace.json && rmdir archive', mp);
    expect(await db.collection('archive').findOne({ _id: 'grace' as never })).toBeNull();
    await db.collection('users').insertOne({ _id: 'fresh' as never, v: new Int32(1) });
    expect(await shOk('cat users/fresh.json', mp)).toBe('{\n  "_id": "fresh",\n  "v": 1\n}\n');
  });

  it('invalid JSON: close(2) fails with EINVAL, one log line, the document keeps its value', async () => {
    const before = lines.filter((l) => l.level === 40).length;
    const bad = await sh(`/usr/bin/printf '{"name": oops' > users/grace.json`, mp);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/Invalid argument/);
    expect((await db.collection('users').findOne({ _id: 'grace' as never }))!['name']).toBe('Grace');
    const warns = lines.filter((l) => l.level === 40).slice(before);
    expect(warns.length).toBe(1);
    expect(warns[0]!.msg).toMatch(/^mount e2e: write \/users\/grace\.json: not a valid JSON document/);
    expect((await sh('touch users/never.json && ls users/never.json', mp)).code).not.toBe(0); // created empty: no document
    expect(await db.collection('users').findOne({ _id: 'never' as never })).toBeNull();
  });

  it('mkdir/rmdir collections, GridFS files with cp and cat, and the refusals', async () => {
    await shOk('mkdir notes && echo \'{"t": 1}\' > notes/a.json', mp);
    expect((await db.collection('notes').findOne({ _id: 'a' as never }))!['t']).toEqual(new Int32(1));
    const nonEmpty = await sh('rmdir notes', mp);
    expect(nonEmpty.err).toMatch(/Directory not empty/);
    await shOk('rm notes/a.json && rmdir notes', mp);
    expect((await db.listCollections({ name: 'notes' }).toArray()).length).toBe(0);

    const big = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
    const src = path.join(os.tmpdir(), `zufs-mongo-big-${process.pid}`);
    (await import('node:fs')).writeFileSync(src, big);
    const sum = createHash('sha256').update(big).digest('hex');
    try {
      await shOk(`mkdir files.gridfs && cp ${src} files.gridfs/big.bin`, mp);
      const chunks: Buffer[] = [];
      for await (const c of new GridFSBucket(db, { bucketName: 'files' }).openDownloadStreamByName('big.bin')) chunks.push(c as Buffer);
      expect(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')).toBe(sum);
      expect(await shOk('ls files.gridfs; sha256sum < files.gridfs/big.bin; stat -c %s files.gridfs/big.bin', mp)).toBe(`big.bin\n${sum}  -\n${big.length}\n`);
      expect(await shOk('dd if=files.gridfs/big.bin bs=1000 skip=2000 count=3 status=none | od -An -tx1', mp)).toBe(
        await shOk(`dd if=${src} bs=1000 skip=2000 count=3 status=none | od -An -tx1`),
      );
      await shOk('rm files.gridfs/big.bin && rmdir files.gridfs', mp);
      expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => n.startsWith('files.'))).toEqual([]);
    } finally {
      rmSync(src, { force: true });
    }

    const refusals: [string, RegExp][] = [
      ['chmod 600 users/grace.json', /Operation not permitted/],
      ['ln users/grace.json users/g2.json', /Operation not permitted/],
      ['ln -s grace.json users/g3.json', /Operation not permitted/],
      ['mkdir users/sub', /Operation not permitted/],
      ['fallocate -l 1M users/grace.json', /Operation not supported/],
      ['touch users/notes.txt', /Invalid argument/],
    ];
    for (const [cmd, want] of refusals) {
      const r = await sh(cmd, mp);
      expect(r.code, cmd).not.toBe(0);
      expect(r.err, cmd).toMatch(want);
    }
    await shOk('mkdir other && mv users/grace.json other/', mp); // EXDEV: mv copies, then unlinks
    expect(await db.collection('users').findOne({ _id: 'grace' as never })).toBeNull();
    expect((await db.collection('other').findOne({ _id: 'grace' as never }))!['name']).toBe('Grace');
    expect(lines.some((l) => l.level === 40 && /^mount e2e: rename \/users\/grace\.json: .*\(EXDEV\)$/.test(l.msg))).toBe(true);
  });
});
