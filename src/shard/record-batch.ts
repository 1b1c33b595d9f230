// TopkBatch typed arrays <-> Arrow record batches, without builders: each column is
// wrapped with makeData over the arrays we already hold (CONVENTIONS: Arrow JS).
import {
  type Data, type DataType, FixedSizeList, List, makeData, RecordBatch, type Schema, Struct, type Uint32, type Uint64,
} from 'apache-arrow';
import type { TopkBatch, TopkLayout } from './types.js';
import { decodeValues, encodeValues, type StoredValues } from './values.js';
import { indexTypeFor, isRagged } from './types.js';
import { countOffsets, countsOf, packKept, unpackKept } from './ragged.js';
import { PREFIX_COLUMNS, TAIL_COLUMN } from './schema.js';
import { type PrefixRefs, storedOffsets, suffixView } from './shared-prefix.js';
import { decodeValuePlanes, encodeValuePlanes, isPlaneEncoded, VALUE_PLANE_COLUMNS } from './encodings/value-planes.js';
import { CTX_COLUMNS, decodeCtxColumns, idChildren, idColumnsOf, idEncodingOf } from './encodings/id-columns.js';

function listOf(type: List, offsets: Int32Array, child: Data): Data {
  return makeData({ type, length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child });
}

/**
 * A batch as the record batch of `schema`. Shared-prefix layouts (format 2.5) take the sample
 * references: input_ids stay whole, every per-position column holds the suffix view.
 */
export function toRecordBatch(schema: Schema, layout: TopkLayout, full: TopkBatch, refs?: PrefixRefs): RecordBatch {
  if (layout.sharedPrefixes && !refs) throw new Error('a shared-prefix batch needs its prefix references');
  const shared = layout.sharedPrefixes ? refs! : null;
  // Per-position columns encode the stored positions, against their own input tokens (FORMAT §4.3).
  const batch = shared ? suffixView(full, shared, layout) : full;
  const n = batch.offsets.length - 1;
  const tokens = batch.inputIds.length;
  const idCount = idColumnsOf(layout).length;
  const [fSample, fInput] = schema.fields;
  const head = shared ? 4 : 2;
  const fIds = schema.fields.slice(head, head + idCount);
  const rest = schema.fields.slice(head + idCount);
  const fTail = layout.tailMass ? rest[rest.length - 1] : null;
  const fValues = fTail ? rest.slice(0, -1) : rest;
  const sampleIds = new BigUint64Array(n);
  for (let i = 0; i < n; i++) sampleIds[i] = BigInt(batch.sampleIds[i]);

  // One values column, or one per byte plane of a plane encoding: same type, same layout.
  const valueColumns: StoredValues[] = isPlaneEncoded(layout) ? encodeValuePlanes(batch.topkLogprobs, layout) : [encodeValues(batch.topkLogprobs, layout)];
  if (valueColumns.length !== fValues.length) throw new Error(`schema has ${fValues.length} value columns, encoding gives ${valueColumns.length}`);
  const perPosition = positionsOf(layout, batch, tokens);

  // Each list column gets its own offsets array: apache-arrow's writer collapses chunks that
  // alias the same bytes, which silently drops a buffer when empty lists make them adjacent.
  const children = [
    makeData({ type: fSample.type as Uint64, length: n, nullCount: 0, data: sampleIds }),
    listOf(fInput.type as List, full.offsets.slice(),
      makeData({ type: (fInput.type as List).children[0].type, length: full.inputIds.length, nullCount: 0, data: full.inputIds })),
    ...(shared ? prefixChildren(schema, shared, n) : []),
    // ctx-table codes (fixed k only) come from their encoder; plain ids may be ragged.
    ...(idEncodingOf(layout) === 'ctx-table' ? idChildren(fIds, schema, layout, batch) : [plainIds(fIds[0].type as List, layout, batch, perPosition)]),
    ...valueColumns.map((stored, i) => {
      const lpType = fValues[i].type as List;
      return listOf(lpType, batch.offsets.slice(), perPosition(lpType.children[0].type, stored));
    }),
  ];
  if (fTail) {
    const tailType = fTail.type as List;
    children.push(listOf(tailType, batch.offsets.slice(),
      makeData({ type: tailType.children[0].type, length: tokens, nullCount: 0, data: batch.tailLogprobs! })));
  }
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return new RecordBatch(schema, struct);
}

