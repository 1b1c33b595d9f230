// The Arrow schema of a shard (unchanged from format 1 to 2). Column names and metadata keys are a contract
// with every reader, the Python client included: see docs/FORMAT.md.
import { Field, Float32, Int32, List, Schema, Uint32, Uint64 } from 'apache-arrow';
import { FormatVersionError } from './errors.js';
import { parseMajor } from './format-major.js';
import { FORMAT_MAJOR, formatVersionOf, type TopkLayout, type ValueEncoding, VALUE_ENCODINGS } from './types.js';
import { DEFAULT_Q8_SCALE, valueArrowType } from './values.js';
import { isPlaneEncoded, rankDeltaFromMeta, rankDeltaMeta, VALUE_PLANE_COLUMNS } from './encodings/value-planes.js';
import { perPositionType, raggedFromMeta, raggedMeta } from './ragged.js';
import { idColumnsOf, idEncodingFromMeta, idFields, idsMeta } from './encodings/id-columns.js';
import type { CtxTable } from './encodings/ctx-table.js';

export const META = {
  formatVersion: 'logit_cache.format_version',
  k: 'logit_cache.k',
  values: 'logit_cache.values',
  vocabSize: 'logit_cache.vocab_size',
  q8Scale: 'logit_cache.q8_scale',
  /** Id encoding (format 2.4, encodings/id-columns.ts); absent means the classic topk_ids column. */
  ids: 'logit_cache.ids',
  /** "1" when the shard has the topk_tail_logprob column (format 2.1). */
  tailMass: 'logit_cache.tail_mass',
  /** "1" in shared-prefix shards (format 2.5, docs/FORMAT.md §4.3). */
  sharedPrefixes: 'logit_cache.shared_prefixes',
} as const;

/** The per-sample columns of a shared-prefix shard, right after input_ids (format 2.5). */
export const PREFIX_COLUMNS = ['prefix_sample', 'prefix_len'] as const;
const prefixColumnsOf = (layout: TopkLayout): readonly string[] => (layout.sharedPrefixes ? PREFIX_COLUMNS : []);

export const TAIL_COLUMN = 'topk_tail_logprob';

export const COLUMNS = ['sample_id', 'input_ids', 'topk_ids', 'topk_logprobs'] as const;

/** A ctx-table layout's schema needs the shard's table; without it, it is a template (see ShardWriter). */
export function shardSchema(layout: TopkLayout, idTable?: CtxTable): Schema {
  const meta = new Map<string, string>([
    [META.formatVersion, formatVersionOf(layout)],
    [META.k, String(layout.k)],
    [META.values, layout.values],
    [META.vocabSize, String(layout.vocabSize)],
  ]);
  // An unset scale is the default one, written out so every reader agrees on it.
  if (layout.values === 'q8') meta.set(META.q8Scale, String(layout.q8Scale ?? DEFAULT_Q8_SCALE));
  if (isPlaneEncoded(layout)) for (const [key, v] of rankDeltaMeta(layout)) meta.set(key, v);
  // Byte-plane encodings store the values as several uint8 columns in place of topk_logprobs.
  const valueColumns = isPlaneEncoded(layout) ? VALUE_PLANE_COLUMNS : ['topk_logprobs'];
  if (layout.tailMass) meta.set(META.tailMass, '1');
  for (const [key, v] of raggedMeta(layout)) meta.set(key, v);
  for (const [key, v] of idsMeta(layout, idTable)) meta.set(key, v);
  if (layout.sharedPrefixes) meta.set(META.sharedPrefixes, '1');
  return new Schema(
    [
      new Field('sample_id', new Uint64(), false),
      new Field('input_ids', new List(new Field('item', new Int32(), false)), false),
      ...(layout.sharedPrefixes ? [new Field(PREFIX_COLUMNS[0], new Uint64(), false), new Field(PREFIX_COLUMNS[1], new Uint32(), false)] : []),
      // Per position: fixed_size_list<T, k>, or list<T> for ragged top-p layouts (format 2.3).
      ...idFields(layout),
      ...valueColumns.map((name) => new Field(
        name,
        new List(new Field('item', perPositionType(layout, valueArrowType(layout.values)), false)),
        false,
        new Map([[META.values, layout.values]]),
      )),
      // Last, so a reader that does not know it finds every other column where it was.
      ...(layout.tailMass ? [new Field(TAIL_COLUMN, new List(new Field('item', new Float32(), false)), false)] : []),
    ],
    meta,
  );
}

