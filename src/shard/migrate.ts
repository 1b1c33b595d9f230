// `logit-cache migrate <datasetDir>`: converts a format 1.x dataset to 2.0 in place without
// rewriting a shard. Every shard is hashed against the 1.x manifest first (whole file and each
// batch); then the index files are written beside the shards (tmp + fsync + rename), the new
// manifest is checked by the 2.0 reader (index, schema), and only then committed by an atomic
// rename. A dataset whose bytes disagree with its 1.x manifest is refused and left as it was;
// an interrupted migrate leaves a readable 1.x dataset (plus index files the next run rewrites);
// a 2.x dataset is left alone, so running it twice is harmless.
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { CodedError } from '../errors.js';
import { LocalFileSource } from './byte-source.js';
import { CheckedDataset, localOpener, readerCaches, realpathInside } from './checked-dataset.js';
import { ShardCorruptError } from './errors.js';
import { writeFileAtomic } from './fs-atomic.js';
import { encodeIndex, IndexBuilder, indexFileOf } from './index-file.js';
import { FILE_HEAD, streamSha256 } from './ipc-framing.js';
import { MANIFEST_FILE, type Manifest, manifestReadError, parseManifest, type ShardEntry, validateManifest, writeManifest } from './manifest.js';
import { parseMajor } from './schema.js';
import { FORMAT_VERSION } from './types.js';

/** The parts of a 1.x manifest that 2.0 moves or adds to. */
interface V1Batch { offset: number; length: number; sha256: string; samples: number; tokens: number }
interface V1Shard extends Omit<ShardEntry, 'schemaSha256' | 'index'> { batches: V1Batch[] }
type V1Manifest = Omit<Manifest, 'shards'> & { shards: V1Shard[] };

export interface MigrateResult { datasetDir: string; from: string; to: string; migrated: boolean; shards: number; batches: number }

const SHA = /^[0-9a-f]{64}$/;
const CHUNK = 8 << 20;

