/** Public surface of the dataset layer: readers, the token-stream hash and the batchers. */

export { readSamples } from './read-samples.js';
export { readJsonlSamples, type JsonlReadOptions } from './jsonl.js';
export { readArrowSamples, type ArrowReadOptions } from './arrow.js';
export { readParquetSamples, type ParquetReadOptions } from './parquet.js';
export { type DatasetFormat, type ReadSamplesOptions, type Sample, DEFAULT_COLUMN, formatFromPath } from './sample.js';
export { tokenStreamHasher, type TokenStreamHasher } from './token-hash.js';
export { batchSamples } from './batch.js';
export {
  type MicroBatch,
  type PackBuffers,
  type PackedBatch,
  type PaddingStats,
  type PlanOptions,
  packMicroBatch,
  paddingStats,
  planConsecutive,
  planInference,
} from './plan.js';
