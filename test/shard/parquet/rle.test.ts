// The RLE / bit-packed hybrid: what encodeRleHybrid writes, both our decoder and hyparquet's
// (an independent implementation) read back exactly, for runs, noise and every width used.
import fc from 'fast-check';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { describe, expect, it } from 'vitest';
import { decodeRleHybrid, encodeRleHybrid } from '../../../src/shard/parquet/rle.js';

const runsAndNoise = (width: number) => fc.array(
  fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 2 ** width - 1 }), fc.integer({ min: 1, max: 40 })).map(([v, n]) => Array<number>(n).fill(v)),
    fc.array(fc.integer({ min: 0, max: 2 ** width - 1 }), { maxLength: 30 }),
  ),
  { maxLength: 40 },
).map((parts) => parts.flat());

describe('RLE / bit-packed hybrid', () => {
  for (const width of [1, 2, 3, 8, 9, 13, 16]) {
    it(`width ${width}: decodes to what was encoded, as hyparquet reads it too`, () => {
      fc.assert(fc.property(runsAndNoise(width), (values) => {
        const src = Uint32Array.from(values);
        const bytes = encodeRleHybrid(src, src.length, width);
        const ours = new Uint32Array(src.length);
        expect(decodeRleHybrid(bytes, 0, bytes.length, width, ours, 'test')).toBe(bytes.length);
        expect(Array.from(ours)).toEqual(values);
        const theirs = new Uint32Array(src.length);
        if (src.length) readRleBitPackedHybrid({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 }, width, theirs, bytes.length);
        expect(Array.from(theirs)).toEqual(values);
      }), { numRuns: 150 });
    });
  }

  it('refuses a run that overruns its bytes rather than reading past them', () => {
    const bytes = encodeRleHybrid(Uint8Array.from([1, 2, 3, 1, 2, 3, 1, 2, 3]), 9, 2);
    expect(() => decodeRleHybrid(bytes, 0, bytes.length - 1, 2, new Uint8Array(9), 'page x')).toThrow(/page x: a bit-packed run of 2 groups overruns/);
    expect(() => decodeRleHybrid(bytes, 0, bytes.length, 2, new Uint8Array(20), 'page x')).toThrow(/page x: levels end after 16 of 20 values/);
  });
});
