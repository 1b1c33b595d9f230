import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from '../../src/shard/float16.js';

const allHalves = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe('float16', () => {
  it('encodes every half value back to its own bits (NaN stays NaN)', () => {
    const decoded = float16ToFloat32(allHalves);
    const again = float32ToFloat16(decoded);
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(decoded[h])) expect(Number.isNaN(float16ToFloat32(Uint16Array.of(again[h]))[0])).toBe(true);
      else expect(again[h]).toBe(h);
    }
  });

  it('rounds to the nearest half, ties to even', () => {
    const halves = float16ToFloat32(allHalves);
    const finite = Array.from(halves).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    fc.assert(fc.property(fc.float({ min: -65504, max: 65504, noNaN: true }), (x) => {
      const got = float16ToFloat32(float32ToFloat16(Float32Array.of(x)))[0];
      // Binary search the neighbours of x among all finite halves.
      let lo = 0, hi = finite.length - 1;
      while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (finite[mid] <= x) lo = mid; else hi = mid; }
      const best = Math.min(Math.abs(finite[lo] - x), Math.abs(finite[hi] - x));
      expect(Math.abs(got - x)).toBe(best);
    }), { numRuns: 5000 });
  });

  it('keeps infinities and overflows to infinity', () => {
    const got = float16ToFloat32(float32ToFloat16(Float32Array.of(-Infinity, Infinity, 1e6, -1e6)));
    expect(Array.from(got)).toEqual([-Infinity, Infinity, Infinity, -Infinity]);
  });
});

describe('bfloat16', () => {
  it('is within half an ulp (2^-8 relative) and exact on bf16 values', () => {
    fc.assert(fc.property(fc.float({ min: Math.fround(-1e30), max: Math.fround(1e30), noNaN: true, noDefaultInfinity: true }), (x) => {
      const once = bfloat16ToFloat32(float32ToBfloat16(Float32Array.of(x)))[0];
      expect(Math.abs(once - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -8, 2 ** -134)); // subnormals: absolute half-ulp
      expect(bfloat16ToFloat32(float32ToBfloat16(Float32Array.of(once)))[0]).toBe(once);
    }), { numRuns: 5000 });
  });
});
