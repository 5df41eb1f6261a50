// The one error type of zusd: an FsError carries a positive errno; toErrno() maps anything thrown to one.
import { constants } from 'node:os';

export const errno = constants.errno;

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(constants.errno).map(([name, no]) => [no, name]),
);

export class FsError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(no: number, message?: string, options?: { cause?: unknown }) {
    super(message ?? NAMES[no] ?? `errno ${no}`, options);
    this.name = 'FsError';
    this.errno = no;
    this.code = NAMES[no] ?? `E${no}`;
  }
}

export function fsError(no: number, message?: string, cause?: unknown): FsError {
  return new FsError(no, message, cause === undefined ? undefined : { cause });
}

// Node system errors carry a negative `errno` and a string `code`; network libraries use codes only.
const CODE_TO_ERRNO: Record<string, number> = {
  ...Object.fromEntries(Object.entries(constants.errno)),
  ECONNREFUSED: errno.EIO,
  ECONNRESET: errno.EIO,
  EPIPE: errno.EIO,
  ENOTFOUND: errno.EIO,
  EAI_AGAIN: errno.EIO,
  UND_ERR_CONNECT_TIMEOUT: errno.ETIMEDOUT,
  UND_ERR_HEADERS_TIMEOUT: errno.ETIMEDOUT,
  UND_ERR_BODY_TIMEOUT: errno.ETIMEDOUT,
  UND_ERR_SOCKET: errno.EIO,
};

/** The positive errno for anything thrown by a filesystem, backend or library. */
export function toErrno(err: unknown): number {
  if (err instanceof FsError) return err.errno;
  if (err && typeof err === 'object') {
    const e = err as { errno?: unknown; code?: unknown; name?: unknown };
    if (typeof e.code === 'string' && e.code in CODE_TO_ERRNO) {
      const no = CODE_TO_ERRNO[e.code];
      if (no !== undefined) return no;
    }
    if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return errno.ETIMEDOUT;
    // The MongoDB driver's errors carry no errno code: a server that does not answer is these classes.
    if (e.name === 'MongoNetworkTimeoutError' || e.name === 'MongoOperationTimeoutError') return errno.ETIMEDOUT;
  }
  return errno.EIO;
}
