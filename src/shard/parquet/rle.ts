// The RLE / bit-packing hybrid Parquet uses for levels and dictionary indices: runs of one repeated value as RLE
// runs, everything else bit-packed in groups of 8. Bit-packed runs are kept to at most 63
// groups, the size every reader handles (Arrow C++ writes no larger ones). Decoding is
// hyparquet's readRleBitPackedHybrid.

/** Bits needed for values 0..max. */
export const bitWidth = (max: number): number => (max === 0 ? 0 : 32 - Math.clz32(max));

const MAX_GROUPS = 63;
/** A repeat this long is worth an RLE run rather than bit-packing. */
const MIN_RUN = 8;

/** Values below 2^24 (levels, dictionary indices of at most 65,536 entries). */
export function encodeRleHybrid(values: Uint8Array | Uint16Array | Uint32Array, count: number, width: number): Uint8Array {
  // Worst case: every value bit-packed plus a header per 63 groups, plus an RLE header or two.
  const out = new Uint8Array(Math.ceil(count / 8) * width + Math.ceil(count / (8 * MAX_GROUPS)) * 2 + 16 + Math.ceil(count / MIN_RUN) * 8);
  let n = 0;
  const varint = (u: number): void => {
    while (u >= 0x80) { out[n++] = (u & 0x7f) | 0x80; u >>>= 7; }
    out[n++] = u;
  };
  const valueBytes = (width + 7) >> 3;
  const runAt = (i: number): number => {
    const v = values[i];
    let j = i + 1;
    while (j < count && values[j] === v) j++;
    return j - i;
  };
  let i = 0;
  while (i < count) {
    const run = runAt(i);
    if (run >= MIN_RUN || i + run === count) {
      varint(run << 1);
      for (let b = 0, v = values[i]; b < valueBytes; b++, v >>>= 8) out[n++] = v & 0xff;
      i += run;
      continue;
    }
    // Bit-pack groups of 8 until a long run starts on a group boundary, or 63 groups.
    let groups = 0;
    let end = i;
    while (end < count && groups < MAX_GROUPS) {
      groups++;
      end += 8;
      if (end < count && runAt(end) >= 2 * MIN_RUN) break;
    }
    varint((groups << 1) | 1);
    let acc = 0, bits = 0;
    for (let j = i; j < i + groups * 8; j++) {
      acc |= (j < count ? values[j] : 0) << bits;
      bits += width;
      while (bits >= 8) { out[n++] = acc & 0xff; acc >>>= 8; bits -= 8; }
    }
    // groups * 8 * width is a multiple of 8 bits: nothing is left in acc.
    i = Math.min(end, count);
  }
  return out.subarray(0, n);
}

/**
 * Decodes `out.length` values (width ≤ 24 bits) from src[pos, end), as encodeRleHybrid (or any
 * conforming writer) wrote them; returns the position after the last run read. A run that
 * overruns `end` or the expected count is an error, never a silent truncation.
 */
export function decodeRleHybrid(src: Uint8Array, pos: number, end: number, width: number, out: Uint8Array | Uint16Array | Uint32Array, where: string): number {
  if (width > 24) throw new Error(`${where}: bit width ${width} is more than this reader handles (24)`);
  const n = out.length;
  const mask = (1 << width) - 1;
  const valueBytes = (width + 7) >> 3;
  let i = 0;
  while (i < n) {
    let header = 0, shift = 0, b: number;
    do {
      if (pos >= end || shift > 28) throw new Error(`${where}: levels end after ${i} of ${n} values`);
      b = src[pos++];
      header += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (header % 2 === 1) {
      const groups = (header - 1) / 2;
      const bytes = groups * width;
      if (pos + bytes > end) throw new Error(`${where}: a bit-packed run of ${groups} groups overruns its ${end - pos} bytes`);
      const stop = Math.min(n, i + groups * 8);
      let acc = 0, bits = 0, p = pos;
      while (i < stop) {
        while (bits < width) { acc |= src[p++] << bits; bits += 8; }
        out[i++] = acc & mask;
        acc >>>= width;
        bits -= width;
      }
      pos += bytes;
    } else {
      const count = header / 2;
      if (i + count > n || pos + valueBytes > end) throw new Error(`${where}: an RLE run of ${count} overruns the ${n} values or the page`);
      let v = 0;
      for (let k = 0; k < valueBytes; k++) v |= src[pos++] << (8 * k);
      out.fill(v, i, i + count);
      i += count;
    }
  }
  return pos;
}
