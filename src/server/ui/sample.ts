// One sample as the inspector's sample view draws it: ids, the k alternatives per
// position, and display text for every id that appears.
import type { TopkBatch } from '../../shard/index.js';
import type { Dataset } from '../catalog.js';
import type { TokenizerChoice } from './tokenizers.js';

export interface SampleView {
  datasetId: string;
  sampleId: number;
  batch: number;
  indexInBatch: number;
  batchSamples: number;
  firstSampleOfBatch: number;
  sampleCount: number;
  batchCount: number;
  batchSize: number;
  k: number;
  tokenizer: { source: TokenizerChoice['source']; kind: string | null; error: string | null };
  inputIds: number[];
  /** Position t's k ids at [t*k, t*k+k), most probable first. */
  topkIds: number[];
  /** Same layout; null stands for -Infinity. */
  topkLogprobs: (number | null)[];
  /** Display text by id, for every id in inputIds and topkIds; empty without a tokenizer. */
  pieces: Record<string, string>;
}

/** Row of `sampleId` in a decoded batch, or -1. */
export function rowOf(b: TopkBatch, sampleId: number): number {
  for (let i = 0; i < b.sampleIds.length; i++) if (Number(b.sampleIds[i]) === sampleId) return i;
  return -1;
}

export function sampleView(ds: Dataset, batch: number, b: TopkBatch, row: number, tok: TokenizerChoice): SampleView {
  const { k } = ds.layout;
  const from = b.offsets[row], to = b.offsets[row + 1];
  const inputIds = Array.from(b.inputIds.subarray(from, to));
  const topkIds = Array.from(b.topkIds.subarray(from * k, to * k));
  const topkLogprobs = Array.from(b.topkLogprobs.subarray(from * k, to * k), (v) => (Number.isFinite(v) ? v : null));
  const pieces: Record<string, string> = {};
  if (tok.tokenizer) {
    for (const list of [inputIds, topkIds]) {
      for (const id of list) {
        if (pieces[id] !== undefined) continue;
        const p = tok.tokenizer.piece(id);
        if (p !== null) pieces[id] = p;
      }
    }
  }
  return {
    datasetId: ds.id, sampleId: Number(b.sampleIds[row]), batch, indexInBatch: row, batchSamples: b.sampleIds.length,
    firstSampleOfBatch: Number(b.sampleIds[0]), sampleCount: ds.manifest.sampleCount, batchCount: ds.manifest.batchCount,
    batchSize: ds.manifest.batchSize, k,
    tokenizer: { source: tok.source, kind: tok.tokenizer?.kind ?? null, error: tok.error },
    inputIds, topkIds, topkLogprobs, pieces,
  };
}
