// TopkBatch typed arrays <-> Arrow record batches, without builders: each column is
// wrapped with makeData over the arrays we already hold (CONVENTIONS: Arrow JS).
import {
  type Data, FixedSizeList, List, makeData, RecordBatch, type Schema, Struct, type Uint64,
} from 'apache-arrow';
import type { TopkBatch, TopkLayout } from './types.js';
import { decodeValues, encodeValues, type StoredValues } from './values.js';
import { TAIL_COLUMN } from './schema.js';
import { decodeValuePlanes, encodeValuePlanes, isPlaneEncoded, VALUE_PLANE_COLUMNS } from './encodings/value-planes.js';
import { CTX_COLUMNS, decodeCtxColumns, idChildren, idColumnsOf, idEncodingOf } from './encodings/id-columns.js';

function listOf(type: List, offsets: Int32Array, child: Data): Data {
  return makeData({ type, length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child });
}

export function toRecordBatch(schema: Schema, layout: TopkLayout, batch: TopkBatch): RecordBatch {
  const n = batch.offsets.length - 1;
  const tokens = batch.inputIds.length;
  const idCount = idColumnsOf(layout).length;
  const [fSample, fInput] = schema.fields;
  const fIds = schema.fields.slice(2, 2 + idCount);
  const rest = schema.fields.slice(2 + idCount);
  const fTail = layout.tailMass ? rest[rest.length - 1] : null;
  const fValues = fTail ? rest.slice(0, -1) : rest;
  const sampleIds = new BigUint64Array(n);
  for (let i = 0; i < n; i++) sampleIds[i] = BigInt(batch.sampleIds[i]);

  // One values column, or one per byte plane of a plane encoding: same type, same layout.
  const valueColumns: StoredValues[] = isPlaneEncoded(layout) ? encodeValuePlanes(batch.topkLogprobs, layout) : [encodeValues(batch.topkLogprobs, layout)];
  if (valueColumns.length !== fValues.length) throw new Error(`schema has ${fValues.length} value columns, encoding gives ${valueColumns.length}`);

  // Each list column gets its own offsets array: apache-arrow's writer collapses chunks that
  // alias the same bytes, which silently drops a buffer when empty lists make them adjacent.
  const children = [
    makeData({ type: fSample.type as Uint64, length: n, nullCount: 0, data: sampleIds }),
    listOf(fInput.type as List, batch.offsets,
      makeData({ type: (fInput.type as List).children[0].type, length: tokens, nullCount: 0, data: batch.inputIds })),
    ...idChildren(fIds, schema, layout, batch),
    ...valueColumns.map((stored, i) => {
      const lpType = fValues[i].type as List<FixedSizeList>;
      const lpFixed = lpType.children[0].type as FixedSizeList;
      return listOf(lpType, batch.offsets.slice(), makeData({
        type: lpFixed, length: tokens, nullCount: 0,
        child: makeData({ type: lpFixed.children[0].type, length: stored.length, nullCount: 0, data: stored }),
      }));
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
  const ctx = idEncodingOf(layout) === 'ctx-table';
  const idsList = listParts(col(ctx ? CTX_COLUMNS[0] : 'topk_ids'));
  const valueNames: readonly string[] = isPlaneEncoded(layout) ? VALUE_PLANE_COLUMNS : ['topk_logprobs'];
  const lpLists = valueNames.map((name) => listParts(col(name)));
  const first = input.offsets[0];
  const tokens = input.offsets[n] - first;
  for (const [name, parts] of [[ctx ? CTX_COLUMNS[0] : 'topk_ids', idsList] as const, ...valueNames.map((v, i) => [v, lpLists[i]] as const)]) {
    for (let i = 0; i <= n; i++) {
      if (parts.offsets[i] - parts.offsets[0] !== input.offsets[i] - first) {
        throw new Error(`${where}: ${name} of row ${i} does not match input_ids length`);
      }
    }
  }
  const k = layout.k;
  const offsets = first === 0 ? input.offsets : input.offsets.map((o) => o - first);
  const inputIds = childValues<Int32Array>(input.child, 1, first, tokens);
  const idsFixed = idsList.child;
  const idValues = childValues<Uint8Array | Uint16Array | Uint32Array>(idsFixed.children[0], k, idsFixed.offset + idsList.offsets[0], tokens);
  const stored = lpLists.map((lpList) => {
    const lpFixed = lpList.child;
    return childValues<StoredValues>(lpFixed.children[0], k, lpFixed.offset + lpList.offsets[0], tokens);
  });
  const sampleIds = new Float64Array(n);
  const sv = sample.values as BigUint64Array;
  for (let i = 0; i < n; i++) sampleIds[i] = Number(sv[sample.offset + i]);
  for (const s of stored) {
    if (inputIds.length !== tokens || idValues.length !== tokens * k || s.length !== tokens * k) {
      throw new Error(`${where}: buffers hold ${inputIds.length} tokens, ${idValues.length} ids, ${s.length} values; expected ${tokens}, ${tokens * k}`);
    }
  }
  const topkIds = ctx ? ctxIds(rb, layout, idValues as Uint8Array, offsets, inputIds, col(CTX_COLUMNS[1]), where) : idValues as Uint16Array | Uint32Array;
  const topkLogprobs = isPlaneEncoded(layout) ? decodeValuePlanes(stored as Uint8Array[], layout, where) : decodeValues(stored[0], layout);
  if (!layout.tailMass) return { sampleIds, offsets, inputIds, topkIds, topkLogprobs };
  const tail = listParts(col(TAIL_COLUMN));
  for (let i = 0; i <= n; i++) {
    if (tail.offsets[i] - tail.offsets[0] !== input.offsets[i] - first) throw new Error(`${where}: ${TAIL_COLUMN} of row ${i} does not match input_ids length`);
  }
  const tailLogprobs = childValues<Float32Array>(tail.child, 1, tail.offsets[0], tokens);
  if (tailLogprobs.length !== tokens) throw new Error(`${where}: ${TAIL_COLUMN} holds ${tailLogprobs.length} values; expected ${tokens}`);
  return { sampleIds, offsets, inputIds, topkIds, topkLogprobs, tailLogprobs };
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
