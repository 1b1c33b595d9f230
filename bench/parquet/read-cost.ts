// What serving a batch costs from each shard format: the same batches written as an Arrow
// and a Parquet dataset by the real DatasetWriter, then every batch read through the checked
// reader as the stream GET /logits sends (Arrow: slice + hash; Parquet: hash, decode,
// re-encode, hash). The two formats alternate within each round; best round is kept.
import { join } from 'node:path';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { DatasetWriter } from '../../src/shard/dataset-writer.js';
import type { CodecName, TopkBatch, TopkLayout } from '../../src/shard/types.js';

export interface ReadCost { codec: CodecName; arrowMsPerBatch: number; parquetMsPerBatch: number; ratio: number }

/** A dataset of `batches` by the real DatasetWriter (one shard); returns its folder. */
export function write(root: string, id: string, layout: TopkLayout, codec: CodecName, batches: TopkBatch[], zstdLevel?: number): string {
  const batchSize = batches[0].offsets.length - 1;
  const w = new DatasetWriter({ root, datasetId: id, layout, codec, zstdLevel, batchSize, batchesPerShard: 64, runConfig: {} });
  for (const b of batches) w.append(b);
  w.finish({
    teacher: { file: 't.onnx', sha256: 'a'.repeat(64), vocabSize: layout.vocabSize },
    source: { file: 'd.jsonl', sha256: 'b'.repeat(64), samples: batches.reduce((a, b) => a + b.offsets.length - 1, 0), tokens: batches.reduce((a, b) => a + b.inputIds.length, 0) },
  });
  return join(root, id);
}

async function timeReads(dir: string): Promise<number> {
  const ds = await CheckedDataset.open(dir);
  try {
    await ds.readStream(0); // index, schema/tail checked once, outside the timing
    const t0 = performance.now();
    for (let b = 0; b < ds.batchCount; b++) await ds.readStream(b);
    return (performance.now() - t0) / ds.batchCount;
  } finally {
    await ds.close();
  }
}

export async function readCost(root: string, layout: TopkLayout, codecs: CodecName[], batches: TopkBatch[], rounds: number): Promise<ReadCost[]> {
  const out: ReadCost[] = [];
  for (const codec of codecs) {
    const arrow = write(root, `read-arrow-${codec}`, { ...layout, shardFormat: undefined }, codec, batches);
    const parquet = write(root, `read-parquet-${codec}`, { ...layout, shardFormat: 'parquet' }, codec, batches);
    let a = Infinity, p = Infinity;
    for (let r = 0; r < rounds; r++) {
      a = Math.min(a, await timeReads(arrow));
      p = Math.min(p, await timeReads(parquet));
    }
    out.push({ codec, arrowMsPerBatch: a, parquetMsPerBatch: p, ratio: p / a });
  }
  return out;
}
