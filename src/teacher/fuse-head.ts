// Graph surgery that appends a top-k head to a teacher's logits, so the session hands back
// [B,S,k] ids and log-probabilities instead of [B,S,V] logits (12·k bytes per token instead
// of 4·V). The original logits output stops being a graph output, so ORT never copies it out.
import { TeacherError } from './errors.js';
import {
  DT,
  attrInt,
  attrInts,
  defaultOpset,
  floatTensor,
  graphNames,
  int64Tensor,
  node,
  toNumber,
  type Dimension,
  type GraphProto,
  type ModelProto,
  type ValueInfoProto,
} from './onnx-types.js';
import { readModelLight, spliceModel } from './model-splice.js';

import { TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, TOPK_TAIL_OUTPUT } from './head-outputs.js';

export { TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, TOPK_TAIL_OUTPUT } from './head-outputs.js';

export interface FuseTopkHeadOptions {
  /** Number of (id, log-probability) pairs kept per position. */
  k: number;
  /** Real vocabulary size when the output layer is padded wider; logits past it are cut. */
  vocabSize?: number;
  /** Name of the logits output, `logits` by default. */
  logitsOutput?: string;
  /** Used in error messages (usually the model file). */
  label?: string;
  /** How the log-sum-exp is computed; see appendLogSumExp. */
  lse?: LseMode;
  /** Also output TOPK_TAIL_OUTPUT, the exact log tail mass (see appendTailLogprob). */
  tailMass?: boolean;
}

export { DEFAULT_HEAD, type LseMode } from './head-mode.js';
import { DEFAULT_HEAD, type LseMode } from './head-mode.js';

/** Shape facts about a model's logits output, read without running it. */
export interface LogitsInfo {
  name: string;
  elemType: number;
  /** Declared dims; a string is symbolic, null is unknown. */
  dims: Array<number | string | null> | null;
  /** Last dim when fixed, else null. */
  vocab: number | null;
}

export function findLogitsOutput(model: ModelProto, logitsOutput: string, label: string): LogitsInfo {
  const outputs = model.graph?.output ?? [];
  const out = outputs.find((o) => o.name === logitsOutput);
  if (!out) {
    const names = outputs.map((o) => o.name).join(', ');
    throw new TeacherError(`teacher ${label}: model has no output "${logitsOutput}"; outputs: ${names || '(none)'}`);
  }
  const tensor = out.type?.tensorType;
  if (!tensor) throw new TeacherError(`teacher ${label}: output "${logitsOutput}" is not a tensor`);
  const elemType = tensor.elemType ?? 0;
  if (elemType !== DT.FLOAT && elemType !== DT.FLOAT16 && elemType !== DT.BFLOAT16 && elemType !== DT.DOUBLE) {
    throw new TeacherError(`teacher ${label}: output "${logitsOutput}" has element type ${elemType}, expected a float type`);
  }
  const rawDims = tensor.shape?.dim;
  const dims = rawDims ? rawDims.map(dimOf) : null;
  const last = dims && dims.length > 0 ? dims[dims.length - 1] : null;
  return { name: logitsOutput, elemType, dims, vocab: typeof last === 'number' ? last : null };
}

function dimOf(d: Dimension): number | string | null {
  if (d.dimValue !== null && d.dimValue !== undefined) return toNumber(d.dimValue);
  if (d.dimParam) return d.dimParam;
  return null;
}

/**
 * Rewrite `model` so that, in place of its logits output, it has `topk_ids` (int64 [..., k])
 * and `topk_logprobs` (float32 [..., k], log-softmax, descending; ties lower id first).
 * External-data references are kept as they are: load the result with the model's own
 * directory as the external-data folder (see TeacherSession).
 */
export function fuseTopkHead(model: Uint8Array, opts: FuseTopkHeadOptions): Uint8Array {
  const label = opts.label ?? 'model';
  const light = readModelLight(model, label);
  appendTopkHead(light.proto, opts, label);
  return spliceModel(light);
}

