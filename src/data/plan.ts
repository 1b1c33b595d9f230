/**
 * Inference batching, independent of stored batches: regroup samples of similar length so the
 * teacher computes on as little right-padding as possible under a token budget.
 *
 * The budget counts padded slots (rows × seqLen), because that is what the teacher allocates
 * for activations and what its [B, S, k] outputs occupy. Outputs come back per micro-batch;
 * `rows` says which input index each output row belongs to, so the caller scatters them back
 * into dataset order.
 */

export interface MicroBatch {
  /** Indices into the planned `lengths`, longest first. */
  rows: Int32Array;
  /** Longest length in the micro-batch: every row is right-padded to it. */
  seqLen: number;
}

export interface PlanOptions {
  /** Cap on rows per micro-batch (e.g. a fixed ONNX batch dimension). Default: no cap. */
  maxRows?: number;
}

export interface PackedBatch {
  /** Row-major [rows × seqLen] ids, right-padded with the pad id. */
  ids: Int32Array;
  /** Unpadded length of each row. */
  lengths: Int32Array;
}

export interface PackBuffers {
  ids?: Int32Array;
  lengths?: Int32Array;
}

// Planner arguments come from validated flags (LC_ERR_USAGE upstream): a throw here is a bug.
function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`plan: ${name} must be a positive integer, got ${v}`);
}

/** Validates what both planners take; returns the row cap (Infinity when none). */
function checkPlanInputs(lengths: Int32Array | readonly number[], maxBatchTokens: number, opts: PlanOptions): number {
  checkPositiveInt('maxBatchTokens', maxBatchTokens);
  const maxRows = opts.maxRows ?? Infinity;
  if (maxRows !== Infinity) checkPositiveInt('maxRows', maxRows);
  for (let i = 0; i < lengths.length; i++) {
    const len = lengths[i];
    if (!Number.isInteger(len) || len < 0) throw new Error(`plan: lengths[${i}] is ${len}; lengths must be non-negative integers`);
  }
  return maxRows;
}

/** Slots a row costs: an empty sample still occupies one position in a real batch. */
function cost(seqLen: number): number {
  return seqLen > 0 ? seqLen : 1;
}

/**
 * Sort indices by length (descending, ties by index so the plan is deterministic) and cut
 * greedily: a micro-batch takes the next row while (rows + 1) × seqLen stays within
 * maxBatchTokens, where seqLen is its first (longest) row's length. A sample longer than the
 * budget therefore runs alone. Descending order also puts the most memory-hungry batch first,
 * so an out-of-memory budget fails at once rather than at the end of a long run. Empty samples
 * form their own micro-batches (seqLen 0), never mixed with non-empty ones.
 */
export function planInference(
  lengths: Int32Array | readonly number[],
  maxBatchTokens: number,
  opts: PlanOptions = {},
): MicroBatch[] {
  const maxRows = checkPlanInputs(lengths, maxBatchTokens, opts);
  const n = lengths.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => lengths[b] - lengths[a] || a - b);

  const batches: MicroBatch[] = [];
  let start = 0;
  while (start < n) {
    const seqLen = lengths[order[start]];
    const perRow = cost(seqLen);
    let end = start + 1;
    // Empty samples have no positions (docs/FORMAT.md §2) and come last in length order; they
    // never share a micro-batch with real rows, so the teacher is never fed a zero-length row
    // and callers skip the seqLen-0 micro-batches whole.
    while (end < n && end - start < maxRows && (end - start + 1) * perRow <= maxBatchTokens && (seqLen === 0) === (lengths[order[end]] === 0)) end++;
    // slice() rather than subarray(): each micro-batch owns its rows, not the whole order array.
    batches.push({ rows: order.slice(start, end), seqLen });
    start = end;
  }
  return batches;
}

/**
 * The baseline planInference is measured against: the same budget rule, but rows taken in
 * dataset order, as a loader without length grouping would.
 */
export function planConsecutive(
  lengths: Int32Array | readonly number[],
  maxBatchTokens: number,
  opts: PlanOptions = {},
): MicroBatch[] {
  const maxRows = checkPlanInputs(lengths, maxBatchTokens, opts);
  const batches: MicroBatch[] = [];
  let start = 0;
  while (start < lengths.length) {
    let seqLen = lengths[start];
    let end = start + 1;
    while (end < lengths.length && end - start < maxRows) {
      const grown = Math.max(seqLen, lengths[end]);
      if ((end - start + 1) * cost(grown) > maxBatchTokens) break;
      seqLen = grown;
      end++;
    }
    const rows = new Int32Array(end - start);
    for (let r = 0; r < rows.length; r++) rows[r] = start + r;
    batches.push({ rows, seqLen });
    start = end;
  }
  return batches;
}

export interface PaddingStats {
  /** Sum of real token counts. */
  tokens: number;
  /** Sum of rows × seqLen over the micro-batches: what the teacher computes on. */
  slots: number;
  /** (slots - tokens) / slots: share of the computation spent on padding. */
  paddingRatio: number;
  batches: number;
}

export function paddingStats(lengths: Int32Array | readonly number[], batches: readonly MicroBatch[]): PaddingStats {
  let tokens = 0;
  let slots = 0;
  for (const b of batches) {
    slots += b.rows.length * b.seqLen;
    for (let r = 0; r < b.rows.length; r++) tokens += lengths[b.rows[r]];
  }
  return { tokens, slots, paddingRatio: slots === 0 ? 0 : (slots - tokens) / slots, batches: batches.length };
}

/**
 * Copy a micro-batch's samples into a right-padded [rows × seqLen] matrix. When `out` buffers
 * are large enough they are filled and views of them returned, so a steady-state loop allocates
 * nothing; otherwise fresh arrays are made. `samples[i]` is the ids of input index i.
 */
export function packMicroBatch(
  samples: ArrayLike<Int32Array>,
  batch: MicroBatch,
  out: PackBuffers = {},
  padId = 0,
): PackedBatch {
  const { rows, seqLen } = batch;
  const size = rows.length * seqLen;
  const ids = out.ids && out.ids.length >= size ? out.ids.subarray(0, size) : new Int32Array(size);
  const lengths = out.lengths && out.lengths.length >= rows.length ? out.lengths.subarray(0, rows.length) : new Int32Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const src = samples[rows[r]];
    if (src === undefined) throw new Error(`plan: micro-batch row ${r} refers to input ${rows[r]}, which is not among the ${samples.length} samples`);
    if (src.length > seqLen) throw new Error(`plan: input ${rows[r]} has ${src.length} tokens, more than the micro-batch seqLen ${seqLen}`);
    const base = r * seqLen;
    ids.set(src, base);
    ids.fill(padId, base + src.length, base + seqLen);
    lengths[r] = src.length;
  }
  return { ids, lengths };
}
