// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of every on-device structure in
// src/pools (device table, journal records). Chosen because the kernel has crc32c() in lib/ and
// CPUs have an instruction for it, so zuf.ko can check the same bytes cheaply. Slicing-by-8 in
// TypeScript (~1 GB/s): zlib.crc32 is plain CRC32 and only exists from Node 20.15.

const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = T[n]!;
  for (let s = 1; s < 8; s++) {
    c = T[c & 0xff]! ^ (c >>> 8);
    T[s * 256 + n] = c;
  }
}

/** CRC32C of `buf`, continuing from `crc` (the value a previous call returned; 0 to start). */
export function crc32c(buf: Uint8Array, crc = 0): number {
  let c = ~crc;
  let i = 0;
  const n = buf.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) ^ c;
    c =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + buf[i + 4]!]! ^
      T[512 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!;
    i += 8;
  }
  while (i < n) c = T[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
