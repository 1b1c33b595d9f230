// What DatasetWriter needs from a shard writer, and the one place that picks the writer for
// a dataset's shard format: Arrow IPC files (ShardWriter) or Parquet (ParquetShardWriter).
import type { Schema } from 'apache-arrow';
import { ParquetShardWriter } from './parquet/parquet-shard-writer.js';
import { ShardWriter } from './shard-writer.js';
import type { ValueEncodingName } from './parquet/leaf-values.js';
import type { LeafColumn } from './parquet/parquet-schema.js';
import type { CodecName, ShardFormat, TopkBatch, TopkLayout } from './types.js';

export interface ShardResult {
  bytes: number;
  sha256: string;
  /** Arrow: the schema message's length (at byte 8). Parquet: the tail's (footer + length + magic, at the end). */
  schemaLength: number;
  schemaSha256: string;
  batchCount: number;
  samples: number;
  tokens: number;
  /**
   * Shared-prefix shards (format 2.5): positions stored once in an earlier sample of the shard
   * (the sum of prefix_len); the manifest records it so `inspect` need not decode. Absent otherwise.
   */
  sharedPositions?: number;
  /** The committed index file: its size and sha256 go in the manifest. */
  index: { bytes: number; sha256: string };
}

export interface ShardWriterOptions {
  /** Where the index file goes (beside the shard, same stem). */
  indexPath: string;
  /** Dataset batch and sample numbers of this shard's first row, recorded in the index. */
  firstBatch: number;
  firstSample: number;
  /** ZSTD level for codec zstd (default: the library's, 3). */
  zstdLevel?: number;
  /**
   * Shared prefixes (format 2.5): the least number of leading tokens a sample shares with an
   * earlier root of the shard to reference it; set exactly when layout.sharedPrefixes is. The
   * writer keeps copies of recent roots' positions (shard-writer-base.ts WRITER_ROOT_BYTES).
   */
  sharePrefixes?: number;
  /** Bytes of root positions kept for references (default WRITER_ROOT_BYTES); changes the output, so tests only. */
  sharePrefixRootBytes?: number;
  /** Parquet only: a leaf column's value encoding (default: parquet-shard-writer's choice). */
  parquetEncodingOf?: (leaf: LeafColumn) => ValueEncodingName;
}

export interface ShardSink {
  readonly batchCount: number;
  /**
   * Validates, encodes and appends one batch (one record batch, or one Parquet row group).
   * `unsetShared` (shared prefixes): per sample, 1 when its positions were left for the writer
   * to fill from its owner (ShardWriterBase.encodeBatch), which it does in `batch` itself; each
   * such sample must be one the writer's own choice shares in full.
   */
  append(batch: TopkBatch, unsetShared?: Uint8Array): void;
  /** Writes the footer and commits the shard, then its index; both are visible only after this. */
  finish(): ShardResult;
  /** Drops the unfinished file; safe to call after a failed write. */
  abort(): void;
}

export function openShardWriter(format: ShardFormat, path: string, schema: Schema, layout: TopkLayout, codec: CodecName, opts: ShardWriterOptions): ShardSink {
  return format === 'parquet' ? new ParquetShardWriter(path, schema, layout, codec, opts) : new ShardWriter(path, schema, layout, codec, opts);
}
