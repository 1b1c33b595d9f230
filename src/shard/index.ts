// Public surface of the shard format: knows neither onnxruntime nor HTTP.
export * from './types.js';
export { ShardCorruptError } from './errors.js';
export { DatasetWriter, type DatasetWriterOptions, type StatSums, shardFileName, RUN_FILE } from './dataset-writer.js';
export { finalizeDataset, readMeta, type DatasetMeta } from './finalize.js';
export { DatasetReader, type BatchBytes, decodeBatch, layoutOf, readVerifiedBatch, shardIndexOf } from './dataset-reader.js';
export { parseManifest, readManifest, validateManifest, writeManifest, MANIFEST_FILE, type Manifest, type ShardEntry, type BatchEntry } from './manifest.js';
export { batchStream, parseFooter, EOS } from './ipc-framing.js';
export { footerProblems, readShardFooter, type FooterProblem } from './footer-check.js';
export { ShardFile } from './shard-file.js';
export { verifyDataset, type VerifyReport, type Problem } from './verify.js';
export { registerCodecs } from './codecs.js';
export { layoutFromSchema, shardSchema } from './schema.js';
export { sha256File, sha256Hex } from './checksum.js';
