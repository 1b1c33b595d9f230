// Dataset statistics for the inspector's charts, from a fixed budget of batches spread
// evenly over the dataset: a view must not scan a terabyte. Pure functions over decoded
// batches, so the numbers are testable without a server.
import type { Manifest, TopkBatch } from '../../shard/index.js';

export const MASS_BINS = 20;
export const ENTROPY_BINS = 20;
/** Position buckets of the agreement-by-position chart. */
export const POSITION_BUCKETS = 32;

export interface StatsBudget { maxBatches: number; maxTokens: number }
export const DEFAULT_BUDGET: StatsBudget = { maxBatches: 24, maxTokens: 400_000 };

export interface DatasetStats {
  sampled: { batches: number[]; batchCount: number; tokens: number; tokenCount: number; positions: number; complete: boolean };
  k: number;
  /** Histogram of Σ exp(logprob) over the k entries, MASS_BINS bins over [0, 1]. */
  mass: { bins: number[]; mean: number };
  /** Entropy (nats) of the top-k renormalised to sum 1, ENTROPY_BINS bins over [0, ln k]. */
  entropy: { bins: number[]; max: number; mean: number };
  /** Fraction of positions t < len-1 whose top-1 is input_ids[t+1], overall and by position bucket. */
  top1: { overall: number | null; inTopk: number | null; buckets: { from: number; to: number; positions: number; agreement: number }[] };
  /** From the manifest, every shard (no scan needed). */
  shards: { file: string; bytesPerToken: number | null; tokens: number }[];
}

/** Up to `n` batch indices evenly spread over [0, count), first and last included. */
export function spreadBatches(count: number, n: number): number[] {
  if (count <= n) return Array.from({ length: count }, (_, i) => i);
  if (n <= 1) return [0];
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.round((i * (count - 1)) / (n - 1)));
  return out;
}

/** Accumulates statistics batch by batch; typed arrays, no per-token allocation. */
export class StatsAccumulator {
  private readonly mass = new Float64Array(MASS_BINS);
  private readonly entropy = new Float64Array(ENTROPY_BINS);
  private massSum = 0;
  private entropySum = 0;
  private positions = 0;
  // Per exact position: predictions with a next token, and how many of them the top-1 got.
  private agreeAt = new Float64Array(1024);
  private countAt = new Float64Array(1024);
  private maxLen = 0;
  private inTopk = 0;
  private readonly logK: number;

  constructor(private readonly k: number) {
    this.logK = Math.log(k);
  }

  add(b: TopkBatch): void {
    const { k } = this;
    for (let s = 0; s + 1 < b.offsets.length; s++) {
      const from = b.offsets[s], to = b.offsets[s + 1];
      const len = to - from;
      if (len > this.maxLen) this.grow(len);
      for (let t = from; t < to; t++) {
        const o = t * k;
        let m = 0;
        for (let j = 0; j < k; j++) m += Math.exp(b.topkLogprobs[o + j]);
        let h = 0;
        if (m > 0) {
          for (let j = 0; j < k; j++) {
            const q = Math.exp(b.topkLogprobs[o + j]) / m;
            if (q > 0) h -= q * Math.log(q);
          }
        }
        this.massSum += m;
        this.entropySum += h;
        this.mass[Math.min(MASS_BINS - 1, Math.max(0, Math.floor(m * MASS_BINS)))]++;
        const he = this.logK > 0 ? h / this.logK : 0;
        this.entropy[Math.min(ENTROPY_BINS - 1, Math.max(0, Math.floor(he * ENTROPY_BINS)))]++;
        this.positions++;
        if (t + 1 < to) {
          const next = b.inputIds[t + 1];
          const p = t - from;
          this.countAt[p]++;
          if (b.topkIds[o] === next) this.agreeAt[p]++;
          // Ragged top-p batches: only the kept entries; the padding's id 0 is no prediction.
          const kept = b.topkCounts ? b.topkCounts[t] : k;
          for (let j = 0; j < kept; j++) {
            if (b.topkIds[o + j] === next) {
              this.inTopk++;
              break;
            }
          }
        }
      }
    }
  }

  private grow(len: number): void {
    this.maxLen = len;
    if (len <= this.countAt.length) return;
    let n = this.countAt.length;
    while (n < len) n *= 2;
    const a = new Float64Array(n), c = new Float64Array(n);
    a.set(this.agreeAt);
    c.set(this.countAt);
    this.agreeAt = a;
    this.countAt = c;
  }

  finish(): Pick<DatasetStats, 'mass' | 'entropy' | 'top1'> & { positions: number } {
    const n = this.positions;
    let agree = 0, predicted = 0;
    for (let p = 0; p < this.maxLen; p++) {
      agree += this.agreeAt[p];
      predicted += this.countAt[p];
    }
    const width = Math.max(1, Math.ceil(this.maxLen / POSITION_BUCKETS));
    const buckets: DatasetStats['top1']['buckets'] = [];
    for (let from = 0; from < this.maxLen; from += width) {
      let a = 0, c = 0;
      for (let p = from; p < Math.min(this.maxLen, from + width); p++) {
        a += this.agreeAt[p];
        c += this.countAt[p];
      }
      if (c > 0) buckets.push({ from, to: Math.min(this.maxLen, from + width), positions: c, agreement: a / c });
    }
    return {
      positions: n,
      mass: { bins: Array.from(this.mass), mean: n ? this.massSum / n : 0 },
      entropy: { bins: Array.from(this.entropy), max: this.logK, mean: n ? this.entropySum / n : 0 },
      top1: { overall: predicted ? agree / predicted : null, inTopk: predicted ? this.inTopk / predicted : null, buckets },
    };
  }
}

export function shardBytesPerToken(m: Manifest): DatasetStats['shards'] {
  return m.shards.map((s) => ({ file: s.file, bytesPerToken: s.tokens > 0 ? s.bytes / s.tokens : null, tokens: s.tokens }));
}

/**
 * Reads as many batches as both budgets allow (at least one), spread evenly over the
 * dataset, and returns the statistics with exactly which batches they came from.
 */
export async function computeStats(m: Manifest, read: (batch: number) => Promise<TopkBatch>, budget: StatsBudget = DEFAULT_BUDGET): Promise<DatasetStats> {
  const acc = new StatsAccumulator(m.topk.k);
  const used: number[] = [];
  let tokens = 0;
  // The token budget sets how many batches, from the mean batch size, before any is read:
  // stopping early instead would sample only the start of the dataset.
  const meanTokens = m.batchCount > 0 ? m.tokenCount / m.batchCount : 0;
  const n = Math.max(1, Math.min(budget.maxBatches, meanTokens > 0 ? Math.floor(budget.maxTokens / meanTokens) : budget.maxBatches));
  for (const b of spreadBatches(m.batchCount, n)) {
    const batch = await read(b);
    acc.add(batch);
    used.push(b);
    tokens += batch.inputIds.length;
  }
  const { positions, ...rest } = acc.finish();
  return {
    sampled: { batches: used, batchCount: m.batchCount, tokens, tokenCount: m.tokenCount, positions, complete: used.length === m.batchCount },
    k: m.topk.k,
    ...rest,
    shards: shardBytesPerToken(m),
  };
}
