// MongoDB native-layout truth, without a kernel: MongoNativeFs called through its ZusOperations
// methods against a real FerretDB (test/servers), with the mongodb driver playing "every other tool"
// that reads and writes the same databases, collections, documents and GridFS files.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BSON, Double, GridFSBucket, Int32, Long, MongoClient, ObjectId, type Db, type Document } from 'mongodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MongoNativeFs } from '../../src/fs/native/mongo-native.js';
import { idToName, nameToId } from '../../src/fs/native/mongo-native-format.js';
import { RENAME_EXCHANGE } from '../../src/fs/operations.js';
import { freePort, startServer, unavailable, uniqueName, type TestServer } from '../servers/servers.js';
import { caller, captureLog, errnoOf, listDir, readFile, walk, writeFile, type LogLine } from './helpers.js';

const skip = unavailable('mongo');
const T = 120_000;

let server: TestServer;
let client: MongoClient;
let db: Db;
let dbName: string;
let fs: MongoNativeFs | undefined;
let lines: LogLine[];

async function mountFs(root: 'db' | 'server' = 'db', timeouts = { connectTimeoutMs: 3000, commandTimeoutMs: 5000 }): Promise<MongoNativeFs> {
  const c = captureLog('debug');
  lines = c.lines;
  const url = root === 'db' ? `${server.url}${dbName}` : server.url;
  fs = await MongoNativeFs.open(url, { log: c.log, mount: 'docs', ...timeouts });
  return fs;
}

const warns = (): LogLine[] => lines.filter((l) => l.level === 40);
const canonical = (d: Document | null): string => BSON.EJSON.stringify(d, { relaxed: false });
const text = async (path: string): Promise<string> => (await readFile(fs!, path)).toString();

/** Writes through open/write/flush/release and returns the errno of flush (close(2)). */
async function writeDoc(path: string, body: string, create = false): Promise<string> {
  return errnoOf(writeFile(fs!, path, body, create));
}