/** prefix_sample (uint64) and prefix_len (uint32), fields 2 and 3 of a shared-prefix schema. */
function prefixChildren(schema: Schema, refs: PrefixRefs, n: number): Data[] {
  const owners = new BigUint64Array(n);
  for (let i = 0; i < n; i++) owners[i] = BigInt(refs.sample[i]);
  return [
    makeData({ type: schema.fields[2].type as Uint64, length: n, nullCount: 0, data: owners }),
    makeData({ type: schema.fields[3].type as Uint32, length: n, nullCount: 0, data: Uint32Array.from(refs.len.subarray(0, n)) }),
  ];
}

/**
 * Builds the per-position child of a top-k column from its fixed-stride [tokens × k] array:
 * a fixed_size_list<T, k>, or (ragged top-p layouts) a list<T> of each position's kept entries.
 */
function positionsOf(layout: TopkLayout, batch: TopkBatch, tokens: number): (type: DataType, padded: StoredValues | Uint32Array) => Data {
  if (!isRagged(layout)) {
    return (type, padded) => makeData({
      type: type as FixedSizeList, length: tokens, nullCount: 0,
      child: makeData({ type: type.children[0].type, length: padded.length, nullCount: 0, data: padded }),
    });
  }
  const counts = batch.topkCounts;
  if (!counts || counts.length !== tokens) throw new Error(`ragged top-p batch has ${counts?.length ?? 'no'} kept counts, expected one per token (${tokens})`);
  const inner = countOffsets(counts);
  return (type, padded) => makeData({
    type: type as List, length: tokens, nullCount: 0, valueOffsets: inner.slice(),
    child: makeData({ type: type.children[0].type, length: inner[tokens], nullCount: 0, data: packKept(padded, counts, inner, layout.k) }),
  });
}

