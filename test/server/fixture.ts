// Test datasets written with the real DatasetWriter, so the server is tested against
// exactly what precompute produces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetWriter, type Manifest, type ValueEncoding } from '../../src/shard/index.js';
import { makeBatch } from '../shard/make-batch.js';

export interface FixtureOptions {
  datasetId?: string;
  batches?: number;
  batchSize?: number;
  batchesPerShard?: number;
  k?: number;
  vocabSize?: number;
  values?: ValueEncoding;
  codec?: 'lz4' | 'none' | 'zstd';
  seqLen?: number;
}

export function tempRoot(): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'lc-server-'));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Writes a dataset under `root`; sequence lengths vary so offsets matter. */
export function writeDataset(root: string, o: FixtureOptions = {}): Manifest {
  const datasetId = o.datasetId ?? 'demo';
  const batches = o.batches ?? 5, batchSize = o.batchSize ?? 3, k = o.k ?? 4, vocabSize = o.vocabSize ?? 1000;
  const seqLen = o.seqLen ?? 6;
  const writer = new DatasetWriter({
    root, datasetId, layout: { k, vocabSize, values: o.values ?? 'f16' }, codec: o.codec ?? 'lz4',
    batchSize, batchesPerShard: o.batchesPerShard ?? 2, runConfig: {},
  });
  let tokens = 0;
  for (let b = 0; b < batches; b++) {
    const lengths = Array.from({ length: batchSize }, (_, i) => 1 + ((b * 7 + i * 3) % seqLen));
    tokens += lengths.reduce((a, n) => a + n, 0);
    writer.append(makeBatch({ lengths, k, vocabSize, firstSample: b * batchSize, seed: 1000 + b }));
  }
  return writer.finish({
    teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize },
    source: { file: 'source.jsonl', sha256: 'b'.repeat(64), samples: batches * batchSize, tokens },
  });
}
