// A deterministic causal "teacher" for shared-prefix tests: the top-k at position t is a
// function of input_ids[0..t] only (a rolling hash of the context), as a real causal LM's
// distribution is, so two samples with the same first L tokens have bit-identical positions
// [0, L) and a shared-prefix dataset must read back exactly equal to a non-shared one.
import type { TopkBatch } from '../../src/shard/types.js';

export interface CausalOptions { k: number; vocabSize: number; tail?: boolean; ragged?: { minK: number } }

export function causalBatch(samples: Int32Array[], firstSample: number, o: CausalOptions): TopkBatch {
  const { k, vocabSize } = o;
  const n = samples.length;
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + samples[i].length;
  const tokens = offsets[n];
  const inputIds = new Int32Array(tokens);
  const topkIds = new Uint32Array(tokens * k);
  const topkLogprobs = new Float32Array(tokens * k);
  const tail = o.tail ? new Float32Array(tokens) : undefined;
  const counts = o.ragged ? new Int32Array(tokens) : undefined;
  for (let i = 0; i < n; i++) {
    let h = 0x9e3779b9;
    for (let p = 0; p < samples[i].length; p++) {
      const t = offsets[i] + p;
      const tok = samples[i][p];
      inputIds[t] = tok;
      h = Math.imul(h ^ tok, 0x85ebca6b) >>> 0;
      h = (h ^ (h >>> 13)) >>> 0;
      // Ids near the current token (so ctx-table rows fill up) shifted by the context hash; distinct per position.
      const start = (tok * 7 + (h % 5)) % vocabSize;
      let lp = -((h % 997) / 997) * 1.5;
      for (let j = 0; j < k; j++) {
        topkIds[t * k + j] = (start + j * 3) % vocabSize;
        topkLogprobs[t * k + j] = lp;
        lp -= 0.1 + ((h >>> (j % 24)) % 13) / 7;
      }
      if (tail) tail[t] = -1 - (h % 101) / 10;
      if (counts) {
        const keep = o.ragged!.minK + (h % (k - o.ragged!.minK + 1));
        counts[t] = keep;
        // Readers pad past the count with id 0 and -Infinity: the reference holds the same.
        for (let j = keep; j < k; j++) { topkIds[t * k + j] = 0; topkLogprobs[t * k + j] = -Infinity; }
      }
    }
  }
  return {
    sampleIds: Array.from({ length: n }, (_, i) => firstSample + i), offsets, inputIds, topkIds, topkLogprobs,
    ...(tail ? { tailLogprobs: tail } : {}), ...(counts ? { topkCounts: counts } : {}),
  };
}

/**
 * Samples with repeated prefixes: a few templates (some longer than others), exact duplicates,
 * samples shorter than a typical minimum, and unrelated ones. Deterministic in `seed`.
 */
export function samplesWithSharedPrefixes(count: number, seed: number, vocabSize: number): Int32Array[] {
  let s = seed >>> 0;
  const next = (m: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % m;
  };
  const templates = [20, 12, 33].map((len) => Int32Array.from({ length: len }, () => next(vocabSize)));
  const out: Int32Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = next(6);
    if (kind === 5 && out.length > 0) { out.push(out[next(out.length)].slice()); continue; } // a duplicate
    const tail = Int32Array.from({ length: next(kind === 4 ? 6 : 25) }, () => next(vocabSize));
    if (kind === 4) { out.push(tail); continue; } // short, unrelated
    const t = templates[next(templates.length)];
    const head = t.subarray(0, Math.max(1, t.length - next(4)));
    const sample = new Int32Array(head.length + tail.length);
    sample.set(head, 0);
    sample.set(tail, head.length);
    out.push(sample);
  }
  return out;
}
