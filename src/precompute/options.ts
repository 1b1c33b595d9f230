import type { TeacherDevice, TopkOn } from '../teacher/index.js';
import type { LseMode } from '../teacher/head-mode.js';
import type { CodecName, IdEncoding, ShardFormat, ValueEncoding } from '../shard/index.js';
import type { DatasetFormat } from '../data/index.js';

export interface PrecomputeOptions {
  /** ONNX teacher (.onnx; external data files beside it). */
  model: string;
  /** Tokenized dataset: JSONL, Arrow IPC or Parquet with an input_ids list column. */
  data: string;
  format?: DatasetFormat;
  column?: string;
  /** Root folder; the dataset is written to <out>/<datasetId>. */
  out: string;
  datasetId: string;
  k: number;
  values: ValueEncoding;
  q8Scale?: number;
  /** rank-delta values: leading ranks at float16 precision (default k) and the grid step of the rest. */
  f16Ranks?: number;
  gridStep?: number;
  /** Id encoding (default plain); ctx-table codes ids against per-shard tables (format 2.4). */
  ids?: IdEncoding;
  /** Also store topk_tail_logprob, the exact log probability outside the top-k (format 2.1). */
  tailMass?: boolean;
  /** Fused head formulation (graph top-k); default: what the dataset's run.json recorded, else DEFAULT_HEAD (see head.ts). */
  head?: LseMode;
  /**
   * Ragged top-p lists (format 2.3): per position keep the smallest prefix of the top-k whose
   * mass reaches topP, at least minK (default 1) entries. The teacher still computes top-k.
   */
  topP?: number;
  minK?: number;
  /**
   * Shared prefixes (format 2.5): samples sharing at least this many leading tokens with an
   * earlier sample of the shard store those positions once (0 or absent: off).
   */
  sharePrefixes?: number;
  codec: CodecName;
  /** Shard files: Arrow IPC (default) or Parquet (format 2.2). */
  shardFormat?: ShardFormat;
  /** ZSTD level when codec is zstd (default 3). */
  zstdLevel?: number;
  /** Samples per stored batch: the unit GET /logits/:datasetId/:batch serves. */
  batchSize: number;
  batchesPerShard: number;
  /** Keep the first maxSeqLen tokens of longer samples. */
  maxSeqLen?: number;
  /** Padded-token budget of one teacher call; independent of batchSize. Default: autoInferBatchTokens. */
  inferBatchTokens?: number;
  topkOn: TopkOn;
  vocabSize?: number;
  logitsOutput?: string;
  device: TeacherDevice;
  threads?: number;
  overwrite: boolean;
  /** Worker `index` of `count` writes the shards s with s % count === index; the last to finish writes the manifest. */
  worker?: { index: number; count: number };
}

export type ProgressEvent =
  | { type: 'scan'; samples: number; tokens: number }
  | { type: 'start'; totalBatches: number; totalTokens: number; resumeFromBatch: number }
  | { type: 'batch'; done: number; total: number; tokens: number; totalTokens: number; seconds: number; tokensPerSec: number; etaSeconds: number | null }
  | { type: 'shard'; file: string };

export interface PrecomputeSummary {
  datasetId: string;
  dir: string;
  samples: number;
  tokens: number;
  batches: number;
  shards: number;
  /**
   * Tokens the teacher ran on in this invocation: less than tokens after a resume, and with
   * shared prefixes by the fully shared samples, which the teacher skips.
   */
  computedTokens: number;
  seconds: number;
  /** Dataset tokens written per second by this invocation (skipped samples included). */
  tokensPerSec: number;
  bytesPerToken: number;
  top1Agreement: number | null;
  meanTopkMass: number | null;
  resumedFromBatch: number;
  alreadyComplete: boolean;
  /** False when other workers' shards are still missing: the manifest is not written yet. */
  complete: boolean;
  /** Shards other workers have not committed yet (empty when complete). */
  pendingShards: number[];
}

/**
 * Even with the fused head, ONNX Runtime materialises [tokens x vocab] float32 logits inside
 * the session; keeping that near 256 MiB bounds memory at any vocabulary (2,097 tokens at 32k,
 * 441 at 152k) while leaving small vocabularies large batches.
 */
export function autoInferBatchTokens(vocabSize: number): number {
  return Math.min(8192, Math.max(128, Math.floor(2 ** 28 / (4 * vocabSize))));
}
