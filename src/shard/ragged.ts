// Ragged top-p lists (format 2.3), kept in one place: a ragged layout stores each position's
// kept entries as an Arrow list<T> (per-position length = the kept count) where a fixed layout
// has fixed_size_list<T, k>. In memory both are the same fixed-stride TopkBatch (padding: id 0,
// log-prob -Infinity) plus, for ragged, topkCounts; pack/unpack convert at the Arrow boundary.
import { type DataType, Field, FixedSizeList, List } from 'apache-arrow';
import { isRagged, type TopkLayout } from './types.js';

export const RAGGED_META = { topP: 'logit_cache.top_p', minK: 'logit_cache.min_k' } as const;

/** The per-position type of a top-k column: fixed_size_list<T, k>, or list<T> when ragged. */
export function perPositionType(layout: TopkLayout, item: DataType): FixedSizeList | List {
  const field = new Field('item', item, false);
  return isRagged(layout) ? new List(field) : new FixedSizeList(layout.k, field);
}

/** Schema metadata entries of a ragged layout. */
export function raggedMeta(layout: TopkLayout): [string, string][] {
  return isRagged(layout) ? [[RAGGED_META.topP, String(layout.topP)], [RAGGED_META.minK, String(layout.minK)]] : [];
}

/** Why a top-p / min-k pair cannot describe a layout with this k, or null. */
export function raggedParamsProblem(topP: number, minK: number, k: number): string | null {
  if (!(topP > 0 && topP <= 1)) return `top_p ${topP} is not in (0, 1]`;
  if (!Number.isInteger(minK) || minK < 1 || minK > k) return `min_k ${minK} is not an integer in [1, k=${k}]`;
  return null;
}

/**
 * Reads top_p/min_k back from schema metadata and checks the column types agree: a ragged
 * schema without the keys, or keys on fixed-size lists, is refused naming both.
 */
export function raggedFromMeta(meta: Map<string, string>, k: number, topkIdsType: DataType, where: string): { topP?: number; minK?: number } {
  const p = meta.get(RAGGED_META.topP);
  const m = meta.get(RAGGED_META.minK);
  const listItem = topkIdsType instanceof List ? topkIdsType.children[0].type : null;
  const raggedColumn = listItem instanceof List;
  if (p === undefined && m === undefined) {
    if (raggedColumn) throw new Error(`shard ${where}: topk_ids is list<list<…>> (ragged top-p lists, format 2.3) but the schema has no ${RAGGED_META.topP}`);
    return {};
  }
  const topP = Number(p), minK = Number(m);
  const problem = p === undefined || m === undefined ? `needs both ${RAGGED_META.topP} and ${RAGGED_META.minK}` : raggedParamsProblem(topP, minK, k);
  if (problem) throw new Error(`shard ${where}: ragged top-p lists (${RAGGED_META.topP}="${p}", ${RAGGED_META.minK}="${m}"): ${problem}`);
  if (!raggedColumn) throw new Error(`shard ${where}: schema says ${RAGGED_META.topP}=${p} but topk_ids is ${topkIdsType}, not list<list<…>>`);
  return { topP, minK };
}

export const sameRaggedParams = (a: TopkLayout, b: TopkLayout): boolean => a.topP === b.topP && a.minK === b.minK;

/** Inner list offsets (length tokens + 1) of the kept counts. */
export function countOffsets(counts: Int32Array): Int32Array {
  const out = new Int32Array(counts.length + 1);
  for (let t = 0; t < counts.length; t++) out[t + 1] = out[t] + counts[t];
  return out;
}

type Numeric = Float32Array | Uint8Array | Uint16Array | Uint32Array | Int32Array;

/** The kept entries of a fixed-stride [tokens × k] array, concatenated (a new array of the same type). */
export function packKept<T extends Numeric>(padded: T, counts: Int32Array, inner: Int32Array, k: number): T {
  const out = new (padded.constructor as new (n: number) => T)(inner[counts.length]);
  // Index loops, not subarray + set: no view object per position.
  for (let t = 0; t < counts.length; t++) {
    const from = t * k, to = inner[t], n = counts[t];
    for (let r = 0; r < n; r++) out[to + r] = padded[from + r];
  }
  return out;
}

/** Inverse of packKept: entries back to their k stride, the rest set to `fill`. */
export function unpackKept<T extends Numeric>(packed: ArrayLike<number>, inner: Int32Array, k: number, out: T, fill: number): T {
  out.fill(fill);
  const tokens = inner.length - 1;
  for (let t = 0; t < tokens; t++) {
    const from = inner[t], n = inner[t + 1] - from, base = t * k;
    for (let r = 0; r < n; r++) out[base + r] = packed[from + r];
  }
  return out;
}

/** Per-position counts from inner list offsets, each checked to lie in [minK, k]. */
export function countsOf(inner: Int32Array, layout: TopkLayout, name: string, where: string): Int32Array {
  const tokens = inner.length - 1;
  const counts = new Int32Array(tokens);
  const lo = layout.minK ?? 1, hi = layout.k;
  for (let t = 0; t < tokens; t++) {
    const n = inner[t + 1] - inner[t];
    if (n < lo || n > hi) throw new Error(`${where}: ${name} position ${t} keeps ${n} entries; top-p lists keep ${lo}..${hi}`);
    counts[t] = n;
  }
  return counts;
}
