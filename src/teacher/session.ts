// The one module that imports onnxruntime-node. A TeacherSession turns right-padded token
// batches into top-k ids and log-probabilities, either through the fused graph head (only
// [B,S,k] leaves ORT) or by copying full logits out and selecting on the host.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { firstNonFinite } from '../topk/finite.js';
import { topkLogprobsRows } from '../topk/topk.js';
import { tailLogprobRows } from '../topk/tail.js';
import { TeacherError, TeacherNonFiniteError } from './errors.js';
import { checkBatch, fillAttentionMask, fillInputIds, fillPositionIds, planFeeds } from './feeds.js';
import { TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, TOPK_TAIL_OUTPUT } from './head-outputs.js';
import type { LseMode } from './head-mode.js';
import type { ContextLength } from './context-length.js';
// Only a type statically: the worker's session gets its model prepared by the main thread, and
// the graph code behind prepareTeacherModel (head surgery, wire-format walkers: a quarter of
// the worker's bundle) is loaded only where a session prepares a model itself.
import type { PreparedModel } from './prepare-model.js';
import { trace } from '../trace.js';

export type TopkOn = 'graph' | 'host';
export type TeacherDevice = 'cpu' | 'cuda';

export interface TeacherSessionOptions {
  k: number;
  /** 'graph' (default): fused head inside ORT. 'host': full logits out, JS top-k. */
  topkOn?: TopkOn;
  /** Real vocabulary when the logits are padded wider; defaults to the logits' last dim. */
  vocabSize?: number;
  logitsOutput?: string;
  device?: TeacherDevice;
  /** ORT intra-op threads; ORT's default (all cores) when omitted. */
  threads?: number;
  /** Formulation of the fused head (default DEFAULT_HEAD); see fuse-head.ts. */
  lse?: LseMode;
  /**
   * sha256 of the .onnx file when the caller already has it (or computes it concurrently and
   * passes ''), so the session does not hash a large file a second time. Default: hashed here.
   */
  modelSha256?: string;
  /** Also compute tailLogprobs, the exact log probability outside the top-k per position. */
  tailMass?: boolean;
}

export interface TopkBatch {
  /** [batch * seq * k], row-major, best first. */
  topkIds: Int32Array;
  /** [batch * seq * k], log-softmax at T=1. */
  topkLogprobs: Float32Array;
  /** [batch * seq], log Σ p outside the top-k; only when the session was opened with tailMass. */
  tailLogprobs?: Float32Array;
}

export interface LogitsBatch {
  /** [batch * seq * width] float32, the model's logits (float16 models are widened). */
  logits: Float32Array;
  /** Declared width of the logits (may exceed vocabSize for padded heads). */
  width: number;
}

interface Loaded {
  session: InferenceSession;
  feeds: { attentionMask: boolean; positionIds: boolean };
  fetch: string[];
}

export class TeacherSession {
  private logitsSession: Loaded | null = null;
  private disposed = false;

  private constructor(
    readonly modelPath: string,
    readonly k: number,
    readonly topkOn: TopkOn,
    readonly device: TeacherDevice,
    /** Effective vocabulary: ids are < vocabSize, log-softmax normalizes over it. */
    readonly vocabSize: number,
    /** Width of the logits output (vocabSize plus any padding). */
    readonly logitsWidth: number,
    /** sha256 (hex) of the .onnx file; external data files are not included. */
    readonly modelSha256: string,
    private readonly main: Loaded,
    private readonly logitsOutput: string,
    private readonly threads: number | undefined,
    readonly tailMass: boolean,
    /** The longest input the graph states it accepts (see context-length.ts), or null. */
    readonly contextLength: ContextLength | null,
  ) {}

  /**
   * Opens a session on `modelPath`. `prepared` is the model as prepareTeacherModel(modelPath,
   * opts) returns it, when the caller already built it (the CLI's main thread does, while the
   * teacher worker starts); otherwise it is built here.
   */
  static async open(modelPath: string, opts: TeacherSessionOptions, prepared?: PreparedModel): Promise<TeacherSession> {
    const label = path.basename(modelPath);
    const topkOn = opts.topkOn ?? 'graph';
    const device = opts.device ?? 'cpu';
    if (!Number.isInteger(opts.k) || opts.k < 1) throw new Error(`teacher ${label}: k must be an integer >= 1, got ${opts.k}`);
    if (device === 'cuda') assertCudaAvailable(label);
    const p = prepared ?? (await import('./prepare-model.js')).prepareTeacherModel(modelPath, opts);
    const main = await load(modelPath, p.bytes, p.externalData, device, opts.threads, p.fetch, label);
    // The prepared bytes are not kept: for inline-weight models they pin the whole file in memory.
    const s = new TeacherSession(modelPath, opts.k, topkOn, device, p.vocabSize, p.width, p.modelSha256, main, opts.logitsOutput ?? 'logits', opts.threads, opts.tailMass === true, p.contextLength);
    if (topkOn === 'host') s.logitsSession = main;
    return s;
  }

