// Reference (and fallback) host top-k over rows of logits. The fused ONNX head must agree with
// this: same ids in the same order, log-probabilities within float32 rounding.
//
// Order contract, matching ONNX Runtime's TopK(largest=1, sorted=1): descending by value, and
// among equal values the lower id first.

/**
 * Log-sum-exp of `logits[offset .. offset+n)`, shifted by the row maximum so exp never
 * overflows, accumulated in float64 so a 152k-wide sum keeps its low bits.
 * A row with NaN or +Inf yields NaN; a row of all -Inf yields -Inf.
 */
export function logSumExp(logits: Float32Array, offset: number, n: number): number {
  let max = -Infinity;
  for (let i = offset, end = offset + n; i < end; i++) {
    const v = logits[i];
    if (v > max) max = v;
  }
  return logSumExpShifted(logits, offset, n, max);
}

/** Log-sum-exp given the row maximum (top-k already knows it). NaN anywhere gives NaN. */
function logSumExpShifted(logits: Float32Array, offset: number, n: number, max: number): number {
  if (max === Infinity || max !== max) return NaN;
  if (max === -Infinity) {
    // Only NaN can hide behind a -Inf maximum.
    for (let i = offset, end = offset + n; i < end; i++) if (logits[i] !== logits[i]) return NaN;
    return -Infinity;
  }
  // Branch-free: every term goes through expClamped with t capped at LIMIT, where the table is
  // 0 (terms below e^-50 cannot move a float64 sum holding the max's 1; -Inf logits land there).
  // A NaN logit survives the cap and turns its term, and so the sum, into NaN; t < 0 only
  // happens when a NaN sat among the first k heap entries, and that NaN reaches the sum the
  // same way. Four accumulators: neighbouring adds do not wait on each other.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end = offset + n;
  let i = offset;
  for (; i + 3 < end; i += 4) {
    s0 += expClamped((max - logits[i]) * STEPS);
    s1 += expClamped((max - logits[i + 1]) * STEPS);
    s2 += expClamped((max - logits[i + 2]) * STEPS);
    s3 += expClamped((max - logits[i + 3]) * STEPS);
  }
  for (; i < end; i++) s0 += expClamped((max - logits[i]) * STEPS);
  return max + Math.log(s0 + s1 + (s2 + s3));
}

// exp(-t / STEPS) for t in [0, LIMIT): a table of e^(-j/512) (computed once with Math.exp,
// 200 KB, stays in L2) times e^(-r/512) for the fraction r in [0, 1) by a degree-3 Taylor
// polynomial (relative error below (1/512)^4 / 24 = 6.2e-13, so the log-sum-exp is within
// ~6e-13 of a Math.exp sum, far below the float32 log-probabilities it feeds). One table load,
// a truncation and three multiply-adds per term (a 256-step table needed four), cheaper than
// Math.exp or a full-range polynomial in V8; host top-k at a 152k vocabulary is mostly this loop.
const STEPS = 512;
const LIMIT = 50 * STEPS;
// Entries from LIMIT on are 0 (see logSumExpShifted); LIMIT + 1 of them, for t = LIMIT exactly.
const EXP_TABLE = Float64Array.from({ length: LIMIT + 2 }, (_, j) => (j < LIMIT ? Math.exp(-j / STEPS) : 0));
const C1 = -1 / STEPS;
const C2 = 1 / (2 * STEPS ** 2);
const C3 = -1 / (6 * STEPS ** 3);

function expClamped(t: number): number {
  // NaN stays NaN through Math.min, and NaN | 0 is a valid index. t < 0 needs no clamp: it
  // only happens when a NaN in the row hid the maximum (see logSumExpShifted), and that NaN
  // turns the sum into NaN through its own term whatever this one gives.
  const c = Math.min(t, LIMIT);
  const j = c | 0;
  const r = c - j;
  return EXP_TABLE[j] * (1 + r * (C1 + r * (C2 + r * C3)));
}

/**
 * For each of `rows` rows of `vocab` logits, write the k best ids and their log-softmax values
 * (over the first `vocabLimit` entries, so padded output layers can be cut) into
 * `outIds[r*k ..]` and `outLogprobs[r*k ..]`. Allocates nothing: each output row is used as the
 * selection heap, then heap-sorted in place.
 */