function toUint16(a: TopkBatch['topkIds']): Uint16Array {
  if (a instanceof Uint16Array) return a;
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

function toUint32(a: TopkBatch['topkIds']): Uint32Array {
  if (a instanceof Uint32Array) return a;
  const out = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

function plainIds(type: List, layout: TopkLayout, batch: TopkBatch, perPosition: ReturnType<typeof positionsOf>): Data {
  const ids = indexTypeFor(layout.vocabSize) === 'uint16' ? toUint16(batch.topkIds) : toUint32(batch.topkIds);
  return listOf(type, batch.offsets.slice(), perPosition(type.children[0].type, ids));
}

/** Offsets of a list column, rebased to start at 0 (views when already 0-based). */
function listParts(data: Data): { offsets: Int32Array; child: Data } {
  const raw = data.valueOffsets as Int32Array;
  const offsets = raw.subarray(data.offset, data.offset + data.length + 1);
  return { offsets, child: data.children[0] };
}

function childValues<T extends ArrayLike<number>>(data: Data, width: number, start: number, count: number): T {
  const values = data.values as unknown as T & { subarray(a: number, b: number): T };
  const base = data.offset + start * width;
  return values.subarray(base, base + count * width);
}

type Column = (name: string) => Data;

/** The sample ids and whole input_ids of a record batch (offsets rebased to 0). */
function inputsOf(rb: RecordBatch, col: Column, where: string): Pick<TopkBatch, 'sampleIds' | 'offsets' | 'inputIds'> {
  const n = rb.numRows;
  const sample = col('sample_id');
  const input = listParts(col('input_ids'));
  const first = input.offsets[0];
  const tokens = input.offsets[n] - first;
  const offsets = first === 0 ? input.offsets : input.offsets.map((o) => o - first);
  const inputIds = childValues<Int32Array>(input.child, 1, first, tokens);
  if (inputIds.length !== tokens) throw new Error(`${where}: input_ids holds ${inputIds.length} tokens; expected ${tokens}`);
  const sampleIds = new Float64Array(n);
  const sv = sample.values as BigUint64Array;
  for (let i = 0; i < n; i++) sampleIds[i] = Number(sv[sample.offset + i]);
  return { sampleIds, offsets, inputIds };
}

const columnsOfBatch = (rb: RecordBatch, where: string): Column => (name) => {
  const v = rb.getChild(name);
  if (!v || v.data.length !== 1) throw new Error(`${where}: column ${name} missing or split`);
  return v.data[0];
};

/** Decodes one record batch back to typed arrays, rechecking every length invariant. */
export function fromRecordBatch(rb: RecordBatch, layout: TopkLayout, where: string): TopkBatch {
  if (layout.sharedPrefixes) throw new Error(`${where}: a shared-prefix batch decodes with fromStoredRecordBatch and is resolved against its owners`);
  const col = columnsOfBatch(rb, where);
  const inputs = inputsOf(rb, col, where);
  return { ...inputs, ...storedPositions(rb, col, layout, inputs.offsets, inputs.inputIds, where) };
}

/** A shared-prefix record batch decoded (format 2.5): whole inputs, the references, and the stored positions. */
export interface StoredBatch {
  full: Pick<TopkBatch, 'sampleIds' | 'offsets' | 'inputIds'>;
  refs: PrefixRefs;
  /** The stored positions as a batch of the suffix view: offsets over stored positions, inputs input_ids[L:]. */
  view: TopkBatch;
}

/**
 * Decodes a shared-prefix record batch: each prefix_len checked against its sample's length
 * (FORMAT §4.3 rule 2), then every per-position column against the suffix view.
 */
export function fromStoredRecordBatch(rb: RecordBatch, layout: TopkLayout, where: string): StoredBatch {
  const col = columnsOfBatch(rb, where);
  const full = inputsOf(rb, col, where);
  const n = rb.numRows;
  const ps = col(PREFIX_COLUMNS[0]), pl = col(PREFIX_COLUMNS[1]);
  const psv = ps.values as BigUint64Array, plv = pl.values as Uint32Array;
  const refs: PrefixRefs = { sample: new Float64Array(n), len: new Int32Array(n) };
  for (let i = 0; i < n; i++) {
    const len = plv[pl.offset + i], have = full.offsets[i + 1] - full.offsets[i];
    if (len > have) throw new Error(`${where}: sample ${full.sampleIds[i]} has ${PREFIX_COLUMNS[1]} ${len}, longer than its ${have} input_ids`);
    refs.len[i] = len;
    refs.sample[i] = Number(psv[ps.offset + i]);
  }
  const offsets = storedOffsets(full.offsets, refs);
  // The input tokens of the stored positions: what ctx-table codes decode against.
  const inputIds = new Int32Array(offsets[n]);
  for (let i = 0; i < n; i++) inputIds.set(full.inputIds.subarray(full.offsets[i] + refs.len[i], full.offsets[i + 1]), offsets[i]);
  return { full, refs, view: { sampleIds: full.sampleIds, offsets, inputIds, ...storedPositions(rb, col, layout, offsets, inputIds, where) } };
}

/** The per-position columns of a record batch, checked against `offsets` (one list per sample). */
function storedPositions(rb: RecordBatch, col: Column, layout: TopkLayout, offsets: Int32Array, inputIds: Int32Array, where: string): Omit<TopkBatch, 'sampleIds' | 'offsets' | 'inputIds'> {
  const n = offsets.length - 1;
  const tokens = offsets[n];
  const ctx = idEncodingOf(layout) === 'ctx-table';
  const idsName = ctx ? CTX_COLUMNS[0] : 'topk_ids';
  const idsList = listParts(col(idsName));
  const valueNames: readonly string[] = isPlaneEncoded(layout) ? VALUE_PLANE_COLUMNS : ['topk_logprobs'];
  const lpLists = valueNames.map((name) => listParts(col(name)));
  const expected = layout.sharedPrefixes ? 'input_ids length minus prefix_len' : 'input_ids length';
  for (const [name, parts] of [[idsName, idsList] as const, ...valueNames.map((v, i) => [v, lpLists[i]] as const)]) {
    for (let i = 0; i <= n; i++) {
      if (parts.offsets[i] - parts.offsets[0] !== offsets[i]) throw new Error(`${where}: ${name} of row ${i} does not match ${expected}`);
    }
  }
  const { topkIds: stored, topkLogprobs, topkCounts } = isRagged(layout)
    ? raggedTopk(idsList, lpLists, valueNames, layout, tokens, where)
    : fixedTopk(idsList, lpLists, layout, tokens, where);
  // ctx-table (fixed k only): the fixed list holds one-byte codes, resolved against the shard's table.
  const topkIds = ctx ? ctxIds(rb, layout, stored as unknown as Uint8Array, offsets, inputIds, col(CTX_COLUMNS[1]), where) : stored;
  const out: Omit<TopkBatch, 'sampleIds' | 'offsets' | 'inputIds'> = { topkIds, topkLogprobs, ...(topkCounts ? { topkCounts } : {}) };
  if (!layout.tailMass) return out;
  const tail = listParts(col(TAIL_COLUMN));
  for (let i = 0; i <= n; i++) {
    if (tail.offsets[i] - tail.offsets[0] !== offsets[i]) throw new Error(`${where}: ${TAIL_COLUMN} of row ${i} does not match ${expected}`);
  }
  const tailLogprobs = childValues<Float32Array>(tail.child, 1, tail.offsets[0], tokens);
  if (tailLogprobs.length !== tokens) throw new Error(`${where}: ${TAIL_COLUMN} holds ${tailLogprobs.length} values; expected ${tokens}`);
  out.tailLogprobs = tailLogprobs;
  return out;
}

type ListParts = ReturnType<typeof listParts>;
type TopkArrays = Pick<TopkBatch, 'topkIds' | 'topkLogprobs' | 'topkCounts'>;

/** list<fixed_size_list<T, k>> columns: views of [tokens × k] values, decoded. */
function fixedTopk(idsList: ListParts, lpLists: ListParts[], layout: TopkLayout, tokens: number, where: string): TopkArrays {
  const k = layout.k;
  const idsFixed = idsList.child;
  const topkIds = childValues<Uint16Array | Uint32Array>(idsFixed.children[0], k, idsFixed.offset + idsList.offsets[0], tokens);
  const stored = lpLists.map((lpList) => {
    const lpFixed = lpList.child;
    return childValues<StoredValues>(lpFixed.children[0], k, lpFixed.offset + lpList.offsets[0], tokens);
  });
  for (const s of stored) {
    if (topkIds.length !== tokens * k || s.length !== tokens * k) {
      throw new Error(`${where}: buffers hold ${topkIds.length} ids, ${s.length} values; expected ${tokens * k} (${tokens} tokens x k=${k})`);
    }
  }
  const topkLogprobs = isPlaneEncoded(layout) ? decodeValuePlanes(stored as Uint8Array[], layout, where) : decodeValues(stored[0], layout);
  return { topkIds, topkLogprobs };
}

/**
 * list<list<T>> columns (ragged top-p, format 2.3): every top-k column must keep the same
 * count per position, in [minK, k]; the kept entries are spread back to the k stride with the
 * readers' padding (id 0, log-prob -Infinity) so every consumer sees fixed-stride arrays.
 */
function raggedTopk(idsList: ListParts, lpLists: ListParts[], valueNames: readonly string[], layout: TopkLayout, tokens: number, where: string): TopkArrays {
  const k = layout.k;
  const inner = (parts: ListParts, name: string): { offsets: Int32Array; leaf: Data; start: number } => {
    const positions = parts.child;
    if (!(positions.type instanceof List)) throw new Error(`${where}: ${name} is list<${positions.type}>, ragged top-p lists need list<list<…>>`);
    const start = positions.offset + parts.offsets[0];
    const raw = (positions.valueOffsets as Int32Array).subarray(start, start + tokens + 1);
    const offsets = raw[0] === 0 ? raw : raw.map((o) => o - raw[0]);
    if (raw.length !== tokens + 1) throw new Error(`${where}: ${name} has ${raw.length - 1} positions; expected ${tokens}`);
    const leaf = positions.children[0];
    if (leaf.length < raw[tokens]) throw new Error(`${where}: ${name} lists end at ${raw[tokens]} but hold ${leaf.length} values`);
    // Not Data.slice: it narrows the buffer and moves the offset, which childValues adds again.
    return { offsets, leaf, start: raw[0] };
  };
  const ids = inner(idsList, 'topk_ids');
  const topkCounts = countsOf(ids.offsets, layout, 'topk_ids', where);
  const values = lpLists.map((parts, i) => {
    const v = inner(parts, valueNames[i]);
    for (let t = 0; t <= tokens; t++) {
      if (v.offsets[t] !== ids.offsets[t]) throw new Error(`${where}: ${valueNames[i]} keeps another count than topk_ids at position ${t > 0 ? t - 1 : 0}`);
    }
    return childValues<StoredValues>(v.leaf, 1, v.start, ids.offsets[tokens]);
  });
  const idLeaf = childValues<Uint16Array | Uint32Array>(ids.leaf, 1, ids.start, ids.offsets[tokens]);
  const topkIds = unpackKept(idLeaf, ids.offsets, k, new (idLeaf.constructor as Uint16ArrayConstructor)(tokens * k), 0);
  let topkLogprobs: Float32Array;
  if (isPlaneEncoded(layout)) {
    // Rank deltas depend only on earlier ranks, so zero deltas in the padding decode the kept
    // ranks exactly; the padding is then overwritten.
    const planes = values.map((p) => unpackKept(p, ids.offsets, k, new Uint8Array(tokens * k), 0));
    topkLogprobs = decodeValuePlanes(planes, layout, where);
    for (let t = 0; t < tokens; t++) topkLogprobs.fill(-Infinity, t * k + topkCounts[t], t * k + k);
  } else {
    topkLogprobs = unpackKept(decodeValues(values[0], layout), ids.offsets, k, new Float32Array(tokens * k), -Infinity);
  }
  return { topkIds, topkLogprobs, topkCounts };
}

/** ctx-table ids: the literal list column (one list per sample) and the codes, resolved against the shard's table. */
function ctxIds(rb: RecordBatch, layout: TopkLayout, codes: Uint8Array, offsets: Int32Array, inputIds: Int32Array, litData: Data, where: string): Uint16Array | Uint32Array {
  const lit = listParts(litData);
  const n = offsets.length - 1;
  const litOffsets = lit.offsets[0] === 0 ? lit.offsets : lit.offsets.map((o) => o - lit.offsets[0]);
  if (litOffsets.length !== n + 1) throw new Error(`${where}: ${CTX_COLUMNS[1]} has ${litOffsets.length - 1} rows, expected ${n}`);
  const literals = childValues<Uint16Array | Uint32Array>(lit.child, 1, lit.offsets[0], litOffsets[n]);
  if (literals.length !== litOffsets[n]) throw new Error(`${where}: ${CTX_COLUMNS[1]} holds ${literals.length} ids, its offsets say ${litOffsets[n]}`);
  return decodeCtxColumns(rb.schema, layout, codes, literals, litOffsets, offsets, inputIds, where);
}
