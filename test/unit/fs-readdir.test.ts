// readdir/readdirplus of PosixFs: ".", "..", entry order and types, paging, and cursors that stay
// valid while entries are created and removed between calls.
import { describe, expect, test } from 'vitest';
import { errno } from '../../src/fs/errors.js';
import { RENAME_EXCHANGE } from '../../src/fs/operations.js';
import { errOf, ls, mkdir, mkfile, mkfs, root, S_IFDIR, S_IFLNK, S_IFREG } from './fs-helpers.js';

describe('readdir', () => {
  test('starts with . (cookie 1) and .. (cookie 2), then entries in creation order with types', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const b = await mkfile(fs, d.ino, 'b');
    const a = await mkdir(fs, d.ino, 'a');
    const l = await fs.newInode(root, d.ino, 'l', { mode: S_IFLNK | 0o777, symlink: 'b' });
    const ents = await fs.readdir(root, d.ino, 0, 100, false);
    expect(ents.map((e) => e.name)).toEqual(['.', '..', 'b', 'a', 'l']);
    expect(ents.slice(0, 2).map((e) => [e.ino, e.next])).toEqual([
      [d.ino, 1],
      [1, 2],
    ]);
    expect(ents.slice(2).map((e) => [e.ino, e.type])).toEqual([
      [b.ino, S_IFREG],
      [a.ino, S_IFDIR],
      [l.ino, S_IFLNK],
    ]);
    const nexts = ents.map((e) => e.next);
    expect([...nexts].sort((x, y) => x - y)).toEqual(nexts);
    expect(new Set(nexts).size).toBe(nexts.length);
  });

  test('resuming at any returned cookie continues right after that entry', async () => {
    const { fs } = mkfs();
    for (let i = 0; i < 10; i++) await mkfile(fs, 1, `f${i}`);
    const all = await fs.readdir(root, 1, 0, 100, false);
    for (let i = 0; i < all.length; i++) {
      const rest = await fs.readdir(root, 1, all[i]!.next, 100, false);
      expect(rest.map((e) => e.name)).toEqual(all.slice(i + 1).map((e) => e.name));
    }
  });

  test('pages of one entry return every name once', async () => {
    const { fs } = mkfs();
    const names = Array.from({ length: 25 }, (_, i) => `n${i}`);
    for (const n of names) await mkfile(fs, 1, n);
    expect(await ls(fs, 1, 1)).toEqual([...names].sort());
  });

  test('readdirplus returns the same attributes as getattr', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    await mkfile(fs, d.ino, 'f', 0o600);
    const ents = await fs.readdir(root, d.ino, 0, 100, true);
    expect(ents.map((e) => e.name)).toEqual(['.', '..', 'f']);
    for (const e of ents) expect(e.attr).toEqual(await fs.getattr(e.ino));
    const plain = await fs.readdir(root, d.ino, 0, 100, false);
    expect(plain.every((e) => e.attr === undefined)).toBe(true);
  });

  test('ENOTDIR on a file; the root .. is the root', async () => {
    const { fs } = mkfs();
    const f = await mkfile(fs, 1, 'f');
    expect(await errOf(fs.readdir(root, f.ino, 0, 10, false))).toBe(errno.ENOTDIR);
    const ents = await fs.readdir(root, 1, 0, 2, false);
    expect(ents.map((e) => [e.name, e.ino])).toEqual([
      ['.', 1],
      ['..', 1],
    ]);
  });

  test('a cursor survives concurrent creates and unlinks: no repeats, no entry that stayed is missed', async () => {
    const { fs } = mkfs();
    const d = await mkdir(fs, 1, 'd');
    const initial = Array.from({ length: 60 }, (_, i) => `e${String(i).padStart(2, '0')}`);
    for (const n of initial) await mkfile(fs, d.ino, n);
    const seen: string[] = [];
    const removed = new Set<string>();
    let cookie = 0;
    let round = 0;
    for (;;) {
      const page = await fs.readdir(root, d.ino, cookie, 7, false);
      if (page.length === 0) break;
      for (const e of page) if (e.name !== '.' && e.name !== '..') seen.push(e.name);
      cookie = page[page.length - 1]!.next;
      // Between pages: remove one entry already seen and one not seen yet, add two new ones.
      const unseen = initial.filter((n) => !seen.includes(n) && !removed.has(n));
      const seenAlive = seen.filter((n) => initial.includes(n) && !removed.has(n));
      for (const n of [seenAlive[0], unseen[unseen.length - 1]]) {
        if (n === undefined) continue;
        await fs.removeDentry(root, d.ino, n, false);
        removed.add(n);
      }
      if (round < 8) {
        await mkfile(fs, d.ino, `new${round}a`);
        await mkfile(fs, d.ino, `new${round}b`);
      }
      round++;
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const n of initial) if (!removed.has(n)) expect(seen).toContain(n);
    expect(round).toBeGreaterThan(8);
    // Entries created meanwhile get higher cookies than any existing one, so the cursor reaches them.
    expect(seen).toContain('new7b');
  });

  test('renames between pages neither hide nor duplicate the entries that stayed', async () => {
    const { fs } = mkfs();
    for (let i = 0; i < 20; i++) await mkfile(fs, 1, `k${i}`);
    const first = await fs.readdir(root, 1, 0, 8, false);
    await fs.rename(root, 1, 'k15', 1, 'moved', 0);
    await fs.rename(root, 1, 'k16', 1, 'k17', RENAME_EXCHANGE);
    const rest = await fs.readdir(root, 1, first[first.length - 1]!.next, 100, false);
    const names = [...first, ...rest].map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (let i = 0; i < 20; i++) if (i < 15 || i > 17) expect(names).toContain(`k${i}`);
    expect(names).toContain('moved');
  });
});
