// Exact teacher top-k for the storage benchmark: float32, uncompressed, k = 128, written once by
// the real precompute-logits CLI into a cache folder and read back batch by batch. Smaller k
// are the leading ranks of the same lists (the top-k is sorted).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeSyntheticInputs } from '../../src/precompute/demo.js';
import { DatasetReader, type TopkBatch } from '../../src/shard/index.js';

const repo = resolve(import.meta.dirname, '../..');
// LOGIT_CACHE_SHARED points elsewhere when the repository is a worktree beside other checkouts.
export const STORIES = resolve(process.env.LOGIT_CACHE_SHARED ?? resolve(repo, '../shared'), 'teachers/stories260k');
export const MAX_K = 128;

export interface TeacherData { name: string; vocab: number; batches: TopkBatch[]; tokens: number }

interface Source { name: string; model: string; data: string }

function sources(cache: string): Source[] {
  const out: Source[] = [];
  if (existsSync(join(STORIES, 'model.onnx'))) out.push({ name: 'stories260k', model: join(STORIES, 'model.onnx'), data: join(STORIES, 'stories.jsonl') });
  else console.error(`storage: ${STORIES} not found; stories260k rows skipped`);
  // Synthetic transformer-shaped teachers (the --demo generator) at two vocabulary sizes.
  for (const [vocab, samples] of [[32000, 128], [152064, 40]] as const) {
    const inputs = writeSyntheticInputs(join(cache, 'inputs'), { vocabSize: vocab, dModel: 64, layers: 2, samples, minLen: 16, maxLen: 256, seed: 7 });
    out.push({ name: `synthetic-${Math.round(vocab / 1000)}k`, ...inputs });
  }
  return out;
}

/** Runs the CLI for every source whose dataset is not cached yet, then reads all of them. */
export async function loadTeachers(cache: string, only?: string[]): Promise<TeacherData[]> {
  const result: TeacherData[] = [];
  for (const src of sources(cache)) {
    if (only && !only.includes(src.name)) continue;
    const dir = join(cache, src.name);
    if (!existsSync(join(dir, 'manifest.json'))) {
      const cli = join(repo, 'src/cli/precompute-logits.ts');
      const args = [cli, '--model', src.model, '--data', src.data, '--out', cache, '--dataset-id', src.name, '--top-k', String(MAX_K),
        '--values', 'f32', '--codec', 'none', '--batch-size', '32', '--batches-per-shard', '1000', '--quiet', '--overwrite'];
      const r = spawnSync(join(repo, 'node_modules/.bin/tsx'), args, { stdio: ['ignore', 'ignore', 'inherit'] });
      if (r.status !== 0) throw new Error(`storage: precompute-logits for ${src.name} exited with ${r.status}`);
    }
    const reader = await DatasetReader.open(dir);
    const batches: TopkBatch[] = [];
    for (let b = 0; b < reader.batchCount; b++) {
      const x = await reader.readBatch(b);
      // Copies: the reader may reuse its buffers, and every candidate re-reads these arrays.
      batches.push({ sampleIds: Float64Array.from(x.sampleIds), offsets: x.offsets.slice(), inputIds: x.inputIds.slice(),
        topkIds: Uint32Array.from(x.topkIds), topkLogprobs: x.topkLogprobs.slice() });
    }
    result.push({ name: src.name, vocab: reader.layout.vocabSize, batches, tokens: batches.reduce((a, b) => a + b.inputIds.length, 0) });
    await reader.close();
  }
  return result;
}

/** The leading k ranks of each position of a k = MAX_K batch. */
export function truncateK(b: TopkBatch, from: number, k: number): TopkBatch {
  if (k === from) return b;
  const tokens = b.inputIds.length;
  const ids = new Uint32Array(tokens * k);
  const lp = new Float32Array(tokens * k);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < k; r++) {
      ids[t * k + r] = b.topkIds[t * from + r];
      lp[t * k + r] = b.topkLogprobs[t * from + r];
    }
  }
  return { ...b, topkIds: ids, topkLogprobs: lp };
}
