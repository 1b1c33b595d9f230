// Turns per-micro-batch teacher outputs back into stored batches in dataset order, and
// sums the statistics the manifest reports. Typed arrays throughout, no per-token
// allocation.
import type { StatSums, TopkBatch } from '../shard/index.js';
import type { Sample } from '../data/index.js';
import { type TopPSettings, trimTopP } from '../topk/top-p.js';

/** Output buffers of one stored batch, filled as micro-batches complete. */
export interface PendingBatch {
  batch: TopkBatch;
  /** Its samples in the order of the inference plan: the order their statistics are added in. */
  order: number[];
  /** Per sample, 1 when the teacher did not run on it (fully shared: the writer fills it); and their tokens. */
  skipped: Uint8Array;
  skippedTokens: number;
}

/** The batch's statistics, summed in plan order (once every position is filled). */
export function batchSums(p: PendingBatch, k: number): StatSums {
  const sums: StatSums = { tokens: 0, massSum: 0, top1Hits: 0, top1Count: 0 };
  for (const i of p.order) sampleSums(sums, p.batch, i, k);
  return sums;
}

export function allocateBatch(samples: Sample[], k: number, tailMass = false, ragged = false): PendingBatch {
  const n = samples.length;
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + samples[i].inputIds.length;
  const tokens = offsets[n];
  const inputIds = new Int32Array(tokens);
  for (let i = 0; i < n; i++) inputIds.set(samples[i].inputIds, offsets[i]);
  return {
    batch: {
      sampleIds: samples.map((s) => s.sampleId),
      offsets,
      inputIds,
      topkIds: new Int32Array(tokens * k),
      topkLogprobs: new Float32Array(tokens * k),
      ...(tailMass ? { tailLogprobs: new Float32Array(tokens) } : {}),
      ...(ragged ? { topkCounts: new Int32Array(tokens) } : {}),
    },
    order: [], skipped: new Uint8Array(n), skippedTokens: 0,
  };
}

/**
 * Copies row `row` of a teacher output ([rows × seqLen × k]) into sample `index` of a
 * pending batch. With `topP` the copied positions are trimmed (src/topk/top-p.ts), so what
 * sampleSums reads afterwards is what is stored.
 */
export function scatterRow(
  into: PendingBatch, index: number,
  topkIds: Int32Array, topkLogprobs: Float32Array, row: number, seqLen: number, k: number,
  tailLogprobs?: Float32Array, topP: TopPSettings | null = null,
): void {
  const { batch } = into;
  const start = batch.offsets[index];
  const len = batch.offsets[index + 1] - start;
  const src = row * seqLen * k;
  const dst = start * k;
  batch.topkIds.set(topkIds.subarray(src, src + len * k), dst);
  batch.topkLogprobs.set(topkLogprobs.subarray(src, src + len * k), dst);
  if (batch.tailLogprobs) {
    // The teacher is built with --tail-mass whenever the dataset stores it: a bug if reached.
    if (!tailLogprobs) throw new Error(`teacher output has no tail log-probabilities but the dataset stores tail mass`);
    batch.tailLogprobs.set(tailLogprobs.subarray(row * seqLen, row * seqLen + len), start);
  }
  if (topP) {
    if (!batch.topkCounts) throw new Error('top-p trimming needs a batch allocated with kept counts');
    trimTopP(batch.topkIds, batch.topkLogprobs, batch.topkCounts, batch.tailLogprobs, start, start + len, k, topP);
  }
}

/**
 * Adds sample `index`'s statistics to `sums`: top-k probability mass per position, and whether
 * the top-1 equals the next input token (trimming never drops rank 0, so it is the teacher's).
 * Float sums depend on their order: the pipeline adds samples in the order of its inference
 * plan, whether or not the teacher ran on them, so a run that skips samples sums the same way.
 */
export function sampleSums(sums: StatSums, batch: TopkBatch, index: number, k: number): void {
  const start = batch.offsets[index];
  const len = batch.offsets[index + 1] - start;
  const dst = start * k;
  const ids = batch.inputIds;
  const kept = batch.topkLogprobs;
  for (let p = 0; p < len; p++) {
    let mass = 0;
    // Trimmed entries are -Infinity: exp gives 0, so this is the stored mass either way.
    for (let j = 0; j < k; j++) mass += Math.exp(kept[dst + p * k + j]);
    sums.massSum += mass;
    if (p + 1 < len) {
      sums.top1Count++;
      if (batch.topkIds[dst + p * k] === ids[start + p + 1]) sums.top1Hits++;
    }
  }
  sums.tokens += len;
}
