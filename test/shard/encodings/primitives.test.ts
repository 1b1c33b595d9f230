import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16 } from '../../../src/shard/float16.js';
import { fromBytePlanes, toBytePlanes } from '../../../src/shard/encodings/byte-planes.js';
import { halfFromKey, halfKey } from '../../../src/shard/encodings/f16-keys.js';
import { decodeIdRefs, encodeIdRefs, idRefPlanes } from '../../../src/shard/encodings/id-refs.js';
import { decodeRankDelta, encodeRankDelta, GRID_MAX } from '../../../src/shard/encodings/rank-delta.js';
import { makeBatch } from '../make-batch.js';

const f16Round = (v: Float32Array): Float32Array => float16ToFloat32(float32ToFloat16(v));

describe('half order keys', () => {
  it('are a bijection except that +0 folds onto -0', () => {
    const seen = new Set<number>();
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const key = halfKey(h);
      if (h !== 0 && halfFromKey(key) !== h) wrong.push(h);
      seen.add(key);
    }
    expect(wrong).toEqual([]);
    expect(seen.size).toBe(65535);
    expect(halfFromKey(halfKey(0))).toBe(0x8000);
  });

  it('grow with the magnitude of non-positive values', () => {
    const neg = float32ToFloat16(Float32Array.of(-0, -1e-6, -0.001, -0.5, -1, -2.5, -17, -60000, -Infinity));
    for (let i = 1; i < neg.length; i++) expect(halfKey(neg[i])).toBeGreaterThan(halfKey(neg[i - 1]));
  });
});

describe('byte planes', () => {
  it('round-trip 16- and 32-bit values', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 200 }), (xs) => {
      const src = Uint32Array.from(xs);
      const planes = toBytePlanes(src, 4);
      expect(planes).toHaveLength(4);
      expect(Array.from(fromBytePlanes(planes, new Uint32Array(src.length)))).toEqual(xs);
      const small = Uint16Array.from(xs, (x) => x & 0xffff);
      expect(Array.from(fromBytePlanes(toBytePlanes(small, 2), new Uint16Array(small.length)))).toEqual(Array.from(small));
    }));
  });

  it('refuse planes of unequal length', () => {
    expect(() => fromBytePlanes([new Uint8Array(3), new Uint8Array(2)], new Uint16Array(3))).toThrow(/2 bytes, expected 3/);
  });
});

const sortedRows = (k: number) => fc.array(
  fc.array(fc.float({ min: -40, max: 0, noNaN: true }), { minLength: k, maxLength: k }).map((r) => r.sort((a, b) => b - a)),
  { minLength: 1, maxLength: 30 },
).map((rows) => Float32Array.from(rows.flat()));

describe('rank-delta values', () => {
  it('f16 ranks decode to exactly the float16 rounding, sorted or not', () => {
    const anyRows = fc.array(fc.float({ noNaN: false }), { minLength: 8, maxLength: 8 * 40 }).map((xs) => Float32Array.from(xs.slice(0, xs.length - (xs.length % 8))));
    fc.assert(fc.property(fc.oneof(sortedRows(8), anyRows), (v) => {
      const got = decodeRankDelta(encodeRankDelta(v, { k: 8, f16Ranks: 8, step: 0 }), { k: 8, f16Ranks: 8, step: 0 });
      const want = f16Round(v);
      for (let i = 0; i < v.length; i++) {
        if (Number.isNaN(want[i])) expect(Number.isNaN(got[i])).toBe(true);
        else expect(got[i]).toBe(want[i] === 0 ? -0 : want[i]);
      }
    }), { numRuns: 300 });
  });

  it('grid ranks stay within half a step; sorted rows give small non-negative deltas', () => {
    fc.assert(fc.property(sortedRows(8), fc.constantFrom(0.05, 0.1, 0.3), fc.integer({ min: 0, max: 8 }), (v, step, f16Ranks) => {
      const p = { k: 8, f16Ranks, step };
      const d = encodeRankDelta(v, p);
      const got = decodeRankDelta(d, p);
      const rounded = f16Round(v);
      for (let i = 0; i < v.length; i++) {
        if (i % 8 < f16Ranks) expect(got[i]).toBe(rounded[i] === 0 ? -0 : rounded[i]);
        else expect(Math.abs(got[i] - v[i])).toBeLessThanOrEqual(step / 2 + 1e-5);
        // Grid indices of sorted rows never go down, so only the first grid rank can be big.
        if (i % 8 > f16Ranks) expect(d[i]).toBeLessThanOrEqual(Math.ceil(40 / step) + 1);
      }
    }), { numRuns: 200 });
  });

  it('saturates -Infinity and NaN at the last grid index', () => {
    const p = { k: 2, f16Ranks: 0, step: 0.1 };
    const got = decodeRankDelta(encodeRankDelta(Float32Array.of(-Infinity, NaN), p), p);
    expect(got[0]).toBeCloseTo(-GRID_MAX * 0.1, 3);
    expect(got[1]).toBeCloseTo(-GRID_MAX * 0.1, 3);
  });

  it('refuses a length that is not a multiple of k', () => {
    expect(() => encodeRankDelta(new Float32Array(7), { k: 8, f16Ranks: 8, step: 0 })).toThrow(/not a multiple of k=8/);
    expect(() => decodeRankDelta(new Uint16Array(9), { k: 8, f16Ranks: 8, step: 0 })).toThrow(/not a multiple of k=8/);
  });
});

