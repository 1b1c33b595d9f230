// manifest.json: the dataset's table of contents and its commit point. Every write and
// read goes through the JSON Schema in schemas/ plus the cross-field checks below.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv2020 as Ajv2020Type } from 'ajv/dist/2020.js';
import { FormatMigrateError, FormatVersionError } from './errors.js';
import { writeFileAtomic } from './fs-atomic.js';
import { indexFileOf } from './generations.js';
import { parseMajor } from './format-major.js';
import { type CodecName, FORMAT_MAJOR, type IdEncoding, type IndexType, SHARD_FORMATS, type ShardFormat, type ValueEncoding } from './types.js';
import { CodedError } from '../errors.js';

export const MANIFEST_FILE = 'manifest.json';

/** A shard's index file: per-batch offsets, lengths, counts and hashes (docs/FORMAT.md §6). */
export interface IndexRef { file: string; bytes: number; sha256: string }

export interface ShardEntry {
  file: string;
  firstBatch: number;
  batchCount: number;
  firstSample: number;
  sampleCount: number;
  tokens: number;
  /**
   * Shared-prefix datasets (format 2.5): of `tokens`, the positions stored once in an earlier
   * sample of the shard (Σ prefix_len); the rest are stored here. Absent in datasets written
   * before it was recorded, and in datasets without shared prefixes.
   */
  sharedPositions?: number;
  bytes: number;
  sha256: string;
  schemaLength: number;
  /** sha256 of the schema message, file bytes [8, 8 + schemaLength) (Arrow); of the tail [bytes - schemaLength, bytes) (Parquet). */
  schemaSha256: string;
  index: IndexRef;
}

export interface Manifest {
  formatVersion: string;
  datasetId: string;
  /** Format of the shard files (2.2); absent means arrow. */
  shardFormat?: ShardFormat;
  generator: { name: string; version: string };
  teacher: { file: string; sha256: string; vocabSize: number; logitsOutput?: string; topkOn?: 'graph' | 'host' };
  source: { file: string; sha256: string; samples: number; tokens: number; maxSeqLen?: number | null };
  topk: { k: number; values: ValueEncoding; indexType: IndexType; q8Scale?: number; f16Ranks?: number; gridStep?: number; tailMass?: boolean; topP?: number; minK?: number; ids?: IdEncoding; sharedPrefixes?: boolean; temperature?: 1 };
  codec: CodecName;
  batchSize: number;
  batchesPerShard: number;
  batchCount: number;
  sampleCount: number;
  tokenCount: number;
  shards: ShardEntry[];
  /** sharedPositions: the shards' sum, present exactly when every shard records its own. */
  stats: { bytesPerToken: number; meanTopkMass?: number | null; top1Agreement?: number | null; sharedPositions?: number };
}

// Read when the module loads, so validating a manifest later (on a server's request path)
// never touches the file system.
const manifestSchemaText = readFileSync(new URL('../../schemas/manifest.schema.json', import.meta.url), 'utf8');
type Validator = ((m: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
let validator: Validator | null = null;

/**
 * The validator `npm run build` compiled from this very schema (src/cli/standalone-validators.ts),
 * or null: not built (sources run before a build), or built from another version of the schema.
 */
function prebuiltValidator(): Validator | null {
  // Same place from src/shard, dist/shard and the bundle in dist/cli: the package's dist/.
  const file = fileURLToPath(new URL('../../dist/manifest.validate.cjs', import.meta.url));
  let built: Validator & { schemaSha256?: string };
  try {
    built = createRequire(import.meta.url)(file) as typeof built;
  } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') return null;
    throw e;
  }
  return built.schemaSha256 === createHash('sha256').update(manifestSchemaText).digest('hex') ? built : null;
}

function schemaValidator() {
  validator ??= prebuiltValidator();
  if (!validator) {
    // Loaded on first use, not with the module: ajv costs a quarter second of start-up to
    // every precompute, which only validates a manifest once it writes or resumes one.
    const { Ajv2020 } = createRequire(import.meta.url)('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Type };
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    validator = ajv.compile(JSON.parse(manifestSchemaText) as object);
  }
  return validator;
}

/**
 * Compiles the manifest schema now rather than at the first validation: a precompute calls it
 * while the teacher computes its first window, so the compile (~0.15 s) is off the run's tail.
 */
export function prepareManifestValidator(): void {
  schemaValidator();
}

/** Schema plus the invariants a schema cannot say: contiguous shards and matching sums. */
export function validateManifest(m: unknown, where: string): asserts m is Manifest {
  const v = schemaValidator();
  if (!v(m)) {
    const errs = (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new CodedError('LC_ERR_MANIFEST_INVALID', `${where}: manifest does not match schemas/manifest.schema.json: ${errs}`);
  }
  checkManifestSums(m as Manifest, where);
}

function checkManifestSums(m: Manifest, where: string): void {
  if (m.topk.minK !== undefined && m.topk.minK > m.topk.k) {
    throw new CodedError('LC_ERR_MANIFEST_INVALID', `${where}: topk.minK ${m.topk.minK} is more than topk.k ${m.topk.k}`);
  }
  let batch = 0, sample = 0, tokens = 0;
  m.shards.forEach((s, i) => {
    const at = `${where}: shards[${i}] (${s.file})`;
    if (s.firstBatch !== batch) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: firstBatch ${s.firstBatch}, expected ${batch}`);
    if (s.firstSample !== sample) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: firstSample ${s.firstSample}, expected ${sample}`);
    if (s.firstSample !== s.firstBatch * m.batchSize) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: firstSample ${s.firstSample} is not firstBatch x batchSize (${s.firstBatch * m.batchSize})`);
    // Every batch but the dataset's last holds batchSize samples.
    const last = i === m.shards.length - 1;
    const full = s.batchCount * m.batchSize;
    if (last ? s.sampleCount <= full - m.batchSize || s.sampleCount > full : s.sampleCount !== full) {
      throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: ${s.sampleCount} samples in ${s.batchCount} batches; every batch but the last holds batchSize (${m.batchSize})`);
    }
    if (s.index.file !== indexFileOf(s.file)) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: index file ${s.index.file}, expected ${indexFileOf(s.file)}`);
    const parquet = m.shardFormat === 'parquet';
    if (!s.file.endsWith(parquet ? '.parquet' : '.arrow')) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: a ${parquet ? 'parquet' : 'arrow'} dataset's shard file must end in .${parquet ? 'parquet' : 'arrow'}`);
    // Parquet: the tail (footer, its length, "PAR1") follows at least the leading "PAR1" and one byte.
    if (parquet && 4 + s.schemaLength >= s.bytes) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: a ${s.schemaLength}-byte Parquet tail does not fit a ${s.bytes}-byte file`);
    if (!parquet && 8 + s.schemaLength >= s.bytes) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${at}: a ${s.schemaLength}-byte schema message does not fit a ${s.bytes}-byte file`);
    batch += s.batchCount; sample += s.sampleCount; tokens += s.tokens;
  });
  if (batch !== m.batchCount || sample !== m.sampleCount || tokens !== m.tokenCount) {
    throw new CodedError('LC_ERR_MANIFEST_INVALID', `${where}: shards hold ${batch} batches/${sample} samples/${tokens} tokens, manifest says ${m.batchCount}/${m.sampleCount}/${m.tokenCount}`);
  }
  checkSharedCounts(m, where);
}