/** The proto-level half of fuseTopkHead (mutates `proto`). */
export function appendTopkHead(proto: ModelProto, opts: FuseTopkHeadOptions, label: string): void {
  const graph = proto.graph!;
  const logitsName = opts.logitsOutput ?? 'logits';
  const info = findLogitsOutput(proto, logitsName, label);
  const { k } = opts;
  if (!Number.isInteger(k) || k < 1) throw new Error(`teacher ${label}: k must be an integer >= 1, got ${k}`);
  const vocab = resolveVocab(info, opts.vocabSize, label);
  if (vocab !== null && k > vocab) {
    throw new TeacherError(`teacher ${label}: k=${k} exceeds the vocabulary size ${vocab}`);
  }
  const opset = defaultOpset(proto);
  // TopK-11 is the first with `largest`/`sorted` and k as an input; older graphs are not worth
  // a second code path.
  if (opset < 11) throw new TeacherError(`teacher ${label}: opset ${opset} is too old for the fused head (need >= 11)`);

  const mode = opts.lse ?? DEFAULT_HEAD;
  if (opts.tailMass) {
    // With k = V there is no tail to store; with raw logits (mode 'none') nothing is normalized.
    if (vocab !== null && k >= vocab) throw new TeacherError(`teacher ${label}: tail mass needs k < vocabulary size ${vocab}, got k=${k}`);
    if (mode === 'none') throw new TeacherError(`teacher ${label}: tail mass needs a normalizing head; lse mode 'none' has none`);
  }

  const fresh = headNamer(graph, [TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, ...(opts.tailMass ? [TOPK_TAIL_OUTPUT] : [])], 'lc_topk', label);

  let x = logitsName;
  // Half-precision logits are widened first: log-sum-exp over 152k entries in fp16 loses
  // about three significant digits.
  if (info.elemType !== DT.FLOAT) {
    const cast = fresh('logits_f32');
    graph.node!.push(node('Cast', [x], [cast], fresh('cast'), [attrInt('to', DT.FLOAT)]));
    x = cast;
  }
  if (opts.vocabSize !== undefined && opts.vocabSize !== info.vocab) {
    const starts = fresh('slice_starts');
    const ends = fresh('slice_ends');
    const axes = fresh('slice_axes');
    graph.initializer!.push(int64Tensor(starts, [0]), int64Tensor(ends, [opts.vocabSize]), int64Tensor(axes, [-1]));
    const sliced = fresh('logits_sliced');
    graph.node!.push(node('Slice', [x, starts, ends, axes], [sliced], fresh('slice')));
    x = sliced;
  }

  const kName = fresh('k');
  graph.initializer!.push(int64Tensor(kName, [k]));
  const topk = (input: string, values: string): void => {
    graph.node!.push(
      node('TopK', [input, kName], [values, TOPK_IDS_OUTPUT], fresh('topk'), [
        attrInt('axis', -1),
        attrInt('largest', 1),
        attrInt('sorted', 1),
      ]),
    );
  };
  if (mode === 'logsoftmax') {
    // ORT's LogSoftmax kernel (max, vectorized exp-sum, subtract in one op). The ids come from
    // TopK of the logits, not of the log-probabilities: rounding x - lse can make two distinct
    // logits equal, and then their order would differ from every other head and the host
    // top-k (ties go to the lower id only when the logits themselves tie). The kept
    // log-probabilities are gathered at those ids; x - c is monotone in x, so they stay sorted.
    const ls = fresh('logsoftmax');
    graph.node!.push(node('LogSoftmax', [x], [ls], fresh('logsoftmax'), [attrInt('axis', -1)]));
    const values = fresh('values');
    topk(x, values);
    graph.node!.push(node('GatherElements', [ls, TOPK_IDS_OUTPUT], [TOPK_LOGPROBS_OUTPUT], fresh('gather'), [attrInt('axis', -1)]));
    // Already normalized: the tail is the log-sum-exp of the masked log-probabilities.
    if (opts.tailMass) appendTailLogprob(graph, ls, null, opset, fresh, 'blocked', vocab, info.dims?.length ?? null);
  } else if (mode === 'none') {
    // Benchmark floor only: raw top-k logits, not log-probabilities (never used to write data).
    topk(x, TOPK_LOGPROBS_OUTPUT);
  } else {
    const lse = appendLogSumExp(graph, x, opset, fresh, mode, vocab, info.dims?.length ?? null);
    const values = fresh('values');
    topk(x, values);
    graph.node!.push(node('Sub', [values, lse], [TOPK_LOGPROBS_OUTPUT], fresh('sub')));
    if (opts.tailMass) appendTailLogprob(graph, x, lse, opset, fresh, mode, vocab, info.dims?.length ?? null);
  }

  const outputs = graph.output!;
  const at = outputs.findIndex((o) => o.name === logitsName);
  const head = [headOutput(TOPK_IDS_OUTPUT, DT.INT64, info, k), headOutput(TOPK_LOGPROBS_OUTPUT, DT.FLOAT, info, k)];
  if (opts.tailMass) head.push(headOutput(TOPK_TAIL_OUTPUT, DT.FLOAT, info, 1));
  outputs.splice(at, 1, ...head);
}

