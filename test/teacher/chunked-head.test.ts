import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { chunkedHeadModel } from '../../src/teacher/chunked-head.js';
import { buildSyntheticTeacher, fuseTopkHead, syntheticSamples } from '../../src/teacher/index.js';
import { DT, decodeModel, encodeModel, floatTensor, node, onnx, tensorInfo } from '../../src/teacher/onnx-model.js';

const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };
const K = 8;

async function run(model: Uint8Array, feeds: Record<string, ort.Tensor>, fetch: string[]): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(model, opts);
  try {
    return await s.run(feeds, fetch);
  } finally {
    await s.release();
  }
}

/** Host reference per position: the top-k ids (value descending, lower id first on ties) and float64 log-softmax at them. */
function reference(logits: Float32Array, V: number, k: number): { ids: number[][]; lps: number[][] } {
  const ids: number[][] = [];
  const lps: number[][] = [];
  for (let p = 0; p < logits.length / V; p++) {
    const row = logits.subarray(p * V, (p + 1) * V);
    let m = -Infinity;
    for (const x of row) m = Math.max(m, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - m);
    const lse = m + Math.log(sum);
    const top = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
    ids.push(top);
    lps.push(top.map((i) => row[i] - lse));
  }
  return { ids, lps };
}

/** Compares a head's outputs with the reference: ids exact, log-probabilities within `bound`; returns the worst error. */
function expectMatches(out: Record<string, ort.Tensor>, ref: { ids: number[][]; lps: number[][] }, k: number, bound: number): number {
  const ids = out.topk_ids.data as BigInt64Array;
  const lps = out.topk_logprobs.data as Float32Array;
  expect(ids.length).toBe(ref.ids.length * k);
  let worst = 0;
  ref.ids.forEach((want, p) => {
    expect({ position: p, ids: Array.from(ids.subarray(p * k, (p + 1) * k), Number) }).toEqual({ position: p, ids: want });
    for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(lps[p * k + j] - ref.lps[p][j]));
  });
  expect(worst).toBeLessThanOrEqual(bound);
  return worst;
}

describe('chunkedHeadModel', () => {
  it('gives the exact top-k ids and float64-close log-probabilities of the synthetic teacher (MatMul + bias), for any chunk count', async () => {
    const V = 5003; // prime: no chunk count divides it
    const base = buildSyntheticTeacher({ vocabSize: V, dModel: 32, layers: 1, seed: 3 }).model;
    const rows = [...syntheticSamples({ count: 3, minLen: 16, maxLen: 16, vocabSize: V, seed: 9 })];
    const feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(rows.flatMap((r) => Array.from(r, BigInt))), [3, 16]) };
    const logits = (await run(base, feeds, ['logits'])).logits.data as Float32Array;
    const ref = reference(logits, V, K);
    const fused = await run(fuseTopkHead(base, { k: K, lse: 'logsoftmax' }), feeds, ['topk_ids', 'topk_logprobs']);
    expectMatches(fused, ref, K, 1e-4);
    // 1: one chunk; 7: uneven; 1000: chunks of 6 columns, fewer than k.
    for (const chunks of [1, 7, 64, 1000]) {
      const model = chunkedHeadModel(base, { k: K, chunks });
      const out = await run(model, feeds, ['topk_ids', 'topk_logprobs']);
      expect(expectMatches(out, ref, K, 1e-4), `chunks=${chunks}`).toBeLessThanOrEqual(1e-4);
      // The same ids as the default head, log-probabilities within the bound of its.
      expect(out.topk_ids.data).toEqual(fused.topk_ids.data);
      const a = out.topk_logprobs.data as Float32Array;
      const b = fused.topk_logprobs.data as Float32Array;
      expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThanOrEqual(1e-4);
    }
  }, 120_000);

  it('drops the original output layer and keeps the weights by reference (a Split node on the initializer)', () => {
    const base = buildSyntheticTeacher({ vocabSize: 301, dModel: 8, layers: 1, seed: 1 }).model;
    const proto = decodeModel(chunkedHeadModel(base, { k: 4, chunks: 3 }), 'c');
    const names = proto.graph!.node!.map((n) => n.name);
    expect(names).not.toContain('head_mm');
    expect(names).not.toContain('head_bias_add');
    const mms = proto.graph!.node!.filter((n) => n.opType === 'MatMul' && n.input![0] === 'hf');
    expect(mms).toHaveLength(3);
    expect(proto.graph!.initializer!.filter((t) => t.name === 'head')).toHaveLength(1);
    const splits = proto.graph!.node!.filter((n) => n.opType === 'Split');
    expect(splits.map((n) => [n.input![0], n.output!.length])).toEqual([['head', 3], ['head_bias', 3]]);
    expect(proto.graph!.output!.map((o) => o.name)).toEqual(['topk_ids', 'topk_logprobs']);
  });

  it('orders tied logits across chunks as TopK over the whole row does (lower id first), without a bias', async () => {
    // logits = h · W with W's columns 6..11 copies of 0..5: every value occurs twice, once per chunk at chunks=2.
    const d = 4;
    const V = 12;
    const w = new Float32Array(d * V);
    for (let r = 0; r < d; r++) for (let c = 0; c < V; c++) w[r * V + c] = Math.sin(1 + r * 7 + (c % 6) * 3);
    const model = encodeModel(onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'ties',
        node: [node('MatMul', ['h', 'W'], ['logits'], 'mm')],
        initializer: [floatTensor('W', w, [d, V])],
        input: [tensorInfo('h', DT.FLOAT, ['batch', 'seq', d])],
        output: [tensorInfo('logits', DT.FLOAT, ['batch', 'seq', V])],
      },
    }));
    const h = new Float32Array(2 * 3 * d).map((_, i) => Math.cos(i * 1.7));
    const feeds = { h: new ort.Tensor('float32', h, [2, 3, d]) };
    const logits = (await run(model, feeds, ['logits'])).logits.data as Float32Array;
    const ref = reference(logits, V, K);
    // The fixture really has ties in the kept entries.
    expect(ref.ids[0].filter((id) => id >= 6)).toHaveLength(4);
    for (const chunks of [2, 5]) expectMatches(await run(chunkedHeadModel(model, { k: K, chunks }), feeds, ['topk_ids', 'topk_logprobs']), ref, K, 1e-5);
  });

  it('refuses graphs outside the handled pattern and bad options, naming the cause', () => {
    const base = buildSyntheticTeacher({ vocabSize: 301, dModel: 8, layers: 1, seed: 1 }).model;
    expect(() => chunkedHeadModel(base, { k: 4, chunks: 0 })).toThrow(/chunks must be an integer in 1..301, got 0/);
    expect(() => chunkedHeadModel(base, { k: 302, chunks: 2 })).toThrow(/k must be an integer in 1..301, got 302/);
    expect(() => chunkedHeadModel(base, { k: 4, chunks: 2, logitsOutput: 'x' })).toThrow(/no output "x"/);
    const proto = decodeModel(base, 'p');
    proto.graph!.node!.find((n) => n.name === 'head_mm')!.input = ['head', 'hf'];
    expect(() => chunkedHeadModel(encodeModel(proto), { k: 4, chunks: 2 })).toThrow(/only logits = MatMul\(h, W\).*MatMul "head_mm" has no float32 \[d, V\] initializer/);
  });
});