describe.skipIf(skip !== undefined)(`mongodb native layout${skip ? ` (skipped: ${skip})` : ''}`, { timeout: T }, () => {
  beforeAll(async () => {
    server = await startServer('mongo');
    client = new MongoClient(server.url, { serverSelectionTimeoutMS: 5000, promoteValues: false, promoteLongs: false });
    await client.connect();
  }, T);

  afterAll(async () => {
    await client?.close();
    await server?.stop();
  }, T);

  beforeEach(() => {
    dbName = uniqueName('mn').replace(/[^a-zA-Z0-9_-]/g, '_');
    db = client.db(dbName);
  });

  afterEach(async () => {
    await fs?.destroy();
    fs = undefined;
    await db.dropDatabase().catch(() => undefined);
  });

  it('_id file names are a bijection: ObjectId, strings with escapes, numbers, other types', () => {
    const oid = new ObjectId();
    const cases: [unknown, string][] = [
      [oid, `${oid.toHexString()}.json`],
      ['alice', 'alice.json'],
      ['a/b%c', 'a%2Fb%25c.json'],
      ['.env', '%2Eenv.json'],
      [oid.toHexString(), `%${oid.toHexString().charCodeAt(0).toString(16).toUpperCase()}${oid.toHexString().slice(1)}.json`],
      ['n:1', '%6E:1.json'],
      [42, 'n:42.json'],
      [new Int32(7), 'n:7.json'],
      [Long.fromString('9007199254740993'), 'n:9007199254740993.json'],
      [new Double(1.5), 'n:1.5.json'],
      ['', 'e:"".json'],
      [new Date(0), 'e:{"$date":{"$numberLong":"0"}}.json'],
    ];
    for (const [id, name] of cases) {
      expect(idToName(id), String(id)).toBe(name);
      expect(idToName(nameToId(name)), name).toBe(name);
    }
    for (const bad of ['n:042.json', 'a%2fb.json', '.env.json', 'x.txt', '.json', 'n:.json', `${'x'.repeat(300)}.json`]) {
      expect(nameToId(bad), bad).toBeUndefined();
    }
  });

  it('a document inserted with the driver is <id>.json with its Extended JSON; types are kept', async () => {
    const oid = new ObjectId();
    await db.collection('people').insertMany([
      { _id: oid, name: 'Ada', born: new Date('1815-12-10T00:00:00Z'), seen: new Date('2024-01-02T03:04:05.006Z') },
      { _id: 'grace' as never, age: new Int32(85), score: new Double(1), ratio: new Double(0.25), big: Long.fromString('9007199254740993'), tags: ['a', 'b'], nested: { ok: true, nil: null } },
      { _id: 42 as never, v: 'answer' },
    ]);
    await mountFs();
    expect(await listDir(fs!, '')).toEqual(['people']);
    expect(await listDir(fs!, 'people')).toEqual(['n:42.json', 'grace.json', `${oid.toHexString()}.json`]); // _id order
    const grace = await text('people/grace.json');
    expect(grace).toBe(
      [
        '{',
        '  "_id": "grace",',
        '  "age": 85,',
        '  "score": {',
        '    "$numberDouble": "1.0"',
        '  },',
        '  "ratio": 0.25,',
        '  "big": {',
        '    "$numberLong": "9007199254740993"',
        '  },',
        '  "tags": [',
        '    "a",',
        '    "b"',
        '  ],',
        '  "nested": {',
        '    "ok": true,',
        '    "nil": null',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const attr = await fs!.getattr(await walk(fs!, 'people/grace.json'));
    expect(attr.size).toBe(Buffer.byteLength(grace));
    expect(attr.mode).toBe(0o100644);
    const ada = JSON.parse(await text(`people/${oid.toHexString()}.json`)) as Record<string, unknown>;
    expect(ada['_id']).toEqual({ $oid: oid.toHexString() });
    expect(ada['seen']).toEqual({ $date: '2024-01-02T03:04:05.006Z' });
    expect(ada['born']).toEqual({ $date: { $numberLong: String(Date.UTC(1815, 11, 10)) } });
    const adaAttr = await fs!.getattr(await walk(fs!, `people/${oid.toHexString()}.json`));
    expect(adaAttr.mtimeNs / 1_000_000_000n).toBe(BigInt(Math.floor(oid.getTimestamp().getTime() / 1000)));
    expect(JSON.parse(await text('people/n:42.json'))).toEqual({ _id: 42, v: 'answer' });
    expect(await errnoOf(walk(fs!, 'people/nobody.json'))).toBe('ENOENT');
    // Escaped names and other _id types, read and removed by their names.
    await db.collection('odd').insertMany([{ _id: 'a/b' as never, v: 1 }, { _id: '.env' as never, v: 2 }, { _id: new Date(0) as never, v: 3 }, { _id: Long.fromString('9007199254740993') as never, v: 4 }]);
    const odd = await listDir(fs!, 'odd');
    expect(odd.sort()).toEqual(['%2Eenv.json', 'a%2Fb.json', 'e:{"$date":{"$numberLong":"0"}}.json', 'n:9007199254740993.json']);
    for (const name of odd) expect(JSON.parse(await text(`odd/${name}`)).v).toBeGreaterThan(0);
    await fs!.removeDentry(caller, await walk(fs!, 'odd'), 'a%2Fb.json', false);
    await fs!.removeDentry(caller, await walk(fs!, 'odd'), 'n:9007199254740993.json', false);
    expect((await db.collection('odd').find({}).toArray()).map((d) => d['v'])).toEqual([new Int32(2), new Int32(3)]);
    expect(await errnoOf(walk(fs!, 'people/n:042.json'))).toBe('ENOENT');
  });

  it('a file written through the mount is the document the driver reads, with the right types; cat-edit-save keeps every type', async () => {
    await db.createCollection('orders');
    await mountFs();
    const body = '{"item": "pen", "qty": 3, "price": 1.25, "total": {"$numberLong": "9007199254740993"}, "at": {"$date": "2024-05-06T07:08:09Z"}, "w": {"$numberDouble": "2.0"}}';
    expect(await writeDoc('orders/o1.json', body, true)).toBe('ok');
    const d = await db.collection('orders').findOne({ _id: 'o1' as never });
    expect(d).not.toBeNull();
    expect(d!['qty']).toBeInstanceOf(Int32);
    expect(d!['price']).toBeInstanceOf(Double);
    expect(d!['total']).toBeInstanceOf(Long);
    expect((d!['total'] as Long).toString()).toBe('9007199254740993');
    expect(d!['at']).toEqual(new Date('2024-05-06T07:08:09Z'));
    expect(d!['w']).toBeInstanceOf(Double);
    // Read-modify-write: what cat shows, written back unchanged, stores the same BSON.
    const oid = new ObjectId();
    const original = { _id: oid, i: new Int32(1), f: new Double(3), l: Long.fromNumber(5), s: 'x', bin: new BSON.Binary(Buffer.from([1, 2, 3])), when: new Date(1_700_000_000_123), arr: [new Double(0.5), new Int32(-2)] };
    await db.collection('orders').insertOne(original);
    const path = `orders/${oid.toHexString()}.json`;
    const shown = await text(path);
    expect(await writeDoc(path, shown)).toBe('ok');
    expect(canonical(await db.collection('orders').findOne({ _id: oid }))).toBe(canonical(original));
    // A number file name makes a number _id; the body may repeat the _id when it agrees.
    expect(await writeDoc('orders/n:7.json', '{"_id": 7, "v": 1}', true)).toBe('ok');
    expect((await db.collection('orders').findOne({ _id: 7 as never }))!['v']).toEqual(new Int32(1));
    expect(await listDir(fs!, 'orders')).toContain('n:7.json');
    expect(warns()).toEqual([]);
  });

  it('invalid JSON fails close with EINVAL and one log line; the document keeps its old value', async () => {
    await db.collection('c').insertOne({ _id: 'k' as never, v: new Int32(1) });
    await mountFs();
    expect(await writeDoc('c/k.json', '{"v": 2,,}')).toBe('EINVAL');
    expect(canonical(await db.collection('c').findOne({ _id: 'k' as never }))).toBe(canonical({ _id: 'k', v: new Int32(1) }));
    expect(warns().length).toBe(1);
    expect(warns()[0]!.msg).toMatch(/^mount docs: write \/c\/k\.json: not a valid JSON document \(.*JSON.*\); the stored document is unchanged \(EINVAL\)$/);
    expect(await writeDoc('c/k.json', '[1, 2]')).toBe('EINVAL');
    expect(await writeDoc('c/k.json', '{"_id": "other", "v": 3}')).toBe('EINVAL');
    expect(warns()[2]!.msg).toMatch(/the _id in the text \(other\.json\) disagrees with the file name/);
    expect(await writeDoc('c/new.json', 'oops', true)).toBe('EINVAL');
    expect(Number(await db.collection('c').countDocuments())).toBe(1);
    expect(await errnoOf(walk(fs!, 'c/new.json'))).toBe('ENOENT'); // never stored: gone after its last close
    expect(warns().length).toBe(4);
    expect((await db.collection('c').findOne({ _id: 'k' as never }))!['v']).toEqual(new Int32(1));
  });

  it('create then close without writing makes no document; unlink deletes; rename within a collection moves the document', async () => {
    await db.collection('c').insertOne({ _id: 'a' as never, v: new Int32(1) });
    await mountFs();
    const dir = await walk(fs!, 'c');
    const created = await fs!.newInode(caller, dir, 'empty.json', { mode: 0o100644 });
    const fh = await fs!.open(caller, created.ino, 1);
    expect(await listDir(fs!, 'c')).toEqual(['a.json', 'empty.json']); // visible while open
    await fs!.flush(created.ino, fh);
    await fs!.release(created.ino, fh);
    expect(Number(await db.collection('c').countDocuments())).toBe(1);
    expect(await listDir(fs!, 'c')).toEqual(['a.json']);
    await fs!.rename(caller, dir, 'a.json', dir, 'b.json', 0);
    expect(await db.collection('c').findOne({ _id: 'a' as never })).toBeNull();
    expect(canonical(await db.collection('c').findOne({ _id: 'b' as never }))).toBe(canonical({ _id: 'b', v: new Int32(1) }));
    await fs!.removeDentry(caller, dir, 'b.json', false);
    expect(Number(await db.collection('c').countDocuments())).toBe(0);
    expect(await errnoOf(fs!.removeDentry(caller, dir, 'b.json', false))).toBe('ENOENT');
    expect(await errnoOf(fs!.newInode(caller, dir, 'notes.txt', { mode: 0o100644 }))).toBe('EINVAL');
    expect(warns().at(-1)!.msg).toMatch(/^mount docs: create \/c\/notes\.txt: a document's file is named <_id>\.json/);
  });

  it('a listing of more documents than one cursor batch pages through cookies, each name once, in _id order', async () => {
    const n = 1234;
    await db.collection('many').insertMany(Array.from({ length: n }, (_, i) => ({ _id: `d${String(i).padStart(5, '0')}` as never, i })));
    await mountFs();
    const names = await listDir(fs!, 'many', false, 100);
    expect(names.length).toBe(n);
    expect(new Set(names).size).toBe(n);
    expect(names[0]).toBe('d00000.json');
    expect(names[n - 1]).toBe(`d${String(n - 1).padStart(5, '0')}.json`);
    const plus = await fs!.readdir(caller, await walk(fs!, 'many'), 0, 5, true);
    expect(plus.slice(2).map((e) => e.attr!.size)).toEqual(await Promise.all(['d00000', 'd00001', 'd00002'].map(async (id) => (await readFile(fs!, `many/${id}.json`)).length)));
  });

  it('mkdir creates a collection, rmdir drops an empty one and refuses a non-empty one', async () => {
    await db.collection('keep').insertOne({ x: 1 });
    await mountFs();
    await fs!.newInode(caller, fs!.rootIno, 'fresh', { mode: 0o040755 });
    expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort()).toEqual(['fresh', 'keep']);
    expect(await errnoOf(fs!.newInode(caller, fs!.rootIno, 'fresh', { mode: 0o040755 }))).toBe('EEXIST');
    expect(await errnoOf(fs!.removeDentry(caller, fs!.rootIno, 'keep', true))).toBe('ENOTEMPTY');
    await fs!.removeDentry(caller, fs!.rootIno, 'fresh', true);
    expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)).toEqual(['keep']);
    expect(await listDir(fs!, '')).toEqual(['keep']);
  });

  it('the server as root: databases are directories; mkdir of a database lives in the mount until it holds a collection', async () => {
    await db.collection('c').insertOne({ _id: 'x' as never });
    await mountFs('server');
    expect(await listDir(fs!, '')).toContain(dbName);
    expect(await listDir(fs!, `${dbName}/c`)).toEqual(['x.json']);
    const other = `${dbName}b`;
    const ino = (await fs!.newInode(caller, fs!.rootIno, other, { mode: 0o040755 })).ino;
    expect(await listDir(fs!, '')).toContain(other);
    await fs!.newInode(caller, ino, 'made', { mode: 0o040755 });
    expect((await client.db(other).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)).toEqual(['made']);
    await client.db(other).dropDatabase();
    expect(await errnoOf(fs!.newInode(caller, fs!.rootIno, 'not.valid', { mode: 0o040755 }))).toBe('EINVAL');
  });

  it('GridFS: a file uploaded with GridFSBucket is readable with ranged reads; one written through the mount downloads whole', async () => {
    const bucket = new GridFSBucket(db, { bucketName: 'media' });
    const size = 3 * 1024 * 1024 + 12345;
    const data = Buffer.alloc(size);
    for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    const up = bucket.openUploadStream('blob.bin', { chunkSizeBytes: 255 * 1024 });
    up.end(data);
    await new Promise<void>((resolve, reject) => up.once('finish', () => resolve()).once('error', reject));
    await mountFs();
    expect(await listDir(fs!, '')).toEqual(['media.gridfs']);
    expect(await listDir(fs!, 'media.gridfs')).toEqual(['blob.bin']);
    const ino = await walk(fs!, 'media.gridfs/blob.bin');
    expect((await fs!.getattr(ino)).size).toBe(size);
    const fh = await fs!.open(caller, ino, 0);
    expect((await fs!.read(ino, fh, 1_000_000, 70_000)).equals(data.subarray(1_000_000, 1_070_000))).toBe(true);
    expect((await fs!.read(ino, fh, 1_070_000, 131_072)).equals(data.subarray(1_070_000, 1_201_072))).toBe(true); // continues the stream
    expect((await fs!.read(ino, fh, 17, 100)).equals(data.subarray(17, 117))).toBe(true); // a seek back
    expect((await fs!.read(ino, fh, size - 10, 100)).equals(data.subarray(size - 10))).toBe(true);
    expect((await fs!.read(ino, fh, size, 100)).length).toBe(0);
    await fs!.release(ino, fh);
    expect(createHash('sha256').update(await readFile(fs!, 'media.gridfs/blob.bin')).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));

    // Written through the mount in 128 KiB writes, uploaded at close, replacing nothing.
    const dir = await walk(fs!, 'media.gridfs');
    const out = Buffer.from(data.subarray(0, 2 * 1024 * 1024 + 7)).reverse();
    const created = await fs!.newInode(caller, dir, 'copy.bin', { mode: 0o100644 });
    const wfh = await fs!.open(caller, created.ino, 1);
    for (let off = 0; off < out.length; off += 131072) await fs!.write(created.ino, wfh, off, out.subarray(off, off + 131072));
    await fs!.flush(created.ino, wfh);
    await fs!.release(created.ino, wfh);
    const chunks: Buffer[] = [];
    for await (const c of bucket.openDownloadStreamByName('copy.bin')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(out)).toBe(true);

    // Overwriting replaces the file (one revision left); a partial overwrite keeps the rest.
    await writeFile(fs!, 'media.gridfs/copy.bin', 'short');
    expect(await bucket.find({ filename: 'copy.bin' }).toArray()).toHaveLength(1);
    const wino = await walk(fs!, 'media.gridfs/copy.bin');
    const pfh = await fs!.open(caller, wino, 1);
    await fs!.write(wino, pfh, 1, Buffer.from('HO'));
    await fs!.release(wino, pfh);
    expect((await readFile(fs!, 'media.gridfs/copy.bin')).toString()).toBe('sHOrt');
    await fs!.removeDentry(caller, dir, 'copy.bin', false);
    expect(await bucket.find({ filename: 'copy.bin' }).toArray()).toHaveLength(0);
    expect(await errnoOf(fs!.removeDentry(caller, fs!.rootIno, 'media.gridfs', true))).toBe('ENOTEMPTY');
  });

  it('what MongoDB cannot honour fails at once with EPERM, ENOTSUP or EXDEV and one warn line naming the mount', async () => {
    await db.collection('a').insertOne({ _id: 'x' as never, v: 1 });
    await db.collection('b').insertOne({ _id: 'y' as never, v: 2 });
    await mountFs();
    const a = await walk(fs!, 'a');
    const b = await walk(fs!, 'b');
    const x = await walk(fs!, 'a/x.json');
    const cases: [string, () => Promise<unknown>, string][] = [
      ['chmod', () => fs!.setattr(caller, x, { mode: 0o100600 }), 'EPERM'],
      ['chown', () => fs!.setattr(caller, x, { uid: 4242 }), 'EPERM'],
      ['utimes', () => fs!.setattr(caller, x, { mtimeNs: 5n }), 'EPERM'],
      ['link', () => fs!.addDentry(caller, a, 'z.json', x), 'EPERM'],
      ['symlink', () => fs!.newInode(caller, a, 'l.json', { mode: 0o120777, symlink: 'x.json' }), 'EPERM'],
      ['mknod', () => fs!.newInode(caller, a, 'f.json', { mode: 0o010644 }), 'EPERM'],
      ['mkdir in a collection', () => fs!.newInode(caller, a, 'sub', { mode: 0o040755 }), 'EPERM'],
      ['file in a database', () => fs!.newInode(caller, fs!.rootIno, 'loose.json', { mode: 0o100644 }), 'EPERM'],
      ['fallocate', () => fs!.fallocate(x, 0, 0, 0, 4096), 'ENOTSUP'],
      ['setxattr', () => fs!.setxattr(caller, x, 'user.color', Buffer.from('blue'), 0), 'ENOTSUP'],
      ['exchange', () => fs!.rename(caller, a, 'x.json', b, 'y.json', RENAME_EXCHANGE), 'ENOTSUP'],
      ['move between collections', () => fs!.rename(caller, a, 'x.json', b, 'x.json', 0), 'EXDEV'],
    ];
    for (const [what, p, want] of cases) expect(await errnoOf(p()), what).toBe(want);
    expect(warns().length).toBe(cases.length);
    for (const w of warns()) expect(w.msg).toMatch(/^mount docs: \S+( \S+)? \/\S+: .+ \((EPERM|ENOTSUP|EOPNOTSUPP|EXDEV)\)$/);
    expect(Number(await db.collection('a').countDocuments())).toBe(1);
    expect(Number(await db.collection('b').countDocuments())).toBe(1);
    expect((await fs!.setattr(caller, x, { mtimeNs: 'now' })).size).toBeGreaterThan(0); // touch is fine
    // rename of a collection within the database is renameCollection
    await fs!.rename(caller, fs!.rootIno, 'b', fs!.rootIno, 'b2', 0);
    expect((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort()).toEqual(['a', 'b2']);
    expect(await listDir(fs!, 'b2')).toEqual(['y.json']);
  });

  it('a dead server fails operations with EIO or ETIMEDOUT within the timeout, never a hang', async () => {
    if (process.env['ZUFS_TEST_MONGO_URL']) return; // a shared server is not ours to kill
    const own = await startServer('mongo');
    const c = captureLog('debug');
    const dead = await MongoNativeFs.open(`${own.url}deaddb`, { log: c.log, mount: 'dead', connectTimeoutMs: 1000, commandTimeoutMs: 1000 });
    try {
      await dead.newInode(caller, dead.rootIno, 'c', { mode: 0o040755 });
      await own.stop();
      const t = Date.now();
      const got = await errnoOf(dead.lookup(caller, dead.rootIno, 'c2'));
      expect(Date.now() - t).toBeLessThan(2500);
      expect(got).toBe('EIO');
    } finally {
      await dead.destroy();
      await own.stop();
    }
    // A frozen server (SIGSTOP: connections accepted, nothing answered) times out instead.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zufs-mongo-frozen-'));
    const env = { ...process.env, ZUFS_FERRETDB_PORT: String(await freePort()), ZUFS_SERVERS_DIR: dir };
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '../servers/ferretdb.sh');
    const url = execFileSync('bash', [script, 'start'], { env, encoding: 'utf8' }).trim().split('\n').pop()!;
    const pid = Number(readFileSync(path.join(dir, `ferretdb-${env.ZUFS_FERRETDB_PORT}`, 'ferretdb.pid'), 'utf8'));
    const frozen = await MongoNativeFs.open(`${url}frozendb`, { log: c.log, mount: 'frozen', connectTimeoutMs: 1000, commandTimeoutMs: 1000 });
    try {
      await frozen.newInode(caller, frozen.rootIno, 'c', { mode: 0o040755 });
      process.kill(pid, 'SIGSTOP');
      // kill(2) returns before every thread has stopped: wait until the kernel says it has.
      while (!/^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) await new Promise((r) => setTimeout(r, 5));
      for (const op of [() => frozen.lookup(caller, frozen.rootIno, 'c2'), () => frozen.readdir(caller, frozen.rootIno, 0, 10, false)]) {
        const t = Date.now();
        const got = await errnoOf(op());
        expect(got, String(op)).toBe('ETIMEDOUT');
        expect(Date.now() - t).toBeLessThan(2500);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
      await frozen.destroy();
      execFileSync('bash', [script, 'stop'], { env });
      rmSync(dir, { recursive: true, force: true });
    }
    const t = Date.now();
    expect(await errnoOf(MongoNativeFs.open('mongodb://127.0.0.1:1/x', { log: c.log, mount: 'none', connectTimeoutMs: 500 }))).toMatch(/^(EIO|ETIMEDOUT)$/);
    expect(Date.now() - t).toBeLessThan(3000);
  });
});
