// Unmounting a path from the CLI when no live zusd owns it (a crashed server leaves an
// ENOTCONN mount behind): umount2 with MNT_DETACH through the system's umount(8).
import { spawnSync } from 'node:child_process';

export function umountPath(target: string): void {
  const r = spawnSync('umount', ['-l', target], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`umount ${target}: ${(r.stderr || r.error?.message || '').trim()}`);
}
