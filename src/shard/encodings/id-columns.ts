// How the id encodings appear in a shard: the columns in place of `topk_ids`, the schema
// metadata that carries the per-shard table, and batch <-> columns (docs/FORMAT.md §4.2).
// Kept here so schema.ts and record-batch.ts only dispatch.
import { type Data, Field, FixedSizeList, List, makeData, type Schema, Uint16, Uint32, Uint8 } from 'apache-arrow';
import { ID_ENCODINGS, type IdEncoding, indexTypeFor, type TopkBatch, type TopkLayout } from '../types.js';
import { perPositionType } from '../ragged.js';
import { buildCtxTable, cachedCtxTable, type CtxTable, ctxTableToMeta, decodeCtxTable, encodeCtxTable } from './ctx-table.js';

export const IDS_META = { ids: 'logit_cache.ids', table: 'logit_cache.ids_table', tableSize: 'logit_cache.ids_table_size' } as const;
export const CTX_COLUMNS = ['topk_id_codes', 'topk_id_literals'] as const;

export const idEncodingOf = (layout: TopkLayout): IdEncoding => layout.ids ?? 'plain';

/** The id columns of a layout, in schema order. */
export const idColumnsOf = (layout: TopkLayout): readonly string[] => (idEncodingOf(layout) === 'ctx-table' ? CTX_COLUMNS : ['topk_ids']);

/** Reads logit_cache.ids from schema metadata; refuses an encoding this reader does not know, by name. */
export function idEncodingFromMeta(meta: Map<string, string>, where: string): IdEncoding | undefined {
  const ids = meta.get(IDS_META.ids);
  if (ids === undefined) return undefined;
  if (!(ID_ENCODINGS as readonly string[]).includes(ids)) throw new Error(`shard ${where}: unknown id encoding "${ids}"`);
  return ids === 'plain' ? undefined : (ids as IdEncoding);
}

/** Schema metadata of the id encoding; a ctx-table schema without its table is a template (see ShardWriter). */
export function idsMeta(layout: TopkLayout, table?: CtxTable): [string, string][] {
  if (idEncodingOf(layout) !== 'ctx-table') return [];
  const out: [string, string][] = [[IDS_META.ids, 'ctx-table']];
  if (table) {
    const m = ctxTableToMeta(table);
    out.push([IDS_META.table, m.table], [IDS_META.tableSize, String(m.size)]);
  }
  return out;
}

/** The table a ctx-table shard's schema carries (parsed once per distinct schema). */
export function ctxTableOf(schema: Schema, layout: TopkLayout, where: string): CtxTable {
  const table = schema.metadata.get(IDS_META.table);
  const size = Number(schema.metadata.get(IDS_META.tableSize));
  if (table === undefined) throw new Error(`${where}: ctx-table shard without ${IDS_META.table}`);
  return cachedCtxTable(table, size, layout.vocabSize, where);
}

/** The table the writer builds from a shard's first batch. */
export const ctxTableFor = (batch: TopkBatch, layout: TopkLayout): CtxTable => buildCtxTable(batch.topkIds, batch.inputIds, layout.k);

function indexArrowType(layout: TopkLayout): Uint16 | Uint32 {
  return indexTypeFor(layout.vocabSize) === 'uint16' ? new Uint16() : new Uint32();
}

export function idFields(layout: TopkLayout): Field[] {
  if (idEncodingOf(layout) !== 'ctx-table') {
    return [new Field('topk_ids', new List(new Field('item', perPositionType(layout, indexArrowType(layout)), false)), false)];
  }
  const fieldMeta = new Map([[IDS_META.ids, 'ctx-table']]);
  return [
    new Field(CTX_COLUMNS[0], new List(new Field('item', new FixedSizeList(layout.k, new Field('item', new Uint8(), false)), false)), false, fieldMeta),
    new Field(CTX_COLUMNS[1], new List(new Field('item', indexArrowType(layout), false)), false, fieldMeta),
  ];
}

function listOf(type: List, offsets: Int32Array, child: Data): Data {
  return makeData({ type, length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child });
}

function narrow(a: ArrayLike<number>, layout: TopkLayout): Uint16Array | Uint32Array {
  const wide = indexTypeFor(layout.vocabSize) === 'uint32';
  if (wide ? a instanceof Uint32Array : a instanceof Uint16Array) return a as Uint16Array | Uint32Array;
  return wide ? Uint32Array.from(a) : Uint16Array.from(a);
}

/** The id columns' data for one batch; `fields` are the schema's id fields. */
export function idChildren(fields: Field[], schema: Schema, layout: TopkLayout, batch: TopkBatch): Data[] {
  const fixedChild = (f: Field, data: Uint8Array | Uint16Array | Uint32Array, offsets: Int32Array): Data => {
    const type = f.type as List<FixedSizeList>;
    const fixed = type.children[0].type as FixedSizeList;
    return listOf(type, offsets, makeData({
      type: fixed, length: batch.inputIds.length, nullCount: 0,
      child: makeData({ type: fixed.children[0].type, length: data.length, nullCount: 0, data }),
    }));
  };
  if (idEncodingOf(layout) !== 'ctx-table') return [fixedChild(fields[0], narrow(batch.topkIds, layout), batch.offsets.slice())];
  const coded = encodeCtxTable(batch.topkIds, batch.offsets, batch.inputIds, layout.k, ctxTableOf(schema, layout, 'write'));
  const litType = fields[1].type as List;
  const literals = narrow(coded.literals, layout);
  return [
    fixedChild(fields[0], coded.codes, batch.offsets.slice()),
    listOf(litType, coded.literalOffsets, makeData({ type: litType.children[0].type, length: literals.length, nullCount: 0, data: literals })),
  ];
}

/** Ids [tokens * k] of a ctx-table batch from its two columns (already length-checked against input_ids). */
export function decodeCtxColumns(
  schema: Schema, layout: TopkLayout, codes: Uint8Array, literals: Uint16Array | Uint32Array, literalOffsets: Int32Array,
  offsets: Int32Array, inputIds: Int32Array, where: string,
): Uint16Array | Uint32Array {
  const table = ctxTableOf(schema, layout, where);
  const out = indexTypeFor(layout.vocabSize) === 'uint16' ? new Uint16Array(codes.length) : new Uint32Array(codes.length);
  try {
    return decodeCtxTable({ codes, literals: literals instanceof Uint32Array ? literals : Uint32Array.from(literals), literalOffsets }, offsets, inputIds, layout.k, table, layout.vocabSize, out);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}
