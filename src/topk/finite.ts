// Detecting NaN / ±Inf in teacher outputs: a broken teacher (fp16 overflow, bad weights) must
// stop the precompute instead of silently writing garbage into the cache.

/**
 * Index of the first NaN or ±Inf in `values[start .. end)`, or -1 when all are finite.
 * `v - v` is 0 for every finite v and NaN otherwise, so one comparison covers all three cases.
 */
export function firstNonFinite(values: Float32Array, start = 0, end: number = values.length): number {
  for (let i = start; i < end; i++) {
    const v = values[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

export function allFinite(values: Float32Array, start = 0, end: number = values.length): boolean {
  return firstNonFinite(values, start, end) === -1;
}
