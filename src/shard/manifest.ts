// manifest.json: the dataset's table of contents and its commit point. Every write and
// read goes through the JSON Schema in schemas/ plus the cross-field checks below.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { writeFileAtomic } from './fs-atomic.js';
import { checkFormatVersion } from './schema.js';
import type { CodecName, IndexType, ValueEncoding } from './types.js';

export const MANIFEST_FILE = 'manifest.json';

export interface BatchEntry { offset: number; length: number; sha256: string; samples: number; tokens: number }

export interface ShardEntry {
  file: string;
  firstBatch: number;
  batchCount: number;
  firstSample: number;
  sampleCount: number;
  tokens: number;
  bytes: number;
  sha256: string;
  schemaLength: number;
  batches: BatchEntry[];
}

export interface Manifest {
  formatVersion: string;
  datasetId: string;
  generator: { name: string; version: string };
  teacher: { file: string; sha256: string; vocabSize: number; logitsOutput?: string; topkOn?: 'graph' | 'host' };
  source: { file: string; sha256: string; samples: number; tokens: number; maxSeqLen?: number | null };
  topk: { k: number; values: ValueEncoding; indexType: IndexType; q8Scale?: number; temperature?: 1 };
  codec: CodecName;
  batchSize: number;
  batchesPerShard: number;
  batchCount: number;
  sampleCount: number;
  tokenCount: number;
  shards: ShardEntry[];
  stats: { bytesPerToken: number; meanTopkMass?: number | null; top1Agreement?: number | null };
}

const schemaPath = new URL('../../schemas/manifest.schema.json', import.meta.url);
let validator: ((m: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null } | null = null;

function schemaValidator() {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    validator = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
  }
  return validator;
}

/** Schema plus the invariants a schema cannot say: contiguous batches and matching sums. */
export function validateManifest(m: unknown, where: string): asserts m is Manifest {
  const v = schemaValidator();
  if (!v(m)) {
    const errs = (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new Error(`${where}: manifest does not match schemas/manifest.schema.json: ${errs}`);
  }
  checkManifestSums(m as Manifest, where);
}

function checkManifestSums(m: Manifest, where: string): void {
  let batch = 0, sample = 0, tokens = 0;
  m.shards.forEach((s, i) => {
    const at = `${where}: shards[${i}] (${s.file})`;
    if (s.firstBatch !== batch) throw new Error(`${at}: firstBatch ${s.firstBatch}, expected ${batch}`);
    if (s.firstSample !== sample) throw new Error(`${at}: firstSample ${s.firstSample}, expected ${sample}`);
    if (s.firstSample !== s.firstBatch * m.batchSize) throw new Error(`${at}: firstSample ${s.firstSample} is not firstBatch x batchSize (${s.firstBatch * m.batchSize})`);
    s.batches.forEach((b, j) => {
      const last = i === m.shards.length - 1 && j === s.batches.length - 1;
      if (last ? b.samples < 1 || b.samples > m.batchSize : b.samples !== m.batchSize) {
        throw new Error(`${at}: batch ${s.firstBatch + j} holds ${b.samples} samples; every batch but the last holds batchSize (${m.batchSize})`);
      }
    });
    if (s.batches.length !== s.batchCount) throw new Error(`${at}: ${s.batches.length} batch entries for batchCount ${s.batchCount}`);
    const ss = s.batches.reduce((a, b) => a + b.samples, 0);
    const st = s.batches.reduce((a, b) => a + b.tokens, 0);
    if (ss !== s.sampleCount || st !== s.tokens) throw new Error(`${at}: batch entries sum to ${ss} samples/${st} tokens, shard says ${s.sampleCount}/${s.tokens}`);
    for (const b of s.batches) {
      if (b.offset + b.length > s.bytes) throw new Error(`${at}: batch at ${b.offset}+${b.length} runs past ${s.bytes} bytes`);
    }
    batch += s.batchCount; sample += s.sampleCount; tokens += s.tokens;
  });
  if (batch !== m.batchCount || sample !== m.sampleCount || tokens !== m.tokenCount) {
    throw new Error(`${where}: shards hold ${batch} batches/${sample} samples/${tokens} tokens, manifest says ${m.batchCount}/${m.sampleCount}/${m.tokenCount}`);
  }
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
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path}: no manifest; not a dataset, or its precompute has not finished` : `${path}: ${(e as Error).message}`);
  }
  return parseManifest(text, path);
}

/** Parses and validates manifest text already read (the server parses exactly what it serves). */
export function parseManifest(text: string, path: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  // Version first, so a newer manifest gets a clear upgrade message rather than schema noise.
  const version = (m as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'string') checkFormatVersion(version, path);
  validateManifest(m, path);
  return m;
}
