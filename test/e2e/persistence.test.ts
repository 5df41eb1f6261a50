// Persistence: files, links, xattrs, ACLs, times and sparse data written through one zusd are all
// back, byte for byte, after it unmounts and a new zusd mounts the same volume.
import { afterAll, describe, expect, it } from 'vitest';
import { cliBuilt, isMounted, shOk, startMount, tmpDir } from '../helpers/mount.js';
import { snapshot, xattrDump } from '../helpers/tree.js';
import { E2E_STORES } from './stores.js';

for (const store of E2E_STORES) {
  describe.skipIf(!cliBuilt())(`persistence on ${store.name}`, () => {
    const closers: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of closers) await c();
    });

    it('unmount, stop zusd, mount again: every byte and attribute is back', async (ctx) => {
      const s = await store.open();
      if ('skip' in s) return ctx.skip(s.skip);
      closers.push(s.close);
      const mnt = tmpDir(`zufs-persist-${store.name}-`);
      const first = await startMount(s.url, mnt);
      closers.push(async () => void (await first.stop()));
      shOk(
        [
          'mkdir -p a/b/c && head -c 3000000 /dev/urandom > a/b/c/big && printf small > a/small',
          'ln a/small a/hard && ln -s b/c/big a/sym && mkfifo a/fifo && mknod a/chr c 1 3',
          'truncate -s 5G a/sparse && printf tail | dd of=a/sparse bs=1 seek=4000000000 conv=notrunc status=none',
          'chmod 2750 a/b && chown 1000:1000 a/small && setfattr -n user.k -v v a/small && setfacl -m u:65534:rx a/b',
          "touch -h -d '1999-12-31 23:59:59.5' a/sym && touch -d '2020-01-01 00:00:00.25' a/small",
          'sync',
        ].join(' && '),
        mnt,
      );
      const before = await snapshot(mnt, { mtime: true });
      const xattrsBefore = xattrDump(mnt);
      expect(await first.stop()).toBe(0);
      expect(isMounted(mnt)).toBe(false);

      const second = await startMount(s.url, mnt);
      closers.push(async () => void (await second.stop()));
      try {
        expect(await snapshot(mnt, { mtime: true })).toEqual(before);
        expect(xattrDump(mnt)).toBe(xattrsBefore);
        expect(shOk('dd if=a/sparse bs=1 skip=4000000000 count=4 status=none', mnt)).toBe('tail');
        expect(shOk('stat -c %s a/sparse', mnt).trim()).toBe(String(5 * 1024 ** 3));
      } finally {
        expect(await second.stop()).toBe(0);
      }
    }, 180_000);
  });
}