describe('id refs', () => {
  const shapes = fc.record({
    lengths: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 6 }),
    k: fc.integer({ min: 1, max: 6 }),
    vocabSize: fc.constantFrom(8, 50, 70000),
    seed: fc.integer({ min: 0, max: 1e6 }),
  });

  it('round-trip every batch, with every subset of references', () => {
    fc.assert(fc.property(shapes, fc.boolean(), fc.boolean(), ({ lengths, k, vocabSize, seed }, next, prev) => {
      const b = makeBatch({ lengths, k: Math.min(k, vocabSize), vocabSize, firstSample: 0, seed });
      const kk = Math.min(k, vocabSize);
      // Make references likely: the next input token is often the top-1, ids repeat across positions.
      for (let t = 0; t + 1 < b.inputIds.length; t++) if (t % 2 === 0) b.inputIds[t + 1] = b.topkIds[t * kk];
      const codes = encodeIdRefs(b.topkIds, b.offsets, b.inputIds, kk, vocabSize, { next, prev });
      for (const c of codes) expect(c).toBeLessThan(vocabSize + kk + 1);
      const got = decodeIdRefs(codes, b.offsets, b.inputIds, kk, vocabSize, new Uint32Array(codes.length));
      expect(Array.from(got)).toEqual(Array.from(b.topkIds));
    }), { numRuns: 300 });
  });

  it('uses the references: the next input token codes as 0, a repeated id as its previous rank', () => {
    const offsets = Int32Array.of(0, 3);
    const inputIds = Int32Array.of(5, 7, 9);
    const ids = Uint32Array.of(7, 1, /* t=1 */ 9, 7, /* t=2 */ 1, 9);
    const codes = encodeIdRefs(ids, offsets, inputIds, 2, 10);
    // t=0: 7 is the next input (0), 1 is a literal (3+1); t=1: 9 next (0), 7 was rank 0 at t=0 (1);
    // t=2 (last, no next token): 1 is a literal (was not at t=1), 9 was rank 0 at t=1 (1).
    expect(Array.from(codes)).toEqual([0, 4, 0, 1, 4, 1]);
  });

  it('refuses references that name nothing and ids outside the vocabulary', () => {
    const offsets = Int32Array.of(0, 1, 2);
    const inputIds = Int32Array.of(1, 2);
    expect(() => decodeIdRefs(Uint32Array.of(0, 2), offsets, inputIds, 1, 4, new Uint32Array(2))).toThrow(/token 0 rank 0 refers to the next input token/);
    expect(() => decodeIdRefs(Uint32Array.of(3, 1), offsets, inputIds, 1, 4, new Uint32Array(2))).toThrow(/token 1 rank 0 refers to the previous position/);
    expect(() => decodeIdRefs(Uint32Array.of(2 + 4, 2), offsets, inputIds, 1, 4, new Uint32Array(2))).toThrow(/decodes to id 4, outside the vocabulary of 4/);
    expect(() => encodeIdRefs(Uint32Array.of(4, 0), offsets, inputIds, 1, 4)).toThrow(/id 4 at token 0/);
  });

  it('needs 3 byte planes once codes pass 16 bits', () => {
    expect(idRefPlanes(512, 8)).toBe(2);
    expect(idRefPlanes(65536 - 9, 8)).toBe(2);
    expect(idRefPlanes(65536 - 8, 8)).toBe(3);
    expect(idRefPlanes(152064, 128)).toBe(3);
  });
});
