// Host reference for the exact tail mass: log of the probability outside the top-k of each
// row, summed in float64 over the non-top-k logits themselves (never 1 - Σp, which rounds to
// nothing at k = 128). The fused head's TOPK_TAIL_OUTPUT must agree with this.

/**
 * For each of `rows` rows of `logits` (row stride `width`, the first `vocab` entries real) whose
 * top-k ids are `ids[r*k .. r*k+k)`, writes log Σ_{i not in top-k} p_i to `out[r]`.
 * A row with k >= vocab has no tail: -Infinity. `mark` is scratch of at least `vocab` bytes,
 * all zero on entry and on return (pass one to reuse it across calls).
 */
export function tailLogprobRows(
  logits: Float32Array,
  rows: number,
  width: number,
  k: number,
  ids: ArrayLike<number>,
  out: Float32Array,
  vocab = width,
  mark: Uint8Array = new Uint8Array(vocab),
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    for (let j = 0; j < k; j++) mark[ids[r * k + j]] = 1;
    let max = -Infinity;
    let tailMax = -Infinity;
    for (let i = 0; i < vocab; i++) {
      const v = logits[base + i];
      if (v > max) max = v;
      if (mark[i] === 0 && v > tailMax) tailMax = v;
    }
    // Each sum is shifted by its own maximum, so both keep full float64 precision however
    // small the tail is relative to the head.
    let all = 0;
    let tail = 0;
    for (let i = 0; i < vocab; i++) {
      const v = logits[base + i];
      all += Math.exp(v - max);
      if (mark[i] === 0) tail += Math.exp(v - tailMax);
    }
    for (let j = 0; j < k; j++) mark[ids[r * k + j]] = 0;
    out[r] = tailMax === -Infinity ? -Infinity : tailMax + Math.log(tail) - (max + Math.log(all));
  }
}
