// Shared fixtures for teacher tests: paths, padded batches, and a comparison of two top-k results.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { TopkBatch } from '../../src/teacher/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Resolved from the repo root so a CI clone at another path finds its sibling shared folder.
export const storiesDir = path.resolve(repoRoot, '../shared/teachers/stories260k');
export const storiesModel = path.join(storiesDir, 'model.onnx');
export const haveStories = existsSync(storiesModel);
if (!haveStories) console.log(`skipping stories260k tests: ${storiesModel} not found`);

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `lc-teacher-${prefix}-`));
}

export interface PaddedBatch {
  inputIds: Int32Array;
  lengths: Int32Array;
  batch: number;
  seq: number;
}

/** Right-pad samples (truncated to maxLen) with `padId` into one [batch*seq] array. */
export function padBatch(samples: Int32Array[], maxLen: number, padId = 0): PaddedBatch {
  const batch = samples.length;
  const lengths = Int32Array.from(samples, (s) => Math.min(s.length, maxLen));
  const seq = Math.max(...lengths);
  const inputIds = new Int32Array(batch * seq).fill(padId);
  samples.forEach((s, b) => inputIds.set(s.subarray(0, lengths[b]), b * seq));
  return { inputIds, lengths, batch, seq };
}

export function readStories(count: number): Int32Array[] {
  const lines = readFileSync(path.join(storiesDir, 'stories.jsonl'), 'utf8').split('\n').filter(Boolean);
  return lines.slice(0, count).map((l) => Int32Array.from((JSON.parse(l) as { input_ids: number[] }).input_ids));
}

/** Same ids at every real position, log-probabilities within `tol`. Returns the positions compared. */
export function expectSameTopk(a: TopkBatch, b: TopkBatch, pb: PaddedBatch, k: number, tol = 1e-5): number {
  let compared = 0;
  let worst = 0;
  for (let s = 0; s < pb.batch; s++) {
    for (let t = 0; t < pb.lengths[s]; t++) {
      const o = (s * pb.seq + t) * k;
      const idsA = Array.from(a.topkIds.subarray(o, o + k));
      const idsB = Array.from(b.topkIds.subarray(o, o + k));
      if (idsA.join() !== idsB.join()) expect({ sample: s, position: t, ids: idsA }).toEqual({ sample: s, position: t, ids: idsB });
      for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(a.topkLogprobs[o + j] - b.topkLogprobs[o + j]));
      compared++;
    }
  }
  expect(worst).toBeLessThanOrEqual(tol);
  return compared;
}
