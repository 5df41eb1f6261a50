// How Redis values and key names look in the native layout: lists, sets and sorted sets as text
// files with one element per line, and which key and field names can be file names at all.
//
// File formats (every line ends with "\n"; on write a missing final "\n" is accepted):
//   list  one element per line, head first (LRANGE 0 -1 order)
//   set   one member per line (SMEMBERS order; duplicates collapse when written back)
//   zset  "<score> <member>" per line, lowest score first (ZRANGE 0 -1 WITHSCORES). The score comes
//         first, as in ZADD, so members may contain spaces; scores are Redis's own text ("1.5", "inf").
// An element that contains "\n" cannot be written back without changing its meaning, so such a
// key opens read-only (writing fails with ENOTSUP).
import { errno, fsError } from '../errors.js';

export type CollectionType = 'list' | 'set' | 'zset';

const NL = 0x0a;

export function isCollection(t: string): t is CollectionType {
  return t === 'list' || t === 'set' || t === 'zset';
}

/** list/set: the elements; zset: the ZRANGE WITHSCORES reply (member, score, member, score ...). */
export function formatCollection(type: CollectionType, reply: Buffer[]): { content: Buffer; lossy: boolean } {
  const parts: Buffer[] = [];
  let lossy = false;
  const nl = Buffer.from('\n');
  const sp = Buffer.from(' ');
  if (type === 'zset') {
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const member = reply[i]!;
      if (member.includes(NL)) lossy = true;
      parts.push(reply[i + 1]!, sp, member, nl);
    }
  } else {
    for (const e of reply) {
      if (e.includes(NL)) lossy = true;
      parts.push(e, nl);
    }
  }
  return { content: Buffer.concat(parts), lossy };
}

const SCORE = /^[+-]?(inf|infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/i;

/** The arguments for RPUSH/SADD (elements) or ZADD (score, member pairs), or EINVAL naming the line. */
export function parseCollection(type: CollectionType, content: Buffer, what: string): Buffer[] {
  const lines: Buffer[] = [];
  let at = 0;
  while (at < content.length) {
    const nl = content.indexOf(NL, at);
    const end = nl < 0 ? content.length : nl;
    lines.push(content.subarray(at, end));
    at = end + 1;
  }
  if (type !== 'zset') return lines;
  const args: Buffer[] = [];
  lines.forEach((line, i) => {
    const sp = line.indexOf(0x20);
    const score = sp < 0 ? '' : line.subarray(0, sp).toString('latin1');
    if (!SCORE.test(score)) {
      throw fsError(errno.EINVAL, `${what}: line ${i + 1} is not "<score> <member>" (score ${JSON.stringify(score || line.toString('utf8').slice(0, 40))})`);
    }
    args.push(Buffer.from(score), line.subarray(sp + 1));
  });
  return args;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The key or field name as a string, or undefined when it is not valid UTF-8. */
export function decodeName(b: Buffer): string | undefined {
  try {
    return decoder.decode(b);
  } catch {
    return undefined;
  }
}

export const NAME_MAX = 255;

/** Why one path component cannot be a file name, or undefined when it can. */
export function badComponent(c: string): string | undefined {
  if (c === '') return 'an empty path component ("//", or a leading or trailing "/")';
  if (c === '.' || c === '..') return `a "${c}" component`;
  if (c.includes('\0')) return 'a NUL byte';
  if (Buffer.byteLength(c) > NAME_MAX) return `a component longer than ${NAME_MAX} bytes`;
  return undefined;
}

/** A Redis glob pattern matching `s` literally. */
export function globEscape(s: string): string {
  return s.replace(/[\\*?[\]^]/g, (c) => `\\${c}`);
}