export async function migrateDataset(datasetDir: string): Promise<MigrateResult> {
  const path = join(datasetDir, MANIFEST_FILE);
  const text = await readFile(path, 'utf8').catch((e: unknown) => {
    throw manifestReadError(path, e);
  });
  let raw: { formatVersion?: unknown };
  try {
    raw = JSON.parse(text) as { formatVersion?: unknown };
  } catch (e) {
    throw new CodedError('LC_ERR_MANIFEST_INVALID', `${path}: invalid JSON: ${(e as Error).message}`, { file: path });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${path}: not a JSON object`, { file: path });
  const from = String(raw.formatVersion);
  const major = parseMajor(from, path);
  if (major !== 1) {
    // 2.x: nothing to do (validated, so a broken 2.x manifest is still reported); newer: refused.
    const m = parseManifest(text, path);
    return { datasetDir, from, to: from, migrated: false, shards: m.shards.length, batches: m.batchCount };
  }
  const old = raw as V1Manifest;
  checkV1Shape(old, path);
  const dirReal = await realpath(datasetDir);
  const shards: ShardEntry[] = [];
  for (const s of old.shards) shards.push(await migrateShard(datasetDir, dirReal, s));
  const next: Manifest = { ...old, formatVersion: FORMAT_VERSION, shards };
  validateManifest(next, path);
  // The 2.0 reader must accept what was written before the manifest points at it.
  const check = new CheckedDataset(next, localOpener(datasetDir), dirReal, readerCaches({ maxShards: 1, maxOpenFiles: 1 }));
  try {
    for (let si = 0; si < shards.length; si++) await check.shard(si);
  } finally {
    await check.close();
  }
  writeManifest(datasetDir, next);
  return { datasetDir, from, to: FORMAT_VERSION, migrated: true, shards: shards.length, batches: next.batchCount };
}

/** Hashes one 1.x shard against its manifest entry and writes its index file. */
async function migrateShard(dir: string, dirReal: string, s: V1Shard): Promise<ShardEntry> {
  const real = await realpathInside(dirReal, join(dir, s.file), s.file).catch((e: Error) => {
    throw new ShardCorruptError(s.file, null, `cannot open: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
  });
  const source = await LocalFileSource.open(real, s.file);
  try {
    if (source.byteLength !== s.bytes) throw new ShardCorruptError(s.file, null, `size ${source.byteLength} bytes, 1.x manifest says ${s.bytes}; not migrated`);
    const whole = createHash('sha256');
    for (let at = 0; at < s.bytes; at += CHUNK) whole.update(await source.read(at, Math.min(s.bytes, at + CHUNK)));
    const sha = whole.digest('hex');
    if (sha !== s.sha256) throw new ShardCorruptError(s.file, null, `sha256 ${sha} does not match the 1.x manifest ${s.sha256}; not migrated`);
    // The whole file matched, so every range below is bytes the 1.x writer vouched for.
    const schema = await source.read(FILE_HEAD.length, FILE_HEAD.length + s.schemaLength);
    const builder = new IndexBuilder(s.firstBatch, s.firstSample);
    for (const [i, b] of s.batches.entries()) {
      if (b.offset < FILE_HEAD.length + s.schemaLength || b.offset + b.length > s.bytes) {
        throw new ShardCorruptError(s.file, s.firstBatch + i, `1.x manifest places it at ${b.offset}+${b.length}, outside the file's batches`);
      }
      const message = await source.read(b.offset, b.offset + b.length);
      const messageSha = createHash('sha256').update(message).digest();
      if (messageSha.toString('hex') !== b.sha256) throw new ShardCorruptError(s.file, s.firstBatch + i, `sha256 does not match the 1.x manifest; not migrated`);
      const streamSha = streamSha256(schema, message);
      builder.push(b.offset, b.length, b.samples, b.tokens, messageSha, streamSha);
    }
    const indexBytes = encodeIndex(builder.build());
    const indexFile = indexFileOf(s.file);
    writeFileAtomic(join(dir, indexFile), indexBytes);
    const { file, firstBatch, batchCount, firstSample, sampleCount, tokens, bytes, sha256, schemaLength } = s;
    return {
      file, firstBatch, batchCount, firstSample, sampleCount, tokens, bytes, sha256, schemaLength,
      schemaSha256: createHash('sha256').update(schema).digest('hex'),
      index: { file: indexFile, bytes: indexBytes.length, sha256: createHash('sha256').update(indexBytes).digest('hex') },
    };
  } finally {
    await source.close();
  }
}

/** Enough of the 1.x schema to migrate safely; the 2.0 validation afterwards checks the rest. */
function checkV1Shape(m: V1Manifest, path: string): void {
  const bad = (what: string): never => { throw new CodedError('LC_ERR_MANIFEST_INVALID', `${path}: not a valid 1.x manifest: ${what}`, { file: path }); };
  if (!Array.isArray(m.shards)) bad('no shards[]');
  const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const obj = (v: unknown) => v !== null && typeof v === 'object';
  m.shards.forEach((s, i) => {
    if (!obj(s)) bad(`shards[${i}] is not an object`);
    if (typeof s.file !== 'string' || !/^shards\/shard-[0-9]{6}\.arrow$/.test(s.file)) bad(`shards[${i}].file ${JSON.stringify(s.file)}`);
    if (!int(s.bytes) || !int(s.schemaLength) || typeof s.sha256 !== 'string' || !SHA.test(s.sha256)) bad(`shards[${i}] (${s.file}) bytes/sha256/schemaLength`);
    if (!Array.isArray(s.batches) || s.batches.length !== s.batchCount) bad(`shards[${i}] (${s.file}) has ${s.batches?.length} batch entries for batchCount ${s.batchCount}`);
    s.batches.forEach((b, j) => {
      if (!obj(b) || !int(b.offset) || !int(b.length) || !int(b.samples) || !int(b.tokens) || typeof b.sha256 !== 'string' || !SHA.test(b.sha256)) {
        bad(`shards[${i}].batches[${j}] (${s.file})`);
      }
    });
  });
}
