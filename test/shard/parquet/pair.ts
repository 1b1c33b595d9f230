// The same random batches written twice, once as Arrow shards and once as Parquet shards,
// with the real DatasetWriter: what the Parquet tests compare against.
import { join } from 'node:path';
import { CheckedDataset } from '../../../src/shard/checked-dataset.js';
import { DatasetWriter } from '../../../src/shard/dataset-writer.js';
import type { Manifest } from '../../../src/shard/manifest.js';
import type { CodecName, TopkBatch, TopkLayout } from '../../../src/shard/types.js';
import { trimTopP } from '../../../src/topk/top-p.js';
import { makeBatch } from '../make-batch.js';

export interface PairOptions { root: string; id: string; layout: TopkLayout; codec: CodecName; batches?: number; batchSize?: number; batchesPerShard?: number }

// Lengths with empty samples and a long one: list levels must survive both.
export const ragged = (sample: number): number => (sample % 5 === 2 ? 0 : 1 + ((sample * 37) % 60));

/** Deterministic batches for `layout` (tail mass included when it has it). */
export function pairBatches(layout: TopkLayout, count: number, batchSize: number): TopkBatch[] {
  const out: TopkBatch[] = [];
  for (let b = 0; b < count; b++) {
    const lengths = Array.from({ length: batchSize }, (_, i) => ragged(b * batchSize + i));
    const batch = makeBatch({ lengths, k: layout.k, vocabSize: layout.vocabSize, firstSample: b * batchSize, seed: 2000 + b });
    if (layout.tailMass) batch.tailLogprobs = Float32Array.from({ length: batch.inputIds.length }, (_, t) => -1 - ((t * 7919) % 1000) / 97);
    if (layout.topP !== undefined) {
      // Ragged top-p lists (format 2.3): each position keeps its smallest prefix reaching topP.
      batch.topkCounts = new Int32Array(batch.inputIds.length);
      trimTopP(batch.topkIds, batch.topkLogprobs, batch.topkCounts, batch.tailLogprobs, 0, batch.inputIds.length, layout.k, { topP: layout.topP, minK: layout.minK ?? 1 });
    }
    out.push(batch);
  }
  return out;
}

export function writeDataset(root: string, datasetId: string, layout: TopkLayout, codec: CodecName, batches: TopkBatch[], batchSize: number, batchesPerShard: number): { dir: string; manifest: Manifest } {
  const w = new DatasetWriter({ root, datasetId, layout, codec, batchSize, batchesPerShard, runConfig: { shardFormat: layout.shardFormat ?? 'arrow' } });
  for (const b of batches) w.append(b);
  const tokens = batches.reduce((a, x) => a + x.inputIds.length, 0);
  const manifest = w.finish({
    teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize: layout.vocabSize },
    source: { file: 'data.jsonl', sha256: 'b'.repeat(64), samples: batches.reduce((a, x) => a + x.offsets.length - 1, 0), tokens },
  });
  return { dir: join(root, datasetId), manifest };
}

export function writePair(o: PairOptions) {
  const batchSize = o.batchSize ?? 4, per = o.batchesPerShard ?? 2;
  const batches = pairBatches(o.layout, o.batches ?? 5, batchSize);
  const arrow = writeDataset(o.root, `${o.id}-arrow`, { ...o.layout, shardFormat: undefined }, o.codec, batches, batchSize, per);
  const parquet = writeDataset(o.root, `${o.id}-parquet`, { ...o.layout, shardFormat: 'parquet' }, o.codec, batches, batchSize, per);
  return { arrow, parquet, batches };
}

export async function readAll(dir: string): Promise<TopkBatch[]> {
  const ds = await CheckedDataset.open(dir);
  try {
    const out: TopkBatch[] = [];
    for (let b = 0; b < ds.batchCount; b++) out.push(await ds.readBatch(b));
    return out;
  } finally {
    await ds.close();
  }
}

/** Every array of every batch, element for element (Object.is: -0 and NaN count). */
export function sameBatches(a: TopkBatch[], b: TopkBatch[]): string | null {
  if (a.length !== b.length) return `${a.length} batches against ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    for (const key of ['sampleIds', 'offsets', 'inputIds', 'topkIds', 'topkLogprobs', 'tailLogprobs', 'topkCounts'] as const) {
      const x = a[i][key] as ArrayLike<number> | undefined, y = b[i][key] as ArrayLike<number> | undefined;
      if ((x === undefined) !== (y === undefined)) return `batch ${i} ${key}: present in one only`;
      if (!x || !y) continue;
      if (x.length !== y.length) return `batch ${i} ${key}: ${x.length} against ${y.length} entries`;
      for (let j = 0; j < x.length; j++) if (!Object.is(x[j], y[j])) return `batch ${i} ${key}[${j}]: ${x[j]} against ${y[j]}`;
    }
  }
  return null;
}