/**
 * The recorded shared-position counts (optional: older 2.5 datasets lack them) hold together
 * as the other counts do: in every shard or none, each at most its shard's tokens, and
 * stats.sharedPositions their sum. Whether they match the stored prefix_len is what `verify`
 * checks, since only decoding every batch can tell. (Counts in a manifest without
 * topk.sharedPrefixes are not refused here: its shards' schemas then disagree with the
 * manifest, which every read refuses, naming the flag, and verify finds the counts wrong.)
 */
function checkSharedCounts(m: Manifest, where: string): void {
  const recorded = m.shards.filter((s) => s.sharedPositions !== undefined).length;
  const total = m.stats.sharedPositions;
  if (recorded === 0 && total === undefined) return;
  const bad = (detail: string): never => { throw new CodedError('LC_ERR_MANIFEST_INVALID', `${where}: ${detail}`); };
  if (recorded !== m.shards.length) bad(`sharedPositions recorded in ${recorded} of ${m.shards.length} shards; a writer records it in every shard or none`);
  let sum = 0;
  m.shards.forEach((s, i) => {
    if (s.sharedPositions! > s.tokens) bad(`shards[${i}] (${s.file}): sharedPositions ${s.sharedPositions} is more than its ${s.tokens} tokens`);
    sum += s.sharedPositions!;
  });
  if (total !== sum) bad(`stats.sharedPositions ${total ?? 'absent'}, but the shards record ${sum}`);
}

export function writeManifest(datasetDir: string, m: Manifest): void {
  const path = join(datasetDir, MANIFEST_FILE);
  validateManifest(m, path);
  writeFileAtomic(path, `${JSON.stringify(m, null, 2)}\n`);
}

export function readManifest(datasetDir: string): Manifest {
  const path = join(datasetDir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw manifestReadError(path, e);
  }
  return parseManifest(text, path);
}

/** readManifest off the event loop (readers and the server). */
export async function readManifestAsync(datasetDir: string): Promise<{ manifest: Manifest; text: string }> {
  const path = join(datasetDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw manifestReadError(path, e);
  }
  return { manifest: parseManifest(text, path), text };
}

export function manifestReadError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  return new CodedError('LC_ERR_MANIFEST_INVALID', code === 'ENOENT' ? `${path}: no manifest; not a dataset, or its precompute has not finished` : `${path}: ${(e as Error).message}`);
}

/** Parses and validates manifest text already read (the server parses exactly what it serves). */
export function parseManifest(text: string, path: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new CodedError('LC_ERR_MANIFEST_INVALID', `${path}: invalid JSON: ${(e as Error).message}`);
  }
  // Version first, so an older or newer manifest gets a clear message rather than schema noise.
  const version = (m as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'string') checkManifestVersion(version, path);
  // A shard format this reader does not know is refused by name, before schema noise.
  const format = (m as { shardFormat?: unknown }).shardFormat;
  if (format !== undefined && !SHARD_FORMATS.includes(format as ShardFormat)) {
    throw new FormatVersionError(path, `shard format ${JSON.stringify(format)} is not one this reader knows (${SHARD_FORMATS.join(', ')}); upgrade logit-cache`);
  }
  validateManifest(m, path);
  return m;
}

/** 1.x: migrate (named with the dataset folder); newer than 2.x: upgrade. */
export function checkManifestVersion(version: string, path: string): void {
  const major = parseMajor(version, path);
  if (major < FORMAT_MAJOR) throw new FormatMigrateError(path, version, dirname(path));
  if (major > FORMAT_MAJOR) {
    throw new FormatVersionError(path, `format version ${version} is newer than this reader (reads ${FORMAT_MAJOR}.x); upgrade logit-cache`);
  }
}
