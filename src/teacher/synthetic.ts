// Deterministic synthetic teachers: small transformer-shaped causal LMs at realistic vocabulary
// sizes (32k, 152k), for tests and benchmarks where a trained model that large is not at hand.
// Quality is irrelevant; what matters is the shape of the work (embedding gather, causal
// mixing, a [d, V] head) and a long-tailed output distribution like a real LM's.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { externalizeInitializers } from './external-data.js';
import {
  DT,
  attrFloat,
  attrInt,
  encodeModel,
  floatTensor,
  int64Tensor,
  node,
  onnx,
  tensorInfo,
  type NodeProto,
  type TensorProto,
} from './onnx-model.js';
import { createRng, permutation, type Rng } from './prng.js';

export interface SyntheticTeacherOptions {
  vocabSize: number;
  dModel?: number;
  layers?: number;
  seed?: number;
  /** Put weights in a side file (`externalDataName`) instead of inside the .onnx. */
  externalData?: boolean;
  externalDataName?: string;
  /** Steepness of the Zipf-like bias on the head: bias_i = -zipfAlpha * log(rank_i + 1). */
  zipfAlpha?: number;
  /** Declared width of the logits when the real vocabulary is padded (extra columns get a very low bias). */
  paddedVocabSize?: number;
}

export interface SyntheticTeacher {
  /** The ModelProto bytes (model.onnx). */
  model: Uint8Array;
  /** Weights to write next to the model at `location`, when externalData was asked for. */
  externalData: { location: string; data: Uint8Array } | null;
  vocabSize: number;
}

export const SYNTHETIC_OPSET = 17;