export function topkLogprobsRows(
  logits: Float32Array,
  rows: number,
  vocab: number,
  k: number,
  outIds: Int32Array,
  outLogprobs: Float32Array,
  vocabLimit: number = vocab,
): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`topk: k must be an integer >= 1, got ${k}`);
  if (!Number.isInteger(vocabLimit) || vocabLimit < 1 || vocabLimit > vocab) {
    throw new Error(`topk: vocabLimit must be in 1..${vocab}, got ${vocabLimit}`);
  }
  if (k > vocabLimit) throw new Error(`topk: k=${k} exceeds the vocabulary size ${vocabLimit}`);
  if (logits.length < rows * vocab) {
    throw new Error(`topk: ${rows} rows of ${vocab} need ${rows * vocab} logits, got ${logits.length}`);
  }
  if (outIds.length < rows * k || outLogprobs.length < rows * k) {
    throw new Error(
      `topk: ${rows} rows of k=${k} need ${rows * k} outputs, got ids ${outIds.length}, logprobs ${outLogprobs.length}`,
    );
  }
  for (let r = 0; r < rows; r++) {
    const base = r * vocab;
    const out = r * k;
    selectRow(logits, base, vocabLimit, k, outIds, outLogprobs, out);
    // The best kept value is the row maximum, so the normalizer needs one pass, not two.
    const lse = logSumExpShifted(logits, base, vocabLimit, outLogprobs[out]);
    for (let j = out, end = out + k; j < end; j++) outLogprobs[j] = outLogprobs[j] - lse;
  }
}

// Heap over vals[h .. h+k) / ids[h .. h+k) whose root is the *worst* kept entry: lower value,
// or on equal value the higher id. Scanning ids in ascending order, an equal-valued newcomer
// is therefore never better than the root, which gives the lower-id-first tie rule.
function selectRow(
  logits: Float32Array,
  base: number,
  n: number,
  k: number,
  ids: Int32Array,
  vals: Float32Array,
  h: number,
): void {
  // Fill: the first k entries, sifted up from each new leaf.
  for (let i = 0; i < k; i++) {
    const v = logits[base + i];
    let c = i;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!worse(v, i, vals[h + p], ids[h + p])) break;
      vals[h + c] = vals[h + p];
      ids[h + c] = ids[h + p];
      c = p;
    }
    vals[h + c] = v;
    ids[h + c] = i;
  }
  // Scan: almost every entry loses to the worst kept one, so the loop is one load and one
  // compare against a local copy of the heap root (re-read only after the heap changed).
  // Four at a time: one combined test per group (almost always false), so the loop carries a
  // quarter of the branches; a group with a contender is replayed in order, one by one.
  let floor = vals[h];
  const end = base + n;
  let i = base + k;
  for (; i + 3 < end; i += 4) {
    if (logits[i] > floor || logits[i + 1] > floor || logits[i + 2] > floor || logits[i + 3] > floor) {
      for (let j = i; j < i + 4; j++) {
        const v = logits[j];
        if (v > floor) {
          siftDown(vals, ids, h, k, v, j - base);
          floor = vals[h];
        }
      }
    }
  }
  for (; i < end; i++) {
    const v = logits[i];
    if (v > floor) {
      siftDown(vals, ids, h, k, v, i - base);
      floor = vals[h];
    }
  }
  // Heap sort: move the current worst to the end of the live range, so the row ends up best
  // first (k <= n, so the heap is full).
  for (let end = k - 1; end > 0; end--) {
    const v = vals[h + end];
    const id = ids[h + end];
    vals[h + end] = vals[h];
    ids[h + end] = ids[h];
    siftDown(vals, ids, h, end, v, id);
  }
}

/** Place (v, id) at the root of the heap of `size` entries and sift it down. */
function siftDown(vals: Float32Array, ids: Int32Array, h: number, size: number, v: number, id: number): void {
  let c = 0;
  for (;;) {
    let child = 2 * c + 1;
    if (child >= size) break;
    const right = child + 1;
    if (right < size && worse(vals[h + right], ids[h + right], vals[h + child], ids[h + child])) child = right;
    if (!worse(vals[h + child], ids[h + child], v, id)) break;
    vals[h + c] = vals[h + child];
    ids[h + c] = ids[h + child];
    c = child;
  }
  vals[h + c] = v;
  ids[h + c] = id;
}

function worse(va: number, ia: number, vb: number, ib: number): boolean {
  return va < vb || (va === vb && ia > ib);
}
