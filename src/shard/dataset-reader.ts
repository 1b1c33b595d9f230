// Opens a dataset folder and returns batches as typed arrays, each verified against the
// manifest's sha256 before it is decoded.
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { sha256Hex } from './checksum.js';
import { registerCodecs } from './codecs.js';
import { ShardCorruptError } from './errors.js';
import { batchStream, FILE_HEAD } from './ipc-framing.js';
import { type BatchEntry, type Manifest, readManifest, type ShardEntry } from './manifest.js';
import { fromRecordBatch } from './record-batch.js';
import { layoutFromSchema } from './schema.js';
import { ShardFile } from './shard-file.js';
import type { TopkBatch, TopkLayout } from './types.js';

export interface BatchBytes {
  /** The shard's schema message, as stored. */
  schemaBytes: Buffer;
  /** The batch's record-batch message, verified against the manifest sha256. */
  batchBytes: Buffer;
  entry: BatchEntry;
  shard: ShardEntry;
}

export function layoutOf(m: Manifest): TopkLayout {
  return { k: m.topk.k, vocabSize: m.teacher.vocabSize, values: m.topk.values, ...(m.topk.q8Scale ? { q8Scale: m.topk.q8Scale } : {}) };
}

/** Index of the shard holding `batch` (shards are sorted by firstBatch). */
export function shardIndexOf(m: Manifest, batch: number): number {
  let lo = 0, hi = m.shards.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (m.shards[mid].firstBatch <= batch) lo = mid; else hi = mid - 1;
  }
  return lo;
}

/** Reads one batch's bytes from an open shard and checks them against the manifest. */
export function readVerifiedBatch(file: ShardFile, m: Manifest, batch: number): BatchBytes {
  if (!Number.isInteger(batch) || batch < 0 || batch >= m.batchCount) {
    throw new RangeError(`batch ${batch} is out of range: dataset ${m.datasetId} has ${m.batchCount} batches`);
  }
  const shard = m.shards[shardIndexOf(m, batch)];
  const entry = shard.batches[batch - shard.firstBatch];
  const schemaBytes = file.read(FILE_HEAD.length, shard.schemaLength);
  const batchBytes = file.read(entry.offset, entry.length);
  const got = sha256Hex(batchBytes);
  if (got !== entry.sha256) throw new ShardCorruptError(shard.file, batch, `sha256 ${got} does not match manifest ${entry.sha256}`);
  return { schemaBytes, batchBytes, entry, shard };
}

/** Decodes a verified batch stream back to typed arrays, rechecking counts against the manifest. */
export function decodeBatch(bytes: BatchBytes, layout: TopkLayout, batch: number): TopkBatch {
  registerCodecs();
  const where = `shard ${bytes.shard.file} batch ${batch}`;
  const reader = RecordBatchReader.from(batchStream(bytes.schemaBytes, bytes.batchBytes));
  const schema = reader.open().schema;
  const fileLayout = layoutFromSchema(schema, where);
  if (fileLayout.k !== layout.k || fileLayout.values !== layout.values) {
    throw new ShardCorruptError(bytes.shard.file, batch, `schema says k=${fileLayout.k} ${fileLayout.values}, manifest k=${layout.k} ${layout.values}`);
  }
  const result = reader.next();
  if (result.done) throw new ShardCorruptError(bytes.shard.file, batch, 'no record batch in message');
  const out = fromRecordBatch(result.value, layout, where);
  if (out.offsets.length - 1 !== bytes.entry.samples || out.inputIds.length !== bytes.entry.tokens) {
    throw new ShardCorruptError(bytes.shard.file, batch, `holds ${out.offsets.length - 1} samples/${out.inputIds.length} tokens, manifest says ${bytes.entry.samples}/${bytes.entry.tokens}`);
  }
  return out;
}

export class DatasetReader {
  readonly layout: TopkLayout;
  private readonly files = new Map<string, ShardFile>();

  private constructor(readonly dir: string, readonly manifest: Manifest) {
    this.layout = layoutOf(manifest);
  }

  static open(dir: string): DatasetReader {
    return new DatasetReader(dir, readManifest(dir));
  }

  get batchCount(): number {
    return this.manifest.batchCount;
  }

  batchBytes(batch: number): BatchBytes {
    if (!Number.isInteger(batch) || batch < 0 || batch >= this.manifest.batchCount) {
      throw new RangeError(`batch ${batch} is out of range: dataset ${this.manifest.datasetId} has ${this.manifest.batchCount} batches`);
    }
    const shard = this.manifest.shards[shardIndexOf(this.manifest, batch)];
    let file = this.files.get(shard.file);
    if (!file) {
      file = new ShardFile(join(this.dir, shard.file), shard.bytes);
      this.files.set(shard.file, file);
    }
    return readVerifiedBatch(file, this.manifest, batch);
  }

  readBatch(batch: number): TopkBatch {
    return decodeBatch(this.batchBytes(batch), this.layout, batch);
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
