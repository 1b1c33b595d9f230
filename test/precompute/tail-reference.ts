// The float64 reference for a stored tail: log of the teacher's probability outside a position's
// stored ids, from the full logits (host run of the same model), max-shifted log-sum-exps.
import type { TopkBatch } from '../../src/shard/index.js';
import { TeacherSession } from '../../src/teacher/index.js';

export interface TailCheck { worst: number; compared: number }

/**
 * Compares `b.tailLogprobs` of the first `samples` samples with float64, the stored ids of
 * position t being its first `kept(t)` of k (all k for fixed-k datasets).
 */
export async function tailErrors(model: string, b: TopkBatch, k: number, kept: (t: number) => number = () => k, samples = 8): Promise<TailCheck> {
  const teacher = await TeacherSession.open(model, { k: 1, topkOn: 'host' });
  const V = teacher.vocabSize;
  let worst = 0, compared = 0;
  try {
    for (let i = 0; i < samples; i++) {
      const from = b.offsets[i], len = b.offsets[i + 1] - from;
      if (len === 0) continue;
      const { logits, width } = await teacher.runLogits(b.inputIds.slice(from, from + len), 1, len, Int32Array.of(len));
      for (let t = 0; t < len; t++) {
        const row = Float64Array.from(logits.subarray(t * width, t * width + V));
        const stored = new Set(Array.from(b.topkIds.subarray((from + t) * k, (from + t) * k + kept(from + t))));
        let max = -Infinity, tailMax = -Infinity;
        for (let v = 0; v < V; v++) { max = Math.max(max, row[v]); if (!stored.has(v)) tailMax = Math.max(tailMax, row[v]); }
        let all = 0, tail = 0;
        for (let v = 0; v < V; v++) { all += Math.exp(row[v] - max); if (!stored.has(v)) tail += Math.exp(row[v] - tailMax); }
        const exact = tailMax + Math.log(tail) - max - Math.log(all);
        worst = Math.max(worst, Math.abs(b.tailLogprobs![from + t] - exact));
        compared++;
      }
    }
  } finally {
    await teacher.dispose();
  }
  return { worst, compared };
}
