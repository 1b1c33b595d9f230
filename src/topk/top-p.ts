// Top-p ("nucleus") trimming of top-k rows: per position keep the smallest rank prefix of the
// teacher's top-k whose probability mass reaches P, at least minK and at most k entries. The
// dropped ranks are overwritten in place with the padding every reader uses (id 0, log-prob
// -Infinity), so a trimmed batch keeps its fixed stride and only gains a count per position.
// Runs on the float32 log-probs before any value encoding, so the choice is exact and the
// same whatever encoding stores the result.

export interface TopPSettings {
  /** Mass to reach, 0 < topP <= 1. 1 keeps all k (no trimming: Σp of a top-k is < 1). */
  topP: number;
  /** Fewest entries kept per position, 1 <= minK <= k. */
  minK: number;
}

/**
 * The number of leading ranks of one position to keep: the smallest n in [minK, k] with
 * Σ_{r<n} exp(lp[r]) >= topP, the sum taken in float64 in rank order; k when no prefix reaches
 * topP. topP = 1 always keeps k: a float32 top-k can round to a mass of 1 before its last rank.
 */
export function keptCount(lp: Float32Array, base: number, k: number, s: TopPSettings): number {
  if (s.topP >= 1) return k;
  let mass = 0;
  for (let r = 0; r < k; r++) {
    mass += Math.exp(lp[base + r]);
    if (r + 1 >= s.minK && mass >= s.topP) return r + 1;
  }
  return k;
}

/**
 * Trims positions [from, to) of a batch's fixed-stride top-k arrays in place and writes each
 * position's kept count to counts[t]. With `tail` (log of the mass outside the top-k, one per
 * position), the tail becomes the log mass outside the kept prefix: a log-sum-exp, in float64,
 * of the old tail and the dropped log-probs, so no 1 − Σp cancellation enters it.
 */
export function trimTopP(
  ids: { [i: number]: number; length: number }, lp: Float32Array, counts: Int32Array, tail: Float32Array | undefined,
  from: number, to: number, k: number, s: TopPSettings,
): void {
  for (let t = from; t < to; t++) {
    const base = t * k;
    const n = keptCount(lp, base, k, s);
    counts[t] = n;
    if (n === k) continue;
    // m = -Infinity: nothing dropped carries mass, the tail stays what it was.
    if (tail) {
      // Ranks are sorted, so the largest dropped log-prob is lp[n]; shift by the larger of it
      // and the old tail so every exp is <= 1 and nothing underflows that matters.
      const old = tail[t];
      const m = old > lp[base + n] ? old : lp[base + n];
      if (m > -Infinity) {
        let sum = Math.exp(old - m);
        for (let r = n; r < k; r++) sum += Math.exp(lp[base + r] - m);
        tail[t] = m + Math.log(sum);
      }
    }
    for (let r = n; r < k; r++) {
      ids[base + r] = 0;
      lp[base + r] = -Infinity;
    }
  }
}
