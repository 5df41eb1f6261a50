// The mount table as the kernel shows it to this process (/proc/self/mountinfo), and removing
// mounts left behind by a server that died (their access fails with ENOTCONN).
import { readFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { errno as E } from '../../fs/errors.js';
import { MNT_DETACH, errno, umount2 } from './libc.js';

export interface MountInfo {
  id: number;
  major: number;
  minor: number;
  mountpoint: string;
  fsType: string;
  source: string;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || f.length < sep + 3) continue;
    const [major, minor] = f[2]!.split(':').map(Number);
    out.push({
      id: Number(f[0]),
      major: major!,
      minor: minor!,
      mountpoint: unescape(f[4]!),
      fsType: f[sep + 1]!,
      source: unescape(f[sep + 2]!),
    });
  }
  return out;
}

export function readMounts(): MountInfo[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The topmost mount at exactly this path, if any. */
export function mountAt(mountpoint: string): MountInfo | undefined {
  let found: MountInfo | undefined;
  for (const m of readMounts()) if (m.mountpoint === mountpoint) found = m;
  return found;
}

/**
 * Detaches dead FUSE mounts stacked on `mountpoint` (a crashed server leaves one that fails every
 * access with ENOTCONN). A live mount is left alone and reported as EBUSY by the caller's mount.
 */
export async function cleanStaleMounts(mountpoint: string): Promise<number> {
  let removed = 0;
  for (;;) {
    const m = mountAt(mountpoint);
    if (!m || !m.fsType.startsWith('fuse')) return removed;
    try {
      await fsp.stat(mountpoint);
      return removed;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN' && (e as NodeJS.ErrnoException).code !== 'ECONNABORTED') return removed;
    }
    if (umount2(mountpoint, MNT_DETACH) < 0 && errno() !== E.EINVAL) return removed;
    removed++;
  }
}
