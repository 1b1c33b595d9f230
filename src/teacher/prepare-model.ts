// Everything a TeacherSession does to the model before onnxruntime sees it: the file read once,
// its graph checked (logits output, vocabulary, k) and, in graph mode, the fused top-k head
// spliced after the untouched file bytes (model-splice.ts). No onnxruntime here, so the CLI's
// main thread can do it while the teacher worker is still starting and loading onnxruntime
// (the main thread waits for the worker then anyway), and hand the result over with the
// 'open' message: the bytes as a transferred ArrayBuffer, never a copy. The worker's critical
// path is then only its own start, the onnxruntime load and the session creation.
import path from 'node:path';
import { contextLengthOf, type ContextLength } from './context-length.js';
import { TeacherError } from './errors.js';
import { TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, TOPK_TAIL_OUTPUT, appendTopkHead, castLogitsToFloat32, findLogitsOutput } from './fuse-head.js';
import { graphAppendix, readModelFile, readModelLight, withAppendix } from './model-splice.js';
import { DT, usesExternalData } from './onnx-types.js';
import type { TeacherSessionOptions } from './session.js';

/** A model ready for onnxruntime; plain data (structured-clonable) apart from `bytes`. */
export interface PreparedModel {
  /** What onnxruntime loads: the file followed by a graph appendix, or null for the file itself. */
  bytes: Uint8Array | null;
  /** Whether initializers live in side files (resolved against the model's folder). */
  externalData: boolean;
  /** The outputs a run fetches. */
  fetch: string[];
  /** Effective vocabulary (ids < vocabSize, log-softmax over it). */
  vocabSize: number;
  /** Width of the logits output (vocabSize plus any padding). */
  width: number;
  /** sha256 of the .onnx file: opts.modelSha256 when given, else hashed from the bytes read. */
  modelSha256: string;
  /** Read from the graph as the file has it, before the head is appended. */
  contextLength: ContextLength | null;
}

/**
 * Reads and checks `modelPath` and builds what TeacherSession.open hands to onnxruntime.
 * Throws TeacherError (naming the file) for a model the options cannot apply to.
 */
export function prepareTeacherModel(modelPath: string, opts: TeacherSessionOptions): PreparedModel {
  const label = path.basename(modelPath);
  const topkOn = opts.topkOn ?? 'graph';
  const logitsOutput = opts.logitsOutput ?? 'logits';
  if (!Number.isInteger(opts.k) || opts.k < 1) throw new Error(`teacher ${label}: k must be an integer >= 1, got ${opts.k}`);
  if (topkOn !== 'graph' && topkOn !== 'host') throw new Error(`teacher ${label}: topkOn must be 'graph' or 'host', got ${String(topkOn)}`);
  const bytes = readModelFile(modelPath);
  // node:crypto is loaded only when the hash is asked for (~7 ms): the precompute's main thread
  // hashes the file itself, concurrently, after handing this model to the worker.
  const modelSha256 = opts.modelSha256 ?? process.getBuiltinModule('node:crypto').createHash('sha256').update(bytes).digest('hex');
  const light = readModelLight(bytes, label);
  const proto = light.proto;
  const contextLength = contextLengthOf(proto.graph!);
  const info = findLogitsOutput(proto, logitsOutput, label);
  if (info.vocab === null && opts.vocabSize === undefined) {
    throw new TeacherError(`teacher ${label}: output "${logitsOutput}" has no fixed last dim; pass vocabSize`);
  }
  const width = info.vocab ?? opts.vocabSize!;
  const vocabSize = opts.vocabSize ?? width;
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > width) {
    throw new TeacherError(`teacher ${label}: vocabSize ${vocabSize} must be in 1..${width} (the logits width)`);
  }
  if (opts.k > vocabSize) throw new TeacherError(`teacher ${label}: k=${opts.k} exceeds the vocabulary size ${vocabSize}`);
  const external = usesExternalData(proto);
  const outputs = (proto.graph!.output ?? []).map((o) => o.name ?? '');
  const common = { externalData: external, vocabSize, width, modelSha256, contextLength };
  if (topkOn === 'graph') {
    appendTopkHead(proto, { k: opts.k, vocabSize: opts.vocabSize, logitsOutput, lse: opts.lse, tailMass: opts.tailMass }, label);
    // The head goes after the untouched file bytes (see model-splice.ts): no weight is copied.
    const fetch = [TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, ...(opts.tailMass ? [TOPK_TAIL_OUTPUT] : [])];
    return { ...common, bytes: withAppendix(bytes, graphAppendix(light, outputs)), fetch };
  }
  if (opts.tailMass && opts.k >= vocabSize) throw new TeacherError(`teacher ${label}: tail mass needs k < vocabulary size ${vocabSize}, got k=${opts.k}`);
  // Host top-k reads float32 logits: onnxruntime loads the file itself when they are float32,
  // else a Cast is appended inside the graph.
  if (info.elemType === DT.FLOAT) return { ...common, externalData: false, bytes: null, fetch: [logitsOutput] };
  const name = castLogitsToFloat32(proto, logitsOutput, label);
  return { ...common, bytes: withAppendix(bytes, graphAppendix(light, outputs)), fetch: [name] };
}

/** The ArrayBuffer to list in postMessage's transfer list for `p` (none when ORT reads the file). */
export function preparedTransfer(p: PreparedModel): ArrayBuffer[] {
  return p.bytes ? [p.bytes.buffer as ArrayBuffer] : [];
}