export function buildSyntheticTeacher(opts: SyntheticTeacherOptions): SyntheticTeacher {
  const { vocabSize } = opts;
  const d = opts.dModel ?? 64;
  const layers = opts.layers ?? 2;
  const width = opts.paddedVocabSize ?? vocabSize;
  if (!Number.isInteger(vocabSize) || vocabSize < 2) throw new Error(`synthetic: vocabSize must be >= 2, got ${vocabSize}`);
  if (width < vocabSize) throw new Error(`synthetic: paddedVocabSize ${width} < vocabSize ${vocabSize}`);
  const rng = createRng(opts.seed ?? 0);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];

  inits.push(floatTensor('embed', normals(rng, width * d, 1), [width, d]));
  inits.push(int64Tensor('zero_i64', [0], []), int64Tensor('seq_axis', [1], []), int64Tensor('last_axis', [-1]));
  // 1/position for each token, [B,S,1]: turns a causal cumulative sum into a causal mean.
  nodes.push(
    node('Gather', ['embed', 'input_ids'], ['x0'], 'embed_gather'),
    node('GreaterOrEqual', ['input_ids', 'zero_i64'], ['is_tok'], 'is_tok'),
    node('Cast', ['is_tok'], ['ones'], 'ones', [attrInt('to', DT.FLOAT)]),
    node('CumSum', ['ones', 'seq_axis'], ['pos'], 'pos'),
    node('Reciprocal', ['pos'], ['inv_pos2'], 'inv_pos2'),
    node('Unsqueeze', ['inv_pos2', 'last_axis'], ['inv_pos'], 'inv_pos'),
  );

  let x = 'x0';
  const wScale = 1 / Math.sqrt(d);
  for (let l = 0; l < layers; l++) {
    const p = `l${l}_`;
    inits.push(
      floatTensor(`${p}ln_g`, constant(d, 1), [d]),
      floatTensor(`${p}ln_b`, constant(d, 0), [d]),
      floatTensor(`${p}w_self`, normals(rng, d * d, wScale), [d, d]),
      floatTensor(`${p}w_ctx`, normals(rng, d * d, wScale), [d, d]),
      floatTensor(`${p}w_out`, normals(rng, d * d, 0.5 * wScale), [d, d]),
    );
    nodes.push(
      node('LayerNormalization', [x, `${p}ln_g`, `${p}ln_b`], [`${p}h`], `${p}ln`, [attrInt('axis', -1), attrFloat('epsilon', 1e-5)]),
      // Causal mixing: each position sees the mean of itself and everything before it.
      node('CumSum', [`${p}h`, 'seq_axis'], [`${p}csum`], `${p}csum`),
      node('Mul', [`${p}csum`, 'inv_pos'], [`${p}ctx`], `${p}ctx`),
      node('MatMul', [`${p}h`, `${p}w_self`], [`${p}u_self`], `${p}mm_self`),
      node('MatMul', [`${p}ctx`, `${p}w_ctx`], [`${p}u_ctx`], `${p}mm_ctx`),
      node('Add', [`${p}u_self`, `${p}u_ctx`], [`${p}u`], `${p}u`),
      node('Sigmoid', [`${p}u`], [`${p}sig`], `${p}sig`),
      node('Mul', [`${p}u`, `${p}sig`], [`${p}act`], `${p}silu`),
      node('MatMul', [`${p}act`, `${p}w_out`], [`${p}o`], `${p}mm_out`),
      node('Add', [x, `${p}o`], [`${p}x`], `${p}residual`),
    );
    x = `${p}x`;
  }

  inits.push(
    floatTensor('final_ln_g', constant(d, 1), [d]),
    floatTensor('final_ln_b', constant(d, 0), [d]),
    // Normalized features times N(0, 3/sqrt(d)) weights: content logits with std about 3.
    floatTensor('head', normals(rng, d * width, 3 * wScale), [d, width]),
    floatTensor('head_bias', zipfBias(rng, vocabSize, width, opts.zipfAlpha ?? 1.1), [width]),
  );
  nodes.push(
    node('LayerNormalization', [x, 'final_ln_g', 'final_ln_b'], ['hf'], 'final_ln', [attrInt('axis', -1), attrFloat('epsilon', 1e-5)]),
    node('MatMul', ['hf', 'head'], ['head_out'], 'head_mm'),
    node('Add', ['head_out', 'head_bias'], ['logits'], 'head_bias_add'),
  );

  const proto = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'logit-cache synthetic',
    opsetImport: [{ domain: '', version: SYNTHETIC_OPSET }],
    graph: {
      name: `synthetic_v${vocabSize}_d${d}_l${layers}`,
      node: nodes,
      initializer: inits,
      input: [tensorInfo('input_ids', DT.INT64, ['batch', 'seq'])],
      output: [tensorInfo('logits', DT.FLOAT, ['batch', 'seq', width])],
    },
  });
  let externalData: SyntheticTeacher['externalData'] = null;
  if (opts.externalData) {
    const location = opts.externalDataName ?? 'model.onnx.data';
    externalData = { location, data: externalizeInitializers(proto, location) };
  }
  return { model: encodeModel(proto), externalData, vocabSize };
}

/** Write `<dir>/<fileName>` (and its data file when external) and return the model path. */
export function writeSyntheticTeacher(dir: string, opts: SyntheticTeacherOptions, fileName = 'model.onnx'): string {
  const teacher = buildSyntheticTeacher(opts);
  mkdirSync(dir, { recursive: true });
  const modelPath = path.join(dir, fileName);
  writeFileSync(modelPath, teacher.model);
  if (teacher.externalData) writeFileSync(path.join(dir, teacher.externalData.location), teacher.externalData.data);
  return modelPath;
}

function normals(rng: Rng, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

function constant(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}

// Zipf-like prior over a seeded ranking of the ids, so a few ids dominate and the tail is long,
// as in a real LM's unigram distribution. Padding columns sit far below every real id.
function zipfBias(rng: Rng, vocab: number, width: number, alpha: number): Float32Array {
  const rankOf = permutation(vocab, rng);
  const bias = new Float32Array(width);
  for (let i = 0; i < vocab; i++) bias[i] = -alpha * Math.log(rankOf[i] + 1);
  for (let i = vocab; i < width; i++) bias[i] = -1e4;
  return bias;
}
