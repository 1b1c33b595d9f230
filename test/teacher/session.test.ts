import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TeacherSession, buildSyntheticTeacher, syntheticSamples, writeSyntheticTeacher } from '../../src/teacher/index.js';
import { DT, attrInt, decodeModel, encodeModel, node, tensorInfo } from '../../src/teacher/onnx-model.js';
import { topkLogprobsRows } from '../../src/topk/index.js';
import { expectSameTopk, haveStories, padBatch, readStories, storiesModel, tempDir } from './helpers.js';

/** Open the same model both ways and check fused == host on one batch. */
async function compareModes(modelPath: string, k: number, samples: Int32Array[], maxLen: number, vocabSize?: number) {
  const graph = await TeacherSession.open(modelPath, { k, topkOn: 'graph', vocabSize, threads: 1 });
  const host = await TeacherSession.open(modelPath, { k, topkOn: 'host', vocabSize, threads: 1 });
  try {
    const pb = padBatch(samples, maxLen);
    const a = await graph.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
    const b = await host.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
    const compared = expectSameTopk(a, b, pb, k);
    expect(compared).toBe(pb.lengths.reduce((s, n) => s + n, 0));
    return { graph, host, pb, a, b };
  } finally {
    await graph.dispose();
    await host.dispose();
  }
}

describe.skipIf(!haveStories)('fused head vs host top-k on stories260k', () => {
  it('agrees for k=8 and k=64 on padded stories', async () => {
    const stories = readStories(6);
    for (const k of [8, 64]) {
      const { graph, a } = await compareModes(storiesModel, k, stories, 96);
      expect(graph.vocabSize).toBe(512);
      expect(graph.modelSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(graph.outputNames).toEqual(['topk_ids', 'topk_logprobs']);
      // Sanity that this is a language model and not noise: probabilities sum below 1, descending.
      for (let j = 1; j < k; j++) expect(a.topkLogprobs[j]).toBeLessThanOrEqual(a.topkLogprobs[j - 1]);
      let mass = 0;
      for (let j = 0; j < k; j++) mass += Math.exp(a.topkLogprobs[j]);
      expect(mass).toBeLessThanOrEqual(1 + 1e-5);
    }
  });

  it('k = full vocabulary gives a normalized distribution in both modes', async () => {
    const { a } = await compareModes(storiesModel, 512, readStories(2), 16);
    let mass = 0;
    for (let j = 0; j < 512; j++) mass += Math.exp(a.topkLogprobs[j]);
    expect(mass).toBeCloseTo(1, 4);
  });
});

describe('fused head vs host top-k on synthetic teachers', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('session');
  });

  it('synthetic 32k: identical ids, log-probabilities within 1e-5', async () => {
    const model = writeSyntheticTeacher(path.join(dir, 's32k'), { vocabSize: 32000, seed: 3 });
    const samples = [...syntheticSamples({ count: 3, minLen: 20, maxLen: 48, vocabSize: 32000, seed: 1 })];
    await compareModes(model, 8, samples, 48);
  });

  it('vocabSize cuts a padded head: ids stay below it and log-softmax is over it', async () => {
    // No padding bias here: columns past vocabSize compete, so truncation visibly matters.
    const model = writeSyntheticTeacher(path.join(dir, 'cut'), { vocabSize: 1000, seed: 5, zipfAlpha: 0 });
    const samples = [...syntheticSamples({ count: 2, minLen: 10, maxLen: 30, vocabSize: 1000, seed: 2 })];
    const cut = 600;
    const k = 16;
    const { a, pb } = await compareModes(model, k, samples, 30, cut);
    for (let s = 0; s < pb.batch; s++) {
      for (let t = 0; t < pb.lengths[s]; t++) {
        for (let j = 0; j < k; j++) expect(a.topkIds[(s * pb.seq + t) * k + j]).toBeLessThan(cut);
      }
    }
    // Reference from full logits restricted to the first `cut` columns, and proof that the
    // untruncated top-k would have differed.
    const full = await TeacherSession.open(model, { k, topkOn: 'host' });
    try {
      const { logits, width } = await full.runLogits(pb.inputIds, pb.batch, pb.seq, pb.lengths);
      expect(width).toBe(1000);
      const rows = pb.batch * pb.seq;
      const ids = new Int32Array(rows * k);
      const lps = new Float32Array(rows * k);
      topkLogprobsRows(logits, rows, width, k, ids, lps, cut);
      expectSameTopk(a, { topkIds: ids, topkLogprobs: lps }, pb, k);
      const untruncated = await full.run(pb.inputIds, pb.batch, pb.seq, pb.lengths);
      expect(untruncated.topkIds.some((id) => id >= cut)).toBe(true);
    } finally {
      await full.dispose();
    }
  });

  it('external data: weights in a side file load through the rewritten graph, no files written', async () => {
    const extDir = path.join(dir, 'ext');
    const model = writeSyntheticTeacher(extDir, { vocabSize: 5000, seed: 7, externalData: true });
    const before = readdirSync(extDir).sort();
    expect(before).toEqual(['model.onnx', 'model.onnx.data']);
    const samples = [...syntheticSamples({ count: 2, minLen: 8, maxLen: 24, vocabSize: 5000, seed: 3 })];
    await compareModes(model, 8, samples, 24);
    expect(readdirSync(extDir).sort()).toEqual(before);
    // And the external model means the same thing as the inline one with the same seed.
    const inline = writeSyntheticTeacher(path.join(dir, 'inline'), { vocabSize: 5000, seed: 7 });
    const { a } = await compareModes(inline, 8, samples, 24);
    const ext = await TeacherSession.open(model, { k: 8 });
    const pb = padBatch(samples, 24);
    expectSameTopk(await ext.run(pb.inputIds, pb.batch, pb.seq, pb.lengths), a, pb, 8, 0);
    await ext.dispose();
  });

  it('float16 logits are widened before the head (both modes agree)', async () => {
    const proto = decodeModel(buildSyntheticTeacher({ vocabSize: 3000, seed: 9 }).model, 'f16');
    const g = proto.graph!;
    for (const n of g.node!) n.output = n.output!.map((o) => (o === 'logits' ? 'logits_f32' : o));
    g.node!.push(node('Cast', ['logits_f32'], ['logits'], 'to_f16', [attrInt('to', DT.FLOAT16)]));
    g.output = [tensorInfo('logits', DT.FLOAT16, ['batch', 'seq', 3000])];
    const file = path.join(dir, 'f16.onnx');
    writeFileSync(file, encodeModel(proto));
    const samples = [...syntheticSamples({ count: 2, minLen: 8, maxLen: 16, vocabSize: 3000, seed: 4 })];
    await compareModes(file, 8, samples, 16);
  });

  it('opset 18 (ReduceLogSumExp axes as an input) agrees with host', async () => {
    const proto = decodeModel(buildSyntheticTeacher({ vocabSize: 2000, seed: 11 }).model, 'o18');
    proto.opsetImport = [{ domain: '', version: 18 }];
    const file = path.join(dir, 'opset18.onnx');
    writeFileSync(file, encodeModel(proto));
    const samples = [...syntheticSamples({ count: 2, minLen: 8, maxLen: 16, vocabSize: 2000, seed: 5 })];
    await compareModes(file, 8, samples, 16);
  });

  afterAll(() => {
    // Temp models are small; the OS cleans tmp. Kept for post-mortem on failure.
  });
});
