// A cache-blocked top-k head (a measurement spike for issue 9 part 4, not a head mode yet).
// The default head reads and writes the [N, V] float32 logits of a call several times
// (the output layer writes them, LogSoftmax writes a second copy, TopK and GatherElements
// read): at V = 152k and ~441 tokens that is ~270 MB per pass, far past any cache. Here the
// output layer itself is split along the vocabulary into C chunks; each chunk's logits
// ([N, V/C]) get their top-k and their log-sum-exp while still in cache, and only C·k
// candidates and C partial log-sum-exps per position go on: one TopK over the candidates,
// one log-sum-exp over the parts, logprob = value - LSE.
//
// Handled pattern only: logits = MatMul(h, W) or Add(MatMul(h, W), b) (either Add operand
// order), W a float32 [d, V] initializer and b a float32 [V] initializer, the MatMul output
// read by nothing else. W and b are cut into chunks by a Split node on each initializer
// (constant-folded by ORT at session creation), so the file's weights are not copied; the
// original output layer is dropped from the graph (spliceModel), since ORT would otherwise
// still run it. Each chunk repeats the model's own ops (MatMul then Add, same 3-D input),
// so its logits are the model's logits bit for bit and the ids are their exact top-k;
// ties keep TopK's order (lower id first: chunks are concatenated in id order).
import { TeacherError } from './errors.js';
import { findLogitsOutput, headNamer, headOutput, TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT } from './fuse-head.js';
import { readModelLight, spliceModel } from './model-splice.js';
import { DT, attrInt, attrInts, defaultOpset, int64Tensor, node, toNumber, type NodeProto, type TensorProto } from './onnx-types.js';

export interface ChunkedHeadOptions {
  /** Number of (id, log-probability) pairs kept per position. */
  k: number;
  /** Number of vocabulary chunks the output layer is split into (1..V). */
  chunks: number;
  /** Name of the logits output, `logits` by default. */
  logitsOutput?: string;
  /** Used in error messages (usually the model file). */
  label?: string;
}

/** The output layer found in the graph: node indices to drop and the tensors to slice. */
interface OutputLayer {
  drop: Set<number>;
  hidden: string;
  weight: string;
  bias: string | null;
  vocab: number;
}

/**
 * The model with its output layer replaced by the chunked top-k head: outputs `topk_ids`
 * (int64 [..., k]) and `topk_logprobs` (float32 [..., k], descending), as fuseTopkHead's.
 * Costs one copy of the model bytes in memory (spliceModel); the weights are not re-encoded.
 */
