// src/fs/SEMANTICS.md is the promise users read: its file map must match the files in src/fs.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const FS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../src/fs');

test('every src/fs module of the posix layout is in SEMANTICS.md, and every file named there exists', () => {
  const doc = readFileSync(join(FS_DIR, 'SEMANTICS.md'), 'utf8');
  const files = readdirSync(FS_DIR).filter((f) => f.endsWith('.ts'));
  const shared = new Set(['errors.ts', 'operations.ts']); // the contracts every layer shares
  for (const f of files) if (!shared.has(f)) expect(doc, `${f} missing from SEMANTICS.md`).toContain(`\`${f}\``);
  for (const m of doc.matchAll(/`([a-z-]+\.ts)`/g)) expect(files, `${m[1]} named in SEMANTICS.md`).toContain(m[1]);
});
