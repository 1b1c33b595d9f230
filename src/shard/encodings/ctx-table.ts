// `ctx-table` id encoding (format 2.4, docs/FORMAT.md §4.2). A teacher's top-k ids are far
// more predictable from the token the model just read than on their own (stories260k: about
// 7 bits per id alone, 3.6-5.1 given the current input token), and the reader already holds
// that token. So each shard carries a table, built by the writer from the shard's first batch:
// for every current input token c, up to 254 ids in order of how often they appeared after c.
// Each id is stored as one byte, rank-major over the batch (the code of token t, rank r at
// r * tokens + t: runs of one rank compress better than interleaved ranks, most at large k):
//   0          the sample's next input token (input_ids[t + 1]; the top-1 64% of the time);
//   1 .. 254   the code-th entry of the table row of c = input_ids[t] among those that no lower
//              rank of the same position took from the row (exclusion: ids are distinct, so an
//              entry a lower rank used cannot recur; bench/storage, stories260k k = 128: ids 101
//              against 115 B/token without it);
//   255        escape: the id is the next one in the sample's literal list.
// The codes are small and skewed, which the body codec's entropy stage exploits; decoding is a
// gather (numpy: searchsorted + fancy indexing) after the exclusion is resolved rank by rank in
// lockstep over all positions; no per-symbol loop.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as { compress(b: Uint8Array, p?: Record<string, unknown>): Buffer; decompress(b: Uint8Array): Buffer };

/** Table entries per context: codes 1..254 (0 = next token, 255 = escape). */
export const CTX_ROW_MAX = 254;
/**
 * An (input token, id) pair enters the table only if the first batch shows it this often: pairs
 * seen once rarely recur at large vocabularies, where they made the table (stored once per shard,
 * base64 in the schema) cost more than it saved (synthetic 152k k = 8: 5.4 B/token of table
 * against 1.2 at 2; stories260k gives up 0.08 B/token).
 */
export const CTX_MIN_COUNT = 2;
export const CODE_NEXT = 0;
export const CODE_ESCAPE = 255;

/** Per-shard table, CSR by context: contexts strictly increasing; row i is entries[starts[i], starts[i] + lengths[i]). */
export interface CtxTable {
  contexts: Uint32Array;
  lengths: Uint32Array;
  starts: Uint32Array;
  entries: Uint32Array;
}

/** Row of context c in the table, or -1 (binary search: contexts are sorted). */
export function rowOf(t: CtxTable, c: number): number {
  let lo = 0, hi = t.contexts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = t.contexts[mid];
    if (v === c) return mid;
    if (v < c) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function withStarts(contexts: Uint32Array, lengths: Uint32Array, entries: Uint32Array): CtxTable {
  const starts = new Uint32Array(lengths.length);
  let at = 0;
  for (let i = 0; i < lengths.length; i++) { starts[i] = at; at += lengths[i]; }
  return { contexts, lengths, starts, entries };
}

/**
 * The table of one batch: for each current input token, the ids (all ranks) seen after it at
 * least minCount times, most frequent first, ties by lower id, at most CTX_ROW_MAX of them.
 */
export function buildCtxTable(ids: ArrayLike<number>, inputIds: Int32Array, k: number, minCount = CTX_MIN_COUNT): CtxTable {
  const counts = new Map<number, Map<number, number>>();
  for (let t = 0; t < inputIds.length; t++) {
    const c = inputIds[t];
    let row = counts.get(c);
    if (!row) counts.set(c, (row = new Map()));
    for (let r = 0; r < k; r++) {
      const id = ids[t * k + r];
      row.set(id, (row.get(id) ?? 0) + 1);
    }
  }
  const kept: number[] = [];
  const lengths: number[] = [];
  const entries: number[] = [];
  for (const c of [...counts.keys()].sort((a, b) => a - b)) {
    const row = [...counts.get(c)!.entries()].filter((e) => e[1] >= minCount).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, CTX_ROW_MAX);
    if (row.length === 0) continue; // rows hold 1..254 entries
    kept.push(c);
    lengths.push(row.length);
    for (const [id] of row) entries.push(id);
  }
  return withStarts(Uint32Array.from(kept), Uint32Array.from(lengths), Uint32Array.from(entries));
}

