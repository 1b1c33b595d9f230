// Checks a batch before anything is written, so a bad batch never leaves a file behind.
// These stay LC_ERR_INTERNAL on purpose: user input is checked upstream with its own codes (token
// ids by the scan, NaN/Inf by the teacher), so reaching one here means a bug in the producer.
import { isRagged, type TopkBatch, type TopkLayout } from './types.js';

/** Rounding in a fused log-softmax may put the top value a hair above zero. */
export const LOGPROB_SLACK = 1e-4;

export function validateBatch(batch: TopkBatch, layout: TopkLayout, where: string): void {
  const { offsets, inputIds, topkIds, topkLogprobs, sampleIds } = batch;
  const n = offsets.length - 1;
  const k = layout.k;
  if (n < 0) throw new Error(`${where}: offsets is empty; need one more entry than samples`);
  if (sampleIds.length !== n) throw new Error(`${where}: ${sampleIds.length} sample ids for ${n} samples`);
  if (offsets[0] !== 0) throw new Error(`${where}: offsets[0] is ${offsets[0]}, expected 0`);
  const tokens = offsets[n];
  if (tokens !== inputIds.length) throw new Error(`${where}: offsets end at ${tokens} but input_ids has ${inputIds.length} tokens`);
  if (topkIds.length !== tokens * k) throw new Error(`${where}: topk_ids has ${topkIds.length} entries, expected ${tokens} tokens x k=${k}`);
  if (topkLogprobs.length !== tokens * k) {
    throw new Error(`${where}: topk_logprobs has ${topkLogprobs.length} entries, expected ${tokens} tokens x k=${k}`);
  }
  const tail = batch.tailLogprobs;
  if (layout.tailMass && tail?.length !== tokens) {
    throw new Error(`${where}: topk_tail_logprob has ${tail?.length ?? 'no'} entries, expected one per token (${tokens})`);
  }
  if (!layout.tailMass && tail !== undefined) throw new Error(`${where}: batch has tail log-probabilities but the dataset was not opened with tail mass`);
  const counts = batch.topkCounts;
  if (isRagged(layout) && counts?.length !== tokens) {
    throw new Error(`${where}: ragged top-p batch has ${counts?.length ?? 'no'} kept counts, expected one per token (${tokens})`);
  }
  if (!isRagged(layout) && counts !== undefined) throw new Error(`${where}: batch has kept counts but the dataset is not ragged (no top-p)`);
  const minK = layout.minK ?? k;
  const vocab = layout.vocabSize;
  for (let i = 0; i < n; i++) {
    const start = offsets[i];
    const end = offsets[i + 1];
    if (end < start) throw new Error(`${where}: offsets decrease at sample ${sampleIds[i]} (${start} > ${end})`);
    for (let t = start; t < end; t++) {
      const tok = inputIds[t];
      if (!(tok >= 0 && tok < vocab)) fail(where, sampleIds[i], t - start, `input id ${tok} is outside the vocabulary [0, ${vocab})`);
      let prev = Infinity;
      // Only a ragged position's kept entries are stored; its padding is never looked at.
      const kept = counts ? counts[t] : k;
      if (!(kept >= minK && kept <= k)) fail(where, sampleIds[i], t - start, `keeps ${kept} entries; top-p lists keep ${minK}..${k}`);
      for (let j = t * k; j < t * k + kept; j++) {
        const id = topkIds[j];
        if (!(id >= 0 && id < vocab)) fail(where, sampleIds[i], t - start, `top-k id ${id} (rank ${j - t * k}) is outside the vocabulary [0, ${vocab})`);
        const lp = topkLogprobs[j];
        if (Number.isNaN(lp)) fail(where, sampleIds[i], t - start, `log-probability at rank ${j - t * k} is NaN`);
        if (lp > LOGPROB_SLACK) fail(where, sampleIds[i], t - start, `log-probability ${lp} at rank ${j - t * k} is above 0`);
        if (lp > prev) fail(where, sampleIds[i], t - start, `log-probabilities not descending at rank ${j - t * k} (${prev} then ${lp})`);
        prev = lp;
      }
      // -Infinity is a real (empty) tail; NaN or a positive log-probability is not.
      if (tail && !(tail[t] <= LOGPROB_SLACK)) fail(where, sampleIds[i], t - start, `tail log-probability ${tail[t]} is NaN or above 0`);
    }
  }
}

function fail(where: string, sample: number, position: number, what: string): never {
  throw new Error(`${where}: sample ${sample}, position ${position}: ${what}`);
}
