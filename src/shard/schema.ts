// The Arrow schema of a shard (unchanged from format 1 to 2). Column names and metadata keys are a contract
// with every reader, the Python client included: see docs/FORMAT.md.
import { Field, FixedSizeList, Int32, List, Schema, Uint16, Uint32, Uint64 } from 'apache-arrow';
import { FormatVersionError } from './errors.js';
import { FORMAT_MAJOR, FORMAT_VERSION, indexTypeFor, type TopkLayout, type ValueEncoding, VALUE_ENCODINGS } from './types.js';
import { DEFAULT_Q8_SCALE, valueArrowType } from './values.js';

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
  // An unset scale is the default one, written out so every reader agrees on it.
  if (layout.values === 'q8') meta.set(META.q8Scale, String(layout.q8Scale ?? DEFAULT_Q8_SCALE));
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
  checkShardVersion(version, where);
  const values = m.get(META.values) as ValueEncoding;
  if (!VALUE_ENCODINGS.includes(values)) throw new Error(`shard ${where}: unknown value encoding "${values}"`);
  const names = schema.fields.map((f) => f.name);
  for (const c of COLUMNS) if (!names.includes(c)) throw new Error(`shard ${where}: missing column ${c}; has ${names.join(', ')}`);
  const layout: TopkLayout = { k: Number(m.get(META.k)), vocabSize: Number(m.get(META.vocabSize)), values };
  if (values === 'q8') layout.q8Scale = Number(m.get(META.q8Scale));
  return layout;
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

export function parseMajor(version: string, where: string): number {
  const m = /^([0-9]+)\.([0-9]+)$/.exec(String(version));
  if (!m) throw new FormatVersionError(where, `format version "${version}" is not MAJOR.MINOR`);
  return Number(m[1]);
}
