// Fast synthetic datasets for benchmarks that measure storage and serving, not the teacher:
// one valid top-k batch is built once and appended over and over with new sample ids, so
// the time spent is the shard writer's (encode, hash, write), not random-number generation.
import { DatasetWriter, type Manifest, type TopkBatch, type ValueEncoding } from '../../src/shard/index.js';
import { makeBatch } from '../../test/shard/make-batch.js';

export interface SyntheticShape {
  batchSize: number;
  seqLen: number;
  k: number;
  vocabSize: number;
  values: ValueEncoding;
  batchesPerShard: number;
}

export interface SyntheticResult { manifest: Manifest; batches: number; tokens: number; seconds: number }

/**
 * Writes `batches` batches of `shape` as dataset `datasetId` under `root`.
 * `distinct` batches are generated up front (default 1) and cycled, so bodies differ when a
 * benchmark needs them to (e.g. to keep a cache from serving one hot batch).
 */
export function writeSynthetic(root: string, datasetId: string, shape: SyntheticShape, batches: number, distinct = 1): SyntheticResult {
  const lengths = Array<number>(shape.batchSize).fill(shape.seqLen);
  const templates: TopkBatch[] = Array.from({ length: distinct }, (_, i) =>
    makeBatch({ lengths, k: shape.k, vocabSize: shape.vocabSize, firstSample: 0, seed: i + 1 }));
  const t0 = performance.now();
  const writer = new DatasetWriter({
    root, datasetId, layout: { k: shape.k, vocabSize: shape.vocabSize, values: shape.values }, codec: 'none',
    batchSize: shape.batchSize, batchesPerShard: shape.batchesPerShard, runConfig: { synthetic: shape }, overwrite: true,
  });
  const sampleIds = new Array<number>(shape.batchSize);
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < shape.batchSize; i++) sampleIds[i] = b * shape.batchSize + i;
    // Only the sample ids change: the token arrays are shared, never copied.
    writer.append({ ...templates[b % distinct], sampleIds });
  }
  const tokens = batches * shape.batchSize * shape.seqLen;
  const manifest = writer.finish({
    teacher: { file: 'synthetic.onnx', sha256: '0'.repeat(64), vocabSize: shape.vocabSize },
    source: { file: 'synthetic.jsonl', sha256: '0'.repeat(64), samples: batches * shape.batchSize, tokens },
  });
  return { manifest, batches, tokens, seconds: (performance.now() - t0) / 1000 };
}
