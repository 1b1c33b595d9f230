// TopkBatch typed arrays <-> Arrow record batches, without builders: each column is
// wrapped with makeData over the arrays we already hold (CONVENTIONS: Arrow JS).
import {
  type Data, type DataType, FixedSizeList, List, makeData, RecordBatch, type Schema, Struct, type Uint64,
} from 'apache-arrow';
import type { TopkBatch, TopkLayout } from './types.js';
import { decodeValues, encodeValues, type StoredValues } from './values.js';
import { indexTypeFor, isRagged } from './types.js';
import { countOffsets, countsOf, packKept, unpackKept } from './ragged.js';
import { TAIL_COLUMN } from './schema.js';
import { decodeValuePlanes, encodeValuePlanes, isPlaneEncoded, VALUE_PLANE_COLUMNS } from './encodings/value-planes.js';

function listOf(type: List, offsets: Int32Array, child: Data): Data {
  return makeData({ type, length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child });
}

export function toRecordBatch(schema: Schema, layout: TopkLayout, batch: TopkBatch): RecordBatch {
  const n = batch.offsets.length - 1;
  const tokens = batch.inputIds.length;
  const [fSample, fInput, fIds, ...rest] = schema.fields;
  const fTail = layout.tailMass ? rest[rest.length - 1] : null;
  const fValues = fTail ? rest.slice(0, -1) : rest;
  const sampleIds = new BigUint64Array(n);
  for (let i = 0; i < n; i++) sampleIds[i] = BigInt(batch.sampleIds[i]);

  const idsType = fIds.type as List;
  const ids = indexTypeFor(layout.vocabSize) === 'uint16' ? toUint16(batch.topkIds) : toUint32(batch.topkIds);
  // One values column, or one per byte plane of a plane encoding: same type, same layout.
  const valueColumns: StoredValues[] = isPlaneEncoded(layout) ? encodeValuePlanes(batch.topkLogprobs, layout) : [encodeValues(batch.topkLogprobs, layout)];
  if (valueColumns.length !== fValues.length) throw new Error(`schema has ${fValues.length} value columns, encoding gives ${valueColumns.length}`);
  const perPosition = positionsOf(layout, batch, tokens);

  // Each list column gets its own offsets array: apache-arrow's writer collapses chunks that
  // alias the same bytes, which silently drops a buffer when empty lists make them adjacent.
  const children = [
    makeData({ type: fSample.type as Uint64, length: n, nullCount: 0, data: sampleIds }),
    listOf(fInput.type as List, batch.offsets,
      makeData({ type: (fInput.type as List).children[0].type, length: tokens, nullCount: 0, data: batch.inputIds })),
    listOf(idsType, batch.offsets.slice(), perPosition(idsType.children[0].type, ids)),
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

/** Decodes one record batch back to typed arrays, rechecking every length invariant. */
export function fromRecordBatch(rb: RecordBatch, layout: TopkLayout, where: string): TopkBatch {
  const n = rb.numRows;
  const col = (name: string): Data => {
    const v = rb.getChild(name);
    if (!v || v.data.length !== 1) throw new Error(`${where}: column ${name} missing or split`);
    return v.data[0];
  };
  const sample = col('sample_id');
  const input = listParts(col('input_ids'));
  const idsList = listParts(col('topk_ids'));
  const valueNames: readonly string[] = isPlaneEncoded(layout) ? VALUE_PLANE_COLUMNS : ['topk_logprobs'];
  const lpLists = valueNames.map((name) => listParts(col(name)));
  const first = input.offsets[0];
  const tokens = input.offsets[n] - first;
  for (const [name, parts] of [['topk_ids', idsList] as const, ...valueNames.map((v, i) => [v, lpLists[i]] as const)]) {
    for (let i = 0; i <= n; i++) {
      if (parts.offsets[i] - parts.offsets[0] !== input.offsets[i] - first) {
        throw new Error(`${where}: ${name} of row ${i} does not match input_ids length`);
      }
    }
  }
  const k = layout.k;
  const offsets = first === 0 ? input.offsets : input.offsets.map((o) => o - first);
  const inputIds = childValues<Int32Array>(input.child, 1, first, tokens);
  const sampleIds = new Float64Array(n);
  const sv = sample.values as BigUint64Array;
  for (let i = 0; i < n; i++) sampleIds[i] = Number(sv[sample.offset + i]);
  if (inputIds.length !== tokens) throw new Error(`${where}: input_ids holds ${inputIds.length} tokens; expected ${tokens}`);
  const { topkIds, topkLogprobs, topkCounts } = isRagged(layout)
    ? raggedTopk(idsList, lpLists, valueNames, layout, tokens, where)
    : fixedTopk(idsList, lpLists, layout, tokens, where);
  const out: TopkBatch = { sampleIds, offsets, inputIds, topkIds, topkLogprobs, ...(topkCounts ? { topkCounts } : {}) };
  if (!layout.tailMass) return out;
  const tail = listParts(col(TAIL_COLUMN));
  for (let i = 0; i <= n; i++) {
    if (tail.offsets[i] - tail.offsets[0] !== input.offsets[i] - first) throw new Error(`${where}: ${TAIL_COLUMN} of row ${i} does not match input_ids length`);
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
