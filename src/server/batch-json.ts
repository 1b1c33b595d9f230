// The JSON rendering of one batch (schemas/http-batch.schema.json): one row per sample,
// k ids and k log-probabilities per position, as nested arrays a person can read.
import type { BatchInfo, TopkBatch, TopkLayout } from '../shard/index.js';

export interface BatchRow {
  sampleId: number;
  inputIds: number[];
  topkIds: number[][];
  /** null stands for -Infinity (or any non-finite value), which JSON cannot spell. */
  topkLogprobs: (number | null)[][];
  /** Only for tail-mass datasets: per position, log Σ p outside the top-k (null for -Infinity). */
  tailLogprobs?: (number | null)[];
  /** Only for ragged top-p datasets (format 2.3): per position, how many leading entries are kept; the rest are padding (id 0, null). */
  topkCounts?: number[];
}

export interface BatchJson {
  datasetId: string;
  batch: number;
  k: number;
  values: TopkLayout['values'];
  samples: number;
  tokens: number;
  sha256: string;
  rows: BatchRow[];
}

export function batchToJson(datasetId: string, batch: number, entry: BatchInfo, layout: TopkLayout, b: TopkBatch): BatchJson {
  const { k } = layout;
  const rows: BatchRow[] = [];
  for (let i = 0; i + 1 < b.offsets.length; i++) {
    const from = b.offsets[i], to = b.offsets[i + 1];
    const topkIds: number[][] = [];
    const topkLogprobs: (number | null)[][] = [];
    for (let t = from; t < to; t++) {
      topkIds.push(Array.from(b.topkIds.subarray(t * k, t * k + k)));
      const lp: (number | null)[] = new Array(k);
      for (let j = 0; j < k; j++) {
        const v = b.topkLogprobs[t * k + j];
        lp[j] = Number.isFinite(v) ? v : null;
      }
      topkLogprobs.push(lp);
    }
    const row: BatchRow = { sampleId: Number(b.sampleIds[i]), inputIds: Array.from(b.inputIds.subarray(from, to)), topkIds, topkLogprobs };
    if (b.topkCounts) row.topkCounts = Array.from(b.topkCounts.subarray(from, to));
    if (b.tailLogprobs) row.tailLogprobs = Array.from(b.tailLogprobs.subarray(from, to), (v) => (Number.isFinite(v) ? v : null));
    rows.push(row);
  }
  return { datasetId, batch, k, values: layout.values, samples: entry.samples, tokens: entry.tokens, sha256: entry.messageSha256, rows };
}
