// Random but valid top-k batches for shard tests: distinct ids, descending log-probabilities.
import type { TopkBatch } from '../../src/shard/types.js';

/** Small deterministic PRNG (mulberry32) so failures replay from the seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BatchShape { lengths: number[]; k: number; vocabSize: number; firstSample: number; seed: number }

export function makeBatch({ lengths, k, vocabSize, firstSample, seed }: BatchShape): TopkBatch {
  const r = rng(seed);
  const n = lengths.length;
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + lengths[i];
  const tokens = offsets[n];
  const inputIds = new Int32Array(tokens);
  const topkIds = new Uint32Array(tokens * k);
  const topkLogprobs = new Float32Array(tokens * k);
  for (let t = 0; t < tokens; t++) {
    inputIds[t] = Math.floor(r() * vocabSize);
    // Distinct ids: a random start and a stride coprime-ish to the vocabulary.
    const start = Math.floor(r() * vocabSize);
    let lp = -r() * 2;
    for (let j = 0; j < k; j++) {
      topkIds[t * k + j] = (start + j) % vocabSize;
      topkLogprobs[t * k + j] = lp;
      lp -= r() * 3;
    }
  }
  return { sampleIds: Array.from({ length: n }, (_, i) => firstSample + i), offsets, inputIds, topkIds, topkLogprobs };
}
