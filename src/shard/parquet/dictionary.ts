// Dictionary encoding of integer leaves (RLE_DICTIONARY data page + PLAIN dictionary page):
// top-k ids repeat a few thousand distinct values many times per batch, and bit-packed
// dictionary indices compress better than INT32s under LZ4 or ZSTD (bench/parquet-writers.ts).
// It is also what every Parquet reader decodes, DuckDB included, which refuses
// BYTE_STREAM_SPLIT on integers.
import type { LeafValues } from './levels.js';

/** Dictionaries larger than this are not worth it here; the column falls back to PLAIN. */
export const MAX_DICTIONARY = 65536;
/** Direct lookup table for values below this; a Map above. */
const TABLE_LIMIT = 1 << 22;

export interface Dictionary { values: LeafValues; indices: Uint32Array; width: number }

/** Distinct values in order of first appearance and each value's index; null when too many. */
export function buildDictionary(values: LeafValues): Dictionary | null {
  const n = values.length;
  const indices = new Uint32Array(n);
  const order: number[] = [];
  let max = 0, min = 0;
  for (let i = 0; i < n; i++) {
    const v = Number(values[i]);
    if (v > max) max = v;
    if (v < min) min = v;
  }
  if (min >= 0 && max < TABLE_LIMIT) {
    const table = new Int32Array(max + 1).fill(-1);
    for (let i = 0; i < n; i++) {
      const v = values[i] as number;
      let ix = table[v];
      if (ix < 0) {
        if (order.length === MAX_DICTIONARY) return null;
        ix = table[v] = order.length;
        order.push(v);
      }
      indices[i] = ix;
    }
  } else {
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const v = Number(values[i]);
      let ix = map.get(v);
      if (ix === undefined) {
        if (order.length === MAX_DICTIONARY) return null;
        map.set(v, (ix = order.length));
        order.push(v);
      }
      indices[i] = ix;
    }
  }
  const dict = new (values.constructor as new (n: number) => LeafValues)(order.length);
  const big = dict instanceof BigInt64Array || dict instanceof BigUint64Array;
  for (let i = 0; i < order.length; i++) dict[i] = big ? BigInt(order[i]) : order[i];
  const width = order.length <= 1 ? 1 : 32 - Math.clz32(order.length - 1);
  return { values: dict, indices, width };
}

/** values[i] = dict[indices[i]], every index checked against the dictionary's size. */
export function lookUp(dict: LeafValues, indices: Uint32Array, where: string): LeafValues {
  const out = new (dict.constructor as new (n: number) => LeafValues)(indices.length);
  const size = dict.length;
  for (let i = 0; i < indices.length; i++) {
    const ix = indices[i];
    if (ix >= size) throw new Error(`${where}: dictionary index ${ix} at ${i} is past the ${size}-entry dictionary`);
    out[i] = dict[ix];
  }
  return out;
}