/** Serialised table: uint32 LE [n, contexts[n], lengths[n], entries...], then ZSTD, then base64. */
export function ctxTableToMeta(t: CtxTable): { table: string; size: number } {
  const n = t.contexts.length;
  const words = new Uint32Array(1 + 2 * n + t.entries.length);
  words[0] = n;
  words.set(t.contexts, 1);
  words.set(t.lengths, 1 + n);
  words.set(t.entries, 1 + 2 * n);
  const raw = new Uint8Array(words.buffer);
  return { table: Buffer.from(zstd.compress(raw, { compressionLevel: 19 })).toString('base64'), size: raw.length };
}

/** Parses and checks a serialised table; `where` names the shard in errors. */
export function ctxTableFromMeta(table: string, size: number, vocabSize: number, where: string): CtxTable {
  const bad = (why: string): never => { throw new RangeError(`${where}: ctx-table ids table ${why}`); };
  if (!Number.isInteger(size) || size < 4 || size % 4 !== 0) bad(`size ${size} is not a positive multiple of 4`);
  // At most one row per token id, 254 entries each: a larger size is refused before decompressing.
  if (size > 4 * (1 + 256 * vocabSize)) bad(`size ${size} exceeds what a vocabulary of ${vocabSize} allows`);
  let raw: Uint8Array;
  try {
    raw = zstd.decompress(Buffer.from(table, 'base64'));
    // (A frame that declares more than `size` is caught just below; the cap above bounds `size`.)
  } catch (e) {
    return bad(`does not decompress (${(e as Error).message})`);
  }
  if (raw.length !== size) bad(`holds ${raw.length} bytes, metadata says ${size}`);
  const words = new Uint32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const n = words[0];
  if (1 + 2 * n > words.length) bad(`names ${n} contexts but holds ${words.length} words`);
  const contexts = words.slice(1, 1 + n);
  const lengths = words.slice(1 + n, 1 + 2 * n);
  const entries = words.slice(1 + 2 * n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0 && contexts[i] <= contexts[i - 1]) bad(`contexts not strictly increasing at ${i}`);
    if (lengths[i] < 1 || lengths[i] > CTX_ROW_MAX) bad(`row ${i} has ${lengths[i]} entries (1..${CTX_ROW_MAX})`);
    total += lengths[i];
  }
  if (total !== entries.length) bad(`rows sum to ${total} entries, holds ${entries.length}`);
  for (let i = 0; i < entries.length; i++) if (entries[i] >= vocabSize) bad(`entry ${i} is id ${entries[i]}, outside the vocabulary of ${vocabSize}`);
  return withStarts(contexts, lengths, entries);
}

// Parsed tables by their metadata text: every batch of a shard carries the same schema.
const cache = new Map<string, CtxTable>();
export function cachedCtxTable(table: string, size: number, vocabSize: number, where: string): CtxTable {
  const key = `${vocabSize}:${size}:${table}`;
  let t = cache.get(key);
  if (!t) {
    t = ctxTableFromMeta(table, size, vocabSize, where);
    if (cache.size >= 8) cache.delete(cache.keys().next().value!);
    cache.set(key, t);
  }
  return t;
}

export interface CtxCoded {
  /** [k * tokens] one byte per id, rank-major: token t, rank r at r * tokens + t. */
  codes: Uint8Array;
  /** Escaped ids in position order (per sample: literalOffsets). */
  literals: Uint32Array;
  /** [samples + 1] offsets of each sample's literals. */
  literalOffsets: Int32Array;
}

function checkShape(offsets: Int32Array, inputIds: Int32Array, n: number, k: number): void {
  if (n !== inputIds.length * k) throw new RangeError(`ctx-table: ${n} ids for ${inputIds.length} tokens at k=${k}`);
  if (offsets[0] !== 0 || offsets[offsets.length - 1] !== inputIds.length) {
    throw new RangeError(`ctx-table: offsets span [${offsets[0]}, ${offsets[offsets.length - 1]}], expected [0, ${inputIds.length}]`);
  }
}

