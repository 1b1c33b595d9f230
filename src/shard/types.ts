/** How top-k log-probabilities are stored. All decode to float32 log-softmax values. */
export type ValueEncoding = 'f32' | 'f16' | 'bf16' | 'q8' | 'rank-delta';
export const VALUE_ENCODINGS: readonly ValueEncoding[] = ['f32', 'f16', 'bf16', 'q8', 'rank-delta'];

/** Compression of Arrow body buffers. */
export type CodecName = 'lz4' | 'zstd' | 'none';
export const CODECS: readonly CodecName[] = ['lz4', 'zstd', 'none'];

export type IndexType = 'uint16' | 'uint32';

/** The file format of a dataset's shards (docs/FORMAT.md; parquet is format 2.2). */
export type ShardFormat = 'arrow' | 'parquet';
export const SHARD_FORMATS: readonly ShardFormat[] = ['arrow', 'parquet'];
/** How top-k ids are stored: the classic topk_ids column, or context-table codes (format 2.4). */
export type IdEncoding = 'plain' | 'ctx-table';
export const ID_ENCODINGS: readonly IdEncoding[] = ['plain', 'ctx-table'];

/** The index width a vocabulary needs: ids are < vocabSize. */
export function indexTypeFor(vocabSize: number): IndexType {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

/**
 * One stored batch as flat typed arrays. Sample i owns tokens offsets[i]..offsets[i+1];
 * token t owns topk entries t*k..t*k+k, in descending teacher probability.
 */
export interface TopkBatch {
  sampleIds: Float64Array | number[];
  offsets: Int32Array;
  inputIds: Int32Array;
  topkIds: Uint32Array | Uint16Array | Int32Array;
  topkLogprobs: Float32Array;
  /** One per token: log Σ p outside the top-k (present exactly when the layout has tailMass). */
  tailLogprobs?: Float32Array;
  /**
   * Ragged (top-p) layouts only, one per token: how many leading entries of the token's k are
   * kept (minK..k). The arrays above keep their k stride; entries past the count are padding,
   * id 0 and log-prob -Infinity. The stored lists hold only the kept entries (format 2.3).
   */
  topkCounts?: Int32Array;
}

/** Settings every batch of one dataset shares. */
export interface TopkLayout {
  k: number;
  vocabSize: number;
  values: ValueEncoding;
  /** q8 only: logprob = -q * q8Scale, q in 0..255. */
  q8Scale?: number;
  /** rank-delta only (src/shard/encodings): leading ranks kept at float16 precision (default k). */
  f16Ranks?: number;
  /** rank-delta only: grid step in nats of the other ranks. */
  gridStep?: number;
  /** Shards carry topk_tail_logprob, the exact log tail mass per position (format 2.1). */
  tailMass?: boolean;
  /** Shards are Parquet files (format 2.2); absent means Arrow IPC files. */
  shardFormat?: ShardFormat;
  /** Ragged top-p lists (format 2.3): per position the smallest prefix with mass >= topP ... */
  topP?: number;
  /** ... but at least minK entries (and at most k). Set exactly when topP is. */
  minK?: number;
  /** Id encoding (absent: plain). ctx-table keeps a per-shard table in each shard's schema (format 2.4). */
  ids?: IdEncoding;
  /**
   * Shared prefixes (format 2.5, docs/FORMAT.md §4.3): each sample's first prefix_len positions
   * are stored once per shard, in an earlier root sample, and referenced. Readers return the
   * resolved (full) batches; the writer's minimum shared length is DatasetWriterOptions.sharePrefixes.
   */
  sharedPrefixes?: boolean;
}

export const FORMAT_VERSION = '2.0';
/** 2.1 adds the optional tail-mass column; datasets without it are still written as 2.0. */
export const FORMAT_VERSION_TAIL = '2.1';
/** 2.2 adds Parquet shards (manifest shardFormat "parquet"). */
export const FORMAT_VERSION_PARQUET = '2.2';
/** 2.3: ragged top-p lists (list<list<…>> instead of list<fixed_size_list<…, k>>). */
export const FORMAT_VERSION_RAGGED = '2.3';
/** 2.4 adds the ctx-table id encoding (docs/FORMAT.md §4.2); written only by datasets that use it. */
export const FORMAT_VERSION_IDS = '2.4';
/** 2.5 adds shared prefixes (prefix_sample/prefix_len columns, docs/FORMAT.md §4.3). */
export const FORMAT_VERSION_SHARED = '2.5';
/** The highest minor version the layout's features need. */
export const formatVersionOf = (layout: TopkLayout): string => (
  layout.sharedPrefixes ? FORMAT_VERSION_SHARED
  : layout.ids === 'ctx-table' ? FORMAT_VERSION_IDS
    : isRagged(layout) ? FORMAT_VERSION_RAGGED
      : layout.shardFormat === 'parquet' ? FORMAT_VERSION_PARQUET
        : layout.tailMass ? FORMAT_VERSION_TAIL : FORMAT_VERSION);
/** Does the layout store a variable number of entries per position (top-p, format 2.3)? */
export const isRagged = (layout: TopkLayout): boolean => layout.topP !== undefined;
export const FORMAT_MAJOR = 2;

/** q8 step in nats when a layout names none (values.ts; here so the manifest code needs no Arrow). */
export const DEFAULT_Q8_SCALE = 0.1;

/** Dataset ids are folder names under the root; the pattern keeps them from ever naming
 * anything else (no separators, no leading dot, bounded length). schemas/ repeats it. */
export const DATASET_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const DATASET_ID = new RegExp(DATASET_ID_PATTERN);
export const isDatasetId = (id: string): boolean => DATASET_ID.test(id);

/** The run settings file in a dataset folder (what a resume is compared against). */
export const RUN_FILE = 'run.json';
