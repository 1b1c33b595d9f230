// The Arrow schema of a shard (format v1). Column names and metadata keys are a contract
// with every reader, the Python client included: see docs/FORMAT.md.
import { Field, FixedSizeList, Int32, List, Schema, Uint16, Uint32, Uint64 } from 'apache-arrow';
import { FORMAT_VERSION, indexTypeFor, type TopkLayout, type ValueEncoding, VALUE_ENCODINGS } from './types.js';
import { valueArrowType } from './values.js';

export const META = {
  formatVersion: 'logit_cache.format_version',
  k: 'logit_cache.k',
  values: 'logit_cache.values',
  vocabSize: 'logit_cache.vocab_size',
  q8Scale: 'logit_cache.q8_scale',
} as const;

export const COLUMNS = ['sample_id', 'input_ids', 'topk_ids', 'topk_logprobs'] as const;

export function shardSchema(layout: TopkLayout): Schema {
  const indexType = indexTypeFor(layout.vocabSize) === 'uint16' ? new Uint16() : new Uint32();
  const valueField = new Field('item', valueArrowType(layout.values), false);
  const meta = new Map<string, string>([
    [META.formatVersion, FORMAT_VERSION],
    [META.k, String(layout.k)],
    [META.values, layout.values],
    [META.vocabSize, String(layout.vocabSize)],
  ]);
  if (layout.values === 'q8') meta.set(META.q8Scale, String(layout.q8Scale));
  return new Schema(
    [
      new Field('sample_id', new Uint64(), false),
      new Field('input_ids', new List(new Field('item', new Int32(), false)), false),
      new Field('topk_ids', new List(new Field('item', new FixedSizeList(layout.k, new Field('item', indexType, false)), false)), false),
      new Field(
        'topk_logprobs',
        new List(new Field('item', new FixedSizeList(layout.k, valueField), false)),
        false,
        new Map([[META.values, layout.values]]),
      ),
    ],
    meta,
  );
}

/** Reads the layout back from a shard schema, refusing what this version cannot read. */
export function layoutFromSchema(schema: Schema, where: string): TopkLayout {
  const m = schema.metadata;
  const version = m.get(META.formatVersion);
  if (!version) throw new Error(`shard ${where}: schema has no ${META.formatVersion}; not a logit-cache shard`);
  checkFormatVersion(version, where);
  const values = m.get(META.values) as ValueEncoding;
  if (!VALUE_ENCODINGS.includes(values)) throw new Error(`shard ${where}: unknown value encoding "${values}"`);
  const names = schema.fields.map((f) => f.name);
  for (const c of COLUMNS) if (!names.includes(c)) throw new Error(`shard ${where}: missing column ${c}; has ${names.join(', ')}`);
  const layout: TopkLayout = { k: Number(m.get(META.k)), vocabSize: Number(m.get(META.vocabSize)), values };
  if (values === 'q8') layout.q8Scale = Number(m.get(META.q8Scale));
  return layout;
}

/** Readers accept any 1.x and refuse a newer major version. */
export function checkFormatVersion(version: string, where: string): void {
  const major = Number(String(version).split('.')[0]);
  if (!Number.isInteger(major)) throw new Error(`${where}: format version "${version}" is not MAJOR.MINOR`);
  if (major > 1) {
    throw new Error(`${where}: format version ${version} is newer than this reader (reads 1.x); upgrade logit-cache`);
  }
}
