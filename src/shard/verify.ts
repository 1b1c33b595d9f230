// Full integrity check of a dataset folder: every shard's sha256 and footer, every batch's
// sha256 and decoded contents against the manifest. Used by `logit-cache verify`.
import { join } from 'node:path';
import { sha256File } from './checksum.js';
import { decodeBatch, layoutOf, readVerifiedBatch } from './dataset-reader.js';
import { footerProblems, readShardFooter } from './footer-check.js';
import { type Manifest, readManifest } from './manifest.js';
import { ShardFile } from './shard-file.js';

export interface Problem { shard: string | null; batch: number | null; message: string }
export interface VerifyReport { datasetDir: string; shards: number; batches: number; checked: number; problems: Problem[] }
export type VerifyProgress = (e: { type: 'shard'; done: number; total: number; file: string }) => void;

export function verifyDataset(datasetDir: string, onProgress?: VerifyProgress): VerifyReport {
  let manifest: Manifest;
  try {
    manifest = readManifest(datasetDir);
  } catch (e) {
    return { datasetDir, shards: 0, batches: 0, checked: 0, problems: [{ shard: null, batch: null, message: (e as Error).message }] };
  }
  const layout = layoutOf(manifest);
  const problems: Problem[] = [];
  let checked = 0;
  manifest.shards.forEach((shard, si) => {
    onProgress?.({ type: 'shard', done: si, total: manifest.shards.length, file: shard.file });
    const path = join(datasetDir, shard.file);
    let file: ShardFile;
    try {
      file = new ShardFile(path, shard.bytes);
    } catch (e) {
      problems.push({ shard: shard.file, batch: null, message: (e as Error).message });
      return;
    }
    try {
      const sha = sha256File(path);
      if (sha !== shard.sha256) problems.push({ shard: shard.file, batch: null, message: `sha256 ${sha} does not match manifest ${shard.sha256}` });
      const footer = readShardFooter(file, `shard ${shard.file}`);
      for (const p of footerProblems(footer, shard, layout)) problems.push({ shard: shard.file, ...p });
      shard.batches.forEach((_entry, bi) => {
        const batch = shard.firstBatch + bi;
        try {
          const decoded = decodeBatch(readVerifiedBatch(file, manifest, batch), layout, batch);
          const first = shard.firstSample + shard.batches.slice(0, bi).reduce((a, b) => a + b.samples, 0);
          for (let i = 0; i < decoded.sampleIds.length; i++) {
            if (decoded.sampleIds[i] !== first + i) {
              problems.push({ shard: shard.file, batch, message: `row ${i} has sample_id ${decoded.sampleIds[i]}, expected ${first + i}` });
              break;
            }
          }
          checked++;
        } catch (e) {
          problems.push({ shard: shard.file, batch, message: (e as Error).message });
        }
      });
    } catch (e) {
      problems.push({ shard: shard.file, batch: null, message: (e as Error).message });
    } finally {
      file.close();
    }
  });
  return { datasetDir, shards: manifest.shards.length, batches: manifest.batchCount, checked, problems };
}
