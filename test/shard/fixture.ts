// Writes a small dataset of random batches for tests that need one on disk.
import { join } from 'node:path';
import { DatasetWriter, type Manifest, type TopkBatch, type TopkLayout, type CodecName } from '../../src/shard/index.js';
import { makeBatch } from './make-batch.js';

export interface FixtureOptions {
  root: string;
  datasetId?: string;
  layout?: TopkLayout;
  codec?: CodecName;
  batches?: number;
  batchSize?: number;
  batchesPerShard?: number;
  seqLen?: (sample: number) => number;
}

export function writeFixture(o: FixtureOptions): { dir: string; manifest: Manifest; batches: TopkBatch[] } {
  const layout = o.layout ?? { k: 8, vocabSize: 32000, values: 'f16' };
  const datasetId = o.datasetId ?? 'fixture';
  const batchSize = o.batchSize ?? 4;
  const w = new DatasetWriter({
    root: o.root, datasetId, layout, codec: o.codec ?? 'lz4', batchSize, batchesPerShard: o.batchesPerShard ?? 2, runConfig: {},
  });
  const batches: TopkBatch[] = [];
  let sample = 0;
  for (let b = 0; b < (o.batches ?? 5); b++) {
    const lengths = Array.from({ length: batchSize }, (_, i) => (o.seqLen ? o.seqLen(sample + i) : 1 + ((sample + i) * 37) % 50));
    const batch = makeBatch({ lengths, k: layout.k, vocabSize: layout.vocabSize, firstSample: sample, seed: 1000 + b });
    sample += batchSize;
    batches.push(batch);
    w.append(batch);
  }
  const tokens = batches.reduce((a, x) => a + x.inputIds.length, 0);
  const manifest = w.finish({
    teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize: layout.vocabSize },
    source: { file: 'data.jsonl', sha256: 'b'.repeat(64), samples: sample, tokens },
  });
  return { dir: join(o.root, datasetId), manifest, batches };
}
