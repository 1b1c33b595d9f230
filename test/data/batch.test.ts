import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchSamples } from '../../src/data/batch.js';
import type { Sample } from '../../src/data/sample.js';

async function* fromArray(n: number): AsyncGenerator<Sample> {
  for (let i = 0; i < n; i++) yield { sampleId: i, inputIds: Int32Array.of(i) };
}

describe('batchSamples', () => {
  it('cuts consecutive batches of batchSize; only the last may be short; nothing lost or reordered', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(200), fc.integer({ min: 1, max: 50 }), async (n, batchSize) => {
        const batches: Sample[][] = [];
        for await (const b of batchSamples(fromArray(n), batchSize)) batches.push(b);
        expect(batches.length).toBe(Math.ceil(n / batchSize));
        batches.forEach((b, i) => {
          if (i < batches.length - 1) expect(b.length).toBe(batchSize);
          else expect(b.length).toBeGreaterThan(0);
        });
        expect(batches.flat().map((s) => s.sampleId)).toEqual(Array.from({ length: n }, (_, i) => i));
        // Batch b holds samples [b·batchSize, (b+1)·batchSize): the server relies on this.
        batches.forEach((b, i) => expect(b[0].sampleId).toBe(i * batchSize));
      }),
    );
  });

  it('rejects a batchSize that is not a positive integer', async () => {
    for (const bad of [0, -1, 2.5, Number.NaN]) {
      await expect(batchSamples(fromArray(3), bad).next()).rejects.toThrow(/batchSize must be a positive integer/);
    }
  });
});