  get inputNames(): readonly string[] {
    return this.main.session.inputNames;
  }

  /** Outputs of the session in use: topk_ids/topk_logprobs in graph mode, the model's in host mode. */
  get outputNames(): readonly string[] {
    // In graph mode the replaced logits stay declared in the merged graph (see model-splice.ts)
    // but are never fetched; the outputs that matter are the head's.
    return this.topkOn === 'graph' ? this.main.fetch : this.main.session.outputNames;
  }

  /**
   * Top-k over every position of a right-padded batch (`inputIds` is [batch*seq], sample b has
   * `lengths[b]` real tokens). Pad positions get values too; callers ignore them. Throws
   * TeacherNonFiniteError when a real position has a NaN/±Inf log-probability.
   */
  async run(inputIds: Int32Array, batch: number, seq: number, lengths: Int32Array): Promise<TopkBatch> {
    const label = this.label;
    this.assertOpen();
    checkBatch(inputIds, batch, seq, lengths, label);
    let result: TopkBatch;
    if (this.topkOn === 'graph') {
      const out = await runSession(this.main, inputIds, batch, seq, lengths);
      const ids64 = out[TOPK_IDS_OUTPUT].data as BigInt64Array;
      const topkIds = new Int32Array(ids64.length);
      // Ids are in [0, vocab) < 2^31: the low little-endian word is the value, read without a
      // BigInt per entry (a million BigInt conversions per 100k tokens at k=8 otherwise).
      if (LITTLE_ENDIAN) {
        const words = new Int32Array(ids64.buffer, ids64.byteOffset, ids64.length * 2);
        for (let i = 0; i < topkIds.length; i++) topkIds[i] = words[2 * i];
      } else {
        for (let i = 0; i < topkIds.length; i++) topkIds[i] = Number(ids64[i]);
      }
      result = { topkIds, topkLogprobs: out[TOPK_LOGPROBS_OUTPUT].data as Float32Array };
      if (this.tailMass) result.tailLogprobs = out[TOPK_TAIL_OUTPUT].data as Float32Array;
    } else {
      const { logits, width } = await this.runLogits(inputIds, batch, seq, lengths);
      const rows = batch * seq;
      result = { topkIds: new Int32Array(rows * this.k), topkLogprobs: new Float32Array(rows * this.k) };
      topkLogprobsRows(logits, rows, width, this.k, result.topkIds, result.topkLogprobs, this.vocabSize);
      if (this.tailMass) {
        result.tailLogprobs = new Float32Array(rows);
        tailLogprobRows(logits, rows, width, this.k, result.topkIds, result.tailLogprobs, this.vocabSize);
      }
    }
    const expected = batch * seq * this.k;
    if (result.topkIds.length !== expected || result.topkLogprobs.length !== expected) {
      throw new Error(`teacher ${label}: expected ${expected} top-k values, got ${result.topkIds.length} ids, ${result.topkLogprobs.length} logprobs`);
    }
    if (result.tailLogprobs && result.tailLogprobs.length !== batch * seq) {
      throw new Error(`teacher ${label}: expected ${batch * seq} tail log-probabilities, got ${result.tailLogprobs.length}`);
    }
    this.checkFinite(result.topkLogprobs, batch, seq, lengths);
    return result;
  }

  /** Full logits of the original model (for references and tests; [B,S,V] leaves ORT). */
  async runLogits(inputIds: Int32Array, batch: number, seq: number, lengths: Int32Array): Promise<LogitsBatch> {
    this.assertOpen();
    checkBatch(inputIds, batch, seq, lengths, this.label);
    if (!this.logitsSession) {
      const { prepareTeacherModel } = await import('./prepare-model.js');
      const p = prepareTeacherModel(this.modelPath, { k: this.k, topkOn: 'host', vocabSize: this.vocabSize, logitsOutput: this.logitsOutput, modelSha256: this.modelSha256 });
      this.logitsSession = await load(this.modelPath, p.bytes, p.externalData, this.device, this.threads, p.fetch, this.label);
    }
    const out = await runSession(this.logitsSession, inputIds, batch, seq, lengths);
    const tensor = out[this.logitsSession.fetch[0]];
    const logits = tensor.data as Float32Array;
    if (logits.length !== batch * seq * this.logitsWidth) {
      throw new Error(`teacher ${this.label}: logits dims [${tensor.dims}] do not match batch ${batch} x seq ${seq} x ${this.logitsWidth}`);
    }
    return { logits, width: this.logitsWidth };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.main.session.release();
    if (this.logitsSession && this.logitsSession !== this.main) await this.logitsSession.session.release();
  }

