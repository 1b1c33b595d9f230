// Random but valid top-k batches for shard tests: distinct ids, descending log-probabilities.
import type { TopkBatch } from '../../src/shard/types.js';
import { createRng } from '../../src/teacher/prng.js';

export interface BatchShape { lengths: number[]; k: number; vocabSize: number; firstSample: number; seed: number }

export function makeBatch({ lengths, k, vocabSize, firstSample, seed }: BatchShape): TopkBatch {
  const g = createRng(seed);
  const r = () => g.uniform();
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
