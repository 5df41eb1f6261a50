// The inode-number table of a native-layout mount. Stores such as Redis have no inode numbers, so
// the mount gives each path one for as long as it runs: the same path keeps its number (stat, tar
// and du see stable inodes), root is 1. A path removed or renamed away through the mount leaves its
// number to the kernel's remaining references; once the kernel forgets it (evict) the number is
// reused with the generation bumped, so an NFS-style (ino, generation) pair never names two files.
import { errno, fsError } from '../errors.js';

export const ROOT_INO = 1;

export interface NativeNode {
  readonly ino: number;
  /** '' for the root; components joined by '/'. undefined once removed (an orphan). */
  path: string | undefined;
  generation: number;
  /** Set for a hash field: the hash's path. The field name is the last component of `path`. */
  hash?: string | undefined;
}

export class NativeInodes {
  private readonly byPath = new Map<string, NativeNode>();
  private readonly byIno = new Map<number, NativeNode>();
  private readonly free: { ino: number; generation: number }[] = [];
  private next = ROOT_INO + 1;

  constructor() {
    const root: NativeNode = { ino: ROOT_INO, path: '', generation: 0 };
    this.byPath.set('', root);
    this.byIno.set(ROOT_INO, root);
  }

  /** The node of `path`, created on first sight. `hash` marks it as a field of that hash. */
  at(path: string, hash?: string): NativeNode {
    const have = this.byPath.get(path);
    if (have) {
      have.hash = hash;
      return have;
    }
    const reuse = this.free.pop();
    const node: NativeNode = reuse
      ? { ino: reuse.ino, path, generation: reuse.generation + 1, hash }
      : { ino: this.next++, path, generation: 0, hash };
    this.byPath.set(path, node);
    this.byIno.set(node.ino, node);
    return node;
  }

  /** The node of a number the kernel holds; ESTALE if it was forgotten or removed. */
  get(ino: number): NativeNode {
    const n = this.byIno.get(ino);
    if (!n || n.path === undefined) throw fsError(errno.ESTALE, `inode ${ino} is not known to this mount`);
    return n;
  }

  /** The path is gone from the store: its node becomes an orphan until evicted. */
  remove(path: string): void {
    const n = this.byPath.get(path);
    if (!n || n.ino === ROOT_INO) return;
    this.byPath.delete(path);
    n.path = undefined;
  }

  /** `from` (and everything under it) now lives at `to`; whatever was at `to` becomes an orphan. */
  rename(from: string, to: string): void {
    if (from === to) return;
    this.remove(to);
    const moves: [string, NativeNode][] = [];
    const under = `${from}/`;
    for (const [p, n] of this.byPath) if (p === from || p.startsWith(under)) moves.push([p, n]);
    for (const [p] of moves) this.byPath.delete(p);
    for (const [p, n] of moves) {
      const q = to + p.slice(from.length);
      this.remove(q);
      n.path = q;
      if (n.hash !== undefined && (n.hash === from || n.hash.startsWith(under))) n.hash = to + n.hash.slice(from.length);
      this.byPath.set(q, n);
    }
  }

  /** Two paths swapped their objects (RENAME_EXCHANGE of two files): their nodes swap paths. */
  exchange(a: string, b: string): void {
    const na = this.byPath.get(a);
    const nb = this.byPath.get(b);
    this.byPath.delete(a);
    this.byPath.delete(b);
    if (na) {
      na.path = b;
      this.byPath.set(b, na);
    }
    if (nb) {
      nb.path = a;
      this.byPath.set(a, nb);
    }
  }

  /** The kernel dropped its last reference: an orphan's number can be reused. */
  evict(ino: number): void {
    const n = this.byIno.get(ino);
    if (!n || n.path !== undefined) return;
    this.byIno.delete(ino);
    this.free.push({ ino, generation: n.generation });
  }
}

/** The parent path of a non-root path. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function childPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
