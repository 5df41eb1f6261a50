// A comparable snapshot of a directory tree: type, mode, size, link count, content hash,
// symlink target, owner, mtime and xattrs of every entry, keyed by relative path.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { sh } from './mount.js';

const HASH_LIMIT = 256 * 1024 * 1024;

export interface EntrySnap {
  type: string;
  mode: number;
  size?: number;
  nlink: number;
  uid: number;
  gid: number;
  mtimeMs?: number;
  sha?: string;
  target?: string;
}

export async function snapshot(root: string, opts: { mtime?: boolean } = {}): Promise<Record<string, EntrySnap>> {
  const out: Record<string, EntrySnap> = {};
  async function walk(rel: string): Promise<void> {
    const abs = path.join(root, rel);
    const st = await lstat(abs);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'sock' : st.isCharacterDevice() ? 'chr' : 'blk';
    const e: EntrySnap = { type, mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid };
    if (type === 'file') {
      e.size = st.size;
      // Huge (sparse) files are checked by their tests directly; hashing GiBs of holes only costs time.
      if (st.size <= HASH_LIMIT) e.sha = await sha256(abs);
    }
    if (type === 'link') e.target = await readlink(abs);
    if (opts.mtime && type !== 'link') e.mtimeMs = st.mtimeMs;
    if (rel !== '') out[rel] = e;
    if (type === 'dir') {
      for (const name of (await readdir(abs)).sort()) await walk(path.join(rel, name));
    }
  }
  await walk('');
  return out;
}

/** Every xattr of every entry, as getfattr prints it (hex values), sorted by path so that
 * directory order does not matter. */
export function xattrDump(root: string): string {
  const r = sh(`cd '${root}' && getfattr -R -h -d -m - -e hex . 2>/dev/null`);
  return r.out.split(/\n\n+/).map((b) => b.trim()).filter(Boolean).sort().join('\n\n');
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
