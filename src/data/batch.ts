/**
 * Stored batches: the unit a shard record batch holds and the server hands out. They are
 * consecutive in dataset order so batch b always covers samples [b·batchSize, (b+1)·batchSize);
 * how samples are regrouped for the teacher is plan.ts's business, not the storage layout's.
 */

import type { Sample } from './sample.js';

export async function* batchSamples(samples: AsyncIterable<Sample>, batchSize: number): AsyncGenerator<Sample[]> {
  // The CLI refuses --batch-size < 1 first (LC_ERR_USAGE): only a bug in a caller lands here.
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batcher: batchSize must be a positive integer, got ${batchSize}`);
  }
  let batch: Sample[] = [];
  for await (const sample of samples) {
    batch.push(sample);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch; // the dataset's tail: may be short
}
