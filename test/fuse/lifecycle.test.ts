// Mount and unmount as the kernel sees them: /proc/mounts entries and options, our unmount, an
// external umount, a busy mount, a dead server's stale mount, and process.exit while mounted.
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, mountEntry, mountMemory, sh, shOk, startChild, tmpDir } from './harness.js';

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_r, reject) => setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms))]);

const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse');

for (const reader of ['poll', 'workers'] as const) {
  // Mounting needs root and /dev/fuse (CI and these machines have both).
  describe.skipIf(!canMount)(`FUSE mount lifecycle (${reader} reader)`, { timeout: 60_000 }, () => {
    it('mounts with the fs type, source and options, serves, and unmounts leaving nothing behind', async () => {
      const m = await mountMemory({ channels: 3 }, undefined, reader);
      const entry = mountEntry(m.mp);
      expect(entry).toBeDefined();
      const [source, , type, options] = entry!.split(' ');
      expect(source).toBe('memory:test');
      expect(type).toBe('fuse.zufs-memory');
      expect(options!.split(',')).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'default_permissions', 'allow_other', 'user_id=0', 'group_id=0']));
      await shOk('echo hi > f && cat f >/dev/null && ls >/dev/null', m.mp);
      const st = m.handle.stats();
      expect(st.transport).toBe('fuse');
      expect(st.channels).toHaveLength(reader === 'workers' ? 3 : 1);
      expect(st.ops.INIT).toBe(1);
      expect(st.ops.CREATE).toBe(1);
      const total = Object.values(st.ops).reduce((a, b) => a + b, 0);
      expect(st.channels.reduce((a, c) => a + c.served, 0)).toBe(total);
      await within(m.close(), 10_000, 'unmount');
      expect(mountEntry(m.mp)).toBeUndefined();
      expect(m.warnings()).toEqual([]);
    });

    it('read-only mounts refuse writes with EROFS', async () => {
      const m = await mountMemory({ readOnly: true, allowOther: false }, undefined, reader);
      expect(mountEntry(m.mp)!.split(' ')[3]!.split(',')).toContain('ro');
      expect(mountEntry(m.mp)!.split(' ')[3]!.split(',')).not.toContain('allow_other');
      const r = await sh('touch x', m.mp);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/Read-only file system/);
      await m.close();
    });

    it('an external umount ends the server: closed resolves and every channel exits', async () => {
      const m = await mountMemory({}, undefined, reader);
      await shOk(`umount ${m.mp}`);
      await within(m.handle.closed, 10_000, 'closed after external umount');
      expect(mountEntry(m.mp)).toBeUndefined();
      await m.close(); // idempotent after the kernel side is gone
    });

    it('a busy mount is detached lazily, then its connection aborted so unmount() still finishes', async () => {
      const m = await mountMemory({}, undefined, reader);
      await shOk('echo data > held', m.mp);
      // A process keeps a file open (bash's fd 3, inherited by the exec'd sleep).
      const holder = spawn('bash', ['-c', `cd '${m.mp}' && exec 3<held && echo open && exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      expect((await sh(`umount ${m.mp}`)).err).toMatch(/busy/);
      const t0 = Date.now();
      await within(m.handle.unmount(), 10_000, 'busy unmount');
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(mountEntry(m.mp)).toBeUndefined();
      expect(m.warnings().map((l) => l.msg)).toEqual(['connection still in use after unmount: aborted it']);
      holder.kill('SIGKILL');
      await m.close();
    });

    it('removes a stale mount left by a killed server before mounting again', async () => {
      const mp = tmpDir('zufs-fuse-stale-');
      const child = startChild(mp, 'serve', false, reader);
      await child.mounted;
      child.proc.kill('SIGKILL');
      await child.exited;
      expect(mountEntry(mp)).toBeDefined();
      await expect(fsp.stat(mp)).rejects.toMatchObject({ code: 'ENOTCONN' });
      const m = await mountMemory({}, mp, reader);
      await shOk('echo again > f && cat f', mp);
      expect(mountEntry(mp)!.split(' ')[0]).toBe('memory:test');
      expect(m.warnings().map((l) => l.msg)).toEqual(['removed dead FUSE mounts left by an earlier server']);
      await m.close();
      expect(mountEntry(mp)).toBeUndefined();
    }, 60_000);

    it('process.exit() while mounted does not hang and leaves no mount behind (sources via tsx)', async () => {
      const mp = tmpDir('zufs-fuse-exit-');
      const child = startChild(mp, 'exit', false, reader);
      await child.mounted;
      expect(await within(child.exited, 15_000, 'process.exit while mounted')).toBe(0);
      expect(mountEntry(mp)).toBeUndefined();
      rmSync(mp, { recursive: true });
    }, 60_000);

    it.skipIf(!existsSync(path.join(ROOT, 'dist/src/zus/fuse/index.js')))('the compiled JS (dist/) serves too and exits cleanly', async () => {
      const mp = tmpDir('zufs-fuse-dist-');
      const child = startChild(mp, 'serve', true, reader);
      await child.mounted;
      expect(await shOk('echo compiled > f && cat f', mp)).toBe('compiled\n');
      await shOk(`umount ${mp}`);
      expect(await within(child.exited, 15_000, 'dist server exit after umount')).toBe(0);
      expect(mountEntry(mp)).toBeUndefined();
      rmSync(mp, { recursive: true });
    }, 60_000);
  });
}
