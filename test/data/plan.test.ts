import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchSamples } from '../../src/data/batch.js';
import { type MicroBatch, packMicroBatch, paddingStats, planConsecutive, planInference } from '../../src/data/plan.js';
import { readSamples } from '../../src/data/read-samples.js';
import { haveStories, storiesPath } from './helpers.js';

const lengthsArb = fc.array(fc.nat(300), { maxLength: 200 });
const budgetArb = fc.integer({ min: 1, max: 4000 });

/** Invariants any plan must satisfy, checked from first principles. */
function checkPlan(lengths: readonly number[], budget: number, plan: MicroBatch[], maxRows = Infinity): void {
  const seen = new Array<number>(lengths.length).fill(0);
  for (const b of plan) {
    expect(b.rows.length).toBeGreaterThan(0);
    expect(b.rows.length).toBeLessThanOrEqual(maxRows);
    let longest = 0;
    for (const r of b.rows) {
      seen[r]++;
      longest = Math.max(longest, lengths[r]);
    }
    expect(b.seqLen).toBe(longest);
    // Within budget, or a lone row (an over-long sample runs by itself).
    if (b.rows.length > 1) expect(b.rows.length * Math.max(1, b.seqLen)).toBeLessThanOrEqual(budget);
  }
  expect(seen.every((c) => c === 1)).toBe(true);
}

describe('planInference', () => {
  it('uses every index exactly once, keeps each micro-batch within budget, seqLen = its longest row', () => {
    fc.assert(
      fc.property(lengthsArb, budgetArb, fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }), (lengths, budget, maxRows) => {
        checkPlan(lengths, budget, planInference(lengths, budget, { maxRows }), maxRows);
        checkPlan(lengths, budget, planInference(Int32Array.from(lengths), budget, { maxRows }), maxRows);
      }),
    );
  });

  it('never mixes empty samples with non-empty ones (the teacher never sees a zero-length row)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(6), { maxLength: 60 }), budgetArb, (lengths, budget) => {
        for (const b of planInference(lengths, budget)) {
          const empty = Array.from(b.rows, (r) => lengths[r] === 0);
          expect(empty.every((e) => e === empty[0])).toBe(true);
          expect(b.seqLen === 0).toBe(empty[0]);
        }
      }),
    );
    expect(planInference([3, 0, 2, 0], 100).map((b) => [Array.from(b.rows), b.seqLen])).toEqual([[[0, 2], 3], [[1, 3], 0]]);
  });

  it('puts a sample longer than the budget alone', () => {
    const plan = planInference([10, 500, 20], 100);
    const alone = plan.find((b) => b.seqLen === 500);
    expect(alone && Array.from(alone.rows)).toEqual([1]);
  });

  it('fills greedily: the next row in length order would not have fit', () => {
    fc.assert(
      fc.property(lengthsArb, budgetArb, (lengths, budget) => {
        const plan = planInference(lengths, budget);
        for (let i = 0; i + 1 < plan.length; i++) {
          const b = plan[i];
          // Empty samples are cut off from real rows whatever the budget.
          if (b.seqLen > 0 && plan[i + 1].seqLen === 0) continue;
          // The next batch starts with the longest remaining row, which is no longer than b.seqLen.
          expect((b.rows.length + 1) * Math.max(1, b.seqLen)).toBeGreaterThan(budget);
        }
      }),
    );
  });

  it('pads less than consecutive batching on lengths with a wide spread', () => {
    // Not a theorem for every input (consecutive rows can happen to line up), so this uses a
    // fixed pseudo-random draw rather than a property: 2000 lengths uniform in [1, 512].
    let state = 12345;
    const lengths = Array.from({ length: 2000 }, () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return 1 + (state % 512);
    });
    for (const budget of [2048, 8192, 32768]) {
      const sorted = paddingStats(lengths, planInference(lengths, budget));
      const naive = paddingStats(lengths, planConsecutive(lengths, budget));
      checkPlan(lengths, budget, planConsecutive(lengths, budget));
      expect(sorted.tokens).toBe(naive.tokens);
      expect(sorted.paddingRatio).toBeLessThan(naive.paddingRatio / 4);
    }
  });

  it('rejects bad budgets and lengths', () => {
    expect(() => planInference([1], 0)).toThrow(/maxBatchTokens must be a positive integer, got 0/);
    expect(() => planInference([1, -2], 10)).toThrow(/lengths\[1\] is -2/);
    expect(() => planInference([1], 10, { maxRows: 0 })).toThrow(/maxRows/);
  });
});

