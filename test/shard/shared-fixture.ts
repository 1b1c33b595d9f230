// Writes the same causal input as a shared-prefix dataset and as a plain one, for tests that
// compare them (test/shard/shared-prefix.test.ts, test/server/shared-prefix.test.ts).
import { join } from 'node:path';
import { type CodecName, DatasetWriter, type Manifest, type TopkLayout } from '../../src/shard/index.js';
import { causalBatch, type CausalOptions } from './causal-batch.js';

export interface SharedSetOptions {
  root: string;
  datasetId: string;
  layout: TopkLayout;
  codec: CodecName;
  samples: Int32Array[];
  batchSize: number;
  batchesPerShard: number;
  /** Minimum shared length; 0 writes a plain (format <= 2.4) dataset of the same input. */
  sharePrefixes: number;
  zstdLevel?: number;
  /** Writer memory for roots (tests of the bounded choice). */
  rootBytes?: number;
  runConfig?: Record<string, unknown>;
}

export function causalOptionsOf(layout: TopkLayout): CausalOptions {
  return { k: layout.k, vocabSize: layout.vocabSize, tail: layout.tailMass, ...(layout.topP !== undefined ? { ragged: { minK: layout.minK ?? 1 } } : {}) };
}

export function writeSharedSet(o: SharedSetOptions): { dir: string; manifest: Manifest } {
  const layout: TopkLayout = { ...o.layout, ...(o.sharePrefixes > 0 ? { sharedPrefixes: true } : {}) };
  const w = new DatasetWriter({
    root: o.root, datasetId: o.datasetId, layout, codec: o.codec, zstdLevel: o.zstdLevel, batchSize: o.batchSize, batchesPerShard: o.batchesPerShard,
    runConfig: o.runConfig ?? {}, ...(o.sharePrefixes > 0 ? { sharePrefixes: o.sharePrefixes, sharePrefixRootBytes: o.rootBytes } : {}),
  });
  const opts = causalOptionsOf(o.layout);
  for (let first = 0; first < o.samples.length; first += o.batchSize) {
    w.append(causalBatch(o.samples.slice(first, first + o.batchSize), first, opts));
  }
  const tokens = o.samples.reduce((a, s) => a + s.length, 0);
  const manifest = w.finish({
    teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize: o.layout.vocabSize },
    source: { file: 'data.jsonl', sha256: 'b'.repeat(64), samples: o.samples.length, tokens },
  });
  return { dir: join(o.root, o.datasetId), manifest };
}
