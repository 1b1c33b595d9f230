#!/usr/bin/env node
// precompute-logits: run an ONNX teacher once over a tokenized dataset and write top-k shards.
import { join, resolve } from 'node:path';
import { CODECS, ID_ENCODINGS, SHARD_FORMATS, VALUE_ENCODINGS } from '../shard/types.js';
import { type PresetName, PRESETS, presetSettings } from '../shard/encodings/presets.js';
import { formatHelp, type OptionTable, parseOptions, runCommand } from './args.js';
import { checkInputPath } from './input-path.js';
import { exitOnInterrupt } from './interrupt.js';
import { progressRenderer } from './progress.js';
import { isMain, runMain } from './is-main.js';
import { trace } from '../trace.js';
import { dropPrestartedWorker, prestartTeacherWorker } from '../teacher/worker-start.js';
import { willRunTeacher } from './will-run-teacher.js';

export const PRECOMPUTE_OPTIONS = {
  model: { type: 'string', help: 'ONNX teacher: input_ids [batch, seq] -> logits [batch, seq, vocab]', placeholder: 'file.onnx' },
  data: { type: 'string', help: 'tokenized dataset: .jsonl, .arrow/.arrows or .parquet with an input_ids list column', placeholder: 'file' },
  out: { type: 'string', help: 'root folder; the dataset goes to <out>/<dataset-id>', default: 'out', placeholder: 'dir' },
  'dataset-id': { type: 'string', help: 'name of the dataset under --out (letters, digits, . _ -)', placeholder: 'id' },
  'top-k': { type: 'int', help: 'token ids and log-probabilities kept per position', default: 8, min: 1 },
  preset: { type: 'string', help: 'storage preset: fast (f16, lz4), compact (top 16 ranks at f16 precision, rest within 0.05 nats; rank deltas, zstd 19), small (0.3-nat grid; rank deltas, zstd 19); compact and small code ids against per-shard context tables (--ids ctx-table) and store shared prefixes once (--share-prefixes 32); the flags below override it', default: 'fast', choices: PRESETS },
  values: { type: 'string', help: 'log-probability encoding (default: from --preset)', choices: VALUE_ENCODINGS },
  'q8-scale': { type: 'number', help: 'q8 step in nats (logprob = -q * scale)', default: 0.1, min: 1e-6 },
  'f16-ranks': { type: 'int', help: 'rank-delta: leading ranks kept at float16 precision (default: from --preset, else k)', min: 0 },
  'grid-step': { type: 'number', help: 'rank-delta: grid step in nats of the other ranks (max error step/2)', min: 1e-6 },
  ids: { type: 'string', help: 'id encoding (default: from --preset): plain (topk_ids column) or ctx-table (one byte per id against a per-shard table of the ids seen after each input token; format 2.4)', choices: ID_ENCODINGS },
  codec: { type: 'string', help: 'compression of Arrow body buffers (default: from --preset)', choices: CODECS },
  'shard-format': { type: 'string', help: 'shard files: arrow (Arrow IPC) or parquet (one row group per stored batch, format 2.2; readable by pyarrow, polars, DuckDB, datasets)', default: 'arrow', choices: SHARD_FORMATS },
  'zstd-level': { type: 'int', help: 'ZSTD level 1..22 for --codec zstd (default: from --preset, else 3)', min: 1, max: 22 },
  'batch-size': { type: 'int', help: 'samples per stored batch, the unit GET /logits serves', default: 32, min: 1 },
  'batches-per-shard': { type: 'int', help: 'stored batches per shard file', default: 64, min: 1 },
  'max-seq-len': { type: 'int', help: 'keep the first N tokens of longer samples', min: 1 },
  'infer-batch-tokens': { type: 'int', help: 'padded tokens per teacher call, grouping similar lengths (default: what keeps [tokens x vocab] float32 logits near 256 MiB, 128..8192)', min: 1 },
  'tail-mass': { type: 'boolean', help: 'also store per position the log of the probability outside the top-k, computed exactly in log space by the teacher (column topk_tail_logprob, format 2.1)' },
  'share-prefixes': { type: 'int', help: 'store positions whose whole context equals an earlier sample\'s once per shard when at least N leading tokens are shared (format 2.5; default: from --preset, 32 for compact and small; 0: off)', min: 0 },
  'top-p': { type: 'number', help: 'ragged lists (format 2.3): per position keep the smallest prefix of the top-k whose probability mass reaches P, 0 < P <= 1 (1 keeps all k); --top-k is the most kept' },
  'min-k': { type: 'int', help: 'with --top-p: keep at least this many entries per position, 1..--top-k (default 1)' },
  'topk-on': { type: 'string', help: 'graph: fused top-k head inside ONNX Runtime; host: full logits out, JS top-k', default: 'graph', choices: ['graph', 'host'] },
  'vocab-size': { type: 'int', help: "tokenizer vocabulary when the teacher's output layer is padded wider", min: 1 },
  'logits-output': { type: 'string', help: 'name of the logits output', default: 'logits' },
  format: { type: 'string', help: 'dataset format (default: from the extension)', choices: ['jsonl', 'arrow', 'parquet'] },
  column: { type: 'string', help: 'column or JSON key holding token ids', default: 'input_ids' },
  device: { type: 'string', help: 'execution provider', default: 'cpu', choices: ['cpu', 'cuda'] },
  threads: { type: 'int', help: 'ONNX Runtime intra-op threads (default: all cores)', min: 1 },
  tokenizer: { type: 'string', help: "Hugging Face tokenizer.json or JSON list of token strings, stored beside the manifest so the inspector page shows text", placeholder: 'file' },
  overwrite: { type: 'boolean', help: 'replace an existing dataset written with other settings' },
  'num-workers': { type: 'int', help: 'split the shards over N worker processes (machines) sharing --out', default: 1, min: 1 },
  'worker-index': { type: 'int', help: 'this worker, 0..N-1 (default: $JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it, else 0)', min: 0 },
  demo: { type: 'boolean', help: 'use the embedded synthetic teacher (32k vocabulary) and dataset; no input files needed' },
  quiet: { type: 'boolean', help: 'no progress on stderr' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionTable;

const USAGE = `Usage: precompute-logits --model M --data D --out ROOT --dataset-id ID [options]
       precompute-logits --demo [--out ROOT]

Runs the teacher once over the dataset and writes <out>/<dataset-id>: Arrow IPC shards with
the top-k token ids and log-probabilities of every position, and manifest.json (written last).
Re-running the same command after an interruption continues after the last complete shard.
Progress goes to stderr; stdout gets one JSON summary.`;

export async function precomputeCommand(argv: string[]): Promise<number> {
  try {
    return await runPrecompute(argv);
  } finally {
    await dropPrestartedWorker(); // taken by the run, unless it stopped before the teacher
  }
}

async function runPrecompute(argv: string[]): Promise<number> {
  return runCommand('precompute-logits', async () => {
    const { values: v } = parseOptions(argv, PRECOMPUTE_OPTIONS);
    if (v.help) {
      process.stdout.write(formatHelp(USAGE, PRECOMPUTE_OPTIONS));
      return 0;
    }
    const { UsageError } = await import('../precompute/errors.js');
    let model = v.model as string | undefined;
    let data = v.data as string | undefined;
    let datasetId = v['dataset-id'] as string | undefined;
    const out = resolve(v.out as string);
    if (v.demo) {
      const { DEMO, writeSyntheticInputs } = await import('../precompute/demo.js');
      const inputs = writeSyntheticInputs(join(out, '.demo-inputs'), DEMO);
      model ??= inputs.model;
      data ??= inputs.data;
      datasetId ??= 'demo';
    }
    if (!model) throw new UsageError('--model is required (or --demo)');
    if (!data) throw new UsageError('--data is required (or --demo)');
    if (!datasetId) throw new UsageError('--dataset-id is required');
    checkInputPath('--model', model, 'file', 'an ONNX model file (.onnx)');
    checkInputPath('--data', data, 'file', 'a .jsonl, .arrow or .parquet dataset file');
    const { isDatasetId } = await import('../shard/types.js');
    if (!isDatasetId(datasetId)) {
      throw new UsageError(`--dataset-id "${datasetId}" must be 1-128 letters, digits, '.', '_' or '-', not starting with a punctuation mark`);
    }
    const worker = workerOf(v['num-workers'] as number, v['worker-index'] as number | undefined, UsageError);
    if (worker.count > 1 && v.overwrite) throw new UsageError('--overwrite cannot be combined with --num-workers > 1 (workers would delete each other\'s shards); clear the folder before starting the workers');
    // Read and checked before the teacher runs: a bad path must not cost a whole precompute.
    const tokenizerPath = v.tokenizer as string | undefined;
    const tokenizer = tokenizerPath === undefined ? null : await readTokenizer(tokenizerPath, UsageError);
    const storage = storageOf(v, UsageError);
    trace('cli: options parsed');
    const { precompute } = await import('../precompute/index.js');
    trace('cli: pipeline module loaded');
    const stopHandling = exitOnInterrupt('precompute-logits', 're-run the same command to resume');
    const summary = await precompute({
      model, data, out, datasetId,
      k: v['top-k'] as number, q8Scale: v['q8-scale'] as number, ...storage,
      batchSize: v['batch-size'] as number, batchesPerShard: v['batches-per-shard'] as number,
      maxSeqLen: v['max-seq-len'] as number | undefined, inferBatchTokens: v['infer-batch-tokens'] as number | undefined,
      topkOn: v['topk-on'] as never, vocabSize: v['vocab-size'] as number | undefined, logitsOutput: v['logits-output'] as string,
      format: v.format as never, column: v.column as string, device: v.device as never, threads: v.threads as number | undefined,
      overwrite: v.overwrite as boolean, worker, ...(v['tail-mass'] ? { tailMass: true } : {}), ...topPOf(v, UsageError),
      ...(v['shard-format'] === 'parquet' ? { shardFormat: 'parquet' as const } : {}),
    }, progressRenderer(process.stderr, v.quiet as boolean)).finally(stopHandling);
    if (!summary.complete) {
      process.stderr.write(`precompute-logits: worker ${worker.index} of ${worker.count} done; waiting for shards ${summary.pendingShards.join(', ')} from other workers (the last worker to finish writes the manifest; or run 'logit-cache finalize ${summary.dir}')\n`);
    }
    if (tokenizer && summary.complete) {
      const { attachTokenizer } = await import('../tokenizer/index.js');
      try {
        attachTokenizer(summary.dir, tokenizer, `--tokenizer ${tokenizerPath}`);
      } catch (e) {
        // The teacher's vocabulary is known only now; the dataset itself is complete and valid.
        const err = new Error(`${summary.dir} is complete, but the tokenizer was not stored: ${(e as Error).message}`);
        throw Object.assign(err, { code: (e as { code?: string }).code });
      }
    }
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    trace('cli: done');
    return 0;
  });
}

async function readTokenizer(path: string, UsageError: new (m: string) => Error) {
  const { loadTokenizerFile } = await import('../tokenizer/index.js');
  try {
    return loadTokenizerFile(path);
  } catch (e) {
    throw new UsageError(`--tokenizer: ${(e as Error).message}`);
  }
}

/** The preset's settings, each overridden by its flag when given; refuses flags that cannot apply. */
function storageOf(v: Record<string, unknown>, UsageError: new (m: string) => Error) {
  const k = v['top-k'] as number;
  const preset = presetSettings(v.preset as PresetName, k);
  const values = (v.values as typeof preset.values | undefined) ?? preset.values;
  const codec = (v.codec as typeof preset.codec | undefined) ?? preset.codec;
  const rankDelta = values === 'rank-delta';
  if (!rankDelta && (v['f16-ranks'] !== undefined || v['grid-step'] !== undefined)) {
    throw new UsageError(`--f16-ranks and --grid-step apply to --values rank-delta, not ${values}`);
  }
  // Preset parameters belong to the preset's own encoding: --values rank-delta under --preset fast starts from k f16 ranks.
  const fromPreset = preset.values === 'rank-delta' && rankDelta;
  const f16Ranks = rankDelta ? (v['f16-ranks'] as number | undefined) ?? (fromPreset ? preset.f16Ranks : undefined) ?? k : undefined;
  const gridStep = rankDelta ? (v['grid-step'] as number | undefined) ?? (fromPreset ? preset.gridStep : undefined) : undefined;
  if (f16Ranks !== undefined && f16Ranks > k) throw new UsageError(`--f16-ranks ${f16Ranks} is more than --top-k ${k}`);
  if (f16Ranks !== undefined && f16Ranks < k && gridStep === undefined) throw new UsageError(`--f16-ranks ${f16Ranks} < --top-k ${k} needs --grid-step for the other ranks`);
  if (codec !== 'zstd' && v['zstd-level'] !== undefined) throw new UsageError(`--zstd-level applies to --codec zstd, not ${codec}`);
  const zstdLevel = codec === 'zstd' ? (v['zstd-level'] as number | undefined) ?? (preset.codec === 'zstd' ? preset.zstdLevel : undefined) : undefined;
  // ctx-table codes a fixed k per position: with ragged top-p lists a preset falls back to plain ids.
  if (v.ids === 'ctx-table' && v['top-p'] !== undefined) throw new UsageError('--ids ctx-table codes a fixed k per position; it cannot be combined with --top-p (ragged lists): use --ids plain');
  const ids = (v.ids as typeof preset.ids | undefined) ?? (v['top-p'] !== undefined ? 'plain' : preset.ids);
  const sharePrefixes = (v['share-prefixes'] as number | undefined) ?? preset.sharePrefixes ?? 0;
  return { values, codec, ...(ids === 'ctx-table' ? { ids } : {}), ...(sharePrefixes > 0 ? { sharePrefixes } : {}), f16Ranks, gridStep: f16Ranks !== undefined && f16Ranks < k ? gridStep : undefined, zstdLevel };
}

/** --top-p / --min-k, checked here so a mistake never costs a teacher start. */
function topPOf(v: Record<string, unknown>, UsageError: new (m: string) => Error): { topP?: number; minK?: number } {
  const k = v['top-k'] as number;
  const topP = v['top-p'] as number | undefined;
  const minK = v['min-k'] as number | undefined;
  if (topP === undefined) {
    if (minK !== undefined) throw new UsageError('--min-k applies only with --top-p (it bounds the ragged top-p lists)');
    return {};
  }
  if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p ${topP} must be in (0, 1]`);
  if (minK !== undefined && !(Number.isInteger(minK) && minK >= 1)) throw new UsageError(`--min-k ${minK} must be an integer >= 1`);
  if (minK !== undefined && minK > k) throw new UsageError(`--min-k ${minK} is more than --top-k ${k} (the most entries kept per position)`);
  return { topP, minK: minK ?? 1 };
}

function workerOf(count: number, index: number | undefined, UsageError: new (m: string) => Error): { index: number; count: number } {
  const fromEnv = process.env.JOB_COMPLETION_INDEX;
  const i = index ?? (count > 1 && fromEnv !== undefined ? Number(fromEnv) : 0);
  if (!Number.isInteger(i) || i < 0 || i >= count) {
    throw new UsageError(`--worker-index ${index ?? `(JOB_COMPLETION_INDEX=${fromEnv})`} must be an integer from 0 to ${count - 1} (--num-workers ${count})`);
  }
  return { index: i, count };
}

trace('cli: modules loaded');
// Unbundled (tsc's output run directly), this module is the entry point and prestarts the
// worker itself; the bundle's entry (precompute-entry.ts) does it before this module loads.
if (isMain(import.meta.url) && willRunTeacher(process.argv.slice(2))) {
  prestartTeacherWorker();
  trace('cli: teacher worker prestarted');
}
await runMain(import.meta.url, precomputeCommand);
