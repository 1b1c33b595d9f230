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
      for (const lse of ['blocked', 'sum64', 'sum32', 'reduce'] as const) {
        const s = await TeacherSession.open(file, { k: 8, lse });
        // ORT's own float32 reductions drift with vocabulary size; at 4k all stay under 1e-5.
        expectSameTopk(await s.run(pb.inputIds, pb.batch, pb.seq, pb.lengths), ref, pb, 8, 1e-5);
        await s.dispose();
      }
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
