// ABI test: compiles a C program against kernel/zus_api.h (user space, <linux/types.h> only, with
// -Wpadded -Werror so no struct has a compiler-made hole), prints every size, offset and constant
// the TypeScript mirror declares, and compares. It also checks that every constant, enum member
// and struct of the header is mirrored, so neither side can grow alone.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CONSTANTS, LAYOUTS } from '../../src/zus/abi/zus-api.js';
import { decodeHdr, encodeHdr, readZufsStr, writeZufsStr } from '../../src/zus/abi/codec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const header = path.join(root, 'kernel/zus_api.h');
const work = mkdtempSync(path.join(tmpdir(), 'zufs-abi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cProgram(): string {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "zus_api.h"', 'int main(void) {'];
  for (const [name, l] of Object.entries(LAYOUTS)) {
    lines.push(`  printf("size ${name} %zu\\n", sizeof(struct ${name}));`);
    for (const f of Object.keys(l.fields)) lines.push(`  printf("off ${name} ${f} %zu\\n", offsetof(struct ${name}, ${f}));`);
  }
  for (const name of Object.keys(CONSTANTS)) lines.push(`  printf("const ${name} %llu\\n", (unsigned long long)(${name}));`);
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

function runC(): Map<string, bigint> {
  const src = path.join(work, 'abi.c');
  const bin = path.join(work, 'abi');
  writeFileSync(src, cProgram());
  execFileSync('gcc', ['-std=gnu11', '-Wall', '-Wextra', '-Wpadded', '-Werror', '-I', path.dirname(header), '-o', bin, src], { stdio: 'pipe' });
  const out = execFileSync(bin, { encoding: 'utf8' });
  const m = new Map<string, bigint>();
  for (const line of out.trim().split('\n')) {
    const parts = line.split(' ');
    m.set(parts.slice(0, -1).join(' '), BigInt(parts[parts.length - 1]!));
  }
  return m;
}

describe('zus_api.h ↔ src/zus/abi', () => {
  const c = runC();

  it('struct sizes match', () => {
    for (const [name, l] of Object.entries(LAYOUTS)) expect([name, c.get(`size ${name}`)]).toEqual([name, BigInt(l.size)]);
  });

  it('field offsets match', () => {
    for (const [name, l] of Object.entries(LAYOUTS))
      for (const [f, off] of Object.entries(l.fields)) expect([name, f, c.get(`off ${name} ${f}`)]).toEqual([name, f, BigInt(off)]);
  });

  it('constants and ioctl numbers match', () => {
    for (const [name, v] of Object.entries(CONSTANTS)) expect([name, c.get(`const ${name}`)]).toEqual([name, BigInt(v)]);
  });

  it('every struct is 8-byte aligned in size (no tail surprises across compilers)', () => {
    for (const [name, l] of Object.entries(LAYOUTS)) expect([name, l.size % 8]).toEqual([name, 0]);
  });

  it('every constant, enum member and struct of the header is mirrored', () => {
    const text = readFileSync(header, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    const defines = [...text.matchAll(/^#define\s+([A-Z_][A-Z0-9_]*)\s+\S/gm)].map((m) => m[1]!);
    const enums = [...text.matchAll(/^\s+([A-Z][A-Z0-9_]+)\s*(=|,)/gm)].map((m) => m[1]!);
    const structs = new Set([...text.matchAll(/^struct\s+(\w+)\s*\{/gm)].map((m) => m[1]!));
    const internal = new Set(['_LINUX_ZUS_API_H', 'ZUFS_IOM_FIRST_VAL_MASK']);
    for (const n of [...defines, ...enums]) if (!internal.has(n)) expect([n, n in CONSTANTS]).toEqual([n, true]);
    structs.delete('__zi_on_disk_desc');
    for (const s of structs) expect([s, s in LAYOUTS]).toEqual([s, true]);
  });
});

describe('codec', () => {
  it('round-trips a header and a counted string', () => {
    const dv = new DataView(new ArrayBuffer(512));
    encodeHdr(dv, 0, { err: -2, in_len: 312, out_max: 312, out_start: 296, out_len: 16, operation: 7, flags: 1, offset: 4096, len: 0, op_id: 99n });
    expect(decodeHdr(dv, 0)).toEqual({ err: -2, in_len: 312, out_max: 312, out_start: 296, out_len: 16, operation: 7, flags: 1, offset: 4096, len: 0, op_id: 99n });
    writeZufsStr(dv, 40, 'héllo');
    expect(readZufsStr(dv, 40)).toBe('héllo');
    expect(() => writeZufsStr(dv, 40, 'x'.repeat(256))).toThrow();
  });
});
