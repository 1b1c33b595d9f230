// Leaf values <-> the bytes of a Parquet data page, PLAIN or BYTE_STREAM_SPLIT. Parquet has no
// 8- or 16-bit integers: uint8/uint16 leaves are widened to INT32 on write and narrowed back
// on read (their high bytes are zero, so BYTE_STREAM_SPLIT leaves those planes to the codec).
import type { LeafValues } from './levels.js';
import type { LeafColumn } from './parquet-schema.js';

/** How a leaf's values are stored; RLE_DICTIONARY is applied in column-chunk.ts (dictionary.ts). */
export type ValueEncodingName = 'PLAIN' | 'BYTE_STREAM_SPLIT' | 'RLE_DICTIONARY';
export const ENCODING_ID: Record<ValueEncodingName | 'RLE', number> = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8, BYTE_STREAM_SPLIT: 9 };

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The values as Parquet stores them (little-endian, widened where Arrow is narrower). */
function physicalBytes(leaf: LeafColumn, values: LeafValues): Uint8Array {
  if (leaf.arrowWidth === leaf.width) return bytesOf(values);
  const wide = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) wide[i] = values[i] as number;
  return bytesOf(wide);
}

export function encodeLeafValues(leaf: LeafColumn, values: LeafValues, encoding: 'PLAIN' | 'BYTE_STREAM_SPLIT'): Uint8Array {
  const raw = physicalBytes(leaf, values);
  if (encoding === 'PLAIN') return raw;
  const w = leaf.width, n = values.length;
  const out = new Uint8Array(raw.length);
  // Byte b of value i goes to plane b: out[b * n + i].
  for (let b = 0; b < w; b++) {
    const plane = b * n;
    for (let i = 0, j = b; i < n; i++, j += w) out[plane + i] = raw[j];
  }
  return out;
}

/** `count` values of `leaf` from page bytes, as the Arrow typed array of its leaf type. */
export function decodeLeafValues(leaf: LeafColumn, bytes: Uint8Array, count: number, encoding: string, where: string): LeafValues {
  const w = leaf.width;
  if (bytes.length !== count * w) throw new Error(`${where}: ${bytes.length} value bytes for ${count} values of ${w} bytes`);
  let raw: Uint8Array;
  if (encoding === 'PLAIN') raw = new Uint8Array(bytes); // a copy: Buffer.slice would be a view into a pool
  else if (encoding === 'BYTE_STREAM_SPLIT') {
    raw = new Uint8Array(bytes.length);
    for (let b = 0; b < w; b++) {
      const plane = b * count;
      for (let i = 0, j = b; i < count; i++, j += w) raw[j] = bytes[plane + i];
    }
  } else throw new Error(`${where}: value encoding ${encoding} is not one this reader knows (PLAIN, BYTE_STREAM_SPLIT)`);
  // raw is a fresh, aligned buffer: typed views on it are safe.
  const buf = raw.buffer;
  if (leaf.int) {
    const { bits, signed } = leaf.int;
    if (bits === 64) return signed ? new BigInt64Array(buf, 0, count) : new BigUint64Array(buf, 0, count);
    const wide = new Int32Array(buf, 0, count);
    if (bits === 32) return signed ? wide : new Uint32Array(buf, 0, count);
    const narrow = bits === 16 ? (signed ? new Int16Array(count) : new Uint16Array(count)) : (signed ? new Int8Array(count) : new Uint8Array(count));
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1, min = signed ? -(2 ** (bits - 1)) : 0;
    for (let i = 0; i < count; i++) {
      const v = wide[i];
      if (v > max || v < min) throw new Error(`${where}: value ${v} at ${i} does not fit ${signed ? 'int' : 'uint'}${bits}`);
      narrow[i] = v;
    }
    return narrow as LeafValues;
  }
  if (leaf.physical === 'FIXED_LEN_BYTE_ARRAY') return new Uint16Array(buf, 0, count); // float16 bit patterns
  return leaf.physical === 'FLOAT' ? new Float32Array(buf, 0, count) : new Float64Array(buf, 0, count);
}