describe('packMicroBatch', () => {
  const samplesArb = fc.array(fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 40 }), { minLength: 1, maxLength: 60 });

  it('right-pads with the pad id, and scattering results by rows restores dataset order', () => {
    fc.assert(
      fc.property(samplesArb, budgetArb, (samples, budget) => {
        const inputs = samples.map((s) => Int32Array.from(s));
        const plan = planInference(inputs.map((s) => s.length), budget);
        const restored: number[][] = new Array(samples.length);
        for (const b of plan) {
          const { ids, lengths } = packMicroBatch(inputs, b);
          expect(ids.length).toBe(b.rows.length * b.seqLen);
          for (let r = 0; r < b.rows.length; r++) {
            const row = Array.from(ids.subarray(r * b.seqLen, (r + 1) * b.seqLen));
            expect(lengths[r]).toBe(samples[b.rows[r]].length);
            expect(row.slice(lengths[r]).every((v) => v === 0)).toBe(true);
            restored[b.rows[r]] = row.slice(0, lengths[r]);
          }
        }
        expect(restored).toEqual(samples);
      }),
    );
  });

  it('writes into caller buffers when they are big enough, allocates otherwise', () => {
    const inputs = [Int32Array.of(1, 2, 3), Int32Array.of(4)];
    const batch = { rows: Int32Array.of(0, 1), seqLen: 3 };
    const ids = new Int32Array(16).fill(-9);
    const lengths = new Int32Array(4);
    const packed = packMicroBatch(inputs, batch, { ids, lengths }, 7);
    expect(packed.ids.buffer).toBe(ids.buffer);
    expect(packed.lengths.buffer).toBe(lengths.buffer);
    expect(Array.from(packed.ids)).toEqual([1, 2, 3, 4, 7, 7]);
    expect(Array.from(packed.lengths)).toEqual([3, 1]);
    const small = packMicroBatch(inputs, batch, { ids: new Int32Array(5), lengths: new Int32Array(1) });
    expect(small.ids.length).toBe(6);
    expect(Array.from(small.ids)).toEqual([1, 2, 3, 4, 0, 0]);
    expect(() => packMicroBatch(inputs, { rows: Int32Array.of(0), seqLen: 2 })).toThrow(/input 0 has 3 tokens, more than the micro-batch seqLen 2/);
  });
});

describe.skipIf(!haveStories)('padding on stories.jsonl', () => {
  it('is lower with length grouping than with consecutive batching', async () => {
    const lengths: number[] = [];
    const batchLengths: number[][] = [];
    for await (const batch of batchSamples(readSamples(storiesPath), 64)) {
      batchLengths.push(batch.map((s) => s.inputIds.length));
      for (const s of batch) lengths.push(s.inputIds.length);
    }
    for (const budget of [1024, 4096, 16384]) {
      // Whole dataset at once, and per stored batch of 64 (how precompute sees it).
      const whole = [paddingStats(lengths, planInference(lengths, budget)), paddingStats(lengths, planConsecutive(lengths, budget))];
      let sortedPad = 0, naivePad = 0, sortedSlots = 0, naiveSlots = 0;
      for (const bl of batchLengths) {
        const s = paddingStats(bl, planInference(bl, budget));
        const n = paddingStats(bl, planConsecutive(bl, budget));
        sortedPad += s.slots - s.tokens; sortedSlots += s.slots;
        naivePad += n.slots - n.tokens; naiveSlots += n.slots;
      }
      console.log(
        `stories padding, budget ${budget}: whole dataset sorted ${(whole[0].paddingRatio * 100).toFixed(2)}% vs consecutive ${(whole[1].paddingRatio * 100).toFixed(2)}%; ` +
          `per stored batch of 64 sorted ${((sortedPad / sortedSlots) * 100).toFixed(2)}% vs consecutive ${((naivePad / naiveSlots) * 100).toFixed(2)}%`,
      );
      expect(whole[0].paddingRatio).toBeLessThan(whole[1].paddingRatio);
      // 509 of the 576 stories are exactly 256 tokens, so within 64 samples the few short ones
      // often share a micro-batch with 256-token rows either way: equal is possible, worse is not.
      expect(sortedPad).toBeLessThanOrEqual(naivePad);
    }
  });
});
