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
  let sum = 0;
  for (let i = offset, end = offset + n; i < end; i++) {
    const d = logits[i] - max;
    // Below e^-50 a term cannot move a float64 sum that already holds the max's 1, even 152k
    // times over; skipping it also keeps expNonPositive's table small.
    if (d > -50) {
      // d > 0 means `max` was not the maximum, which only a NaN in the row can cause.
      if (d > 0) return NaN;
      sum += expNonPositive(d);
    } else if (d !== d) {
      return NaN;
    }
  }
  return max + Math.log(sum);
}

// exp(d) for d in (-50, 0], accurate to ~1e-14 relative and faster than Math.exp in V8
// (which dominated host top-k at 152k vocabularies). d = n·ln2 + r with |r| <= ln2/2,
// e^r by a degree-11 Taylor polynomial (error < r^12/12! ≈ 6e-15), 2^n from a table.
const LN2_HI = 0.6931471803691238; // ln 2 split so n·LN2_HI is exact for |n| < 2^11
const LN2_LO = 1.9082149292705877e-10;
const POW2_NEG = Float64Array.from({ length: 80 }, (_, i) => 2 ** -i);

function expNonPositive(d: number): number {
  const n = Math.round(d * Math.LOG2E);
  const r = d - n * LN2_HI - n * LN2_LO;
  const p =
    1 +
    r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (1 / 40320 + r * (1 / 362880 + r * (1 / 3628800 + r / 39916800))))))))));
  return p * POW2_NEG[-n | 0]; // `| 0`: -n may be -0, which is not a small-integer index and sends V8 down a slow keyed load
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
  let size = 0;
  for (let i = 0; i < n; i++) {
    const v = logits[base + i];
    if (size < k) {
      // Sift up from the new leaf.
      let c = size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(v, i, vals[h + p], ids[h + p])) break;
        vals[h + c] = vals[h + p];
        ids[h + c] = ids[h + p];
        c = p;
      }
      vals[h + c] = v;
      ids[h + c] = i;
    } else if (v > vals[h]) {
      siftDown(vals, ids, h, k, v, i);
    }
  }
  // Heap sort: move the current worst to the end of the live range, so the row ends up best
  // first. `size === k` here because k <= n.
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