/**
 * TOPK_TAIL_OUTPUT = log Σ_{i not in top-k} exp(x_i) - lse, in log space: a copy of `x` gets
 * -inf at the top-k ids (ScatterElements), and its log-sum-exp is shifted by its own maximum
 * (the (k+1)-th value), so a tail of 1e-30 keeps its digits. log(1 - Σp) cannot: at k = 128
 * Σp rounds to 1 in float32. `lse` null means `x` is already log-softmax.
 */
function appendTailLogprob(
  graph: GraphProto,
  x: string,
  lse: string | null,
  opset: number,
  fresh: (base: string) => string,
  mode: LseMode,
  vocab: number | null,
  rank: number | null,
): void {
  const nodes = graph.node!;
  const idsShape = fresh('ids_shape');
  nodes.push(node('Shape', [TOPK_IDS_OUTPUT], [idsShape], fresh('shape')));
  const negInf = fresh('neg_inf');
  graph.initializer!.push(floatTensor(negInf, Float32Array.of(-Infinity), [1]));
  const fill = fresh('neg_inf_fill');
  nodes.push(node('Expand', [negInf, idsShape], [fill], fresh('expand')));
  const masked = fresh('masked');
  nodes.push(node('ScatterElements', [x, TOPK_IDS_OUTPUT, fill], [masked], fresh('scatter'), [attrInt('axis', -1)]));
  const tailLse = appendLogSumExp(graph, masked, opset, fresh, mode, vocab, rank);
  if (lse === null) nodes.push(node('Identity', [tailLse], [TOPK_TAIL_OUTPUT], fresh('tail')));
  else nodes.push(node('Sub', [tailLse, lse], [TOPK_TAIL_OUTPUT], fresh('tail')));
}

/**
 * Refuses a graph that already defines one of a head's `outputs`, and returns a maker of
 * internal names under `prefix` that collide with nothing in the graph.
 */
export function headNamer(graph: GraphProto, outputs: string[], prefix: string, label: string): (base: string) => string {
  const taken = graphNames(graph);
  for (const name of outputs) {
    if (taken.has(name)) throw new TeacherError(`teacher ${label}: model already defines "${name}"`);
  }
  return (base: string): string => {
    let name = `${prefix}/${base}`;
    for (let i = 1; taken.has(name); i++) name = `${prefix}/${base}_${i}`;
    taken.add(name);
    return name;
  };
}

function resolveVocab(info: LogitsInfo, vocabSize: number | undefined, label: string): number | null {
  if (vocabSize === undefined) return info.vocab;
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new TeacherError(`teacher ${label}: vocabSize must be an integer >= 1, got ${vocabSize}`);
  }
  if (info.vocab !== null && vocabSize > info.vocab) {
    throw new TeacherError(`teacher ${label}: vocabSize ${vocabSize} exceeds the logits width ${info.vocab} of "${info.name}"`);
  }
  return vocabSize;
}

