import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  TeacherSession,
  buildSyntheticTeacher,
  fuseTopkHead,
  inspectTeacher,
  syntheticSamples,
  writeSyntheticTeacher,
} from '../../src/teacher/index.js';
import { decodeModel, encodeModel, toNumber } from '../../src/teacher/onnx-model.js';
import { expectSameTopk, padBatch, tempDir } from './helpers.js';

const base = buildSyntheticTeacher({ vocabSize: 300, dModel: 16, layers: 1, seed: 1 }).model;

describe('fuseTopkHead (graph structure)', () => {
  it('replaces the logits output with topk_ids [.., k] int64 and topk_logprobs [.., k] float32', () => {
    const fused = decodeModel(fuseTopkHead(base, { k: 8 }), 'fused');
    const outs = fused.graph!.output!;
    expect(outs.map((o) => o.name)).toEqual(['topk_ids', 'topk_logprobs']);
    expect(outs.map((o) => o.type!.tensorType!.elemType)).toEqual([7, 1]);
    const dims = outs[0].type!.tensorType!.shape!.dim!;
    expect(dims.map((d) => d.dimParam || toNumber(d.dimValue))).toEqual(['batch', 'seq', 8]);
    const ops = fused.graph!.node!.map((n) => n.opType);
    expect(ops).toContain('TopK');
    expect(ops).not.toContain('Slice');
    // The original graph is intact: every original node is still there, in order.
    const orig = decodeModel(base, 'base').graph!.node!;
    expect(fused.graph!.node!.slice(0, orig.length).map((n) => n.name)).toEqual(orig.map((n) => n.name));
  });

  it('adds a Slice only when vocabSize is below the logits width', () => {
    const ops = decodeModel(fuseTopkHead(base, { k: 4, vocabSize: 200 }), 'f').graph!.node!.map((n) => n.opType);
    expect(ops).toContain('Slice');
  });

  it('reports missing outputs, bad k and vocabSize, taken names, old opsets', () => {
    expect(() => fuseTopkHead(base, { k: 4, logitsOutput: 'scores' })).toThrow(/no output "scores"; outputs: logits/);
    expect(() => fuseTopkHead(base, { k: 301 })).toThrow(/k=301 exceeds the vocabulary size 300/);
    expect(() => fuseTopkHead(base, { k: 9, vocabSize: 8 })).toThrow(/k=9 exceeds the vocabulary size 8/);
    expect(() => fuseTopkHead(base, { k: 4, vocabSize: 301 })).toThrow(/vocabSize 301 exceeds the logits width 300/);
    expect(() => fuseTopkHead(base, { k: 0 })).toThrow(/k must be an integer >= 1/);
    const once = fuseTopkHead(base, { k: 4 });
    expect(() => fuseTopkHead(once, { k: 4, logitsOutput: 'topk_logprobs' })).toThrow(/already defines "topk_ids"/);
    const old = decodeModel(base, 'old');
    old.opsetImport = [{ domain: '', version: 9 }];
    expect(() => fuseTopkHead(encodeModel(old), { k: 4 })).toThrow(/opset 9 is too old/);
    expect(() => fuseTopkHead(Uint8Array.of(0xff, 0xff, 0xff), { k: 4 })).toThrow(/not an ONNX ModelProto|no graph/);
  });
});

describe('fuseTopkHead log-sum-exp formulations', () => {
  it('every mode, at opset 17 and 18, agrees with the host reference', async () => {
    const dir = tempDir('lse');
    const samples = [...syntheticSamples({ count: 2, minLen: 6, maxLen: 12, vocabSize: 4099, seed: 8 })];
    const pb = padBatch(samples, 12);
    // 4099 is prime: the blocked sum has to pad.
    const model = buildSyntheticTeacher({ vocabSize: 4099, dModel: 16, seed: 2 }).model;
    for (const opset of [17, 18]) {
      const proto = decodeModel(model, 'm');
      proto.opsetImport = [{ domain: '', version: opset }];
      const file = path.join(dir, `o${opset}.onnx`);
      writeFileSync(file, encodeModel(proto));
      const host = await TeacherSession.open(file, { k: 8, topkOn: 'host' });
      const ref = await host.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
      await host.dispose();
      for (const lse of ['blocked', 'sum64', 'sum32', 'reduce', 'logsoftmax'] as const) {
        const s = await TeacherSession.open(file, { k: 8, lse });
        // ORT's own float32 reductions drift with vocabulary size; at 4k all stay under 1e-5.
        expectSameTopk(await s.run(pb.inputIds, pb.batch, pb.seq, pb.lengths), ref, pb, 8, 1e-5);
        await s.dispose();
      }
    }
  });
});

describe('fused head precision at a 152k vocabulary', () => {
  it('log-probabilities stay within 1e-4 of float64 log-softmax of the same logits (blocked, logsoftmax)', async () => {
    const dir = tempDir('prec');
    const V = 152_064;
    const file = writeSyntheticTeacher(dir, { vocabSize: V, dModel: 16, seed: 21 });
    const samples = [...syntheticSamples({ count: 2, minLen: 24, maxLen: 24, vocabSize: V, seed: 4 })];
    const pb = padBatch(samples, 24);
    const host = await TeacherSession.open(file, { k: 8, topkOn: 'host' });
    const { logits } = await host.runLogits(pb.inputIds, pb.batch, pb.seq, pb.lengths);
    await host.dispose();
    const positions = pb.batch * pb.seq;
    const lse = new Float64Array(positions);
    for (let p = 0; p < positions; p++) {
      let m = -Infinity;
      for (let i = p * V; i < (p + 1) * V; i++) m = Math.max(m, logits[i]);
      let sum = 0;
      for (let i = p * V; i < (p + 1) * V; i++) sum += Math.exp(logits[i] - m);
      lse[p] = m + Math.log(sum);
    }
    for (const mode of ['blocked', 'logsoftmax'] as const) {
      const s = await TeacherSession.open(file, { k: 8, lse: mode });
      const out = await s.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
      await s.dispose();
      let worst = 0;
      for (let p = 0; p < positions; p++) {
        for (let j = 0; j < 8; j++) {
          const id = out.topkIds[p * 8 + j];
          worst = Math.max(worst, Math.abs(out.topkLogprobs[p * 8 + j] - (logits[p * V + id] - lse[p])));
        }
      }
      // f16 storage rounds log-probabilities near -10 by ~4e-3; the head must be far below that.
      expect(worst, mode).toBeLessThan(1e-4);
    }
  });
});

describe('inspectTeacher', () => {
  it('reads inputs, outputs, opset and logits width from the file', () => {
    const file = writeSyntheticTeacher(tempDir('inspect'), { vocabSize: 777, dModel: 8, externalData: true });
    expect(inspectTeacher(file)).toEqual({
      inputs: ['input_ids'],
      outputs: ['logits'],
      opset: 17,
      externalData: true,
      logitsElemType: 1,
      logitsWidth: 777,
    });
    expect(() => inspectTeacher(file, 'nope')).toThrow(/no output "nope"; outputs: logits/);
  });
});
