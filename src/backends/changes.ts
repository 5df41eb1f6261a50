// The change feed shared by the backends that serve several gateways on one volume: what a
// committed transaction changed, in the compact form their messages carry ([ino] for an inode
// record or its xattrs, [parent, name] for one directory entry), and back.
import type { MetaChange, MetaOp } from './types.js';

export type ChangeList = Array<[number] | [number, string]>;

/** What other gateways must drop from their caches after `ops` (entries of the reserved
 * directory 0 — root marker, orphan list — are nobody's cache). */
export function changesOf(ops: MetaOp[]): ChangeList {
  const out: ChangeList = [];
  for (const op of ops) {
    switch (op.op) {
      case 'putInode':
        out.push([op.inode.ino]);
        break;
      case 'delInode':
      case 'setXattr':
      case 'delXattr':
        out.push([op.ino]);
        break;
      case 'putDentry':
      case 'delDentry':
        if (op.parent !== 0) out.push([op.parent, op.name]);
        break;
    }
  }
  return out;
}

/** Calls `fn` for each well-formed change of a received list. */
export function forEachChange(list: unknown, fn: (c: MetaChange) => void): void {
  if (!Array.isArray(list)) return;
  for (const c of list as unknown[]) {
    if (!Array.isArray(c) || typeof c[0] !== 'number') continue;
    if (c.length === 1) fn({ kind: 'inode', ino: c[0] });
    else if (typeof c[1] === 'string') fn({ kind: 'dir', ino: c[0], name: c[1] });
  }
}