/** The columns a shard of this layout has, in order. */
export function columnsOf(layout: TopkLayout): readonly string[] {
  const base = ['sample_id', 'input_ids', ...prefixColumnsOf(layout), ...idColumnsOf(layout), ...(isPlaneEncoded(layout) ? VALUE_PLANE_COLUMNS : ['topk_logprobs'])];
  return layout.tailMass ? [...base, TAIL_COLUMN] : base;
}

/** Reads the layout back from a shard schema, refusing what this version cannot read. */
export function layoutFromSchema(schema: Schema, where: string): TopkLayout {
  const m = schema.metadata;
  const version = m.get(META.formatVersion);
  if (!version) throw new Error(`shard ${where}: schema has no ${META.formatVersion}; not a logit-cache shard`);
  checkShardVersion(version, where);
  const values = m.get(META.values) as ValueEncoding;
  if (!VALUE_ENCODINGS.includes(values)) throw new Error(`shard ${where}: unknown value encoding "${values}"`);
  const ids = idEncodingFromMeta(m, where);
  const layout: TopkLayout = { k: Number(m.get(META.k)), vocabSize: Number(m.get(META.vocabSize)), values };
  if (ids) layout.ids = ids;
  if (values === 'q8') layout.q8Scale = Number(m.get(META.q8Scale));
  if (isPlaneEncoded(layout)) Object.assign(layout, rankDeltaFromMeta(m, layout.k, where));
  const tail = m.get(META.tailMass);
  if (tail !== undefined && tail !== '1') throw new Error(`shard ${where}: ${META.tailMass} is "${tail}", expected "1"`);
  if (tail === '1') layout.tailMass = true;
  const shared = m.get(META.sharedPrefixes);
  if (shared !== undefined && shared !== '1') throw new Error(`shard ${where}: ${META.sharedPrefixes} is "${shared}", expected "1" (shared prefixes, format 2.5)`);
  if (shared === '1') layout.sharedPrefixes = true;
  const idsField = schema.fields.find((f) => f.name === 'topk_ids');
  if (idsField) Object.assign(layout, raggedFromMeta(m, layout.k, idsField.type, where));
  const names = schema.fields.map((f) => f.name);
  for (const c of columnsOf(layout)) if (!names.includes(c)) throw new Error(`shard ${where}: missing column ${c}; has ${names.join(', ')}`);
  // Every column this reader decodes must have exactly the type it expects, so a shape it does
  // not know (a later format's) is refused here, naming the column, not misread as buffers.
  for (const want of shardSchema(layout).fields) {
    const have = schema.fields.find((f) => f.name === want.name)!;
    if (String(have.type) !== String(want.type)) {
      throw new Error(`shard ${where}: column ${want.name} is ${have.type}; format ${formatVersionOf(layout)} with these settings stores ${want.type}`);
    }
  }
  return layout;
}

/** The layout of what GET /logits serves for a shared-prefix layout: the same settings, every position stored. */
export function servedLayout(layout: TopkLayout): TopkLayout {
  const { sharedPrefixes: _, ...rest } = layout;
  return rest;
}

/**
 * The schema of what GET /logits serves for a shared-prefix shard (docs/FORMAT.md §4.3): the
 * stored schema without the prefix columns and the shared_prefixes key, format_version the one
 * the other settings need, every other key and field as stored and in the same order (the
 * ctx-table table as stored, not re-made), so writer and readers derive the same bytes.
 */
export function resolvedSchemaOf(stored: Schema, layout: TopkLayout): Schema {
  const rest = servedLayout(layout);
  const meta = new Map<string, string>();
  for (const [key, v] of stored.metadata) {
    if (key === META.sharedPrefixes) continue;
    meta.set(key, key === META.formatVersion ? formatVersionOf(rest) : v);
  }
  return new Schema(stored.fields.filter((f) => !(PREFIX_COLUMNS as readonly string[]).includes(f.name)), meta);
}

/**
 * A shard's own schema says which layout wrote it. The record-batch layout is the same in 1.x
 * and 2.x (2.0 moved the per-batch table out of the manifest, not out of the shard), so a
 * migrated dataset's 1.0 shards read unchanged; a newer major is refused by name.
 */
export function checkShardVersion(version: string, where: string): void {
  const major = parseMajor(version, where);
  if (major > FORMAT_MAJOR) {
    throw new FormatVersionError(where, `format version ${version} is newer than this reader (reads ${FORMAT_MAJOR}.x); upgrade logit-cache`);
  }
}

export { parseMajor };