export function headOutput(name: string, elemType: number, info: LogitsInfo, k: number): ValueInfoProto {
  const lead = info.dims ? info.dims.slice(0, -1) : ['batch', 'seq'];
  const dim: Dimension[] = lead.map((d, i) =>
    typeof d === 'number' ? { dimValue: d } : { dimParam: d ?? `lc_dim${i}` },
  );
  dim.push({ dimValue: k });
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/**
 * For host top-k on a model whose logits are not float32: append a Cast and make its result
 * the logits output, so the host always reads Float32Array. Returns the new output name.
 */
export function castLogitsToFloat32(proto: ModelProto, logitsOutput: string, label: string): string {
  const info = findLogitsOutput(proto, logitsOutput, label);
  if (info.elemType === DT.FLOAT) return logitsOutput;
  const graph = proto.graph!;
  const taken = graphNames(graph);
  let name = `${logitsOutput}_f32`;
  for (let i = 1; taken.has(name); i++) name = `${logitsOutput}_f32_${i}`;
  graph.node!.push(node('Cast', [logitsOutput], [name], `lc_cast/${name}`, [attrInt('to', DT.FLOAT)]));
  const outputs = graph.output!;
  const at = outputs.findIndex((o) => o.name === logitsOutput);
  const old = outputs[at];
  outputs.splice(at, 1, {
    name,
    type: { tensorType: { elemType: DT.FLOAT, shape: old.type?.tensorType?.shape ?? null } },
  });
  return name;
}

/**
 * Log-sum-exp over the last axis, keepdims. 'reduce' is ORT's ReduceLogSumExp, whose float32
 * accumulation drifts by ~4e-5 over 32k entries. 'sum32' is max-shifted Exp + ReduceSum in
 * float32. 'sum64' accumulates the shifted exponentials in float64.
 */
function appendLogSumExp(
  graph: GraphProto,
  x: string,
  opset: number,
  fresh: (base: string) => string,
  mode: LseMode,
  vocab: number | null,
  rank: number | null,
): string {
  const nodes = graph.node!;
  // Reductions moved `axes` from attribute to input at opset 18 (ReduceSum already at 13).
  const reduce = (op: string, input: string, output: string, keepdims = 1): void => {
    const axesAsInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
    if (axesAsInput) {
      const axes = fresh('axes');
      graph.initializer!.push(int64Tensor(axes, [-1]));
      nodes.push(node(op, [input, axes], [output], fresh(op), [attrInt('keepdims', keepdims)]));
    } else {
      nodes.push(node(op, [input], [output], fresh(op), [attrInts('axes', [-1]), attrInt('keepdims', keepdims)]));
    }
  };
  const lse = fresh('lse');
  if (mode === 'reduce') {
    reduce('ReduceLogSumExp', x, lse);
    return lse;
  }
  const max = fresh('max');
  reduce('ReduceMax', x, max);
  const shifted = fresh('shifted');
  nodes.push(node('Sub', [x, max], [shifted], fresh('shift')));
  const exp = fresh('exp');
  nodes.push(node('Exp', [shifted], [exp], fresh('exp')));
  let sum = fresh('sum');
  if (mode === 'sum64') {
    const exp64 = fresh('exp64');
    nodes.push(node('Cast', [exp], [exp64], fresh('cast64'), [attrInt('to', DT.DOUBLE)]));
    const sum64 = fresh('sum64');
    reduce('ReduceSum', exp64, sum64);
    const log64 = fresh('log64');
    nodes.push(node('Log', [sum64], [log64], fresh('log64')));
    const log32 = fresh('log32');
    nodes.push(node('Cast', [log64], [log32], fresh('cast32'), [attrInt('to', DT.FLOAT)]));
    sum = log32;
  } else if (mode === 'blocked' && vocab !== null && rank !== null) {
    // Two-level float32 sum: ~sqrt(V) blocks of ~sqrt(V) entries, so no partial sum runs long
    // enough to swallow small terms, without a float64 copy of [B,S,V].
    const block = blockSize(vocab);
    const blocks = Math.ceil(vocab / block);
    let padded = exp;
    if (blocks * block !== vocab) {
      const pads = new Array<number>(2 * rank).fill(0);
      pads[2 * rank - 1] = blocks * block - vocab;
      const padsName = fresh('pads');
      graph.initializer!.push(int64Tensor(padsName, pads));
      padded = fresh('exp_padded');
      nodes.push(node('Pad', [exp, padsName], [padded], fresh('pad')));
    }
    const shape = fresh('blocked_shape');
    graph.initializer!.push(int64Tensor(shape, [...new Array<number>(rank - 1).fill(0), blocks, block]));
    const blocked = fresh('exp_blocked');
    nodes.push(node('Reshape', [padded, shape], [blocked], fresh('reshape')));
    const partial = fresh('partial');
    reduce('ReduceSum', blocked, partial, 0);
    reduce('ReduceSum', partial, sum);
    const log = fresh('log');
    nodes.push(node('Log', [sum], [log], fresh('log')));
    sum = log;
  } else {
    reduce('ReduceSum', exp, sum);
    const log = fresh('log');
    nodes.push(node('Log', [sum], [log], fresh('log')));
    sum = log;
  }
  nodes.push(node('Add', [max, sum], [lse], fresh('lse')));
  return lse;
}

/** A divisor of `vocab` near sqrt(vocab) when there is one (no Pad copy), else ceil(sqrt). */
function blockSize(vocab: number): number {
  const root = Math.sqrt(vocab);
  for (let delta = 0; delta <= root / 2; delta++) {
    for (const b of [Math.round(root) + delta, Math.round(root) - delta]) {
      if (b >= 1 && vocab % b === 0) return b;
    }
  }
  return Math.ceil(root);
}
