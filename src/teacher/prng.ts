// Small seeded PRNG for synthetic teachers and datasets: the same seed must give the same
// model bytes and the same token stream on every machine, so no Math.random.

export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

export function createRng(seed: number): Rng {
  // A Weyl sequence (golden-ratio increment) pushed through a 32-bit avalanche mix.
  let state = (seed ^ 0x5bd1e995) >>> 0;
  let spare = NaN;
  const next32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  // 27 + 26 random bits make a double with all 53 mantissa bits filled.
  const uniform = (): number => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
  return {
    uniform,
    normal(): number {
      if (spare === spare) {
        const s = spare;
        spare = NaN;
        return s;
      }
      // Box-Muller; 1 - u keeps the log argument in (0, 1].
      const r = Math.sqrt(-2 * Math.log(1 - uniform()));
      const th = 2 * Math.PI * uniform();
      spare = r * Math.sin(th);
      return r * Math.cos(th);
    },
    int(n: number): number {
      return Math.floor(uniform() * n);
    },
  };
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