  private get label(): string {
    return path.basename(this.modelPath);
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error(`teacher ${this.label}: session is disposed`);
  }

  private checkFinite(logprobs: Float32Array, batch: number, seq: number, lengths: Int32Array): void {
    const k = this.k;
    for (let b = 0; b < batch; b++) {
      const start = b * seq * k;
      const bad = firstNonFinite(logprobs, start, start + lengths[b] * k);
      if (bad !== -1) {
        throw new TeacherNonFiniteError(this.label, b, Math.floor((bad - start) / k), logprobs[bad]);
      }
    }
  }
}

/** Create a session from the file (`rewritten` null) or from rewritten bytes. */
async function load(
  modelPath: string,
  rewritten: Uint8Array | null,
  externalData: boolean,
  device: TeacherDevice,
  threads: number | undefined,
  fetch: string[],
  label: string,
): Promise<Loaded> {
  const options: InferenceSession.SessionOptions = {
    executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    // Errors only: ORT warns on stderr about e.g. unused initializers in exported models,
    // which would garble the CLI's progress output.
    logSeverityLevel: 3,
  };
  if (threads !== undefined) options.intraOpNumThreads = threads;
  // A model loaded from bytes has no directory, and ORT refuses relative external-data paths
  // for it; this config entry names the folder they resolve against (the original model's),
  // so the rewritten graph never has to be written to disk.
  if (rewritten && externalData) {
    options.extra = { session: { model_external_initializers_file_folder_path: path.dirname(path.resolve(modelPath)) } };
  }
  let session: InferenceSession;
  try {
    trace('session: create starts');
    session = rewritten ? await ort.InferenceSession.create(rewritten, options) : await ort.InferenceSession.create(modelPath, options);
  } catch (err) {
    const hint = device === 'cuda' ? ` (${CUDA_HINT})` : '';
    throw new TeacherError(`teacher ${label}: onnxruntime could not load the model: ${(err as Error).message}${hint}`);
  }
  for (const name of fetch) {
    if (!session.outputNames.includes(name)) {
      await session.release();
      throw new TeacherError(`teacher ${label}: model has no output "${name}"; outputs: ${session.outputNames.join(', ')}`);
    }
  }
  try {
    return { session, feeds: planFeeds(session.inputNames, label), fetch };
  } catch (err) {
    await session.release();
    throw err;
  }
}

async function runSession(
  loaded: Loaded,
  inputIds: Int32Array,
  batch: number,
  seq: number,
  lengths: Int32Array,
): Promise<Record<string, Tensor>> {
  const dims = [batch, seq];
  const n = batch * seq;
  const ids = new BigInt64Array(n);
  fillInputIds(inputIds, ids);
  const feeds: Record<string, Tensor> = { input_ids: new ort.Tensor('int64', ids, dims) };
  if (loaded.feeds.attentionMask) {
    const mask = new BigInt64Array(n);
    fillAttentionMask(batch, seq, lengths, mask);
    feeds.attention_mask = new ort.Tensor('int64', mask, dims);
  }
  if (loaded.feeds.positionIds) {
    const pos = new BigInt64Array(n);
    fillPositionIds(batch, seq, pos);
    feeds.position_ids = new ort.Tensor('int64', pos, dims);
  }
  return (await loaded.session.run(feeds, loaded.fetch)) as Record<string, Tensor>;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

const CUDA_HINT =
  'the CUDA execution provider ships separately: reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node, on a machine with CUDA 12 and cuDNN 9';

function assertCudaAvailable(label: string): void {
  // The CUDA provider is a shared library next to the native binding; the default CPU install
  // does not download it.
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const binDir = path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (!existsSync(path.join(binDir, lib))) {
    throw new TeacherError(`teacher ${label}: device 'cuda' requested but ${lib} is not installed in ${binDir}; ${CUDA_HINT}`);
  }
}
