// The two syscalls node:fs lacks and the local backend needs: flock (one process per volume) and
// fallocate(PUNCH_HOLE) (give truncated chunk space back). Loaded lazily through koffi; callers
// fall back when they are unavailable.
import koffi from 'koffi';

const LOCK_EX = 2;
const LOCK_NB = 4;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;

interface Libc {
  flock: (fd: number, op: number) => number;
  fallocate: { async: (fd: number, mode: number, off: number, len: number, cb: (err: unknown, res: number) => void) => void };
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = koffi.load('libc.so.6');
    libc = {
      flock: lib.func('int flock(int fd, int op)') as Libc['flock'],
      fallocate: lib.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)') as unknown as Libc['fallocate'],
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** Takes an exclusive, non-blocking flock on `fd`. Returns false when another open file holds it.
 * Throws when flock itself is unavailable (the caller cannot then guarantee exclusivity). */
export function tryLockExclusive(fd: number): boolean {
  const c = load();
  if (!c) throw new Error('flock(2) is unavailable (koffi could not load libc.so.6)');
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const e = koffi.errno();
  if (e === 11 /* EWOULDBLOCK */) return false;
  throw new Error(`flock failed: errno ${e}`);
}

/** Deallocates [off, off+len) of the file (reads return zeros). Runs on the libuv pool, never on
 * the event loop. Resolves false when the file system or platform cannot punch holes. */
export function punchHole(fd: number, off: number, len: number): Promise<boolean> {
  const c = load();
  if (!c || len <= 0) return Promise.resolve(len <= 0);
  return new Promise((resolve) => {
    c.fallocate.async(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len, (err, res) => resolve(!err && res === 0));
  });
}