export function encodeCtxTable(ids: ArrayLike<number>, offsets: Int32Array, inputIds: Int32Array, k: number, table: CtxTable): CtxCoded {
  checkShape(offsets, inputIds, ids.length, k);
  // code of an id in the row last filled: valid where stamp[id] == that row + 1. Refilling on a
  // change of row costs at most 254 writes, and needs no clearing.
  let size = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] >= size) size = ids[i] + 1;
  for (let i = 0; i < table.entries.length; i++) if (table.entries[i] >= size) size = table.entries[i] + 1;
  const codeOf = new Uint8Array(size);
  const stamp = new Int32Array(size);
  let filled = -1;
  const tokens = inputIds.length;
  const codes = new Uint8Array(ids.length);
  const used = new Uint8Array(k);
  const literals: number[] = [];
  const literalOffsets = new Int32Array(offsets.length);
  for (let s = 0; s + 1 < offsets.length; s++) {
    const end = offsets[s + 1];
    for (let t = offsets[s]; t < end; t++) {
      const next = t + 1 < end ? inputIds[t + 1] : -1;
      const row = rowOf(table, inputIds[t]);
      if (row >= 0 && row !== filled) {
        // Descending, so an id listed twice keeps its lowest code.
        for (let j = table.lengths[row] - 1; j >= 0; j--) {
          const e = table.entries[table.starts[row] + j];
          codeOf[e] = j + 1;
          stamp[e] = row + 1;
        }
        filled = row;
      }
      let nUsed = 0;
      for (let r = 0; r < k; r++) {
        const id = ids[t * k + r];
        let code = id === next ? CODE_NEXT : row >= 0 && stamp[id] === row + 1 ? codeOf[id] : CODE_ESCAPE;
        if (code !== CODE_NEXT && code !== CODE_ESCAPE) {
          // Entry position p = code among the entries lower ranks left: p minus those used below it.
          const p = code;
          let below = 0;
          while (below < nUsed && used[below] < p) below++;
          if (below < nUsed && used[below] === p) code = CODE_ESCAPE; // a repeated id: spelled out
          else {
            code = p - below;
            used.copyWithin(below + 1, below, nUsed);
            used[below] = p;
            nUsed++;
          }
        }
        if (code === CODE_ESCAPE) literals.push(id);
        codes[r * tokens + t] = code;
      }
    }
    literalOffsets[s + 1] = literals.length;
  }
  return { codes, literals: Uint32Array.from(literals), literalOffsets };
}

/** Inverse of encodeCtxTable; refuses codes that name nothing. */
export function decodeCtxTable<T extends Uint16Array | Uint32Array>(
  coded: CtxCoded, offsets: Int32Array, inputIds: Int32Array, k: number, table: CtxTable, vocabSize: number, out: T,
): T {
  const { codes, literals, literalOffsets } = coded;
  checkShape(offsets, inputIds, codes.length, k);
  if (out.length !== codes.length) throw new RangeError(`ctx-table: output holds ${out.length}, expected ${codes.length}`);
  if (literalOffsets.length !== offsets.length || literalOffsets[0] !== 0 || literalOffsets[literalOffsets.length - 1] !== literals.length) {
    throw new RangeError(`ctx-table: literal offsets do not cover the ${literals.length} literals of ${offsets.length - 1} samples`);
  }
  const tokens = inputIds.length;
  const used = new Uint8Array(k);
  for (let s = 0; s + 1 < offsets.length; s++) {
    const end = offsets[s + 1];
    let lit = literalOffsets[s];
    for (let t = offsets[s]; t < end; t++) {
      const row = rowOf(table, inputIds[t]);
      const len = row >= 0 ? table.lengths[row] : 0;
      const start = row >= 0 ? table.starts[row] : 0;
      let nUsed = 0;
      for (let r = 0; r < k; r++) {
        const c = codes[r * tokens + t];
        let id: number;
        if (c === CODE_NEXT) {
          if (t + 1 >= end) throw new RangeError(`ctx-table: token ${t} rank ${r} refers to the next input token, but it is the sample's last`);
          id = inputIds[t + 1];
        } else if (c === CODE_ESCAPE) {
          if (lit >= literalOffsets[s + 1]) throw new RangeError(`ctx-table: sample ${s} escapes more ids than its ${literalOffsets[s + 1] - literalOffsets[s]} literals`);
          id = literals[lit++];
        } else {
          // The c-th entry position not taken by a lower rank (used is ascending).
          let p = c;
          let i = 0;
          while (i < nUsed && used[i] <= p) { p++; i++; }
          if (p > len) throw new RangeError(`ctx-table: token ${t} rank ${r} has code ${c} (entry ${p}), but the table row of input token ${inputIds[t]} holds ${len} ids`);
          used.copyWithin(i + 1, i, nUsed);
          used[i] = p;
          nUsed++;
          id = table.entries[start + p - 1];
        }
        if (!(id < vocabSize)) throw new RangeError(`ctx-table: token ${t} rank ${r} decodes to id ${id}, outside the vocabulary of ${vocabSize}`);
        out[t * k + r] = id;
      }
    }
    if (lit !== literalOffsets[s + 1]) throw new RangeError(`ctx-table: sample ${s} leaves ${literalOffsets[s + 1] - lit} literals unused`);
  }
  return out;
}
