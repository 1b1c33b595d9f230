// Rank-delta coding of sorted top-k log-probabilities. Each position's k values are
// non-increasing, so each is stored as its difference from the previous rank:
// - ranks < f16Ranks: the half-precision value's order key (f16-keys.ts); the difference of keys
//   is exact, so these ranks decode to exactly the float16 rounding of the true value;
// - ranks >= f16Ranks: q = round(-logprob / step) on a uniform grid (error <= step / 2), the first
//   of them stored absolute, the rest as differences.
// Differences are taken modulo 2^16, so any input round-trips to its rounding, sorted or not;
// sorted input merely makes the numbers small.
import { float16ToFloat32, float32ToFloat16 } from '../float16.js';
import { halfFromKey, halfKey } from './f16-keys.js';

export interface RankDeltaParams {
  k: number;
  /** Leading ranks stored at float16 precision (0..k). */
  f16Ranks: number;
  /** Grid step in nats for the other ranks; unused when f16Ranks == k. */
  step: number;
}

/** The largest grid index; -Infinity, NaN and anything below -65535*step saturate to it. */
export const GRID_MAX = 0xffff;

export function checkRankDeltaParams(p: RankDeltaParams, where: string): void {
  if (!Number.isInteger(p.k) || p.k < 1) throw new RangeError(`${where}: k must be a positive integer, got ${p.k}`);
  if (!Number.isInteger(p.f16Ranks) || p.f16Ranks < 0 || p.f16Ranks > p.k) {
    throw new RangeError(`${where}: f16 ranks must be an integer in [0, k=${p.k}], got ${p.f16Ranks}`);
  }
  if (p.f16Ranks < p.k && !(Number.isFinite(p.step) && p.step > 0)) {
    throw new RangeError(`${where}: grid step must be a positive number, got ${p.step}`);
  }
}

function gridIndex(v: number, step: number): number {
  const q = Math.round(-v / step);
  // q !== q: NaN. Positive log-probabilities (impossible from a log-softmax) clamp to 0.
  return q !== q || q > GRID_MAX ? GRID_MAX : q < 0 ? 0 : q;
}

/** values: [tokens * k] log-probs, rank-major within each position. Returns [tokens * k] deltas. */
export function encodeRankDelta(values: Float32Array, p: RankDeltaParams, out = new Uint16Array(values.length)): Uint16Array {
  const { k, f16Ranks, step } = p;
  if (values.length % k !== 0) throw new RangeError(`rank-delta: ${values.length} values is not a multiple of k=${k}`);
  const half = float32ToFloat16(values);
  for (let base = 0; base < values.length; base += k) {
    let prev = 0;
    for (let r = 0; r < f16Ranks; r++) {
      const key = halfKey(half[base + r]);
      out[base + r] = (key - prev) & 0xffff;
      prev = key;
    }
    prev = 0;
    for (let r = f16Ranks; r < k; r++) {
      const q = gridIndex(values[base + r], step);
      out[base + r] = (q - prev) & 0xffff;
      prev = q;
    }
  }
  return out;
}

/** Inverse of encodeRankDelta. */
export function decodeRankDelta(deltas: Uint16Array, p: RankDeltaParams, out = new Float32Array(deltas.length)): Float32Array {
  const { k, f16Ranks, step } = p;
  if (deltas.length % k !== 0) throw new RangeError(`rank-delta: ${deltas.length} deltas is not a multiple of k=${k}`);
  if (out.length !== deltas.length) throw new RangeError(`rank-delta: output holds ${out.length}, expected ${deltas.length}`);
  // Keys back to half bit patterns first, then one table-driven widening of the whole array.
  const half = new Uint16Array(deltas.length);
  for (let base = 0; base < deltas.length; base += k) {
    let key = 0;
    for (let r = 0; r < f16Ranks; r++) {
      key = (key + deltas[base + r]) & 0xffff;
      half[base + r] = halfFromKey(key);
    }
  }
  float16ToFloat32(half, out);
  if (f16Ranks === k) return out;
  for (let base = 0; base < deltas.length; base += k) {
    let q = 0;
    for (let r = f16Ranks; r < k; r++) {
      q = (q + deltas[base + r]) & 0xffff;
      out[base + r] = -q * step;
    }
  }
  return out;
}
