// The file forms of the MongoDB native layout: which file name a document's _id gets, and the
// Extended JSON text a document is shown as and parsed back from.
//
// File names (always `<escaped _id>.json`; the encoding is a bijection, checked by re-encoding every
// name that is decoded, so one document never has two names):
// - ObjectId → its 24 lowercase hex digits: `6553f1c2a1b2c3d4e5f60718.json`.
// - string → the string itself, with `%`, `/` and NUL written as %25, %2F, %00 (UTF-8 bytes). The
//   first character is also %-escaped when the name would otherwise mean something else: a leading
//   "." (hidden files; "." and ".."), a string of 24 lowercase hex digits (an ObjectId), or a string
//   starting with "n:" or "e:" (the forms below). So "a/b" → `a%2Fb.json`, ".env" → `%2Eenv.json`.
// - number (int32, int64, double) → `n:` and the decimal value: `n:42.json`, `n:-1.5.json`,
//   `n:9007199254740993.json`. MongoDB matches numbers by value whatever their type, so a name finds
//   the document; a document created from a name gets an int32 when the value fits, else an int64
//   (integers) or a double.
// - anything else (the empty string, dates, UUIDs and binaries, embedded documents, NaN…) → `e:` and
//   the value's canonical Extended JSON, %-escaped as strings are: `e:{"$date":{"$numberLong":"0"}}.json`.
// A name longer than NAME_MAX bytes cannot be shown: the document is left out of listings.
//
// Document text: Extended JSON v2, pretty-printed with two spaces, keys in stored order, one final
// newline. Values are written in relaxed form only where parsing the text back gives the same BSON
// type — int32 as a plain number, doubles with a fraction as plain numbers, dates between 1970 and
// 9999 as ISO strings — and in canonical form otherwise ({"$numberLong": "5"},
// {"$numberDouble": "1.0"}, {"$oid": …}, {"$binary": …}), so that `cat`, edit, save stores exactly
// the types it read. Text written to a file is parsed as canonical-or-relaxed Extended JSON: a plain
// integer becomes an int32 when it fits, else an int64; a number with a fraction or exponent a double.
import { BSON, Double, Int32, Long, ObjectId, type Document } from 'mongodb';

export const NAME_MAX = 255;
export const DOC_SUFFIX = '.json';

const HEX24 = /^[0-9a-f]{24}$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64 = /^-?(0|[1-9]\d{0,18})$/;

function pct(ch: string): string {
  return [...Buffer.from(ch)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

function escapeText(s: string): string {
  return s.replace(/[%/\0]/g, pct);
}

function escapeString(s: string): string | undefined {
  if (s === '') return undefined;
  const body = escapeText(s);
  if (s.startsWith('.') || HEX24.test(s) || s.startsWith('n:') || s.startsWith('e:')) {
    const first = String.fromCodePoint(s.codePointAt(0)!);
    return pct(first) + escapeText(s.slice(first.length));
  }
  return body;
}

/** The file name of a document with this _id, or undefined when it cannot be shown (too long). */
export function idToName(id: unknown): string | undefined {
  let stem: string | undefined;
  if (id instanceof ObjectId) stem = id.toHexString();
  else if (typeof id === 'string') stem = escapeString(id);
  else if (typeof id === 'number' && Number.isFinite(id) && !Object.is(id, -0)) stem = `n:${String(id)}`;
  else if (id instanceof Int32) stem = `n:${id.value}`;
  else if (id instanceof Double && Number.isFinite(id.value) && !Object.is(id.value, -0)) stem = `n:${String(id.value)}`;
  else if (id instanceof Long) stem = `n:${id.toString()}`;
  if (stem === undefined) stem = `e:${escapeText(BSON.EJSON.stringify(id, { relaxed: false }))}`;
  const name = stem + DOC_SUFFIX;
  return Buffer.byteLength(name) > NAME_MAX ? undefined : name;
}

function decodeNumber(s: string): unknown {
  if (INT64.test(s)) {
    const big = BigInt(s);
    if (big >= BigInt(INT32_MIN) && big <= BigInt(INT32_MAX)) return Number(s);
    if (big >= -(2n ** 63n) && big < 2n ** 63n) return Long.fromBigInt(big);
    return undefined;
  }
  const n = Number(s);
  return s.trim() === s && s !== '' && Number.isFinite(n) ? new Double(n) : undefined;
}

/** The _id a file name stands for, or undefined when the name is not one this layout gives out. */
export function nameToId(name: string): unknown {
  if (!name.endsWith(DOC_SUFFIX) || name.length === DOC_SUFFIX.length) return undefined;
  const stem = name.slice(0, -DOC_SUFFIX.length);
  let id: unknown;
  try {
    if (HEX24.test(stem)) id = new ObjectId(stem);
    else if (stem.startsWith('n:')) id = decodeNumber(stem.slice(2));
    else if (stem.startsWith('e:')) id = BSON.EJSON.parse(decodeURIComponent(stem.slice(2)), { relaxed: false });
    else id = decodeURIComponent(stem);
  } catch {
    return undefined;
  }
  // Only the canonical spelling names a document: `n:042.json` or `a%2fb.json` do not.
  return id !== undefined && idToName(id) === name ? id : undefined;
}

/** Whether two _id values are the same key (numbers compare by value, as MongoDB does). */
export function sameId(a: unknown, b: unknown): boolean {
  return idToName(a) === idToName(b);
}

function relax(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(relax);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const k = keys[0]!;
    const inner = o[k];
    if (k === '$numberInt' && typeof inner === 'string') return Number(inner);
    if (k === '$numberDouble' && typeof inner === 'string') {
      const x = Number(inner);
      return Number.isFinite(x) && !Number.isInteger(x) ? x : o;
    }
    if (k === '$date' && inner && typeof inner === 'object' && typeof (inner as { $numberLong?: unknown }).$numberLong === 'string') {
      const ms = Number((inner as { $numberLong: string }).$numberLong);
      return ms >= 0 && ms <= 253402300799999 ? { $date: new Date(ms).toISOString() } : o;
    }
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = relax(o[key]);
  return out;
}

/** The text of a document as the mount shows it (fetched with promoteValues: false, so that int32
 * and double stay apart). */
export function renderDoc(doc: Document): Buffer {
  return Buffer.from(`${JSON.stringify(relax(BSON.EJSON.serialize(doc, { relaxed: false })), null, 2)}\n`);
}

/** The document a file's text stands for; throws an Error saying what is wrong. */
export function parseDoc(text: Buffer): Document {
  const s = text.toString('utf8');
  if (s.trim() === '') throw new Error('the file is empty (a document is one JSON object)');
  const v: unknown = BSON.EJSON.parse(s, { relaxed: false });
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date || (v as { _bsontype?: unknown })._bsontype !== undefined) {
    throw new Error('the text is JSON but not an object (a document is one JSON object)');
  }
  return v as Document;
}
