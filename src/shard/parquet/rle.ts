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
