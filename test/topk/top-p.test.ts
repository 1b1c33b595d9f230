// Top-p trimming (src/topk/top-p.ts) against a brute-force reference written from the rule
// itself: for every prefix length n from min-k to k, sum the probabilities from scratch and take
// the first n whose mass reaches P. The tail update is checked against a float64 log of
// (tail probability + dropped probabilities).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keptCount, trimTopP } from '../../src/topk/top-p.js';

/** Sorted (non-increasing) float32 log-probs of one position: a random softmax's top k. */
const position = (k: number) => fc.array(fc.double({ min: -12, max: 12, noNaN: true }), { minLength: k + 1, maxLength: k + 40 })
  .map((logits) => {
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, z) => a + Math.exp(z - max), 0));
    const lp = logits.map((z) => z - lse).sort((a, b) => b - a);
    // The tail: everything past rank k, in float64, as the teacher's graph would give it.
    const rest = lp.slice(k);
    const m = rest[0];
    return { top: Float32Array.from(lp.slice(0, k)), tail: m + Math.log(rest.reduce((a, v) => a + Math.exp(v - m), 0)) };
  });

function bruteForce(lp: Float32Array, k: number, topP: number, minK: number): number {
  if (topP === 1) return k;
  for (let n = minK; n <= k; n++) {
    let mass = 0;
    for (let r = 0; r < n; r++) mass += Math.exp(lp[r]);
    if (mass >= topP) return n;
  }
  return k;
}

const settings = fc.record({
  k: fc.integer({ min: 1, max: 40 }),
  topP: fc.oneof(fc.double({ min: 0.01, max: 1, noNaN: true }), fc.constantFrom(0.5, 0.9, 0.95, 0.99, 1)),
  minKFraction: fc.double({ min: 0, max: 1, noNaN: true }),
});

describe('top-p trimming', () => {
  it('keeps exactly what the brute-force rule keeps, within [min-k, k], and pads the rest', () => {
    fc.assert(fc.property(settings.chain((s) => fc.tuple(fc.constant(s), fc.array(position(s.k), { minLength: 1, maxLength: 6 }))), ([s, rows]) => {
      const { k, topP } = s;
      const minK = Math.max(1, Math.ceil(s.minKFraction * k));
      const tokens = rows.length;
      const lp = new Float32Array(tokens * k);
      const ids = new Uint16Array(tokens * k);
      rows.forEach((r, t) => { lp.set(r.top, t * k); for (let j = 0; j < k; j++) ids[t * k + j] = 1 + t * k + j; });
      const before = lp.slice();
      const counts = new Int32Array(tokens);
      trimTopP(ids, lp, counts, undefined, 0, tokens, k, { topP, minK });
      for (let t = 0; t < tokens; t++) {
        const want = bruteForce(before.subarray(t * k, t * k + k), k, topP, minK);
        expect(counts[t]).toBe(want);
        expect(counts[t]).toBeGreaterThanOrEqual(minK);
        expect(counts[t]).toBeLessThanOrEqual(k);
        for (let j = 0; j < k; j++) {
          if (j < want) {
            expect(lp[t * k + j]).toBe(before[t * k + j]);
            expect(ids[t * k + j]).toBe(1 + t * k + j);
          } else {
            expect(lp[t * k + j]).toBe(-Infinity);
            expect(ids[t * k + j]).toBe(0);
          }
        }
        // Smallest: one fewer entry (if allowed) would not reach P.
        if (want > minK && topP < 1) {
          let mass = 0;
          for (let r = 0; r < want - 1; r++) mass += Math.exp(before[t * k + r]);
          expect(mass).toBeLessThan(topP);
        }
      }
    }), { numRuns: 300 });
  });

  it('P = 1 keeps all k, even where float32 rounding makes the top-k mass 1; min-k is a floor', () => {
    // A peaked float32 log-softmax: the top-1 log-prob rounds to 0, so its mass alone is 1.
    const lp = Float32Array.of(0, -30, -31, -32);
    expect(keptCount(lp, 0, 4, { topP: 1, minK: 1 })).toBe(4);
    expect(keptCount(lp, 0, 4, { topP: 0.999999, minK: 1 })).toBe(1);
    const flat = Float32Array.of(Math.log(0.5), Math.log(0.3), Math.log(0.1), -40);
    expect(keptCount(flat, 0, 4, { topP: 0.85, minK: 1 })).toBe(3);
    expect(keptCount(flat, 0, 4, { topP: 0.2, minK: 3 })).toBe(3);
    expect(keptCount(flat, 0, 4, { topP: 0.2, minK: 1 })).toBe(1);
  });

  it('the new tail is the float64 log mass outside the kept prefix, within float32 rounding', () => {
    let worst = 0;
    fc.assert(fc.property(settings.chain((s) => fc.tuple(fc.constant(s), position(s.k))), ([s, row]) => {
      const { k, topP } = s;
      const minK = Math.max(1, Math.ceil(s.minKFraction * k));
      const lp = Float32Array.from(row.top);
      const tail = Float32Array.of(row.tail);
      const counts = new Int32Array(1);
      trimTopP(new Uint32Array(k), lp, counts, tail, 0, 1, k, { topP, minK });
      // Reference: probabilities outside the kept prefix, summed in float64 from the float32 inputs.
      let outside = Math.exp(Math.fround(row.tail));
      for (let r = counts[0]; r < k; r++) outside += Math.exp(row.top[r]);
      const want = Math.log(outside);
      const err = Math.abs(tail[0] - want);
      worst = Math.max(worst, err);
      // float32 spacing near |want|, plus the exp/log rounding of tiny masses.
      expect(err).toBeLessThanOrEqual(Math.max(1e-6, Math.abs(want) * 2 ** -22));
    }), { numRuns: 400 });
    expect(worst).toBeLessThan(1e-4);
  });

  it('only the given positions are trimmed', () => {
    const k = 4;
    const lp = Float32Array.of(-0.01, -5, -6, -7, -0.01, -5, -6, -7);
    const ids = Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const counts = new Int32Array(2);
    trimTopP(ids, lp, counts, undefined, 1, 2, k, { topP: 0.9, minK: 1 });
    expect(Array.from(counts)).toEqual([0, 1]);
    expect(Array.from(ids)).toEqual([1, 2, 3, 4, 5, 0, 0, 0]);
  });
});
