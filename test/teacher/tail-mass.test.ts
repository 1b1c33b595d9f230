// The exact tail mass (log Σ p outside the top-k), fused head and host path, against a float64
// log-sum-exp over the non-top-k logits of the same model's full logits.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TeacherSession, buildSyntheticTeacher, fuseTopkHead, syntheticSamples } from '../../src/teacher/index.js';
import { decodeModel } from '../../src/teacher/onnx-model.js';
import { tailLogprobRows } from '../../src/topk/tail.js';
import { padBatch, tempDir, type PaddedBatch } from './helpers.js';

/** float64 log Σ_{rank >= k} p per position, ranks from a float64 sort of the logits. */
function referenceTails(logits: Float32Array, positions: number, V: number, k: number): Float64Array {
  const out = new Float64Array(positions);
  for (let p = 0; p < positions; p++) {
    const row = Float64Array.from(logits.subarray(p * V, (p + 1) * V)).sort().reverse();
    const lse = (from: number): number => {
      let s = 0;
      for (let i = from; i < V; i++) s += Math.exp(row[i] - row[from]);
      return row[from] + Math.log(s);
    };
    out[p] = lse(k) - lse(0);
  }
  return out;
}

/** Largest |Δ| over real positions; also checks every compared value is finite. */
function worstDelta(got: Float32Array, ref: Float64Array, pb: PaddedBatch): number {
  let worst = 0;
  for (let b = 0; b < pb.batch; b++) {
    for (let t = 0; t < pb.lengths[b]; t++) {
      const i = b * pb.seq + t;
      expect(Number.isFinite(got[i]), `sample ${b} position ${t}: ${got[i]}`).toBe(true);
      worst = Math.max(worst, Math.abs(got[i] - ref[i]));
    }
  }
  return worst;
}

async function fixture(name: string, V: number, zipfAlpha: number | undefined): Promise<{ file: string; pb: PaddedBatch; logits: Float32Array }> {
  const dir = tempDir(name);
  const file = path.join(dir, 'model.onnx');
  writeFileSync(file, buildSyntheticTeacher({ vocabSize: V, dModel: 16, seed: 5, zipfAlpha }).model);
  const pb = padBatch([...syntheticSamples({ count: 2, minLen: 7, maxLen: 16, vocabSize: V, seed: 3 })], 16);
  const s = await TeacherSession.open(file, { k: 1, topkOn: 'host' });
  const { logits } = await s.runLogits(pb.inputIds, pb.batch, pb.seq, pb.lengths);
  await s.dispose();
  return { file, pb, logits };
}

describe('exact tail mass', () => {
  it('adds a topk_tail_logprob [.., 1] output only when asked; refuses k = V and lse none', () => {
    const base = buildSyntheticTeacher({ vocabSize: 300, dModel: 16, seed: 1 }).model;
    const plain = decodeModel(fuseTopkHead(base, { k: 8 }), 'f').graph!.output!.map((o) => o.name);
    expect(plain).toEqual(['topk_ids', 'topk_logprobs']);
    const fused = decodeModel(fuseTopkHead(base, { k: 8, tailMass: true }), 'f').graph!;
    expect(fused.output!.map((o) => o.name)).toEqual(['topk_ids', 'topk_logprobs', 'topk_tail_logprob']);
    expect(fused.output![2].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch', 'seq', 1]);
    expect(fused.node!.map((n) => n.opType)).toContain('ScatterElements');
    expect(() => fuseTopkHead(base, { k: 300, tailMass: true })).toThrow(/tail mass needs k < vocabulary size 300/);
    expect(() => fuseTopkHead(base, { k: 8, tailMass: true, lse: 'none' })).toThrow(/lse mode 'none'/);
  });

  for (const k of [8, 128]) {
    it(`graph (every lse mode) and host agree with float64 within 1e-4 nats at k=${k}, V=4099`, async () => {
      const { file, pb, logits } = await fixture(`k${k}`, 4099, undefined);
      const ref = referenceTails(logits, pb.batch * pb.seq, 4099, k);
      const host = await TeacherSession.open(file, { k, topkOn: 'host', tailMass: true });
      const h = await host.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
      await host.dispose();
      expect(worstDelta(h.tailLogprobs!, ref, pb)).toBeLessThanOrEqual(1e-5);
      // The tail is not negligible here (so the bound means something): above e^-10 everywhere.
      expect(Math.min(...ref)).toBeGreaterThan(-10);
      for (const lse of ['blocked', 'sum64', 'sum32', 'reduce', 'logsoftmax'] as const) {
        const s = await TeacherSession.open(file, { k, lse, tailMass: true });
        const g = await s.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
        await s.dispose();
        expect(g.tailLogprobs!.length).toBe(pb.batch * pb.seq);
        expect(worstDelta(g.tailLogprobs!, ref, pb), lse).toBeLessThanOrEqual(1e-4);
      }
      const plain = await TeacherSession.open(file, { k });
      expect((await plain.run(pb.inputIds, pb.batch, pb.seq, pb.lengths)).tailLogprobs).toBeUndefined();
      await plain.dispose();
    });
  }

  it('stays finite and exact where 1 - Σp rounds to zero (steep teacher, k=128)', async () => {
    const k = 128;
    const { file, pb, logits } = await fixture('steep', 4099, 12);
    const ref = referenceTails(logits, pb.batch * pb.seq, 4099, k);
    // The case the column exists for: the float32 sum of the stored top-k is 1 (or above).
    const host = await TeacherSession.open(file, { k, topkOn: 'host', tailMass: true });
    const h = await host.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
    await host.dispose();
    let roundedAway = 0;
    for (let p = 0; p < pb.batch * pb.seq; p++) {
      let sum = Math.fround(0);
      for (let j = 0; j < k; j++) sum = Math.fround(sum + Math.fround(Math.exp(h.topkLogprobs[p * k + j])));
      if (!(Math.fround(1 - sum) > 0)) roundedAway++;
    }
    expect(roundedAway).toBeGreaterThan(0);
    expect(Math.max(...ref)).toBeLessThan(-17);
    expect(worstDelta(h.tailLogprobs!, ref, pb)).toBeLessThanOrEqual(1e-4);
    const s = await TeacherSession.open(file, { k, tailMass: true });
    const g = await s.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
    await s.dispose();
    expect(worstDelta(g.tailLogprobs!, ref, pb)).toBeLessThanOrEqual(1e-4);
  });

  it('host function: padded rows, k = V gives -Infinity, scratch left clean', () => {
    const V = 5;
    const logits = Float32Array.of(0, -1, -2, -3, -4, 99, 1, 0, -50, -50, -50, 99);
    const out = new Float32Array(2);
    const mark = new Uint8Array(V);
    tailLogprobRows(logits, 2, 6, 2, Int32Array.of(0, 1, 0, 1), out, V, mark);
    const lse = (xs: number[]): number => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));
    expect(out[0]).toBeCloseTo(lse([-2, -3, -4]) - lse([0, -1, -2, -3, -4]), 6);
    expect(out[1]).toBeCloseTo(lse([-50, -50, -50]) - lse([1, 0, -50, -50, -50]), 4);
    expect(Array.from(mark)).toEqual([0, 0, 0, 0, 0]);
    tailLogprobRows(logits, 1, 6, 5, Int32Array.of(0, 1, 2, 3, 4), out, V, mark);
    expect(out[0]).toBe(-Infinity);
  });
});
