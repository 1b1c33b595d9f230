// Fidelity of decoded top-k log-probabilities against the exact float32 ones.
import { float16ToFloat32, float32ToFloat16 } from '../../src/shard/float16.js';
import { createRng } from '../../src/teacher/prng.js';

export interface Fidelity {
  /** max |decoded - exact| per rank band, e.g. {"0": .., "1-3": ..}. */
  maxAbsByBand: Record<string, number>;
  /** Leading ranks where every decoded value equals the float16 rounding of the exact value. */
  f16Ranks: number;
  /** Teacher-led BiLD (top 8, T = 3) against a noisy student: |cached - exact| / exact. */
  bildRelError: number;
  /** Mean over positions of KL(exact top-k renormalised || decoded top-k renormalised), nats. */
  klTopk: number;
}

export function bands(k: number): [number, number][] {
  const all: [number, number][] = k <= 8 ? [[0, 0], [1, 3], [4, k - 1]] : [[0, 15], [16, 31], [32, k - 1]];
  return all.map(([lo, hi]): [number, number] => [lo, Math.min(hi, k - 1)]).filter(([lo, hi]) => lo <= hi);
}

const BILD_K = 8;
const T = 3;

/** KL between the pair-difference distributions of two k-vectors (BiLD's per-position term). */
function pairKl(t: Float64Array, s: Float64Array, k: number, a: Float64Array, b: Float64Array): number {
  let n = 0;
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) {
    a[n] = (t[i] - t[j]) / T;
    b[n] = (s[i] - s[j]) / T;
    n++;
  }
  const lse = (x: Float64Array): number => {
    let m = -Infinity;
    for (let i = 0; i < n; i++) if (x[i] > m) m = x[i];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(x[i] - m);
    return m + Math.log(sum);
  };
  const la = lse(a), lb = lse(b);
  let kl = 0;
  for (let i = 0; i < n; i++) {
    const lp = a[i] - la;
    kl += Math.exp(lp) * (lp - (b[i] - lb));
  }
  return kl;
}

/** exact/decoded: [tokens * k]. The student is exact + N(0, 1), from a fixed seed. */
export function fidelity(exact: Float32Array, decoded: Float32Array, k: number, seed = 1): Fidelity {
  const tokens = exact.length / k;
  const maxAbsByBand: Record<string, number> = {};
  for (const [lo, hi] of bands(k)) {
    let m = 0;
    for (let t = 0; t < tokens; t++) for (let r = lo; r <= hi; r++) {
      const d = Math.abs(decoded[t * k + r] - exact[t * k + r]);
      if (!(d <= m)) m = d; // NaN propagates as "worse than anything"
    }
    maxAbsByBand[lo === hi ? `${lo}` : `${lo}-${hi}`] = m;
  }
  const rounded = float16ToFloat32(float32ToFloat16(exact));
  let f16Ranks = 0;
  for (let r = 0; r < k; r++) {
    let ok = true;
    for (let t = 0; t < tokens && ok; t++) ok = decoded[t * k + r] === rounded[t * k + r];
    if (!ok) break;
    f16Ranks = r + 1;
  }
  const rng = createRng(seed);
  const kb = Math.min(BILD_K, k);
  const te = new Float64Array(kb), tc = new Float64Array(kb), st = new Float64Array(kb);
  const a = new Float64Array((kb * (kb - 1)) / 2), b = new Float64Array(a.length);
  let exactSum = 0, cachedSum = 0, kl = 0;
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < kb; r++) {
      te[r] = exact[t * k + r];
      tc[r] = decoded[t * k + r];
      st[r] = te[r] + rng.normal();
    }
    exactSum += pairKl(te, st, kb, a, b);
    cachedSum += pairKl(tc, st, kb, a, b);
    // KL over the whole cached top-k, both sides renormalised.
    let me = -Infinity, mc = -Infinity;
    for (let r = 0; r < k; r++) {
      me = Math.max(me, exact[t * k + r]);
      mc = Math.max(mc, decoded[t * k + r]);
    }
    let se = 0, sc = 0;
    for (let r = 0; r < k; r++) {
      se += Math.exp(exact[t * k + r] - me);
      sc += Math.exp(decoded[t * k + r] - mc);
    }
    const le = me + Math.log(se), lc = mc + Math.log(sc);
    for (let r = 0; r < k; r++) {
      const p = exact[t * k + r] - le;
      kl += Math.exp(p) * (p - (decoded[t * k + r] - lc));
    }
  }
  return { maxAbsByBand, f16Ranks, bildRelError: Math.abs(cachedSum - exactSum) / exactSum, klTopk: kl / tokens };
}