export function chunkedHeadModel(model: Uint8Array, opts: ChunkedHeadOptions): Uint8Array {
  const label = opts.label ?? 'model';
  const light = readModelLight(model, label);
  const proto = light.proto;
  const graph = proto.graph!;
  const logitsName = opts.logitsOutput ?? 'logits';
  const info = findLogitsOutput(proto, logitsName, label);
  if (info.elemType !== DT.FLOAT) throw new TeacherError(`teacher ${label}: the chunked head needs float32 logits, "${logitsName}" has element type ${info.elemType}`);
  const opset = defaultOpset(proto);
  if (opset < 13) throw new TeacherError(`teacher ${label}: opset ${opset} is too old for the chunked head (need >= 13)`);
  const layer = findOutputLayer(graph.node ?? [], graph.initializer ?? [], logitsName, label);
  const { k, chunks } = opts;
  if (!Number.isInteger(k) || k < 1 || k > layer.vocab) throw new TeacherError(`teacher ${label}: k must be an integer in 1..${layer.vocab}, got ${k}`);
  if (!Number.isInteger(chunks) || chunks < 1 || chunks > layer.vocab) {
    throw new TeacherError(`teacher ${label}: chunks must be an integer in 1..${layer.vocab}, got ${chunks}`);
  }
  const fresh = headNamer(graph, [TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT], 'lc_chunk', label);
  const nodes = graph.node!;
  const inits = graph.initializer!;
  const i64 = (base: string, values: number[]): string => {
    const name = fresh(base);
    inits.push(int64Tensor(name, values));
    return name;
  };
  const add = (op: string, inputs: string[], base: string, attrs = [] as ReturnType<typeof attrInt>[], outputs = 1): string[] => {
    const outs = Array.from({ length: outputs }, (_, i) => fresh(`${base}${outputs > 1 ? `_${i}` : ''}`));
    nodes.push(node(op, inputs, outs, fresh(op), attrs));
    return outs;
  };
  // ReduceMax takes its axes as an input from opset 18 on, ReduceSum from 13 on.
  const lastAxis = i64('last_axis', [-1]);
  const reduceMax = (x: string): string =>
    add('ReduceMax', opset >= 18 ? [x, lastAxis] : [x], 'max', opset >= 18 ? [attrInt('keepdims', 1)] : [attrInts('axes', [-1]), attrInt('keepdims', 1)])[0];
  const first = i64('first', [0]);
  const one = i64('one', [1]);
  const column0 = (x: string): string => add('Slice', [x, first, one, lastAxis], 'col0')[0];

  // Chunk widths: ceil(V / C), the last one what is left (V need not divide).
  const width = Math.ceil(layer.vocab / chunks);
  const widths: number[] = [];
  for (let start = 0; start < layer.vocab; start += width) widths.push(Math.min(width, layer.vocab - start));
  // One Split per initializer, not one Slice per chunk: ORT's constant folding materializes
  // the whole input initializer for every node it folds, so C Slices of W copy W C times
  // (minutes of session creation at V = 152k, C = 1024).
  const splitSizes = i64('split', widths);
  const split = (x: string, axis: number, base: string): string[] =>
    widths.length === 1 ? [x] : add('Split', [x, splitSizes], base, [attrInt('axis', axis)], widths.length);
  const ws = split(layer.weight, 1, 'w');
  const bs = layer.bias === null ? null : split(layer.bias, 0, 'b');
  const values: string[] = [];
  const ids: string[] = [];
  const parts: string[] = [];
  for (let start = 0, c = 0; c < widths.length; start += widths[c], c++) {
    const end = start + widths[c];
    let x = add('MatMul', [layer.hidden, ws[c]], `c${c}_mm`)[0];
    if (bs !== null) x = add('Add', [x, bs[c]], `c${c}_logits`)[0];
    const kc = i64(`c${c}_k`, [Math.min(k, end - start)]);
    const [v, idx] = add('TopK', [x, kc], `c${c}_top`, [attrInt('axis', -1), attrInt('largest', 1), attrInt('sorted', 1)], 2);
    // The chunk's log-sum-exp from its log-softmax at its top id: lse_c = x_top - ls_top
    // (ls_top = -log Σ exp(x - x_top), the best-conditioned entry of the row).
    const ls = add('LogSoftmax', [x], `c${c}_ls`, [attrInt('axis', -1)])[0];
    const lsTop = add('GatherElements', [ls, column0(idx)], `c${c}_ls_top`, [attrInt('axis', -1)])[0];
    parts.push(add('Sub', [column0(v), lsTop], `c${c}_lse`)[0]);
    values.push(v);
    ids.push(start === 0 ? idx : add('Add', [idx, i64(`c${c}_offset`, [start])], `c${c}_ids`)[0]);
  }
  const concat = (xs: string[], base: string): string => (xs.length === 1 ? xs[0] : add('Concat', xs, base, [attrInt('axis', -1)])[0]);
  const [top, at] = add('TopK', [concat(values, 'values'), i64('k', [k])], 'top', [attrInt('axis', -1), attrInt('largest', 1), attrInt('sorted', 1)], 2);
  nodes.push(node('GatherElements', [concat(ids, 'ids'), at], [TOPK_IDS_OUTPUT], fresh('gather_ids'), [attrInt('axis', -1)]));
  // LSE = m + log Σ_c exp(lse_c - m): C terms, no precision concern.
  const lses = concat(parts, 'parts');
  const m = reduceMax(lses);
  const ex = add('Exp', [add('Sub', [lses, m], 'shifted')[0]], 'exp')[0];
  const sum = add('ReduceSum', [ex, lastAxis], 'sum', [attrInt('keepdims', 1)])[0];
  const lse = add('Add', [m, add('Log', [sum], 'log')[0]], 'lse')[0];
  nodes.push(node('Sub', [top, lse], [TOPK_LOGPROBS_OUTPUT], fresh('logprobs')));

  const outputs = graph.output!;
  outputs.splice(outputs.findIndex((o) => o.name === logitsName), 1, headOutput(TOPK_IDS_OUTPUT, DT.INT64, info, k), headOutput(TOPK_LOGPROBS_OUTPUT, DT.FLOAT, info, k));
  return spliceModel(light, layer.drop);
}

function findOutputLayer(nodes: NodeProto[], inits: TensorProto[], logits: string, label: string): OutputLayer {
  const unsupported = (why: string): TeacherError =>
    new TeacherError(`teacher ${label}: the chunked head handles only logits = MatMul(h, W) [+ b] with W a float32 [d, V] initializer: ${why}`);
  const producer = (name: string): number => nodes.findIndex((n) => (n.output ?? []).includes(name));
  const readers = (name: string): number => nodes.filter((n) => (n.input ?? []).includes(name)).length;
  const init = (name: string): TensorProto | undefined => inits.find((t) => t.name === name);
  const dims = (t: TensorProto | undefined): number[] => (t?.dims ?? []).map((d) => toNumber(d));
  let at = producer(logits);
  if (at < 0) throw unsupported(`"${logits}" is not produced by a node`);
  const drop = new Set<number>([at]);
  let bias: string | null = null;
  let mmOut = logits;
  if (nodes[at].opType === 'Add') {
    const [a, b] = nodes[at].input ?? [];
    const [other, biasName] = init(b) ? [a, b] : [b, a];
    const t = init(biasName);
    if (!t || t.dataType !== DT.FLOAT || dims(t).length !== 1) throw unsupported(`Add "${nodes[at].name}" has no float32 [V] initializer operand`);
    bias = biasName;
    mmOut = other;
    at = producer(other);
    if (at < 0 || readers(other) !== 1) throw unsupported(`"${other}" is not a MatMul output read only by the bias Add`);
    drop.add(at);
  }
  const mm = nodes[at];
  if (mm.opType !== 'MatMul') throw unsupported(`"${mmOut}" comes from ${mm.opType}, not MatMul`);
  const [hidden, weight] = mm.input ?? [];
  const w = init(weight);
  const wd = dims(w);
  if (!w || w.dataType !== DT.FLOAT || wd.length !== 2) throw unsupported(`MatMul "${mm.name}" has no float32 [d, V] initializer as its second input`);
  if (bias !== null && dims(init(bias))[0] !== wd[1]) throw unsupported(`bias "${bias}" has ${dims(init(bias))[0]} entries, W has ${wd[1]} columns`);
  if (readers(logits) !== 0) throw unsupported(`"${logits}" is also read by other nodes`);
  return { drop, hidden, weight, bias, vocab: wd[1] };
}
