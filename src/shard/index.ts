// Public surface of the shard format: knows neither onnxruntime nor HTTP servers.
export * from './types.js';
export { FormatMigrateError, FormatVersionError, PathEscapeError, ShardCorruptError } from './errors.js';
export { DatasetWriter, type DatasetWriterOptions, type StatSums, shardFileName, RUN_FILE } from './dataset-writer.js';
export { finalizeDataset, readMeta, type DatasetMeta } from './finalize.js';
export { DatasetReader } from './dataset-reader.js';
export {
  CheckedDataset, type CacheLimits, layoutOf, localOpener, type OpenOptions, readerCaches, type ReaderCaches, realpathInside,
  shardIndexOf, type SourceOpener,
} from './checked-dataset.js';
export { type BatchInfo, checkShardSize, decodeVerified, type ShardContext, ShardReader, type VerifiedBatch } from './shard-reader.js';
export { type ByteSource, HttpRangeSource, type HttpSourceOptions, LocalFileSource, readInto } from './byte-source.js';
export { type Closable, type Lease, LeasePool, PromiseLru } from './lease-pool.js';
export { decodeIndex, encodeIndex, indexFileOf, INDEX_COLUMNS, type ShardIndex } from './index-file.js';
export {
  checkManifestVersion, type IndexRef, MANIFEST_FILE, type Manifest, parseManifest, readManifest, readManifestAsync, type ShardEntry,
  validateManifest, writeManifest,
} from './manifest.js';
export { batchStream, parseFooter, EOS } from './ipc-framing.js';
export { verifyDataset, type VerifyReport, type Problem } from './verify.js';
export { migrateDataset, type MigrateResult } from './migrate.js';
export { registerCodecs } from './codecs.js';
export { layoutFromSchema, shardSchema } from './schema.js';
export { sha256File, sha256Hex } from './checksum.js';
