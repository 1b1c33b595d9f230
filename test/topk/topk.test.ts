import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allFinite, firstNonFinite, logSumExp, topkLogprobsRows } from '../../src/topk/index.js';

// Naive reference: full sort by (value desc, id asc) and a log-add-exp fold for the normalizer.
function reference(row: Float32Array, k: number, limit: number): { ids: number[]; logprobs: number[] } {
  const order = Array.from({ length: limit }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b);
  let lse = -Infinity;
  for (let i = 0; i < limit; i++) {
    const x = row[i];
    const hi = Math.max(lse, x);
    lse = hi + Math.log(Math.exp(lse - hi) + Math.exp(x - hi));
  }
  const ids = order.slice(0, k);
  return { ids, logprobs: ids.map((i) => row[i] - lse) };
}

// Small integers make ties common; wide floats exercise the ordering and the normalizer.
const logit = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.float({ min: -40, max: 40, noNaN: true, noDefaultInfinity: true }),
);

const caseArb = fc
  .record({ rows: fc.integer({ min: 1, max: 4 }), vocab: fc.integer({ min: 1, max: 80 }) })
  .chain(({ rows, vocab }) =>
    fc.record({
      rows: fc.constant(rows),
      vocab: fc.constant(vocab),
      limit: fc.integer({ min: 1, max: vocab }),
      kFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      values: fc.array(logit, { minLength: rows * vocab, maxLength: rows * vocab }),
    }),
  );

describe('topkLogprobsRows', () => {
  it('matches a sort-based reference (ids exactly, logprobs within float32 rounding)', () => {
    fc.assert(
      fc.property(caseArb, ({ rows, vocab, limit, kFrac, values }) => {
        const k = Math.max(1, Math.round(kFrac * limit));
        const logits = Float32Array.from(values);
        const ids = new Int32Array(rows * k);
        const lps = new Float32Array(rows * k);
        topkLogprobsRows(logits, rows, vocab, k, ids, lps, limit);
        for (let r = 0; r < rows; r++) {
          const ref = reference(logits.subarray(r * vocab, (r + 1) * vocab), k, limit);
          expect(Array.from(ids.subarray(r * k, (r + 1) * k))).toEqual(ref.ids);
          for (let j = 0; j < k; j++) {
            expect(Math.abs(lps[r * k + j] - ref.logprobs[j])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref.logprobs[j])));
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('puts the lower id first among ties, for k=1 and k=vocab', () => {
    const logits = Float32Array.from([2, 5, 5, 1, 5]);
    const one = new Int32Array(1);
    topkLogprobsRows(logits, 1, 5, 1, one, new Float32Array(1));
    expect(one[0]).toBe(1);
    const all = new Int32Array(5);
    const lp = new Float32Array(5);
    topkLogprobsRows(logits, 1, 5, 5, all, lp);
    expect(Array.from(all)).toEqual([1, 2, 4, 0, 3]);
    // Full-vocabulary log-probabilities must normalize.
    let mass = 0;
    for (const v of lp) mass += Math.exp(v);
    expect(mass).toBeCloseTo(1, 6);
  });

  it('stays exact on a 152k-wide row (float64 accumulation)', () => {
    const vocab = 152_064;
    const logits = new Float32Array(vocab);
    for (let i = 0; i < vocab; i++) logits[i] = Math.sin(i * 12.9898) * 8;
    const ids = new Int32Array(8);
    const lps = new Float32Array(8);
    topkLogprobsRows(logits, 1, vocab, 8, ids, lps);
    const ref = reference(logits, 8, vocab);
    expect(Array.from(ids)).toEqual(ref.ids);
    for (let j = 0; j < 8; j++) expect(lps[j]).toBeCloseTo(ref.logprobs[j], 5);
  });

  it('a NaN or +Inf anywhere in a row makes that row non-finite (so the session can catch it)', () => {
    fc.assert(
      fc.property(
        fc.array(logit, { minLength: 1, maxLength: 60 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(NaN, Infinity),
        (values, at, kSeed, bad) => {
          const row = Float32Array.from(values);
          row[at % row.length] = bad;
          const k = 1 + (kSeed % row.length);
          const ids = new Int32Array(k);
          const lps = new Float32Array(k);
          topkLogprobsRows(row, 1, row.length, k, ids, lps);
          expect(firstNonFinite(lps)).not.toBe(-1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects bad k, vocabLimit and buffer sizes', () => {
    const logits = new Float32Array(10);
    const ids = new Int32Array(20);
    const lps = new Float32Array(20);
    expect(() => topkLogprobsRows(logits, 1, 10, 0, ids, lps)).toThrow(/k must be/);
    expect(() => topkLogprobsRows(logits, 1, 10, 11, ids, lps)).toThrow(/k=11 exceeds the vocabulary size 10/);
    expect(() => topkLogprobsRows(logits, 1, 10, 6, ids, lps, 5)).toThrow(/k=6 exceeds the vocabulary size 5/);
    expect(() => topkLogprobsRows(logits, 1, 10, 2, ids, lps, 11)).toThrow(/vocabLimit/);
    expect(() => topkLogprobsRows(logits, 2, 10, 2, ids, lps)).toThrow(/need 20 logits/);
    expect(() => topkLogprobsRows(logits, 1, 10, 2, new Int32Array(1), lps)).toThrow(/need 2 outputs/);
  });
});

describe('logSumExp and non-finite detection', () => {
  it('agrees with a Math.exp float64 sum to ~1e-12 relative on wide random rows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -80, max: 80, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 3000 }),
        (values) => {
          const row = Float32Array.from(values);
          let max = -Infinity;
          for (const v of row) max = Math.max(max, v);
          let sum = 0;
          for (const v of row) sum += Math.exp(v - max);
          const ref = max + Math.log(sum);
          expect(Math.abs(logSumExp(row, 0, row.length) - ref)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(ref)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('propagates NaN and +Inf, keeps all -Inf as -Inf', () => {
    expect(logSumExp(Float32Array.from([1, NaN, 2]), 0, 3)).toBeNaN();
    expect(logSumExp(Float32Array.from([NaN, 1]), 0, 2)).toBeNaN();
    expect(logSumExp(Float32Array.from([1, Infinity]), 0, 2)).toBeNaN();
    expect(logSumExp(Float32Array.from([-Infinity, -Infinity]), 0, 2)).toBe(-Infinity);
    expect(logSumExp(Float32Array.from([1000, 1000]), 0, 2)).toBeCloseTo(1000 + Math.LN2, 4);
  });

  it('finds the first NaN or infinity within the range', () => {
    const v = Float32Array.from([0, 1, -2, Infinity, NaN, -Infinity]);
    expect(firstNonFinite(v)).toBe(3);
    expect(firstNonFinite(v, 4)).toBe(4);
    expect(firstNonFinite(v, 5)).toBe(5);
    expect(firstNonFinite(v, 0, 3)).toBe(-1);
    expect(allFinite(v, 0, 3)).toBe(true);
    expect(allFinite(v)).toBe(false);
  });
});
