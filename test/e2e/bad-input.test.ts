// Bad input and failing stores: clear errors with the right exit codes, bounded waits instead of
// hangs, and no loss of fsync'd data when Redis dies and comes back.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, cliBuilt, startMount, tmpDir } from '../helpers/mount.js';
import { freePort, redisUnavailable, startRedis } from '../helpers/redis-server.js';

function zufs(args: string[], timeoutMs = 30_000): { code: number | null; err: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, err: r.stderr + r.stdout, ms: Date.now() - t0 };
}

describe.skipIf(!cliBuilt())('bad input', () => {
  it('malformed YAML: exit code 2 and a message naming file, line and key', () => {
    const dir = tmpDir('zufs-badyaml-');
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'mounts:\n  - name: x\n    url: local:///tmp/x\n    chunk_size: lots\n');
    const r = zufs(['mount', file, path.join(dir, 'mnt')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:4: mounts[0].chunk_size: invalid size "lots"`);
    writeFileSync(file, 'mounts:\n  - name: x\n    url: [local\n');
    const s = zufs(['mount', file, path.join(dir, 'mnt')]);
    expect(s.code).toBe(2);
    expect(s.err).toMatch(new RegExp(`${file}:\\d+:`));
  });

  it('unknown store scheme or bad URL: a clear error', () => {
    const dir = tmpDir('zufs-badurl-');
    const r = zufs(['mount', 'ftp://example/x', path.join(dir, 'mnt')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown store "ftp:"/);
  });

  it('Redis unreachable at mount: a clear error within the configured timeout', async () => {
    const port = await freePort();
    const dir = tmpDir('zufs-noredis-');
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, `mounts:\n  - name: r\n    url: redis://127.0.0.1:${port}/0\n    connect_timeout: 1s\n    timeout: 1s\n`);
    const r = zufs(['mount', file, path.join(dir, 'mnt')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/mount failed/);
    expect(r.err).toMatch(/127\.0\.0\.1|ECONNREFUSED|connect|unreachable/i);
    expect(r.ms).toBeLessThan(10_000);
  });
});

describe.skipIf(!cliBuilt() || Boolean(redisUnavailable) || Boolean(process.env.REDIS_URL))('Redis dies under an open mount', () => {
  it('operations fail with EIO/ETIMEDOUT within the timeout, then recover; fsync-acknowledged data survives', async () => {
    const redis = await startRedis({ persistent: true });
    const dir = tmpDir('zufs-redisdown-');
    const file = path.join(dir, 'c.yaml');
    const mnt = path.join(dir, 'mnt');
    writeFileSync(file, `mounts:\n  - name: r\n    url: ${redis.url}\n    connect_timeout: 1s\n    timeout: 2s\n    attr_timeout: 0s\n`);
    const mount = await startMount(file, mnt);
    try {
      const fh = await fsp.open(path.join(mnt, 'durable'), 'w');
      await fh.write(Buffer.alloc(200_000, 7));
      await fh.sync();
      await redis.kill();
      const t0 = Date.now();
      const err = await fh.write(Buffer.alloc(4096, 9), 0, 4096, 0).then(() => undefined, (e: NodeJS.ErrnoException) => e.code);
      const elapsed = Date.now() - t0;
      expect(['EIO', 'ETIMEDOUT']).toContain(err);
      expect(elapsed).toBeLessThan(8_000);
      const statErr = await fsp.stat(path.join(mnt, 'other')).then(() => 'ok', (e: NodeJS.ErrnoException) => e.code);
      expect(['EIO', 'ETIMEDOUT']).toContain(statErr);
      await fh.close().catch(() => undefined);

      await redis.restart();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await fsp.writeFile(path.join(mnt, 'after'), 'back').then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ok).toBe(true);
      const data = await fsp.readFile(path.join(mnt, 'durable'));
      expect(data.length).toBe(200_000);
      expect(data.every((b) => b === 7)).toBe(true);
    } finally {
      await mount.stop();
      await redis.stop();
    }
  }, 120_000);
});
