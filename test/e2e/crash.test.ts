// Crash safety through FUSE: a writer does fsync'd writes while zusd is killed with SIGKILL at a
// random moment; after a new zusd mounts the same volume, every fsync-acknowledged byte is there and
// no file holds bytes that were never written. Runs on the local store and on Redis with the t1/t2
// tiers in write-back mode (where acknowledged data may live only in the t1 journal).
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBuilt, startMount, tmpDir } from '../helpers/mount.js';
import { E2E_STORES } from './stores.js';

// 50 trials where acknowledged data may live only in the t1 journal (the tiers issue asks for 50)
const trialsFor = (store: string): number => Number(process.env.ZUFS_CRASH_TRIALS ?? (store === 'redis+tiers' ? 50 : 12));
const BLOCK = 4096;
const FILES = 3;

// Each write puts a block stamped with its sequence number at offset seq*BLOCK of file seq%FILES,
// fsyncs, then records the sequence number in an ack log outside the mount.
const WRITER = `
const fs = require('fs');
const [dir, ack, first] = process.argv.slice(1);
const fds = [];
for (let f = 0; f < ${FILES}; f++) fds.push(fs.openSync(dir + '/f' + f, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644));
const ackFd = fs.openSync(ack, 'a');
for (let seq = Number(first); ; seq++) {
  const b = Buffer.alloc(${BLOCK}, 0);
  for (let i = 0; i < ${BLOCK}; i += 8) b.writeUInt32LE(seq + 1, i), b.writeUInt32LE(0x5a55f5 ^ (seq + 1), i + 4);
  const fd = fds[seq % ${FILES}];
  fs.writeSync(fd, b, 0, b.length, Math.floor(seq / ${FILES}) * ${BLOCK});
  fs.fsyncSync(fd);
  fs.writeSync(ackFd, seq + '\\n');
}
`;

function verify(mnt: string, acked: number[]): { checkedBlocks: number } {
  const byFile = new Map<number, Set<number>>();
  for (const seq of acked) {
    const f = seq % FILES;
    if (!byFile.has(f)) byFile.set(f, new Set());
    byFile.get(f)!.add(seq);
  }
  let checkedBlocks = 0;
  for (let f = 0; f < FILES; f++) {
    const file = path.join(mnt, `f${f}`);
    const want = byFile.get(f) ?? new Set<number>();
    if (!existsSync(file)) {
      expect(want.size, `f${f} is missing but ${want.size} writes to it were acknowledged`).toBe(0);
      continue;
    }
    const fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(BLOCK);
    for (let blk = 0; blk * BLOCK < Math.max(size, (Math.max(-1, ...want) / FILES + 1) * BLOCK); blk++) {
      const seq = blk * FILES + f;
      buf.fill(0);
      readSync(fd, buf, 0, BLOCK, blk * BLOCK);
      if (want.has(seq)) {
        expect(buf.readUInt32LE(0), `f${f} block ${blk}: acknowledged write ${seq} lost`).toBe(seq + 1);
        expect(buf.readUInt32LE(BLOCK - 8), `f${f} block ${blk}: acknowledged write ${seq} lost in part`).toBe(seq + 1);
      }
      // every 8-byte unit holds zeros or exactly what write `seq` put there (the one write that was
      // in flight when zusd died may have landed in part)
      for (let i = 0; i < BLOCK; i += 8) {
        const a = buf.readUInt32LE(i);
        const b = buf.readUInt32LE(i + 4);
        if (!(a === 0 && b === 0) && !(a === seq + 1 && b === (0x5a55f5 ^ (seq + 1)))) {
          throw new Error(`f${f} block ${blk} holds bytes that were never written (at +${i}: ${a}/${b}, want ${seq + 1})`);
        }
      }
      checkedBlocks++;
    }
    closeSync(fd);
  }
  return { checkedBlocks };
}

for (const store of E2E_STORES.filter((s) => s.name === 'local' || s.name === 'redis+tiers')) {
  const TRIALS = trialsFor(store.name);
  describe.skipIf(!cliBuilt())(`crash safety (SIGKILL of zusd) on ${store.name}`, () => {
    it(`${TRIALS} trials: every fsync-acknowledged byte survives, nothing never-written appears`, async (ctx) => {
      const s = await store.open();
      if ('skip' in s) return ctx.skip(s.skip);
      const mnt = tmpDir(`zufs-crash-${store.name.replace(/\W/g, '')}-`);
      const ack = path.join(tmpDir('zufs-crash-ack-'), 'acked');
      let totalAcked = 0;
      for (let trial = 0; trial < TRIALS; trial++) {
        const mount = await startMount(s.url, mnt);
        const writer = spawn(process.execPath, ['-e', WRITER, mnt, ack, String(totalAcked)], { stdio: 'ignore' });
        // listen before anything can end it: the writer often dies on its own once zusd is gone
        const writerExited = new Promise((r) => writer.once('exit', r));
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 900));
        await mount.kill();
        writer.kill('SIGKILL');
        await writerExited;
        const acked = existsSync(ack) ? readFileSync(ack, 'utf8').split('\n').filter(Boolean).map(Number) : [];
        totalAcked = acked.length;
        const check = await startMount(s.url, mnt);
        try {
          verify(mnt, acked);
        } finally {
          expect(await check.stop()).toBe(0);
        }
      }
      expect(totalAcked, 'the writer never got a write acknowledged').toBeGreaterThan(TRIALS);
      await s.close();
    }, 1_200_000);
  });
}
