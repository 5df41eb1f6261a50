// E2E through a real mount served by a separate zusd: everyday tools (coreutils, tar, git, ACL and
// xattr tools, flock) on every store, checked against what a local disk does. FUSE on the host;
// zuf.ko in the VM (ZUFS_TEST_TRANSPORT=zuf, test/vm/guest-vitest.sh) on local, redis, redis+tiers and redis+nio.
import { mkdirSync, writeFileSync, symlinkSync, linkSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPORT, cliBuilt, sh, shOk, startMount, timeoutMs, tmpDir, type RunningMount } from '../helpers/mount.js';
import { snapshot } from '../helpers/tree.js';
import { E2E_STORES } from './stores.js';

for (const store of E2E_STORES) {
  describe.skipIf(!cliBuilt())(`e2e tools on ${store.name} (${TRANSPORT})`, () => {
    let mount: RunningMount | undefined;
    let skip: string | undefined;
    let close: (() => Promise<void>) | undefined;
    let mnt = '';

    beforeAll(async () => {
      const s = await store.open();
      if ('skip' in s) {
        skip = s.skip;
        return;
      }
      close = s.close;
      mnt = tmpDir(`zufs-mnt-${store.name}-`);
      mount = await startMount(s.url, mnt);
    }, timeoutMs(60_000));

    afterAll(async () => {
      if (mount) expect(await mount.stop()).toBe(0);
      await close?.();
    }, timeoutMs(60_000));

    const dir = (name: string): string => {
      const d = path.join(mnt, name);
      mkdirSync(d);
      return d;
    };

    it('coreutils: cp -a, mv, ln, ln -s, rm -r, chmod, chown, touch -d, truncate', (ctx) => {
      if (skip) return ctx.skip(skip);
      const d = dir('coreutils');
      shOk('mkdir -p a/b/c && printf hello > a/f && printf x > a/b/c/deep && cp -a a a2 && diff -r a a2', d);
      shOk('mv a2 a3 && test ! -e a2 && test -f a3/b/c/deep', d);
      shOk('ln a/f a/hard && ln -s f a/sym', d);
      expect(shOk('stat -c %h a/f', d).trim()).toBe('2');
      expect(shOk('readlink a/sym && cat a/sym', d)).toBe('f\nhello');
      shOk('chmod 640 a/f && chown 1234:5678 a/f', d);
      expect(shOk('stat -c %a:%u:%g a/hard', d).trim()).toBe('640:1234:5678');
      shOk("touch -d '2001-02-03 04:05:06.123456789 UTC' a/f", d);
      expect(shOk('TZ=UTC stat -c %y a/f', d).trim()).toBe('2001-02-03 04:05:06.123456789 +0000');
      shOk('truncate -s 10M a/f', d);
      expect(shOk('stat -c %s a/f && head -c 5 a/f && tail -c 3 a/f | od -An -tx1', d).replace(/\s+/g, ' ').trim()).toBe('10485760 hello 00 00 00');
      shOk('truncate -s 3 a/f', d);
      expect(shOk('cat a/hard', d)).toBe('hel');
      shOk('rm -r a3 && test ! -e a3', d);
      expect(sh('rmdir a', d).code).not.toBe(0);
      expect(sh('rmdir a', d).err).toMatch(/not empty/i);
      expect(shOk('ls -A a | sort | tr "\\n" " "', d).trim()).toBe('b f hard sym');
    });

    it('tar: an archive extracted into the mount is identical, byte for byte', async (ctx) => {
      if (skip) return ctx.skip(skip);
      const src = tmpDir('zufs-tar-src-');
      mkdirSync(path.join(src, 'x/y/z'), { recursive: true });
      const sizes = [0, 1, 4095, 4096, 4097, 131072 + 3, 1048576 + 7, 3 * 1048576 + 11];
      sizes.forEach((n, i) => writeFileSync(path.join(src, i % 2 ? 'x' : 'x/y', `f${i}`), randomBytes(n)));
      writeFileSync(path.join(src, 'x/y/z/text'), 'some text\n'.repeat(1000));
      symlinkSync('../y/z/text', path.join(src, 'x/y/link'));
      linkSync(path.join(src, 'x/y/z/text'), path.join(src, 'x/hardlink'));
      chmodSync(path.join(src, 'x/f1'), 0o600);
      chmodSync(path.join(src, 'x/y/z'), 0o750);
      shOk(`mkfifo ${src}/x/fifo && tar -C ${src} -cf ${src}.tar .`);
      const d = dir('tar');
      shOk(`tar -C ${d} -xpf ${src}.tar`);
      shOk(`tar -C ${d} -df ${src}.tar`); // compares contents, modes, owners, mtimes, link targets
      // the same archive extracted on the host's own filesystem is the reference (tar keeps whole seconds)
      shOk(`mkdir ${src}.host && tar -C ${src}.host -xpf ${src}.tar`);
      expect(await snapshot(d, { mtime: true })).toEqual(await snapshot(`${src}.host`, { mtime: true }));
      // and back out again: an archive made from the mount has the same content
      shOk(`tar -C ${d} -cf ${src}.back.tar . && mkdir ${src}.back && tar -C ${src}.back -xpf ${src}.back.tar`);
      expect(await snapshot(`${src}.back`)).toEqual(await snapshot(src));
    }, timeoutMs(300_000));

    it('git: init, add, commit, fsck inside the mount', (ctx) => {
      if (skip) return ctx.skip(skip);
      const d = dir('git');
      const git = 'git -c user.email=t@example.com -c user.name=t -c init.defaultBranch=main';
      shOk(`${git} init -q repo && cd repo && for i in $(seq 1 30); do echo "line $i" > file$i.txt; done && mkdir sub && seq 1 5000 > sub/big.txt && ${git} add -A && ${git} commit -qm first`, d);
      shOk(`cd repo && echo changed >> file1.txt && git mv file2.txt renamed.txt && ${git} commit -qam second && ${git} gc -q`, d);
      expect(shOk('cd repo && git log --oneline | wc -l', d).trim()).toBe('2');
      expect(shOk('cd repo && git status --porcelain', d)).toBe('');
      shOk('cd repo && git fsck --full --strict', d);
      expect(shOk('cd repo && git show HEAD:file1.txt', d)).toBe('line 1\nchanged\n');
    }, timeoutMs(300_000));

    it('xattrs and POSIX ACLs: setfattr/getfattr, setfacl/getfacl, enforced for other users', (ctx) => {
      if (skip) return ctx.skip(skip);
      const d = dir('acl');
      shOk('echo secret > f && chmod 600 f && setfattr -n user.color -v blue f && setfattr -n user.bin -v 0x00ff00 f', d);
      expect(shOk('getfattr -n user.color --only-values f', d)).toBe('blue');
      expect(shOk('getfattr -n user.bin -e hex f | grep user.bin', d).trim()).toBe('user.bin=0x00ff00');
      shOk('setfattr -x user.color f', d);
      expect(sh('getfattr -n user.color f', d).err).toMatch(/No such attribute/);
      // mode 600: nobody cannot read, until an ACL entry grants it
      expect(sh('setpriv --reuid=65534 --regid=65534 --clear-groups cat f', d).code).not.toBe(0);
      shOk('setfacl -m u:65534:r f', d);
      expect(shOk('getfacl -cpn f', d)).toMatch(/user:65534:r--/);
      expect(shOk('stat -c %A f', d).trim()).toBe('-rw-r-----'); // the group bits now show the mask
      expect(shOk('setpriv --reuid=65534 --regid=65534 --clear-groups cat f', d)).toBe('secret\n');
      shOk('setfacl -x u:65534 f', d);
      expect(sh('setpriv --reuid=65534 --regid=65534 --clear-groups cat f', d).code).not.toBe(0);
      // default ACLs are inherited
      shOk('mkdir inh && setfacl -d -m u:65534:rwx inh && touch inh/new && mkdir inh/sub', d);
      expect(shOk('getfacl -cpn inh/new', d)).toMatch(/user:65534:rwx/);
      expect(shOk('getfacl -cpn inh/sub', d)).toMatch(/default:user:65534:rwx/);
    });

    it('flock: a lock held by one process excludes another', (ctx) => {
      if (skip) return ctx.skip(skip);
      const d = dir('flock');
      shOk('touch lockfile', d);
      const r = sh('(flock -x lockfile -c "sleep 1.5" &) ; sleep 0.5; flock -n -x lockfile -c true; echo "held=$?"; sleep 1.5; flock -n -x lockfile -c true; echo "free=$?"', d);
      expect(r.out).toContain('held=1');
      expect(r.out).toContain('free=0');
    });
  });
}
