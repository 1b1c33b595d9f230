// Shared prefixes: the teacher never runs on a sample whose whole length is shared (a duplicate,
// or a prefix of an earlier root of its shard); the writer copies its positions from the root.
// The output is byte-identical to a run that feeds the teacher every sample, over the overlapped
// and the sequential pipeline, a resumed run and two workers, on a synthetic causal teacher
// with repeated samples and on stories260k (--preset compact).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { precompute, type PrecomputeOptions, type PrecomputeSummary } from '../../src/precompute/index.js';
import type { PipelineTuning } from '../../src/precompute/pipeline.js';
import { writeSyntheticInputs } from '../../src/precompute/demo.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { DatasetReader, presetSettings } from '../../src/shard/index.js';
import { findStories } from '../python.js';

// SKIP_KEEP=<dir>: keep the written datasets there to inspect them.
const root = process.env.SKIP_KEEP ?? mkdtempSync(join(tmpdir(), 'lc-skip-shared-'));
afterAll(() => { if (!process.env.SKIP_KEEP) rmSync(root, { recursive: true, force: true }); });

/** sha256 of every file of a dataset folder, by relative path. */
function digest(dir: string): [string, string][] {
  const out: [string, string][] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(name);
      else out.push([name, createHash('sha256').update(readFileSync(join(dir, name))).digest('hex')]);
    }
  };
  walk('');
  return out.sort();
}

/** Runs precompute and counts the rows and (unpadded) tokens the teacher is fed. */
async function run(opts: PrecomputeOptions, tuning: PipelineTuning = {}, onProgress?: () => void): Promise<{ s: PrecomputeSummary; rows: number; fed: number }> {
  let rows = 0, fed = 0;
  const s = await precompute(opts, onProgress, { ...tuning, onTeacherRun: (lengths) => { rows += lengths.length; for (const l of lengths) fed += l; } });
  return { s, rows, fed };
}

/**
 * The format's rule written out plainly (docs/FORMAT.md §4.3, no memory cap: these datasets are
 * far below it): per shard, in order, a sample references the earlier root with the longest
 * common prefix (ties: the lowest) when that is at least n tokens, else it is a root. Returns
 * per sample its shared length L.
 */
function sharedLengths(samples: number[][], samplesPerShard: number, n: number): number[] {
  const out: number[] = [];
  let roots: number[][] = [];
  samples.forEach((ids, s) => {
    if (s % samplesPerShard === 0) roots = [];
    let best = 0;
    for (const r of roots) {
      let l = 0;
      while (l < r.length && l < ids.length && r[l] === ids[l]) l++;
      if (l > best) best = l;
    }
    if (best >= n) out.push(best);
    else { out.push(0); roots.push(ids); }
  });
  return out;
}

/** Fully shared samples (L = length > 0) and their tokens; checks the written shards share exactly the expected positions. */
async function fullyShared(dir: string, samples: number[][], samplesPerShard: number, n: number): Promise<{ samples: number; tokens: number }> {
  const lens = sharedLengths(samples, samplesPerShard, n);
  const ds = await CheckedDataset.open(dir);
  let written = 0;
  try {
    for (let b = 0; b < ds.batchCount; b++) written += (await ds.sharedPositions(b))!.shared;
  } finally {
    await ds.close();
  }
  expect(written).toBe(lens.reduce((a, l) => a + l, 0));
  let count = 0, tokens = 0;
  lens.forEach((l, i) => { if (l > 0 && l === samples[i].length) { count++; tokens += l; } });
  return { samples: count, tokens };
}

const readIds = (file: string): number[][] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).input_ids as number[]);

describe('fully shared samples skip the teacher (synthetic causal teacher)', () => {
  let base: PrecomputeOptions;
  let tokens = 0;
  let samples: number[][] = [];
  beforeAll(() => {
    const { model, data } = writeSyntheticInputs(join(root, 'in'), { vocabSize: 1201, dModel: 16, layers: 1, samples: 60, minLen: 1, maxLen: 50, seed: 5 });
    const src = readIds(data);
    // Repeats of every kind: duplicates, prefixes (at least N = 8 long, shorter than N too),
    // partly shared samples, and repeats of repeats; some in the first batch of a shard (whose
    // positions, shared ones included, make the ctx table).
    const out: number[][] = [];
    src.forEach((ids, i) => {
      out.push(ids);
      if (i % 3 === 0) out.push(ids.slice());
      if (i % 4 === 1) out.push(ids.slice(0, Math.max(8, ids.length - 5)));
      if (i % 5 === 2) out.push([...ids.slice(0, 12), ...src[(i + 7) % src.length]]);
      if (i % 7 === 3 && i > 2) out.push(src[i - 2].slice(0, 10));
    });
    const file = join(root, 'in', 'repeats.jsonl');
    writeFileSync(file, out.map((ids, id) => JSON.stringify({ id, input_ids: ids })).join('\n') + '\n');
    tokens = out.reduce((a, ids) => a + ids.length, 0);
    samples = out;
    base = {
      model, data: file, out: '', datasetId: 'rep', k: 5, values: 'f16', ids: 'ctx-table', codec: 'lz4', batchSize: 4, batchesPerShard: 5,
      inferBatchTokens: 160, topkOn: 'graph', device: 'cpu', overwrite: false, sharePrefixes: 8,
    };
  });

  it('feeds the teacher only the samples that store positions, and writes the same bytes as feeding it all', async () => {
    const all = await run({ ...base, out: join(root, 'all') }, { skipShared: false });
    const skip = await run({ ...base, out: join(root, 'skip') });
    const seq = await run({ ...base, out: join(root, 'seq') }, { overlap: false });
    const shared = await fullyShared(join(root, 'skip', 'rep'), samples, 20, 8);
    expect(shared.samples).toBeGreaterThan(10); // the test means something
    expect(all.fed).toBe(tokens);
    expect(all.rows).toBe(samples.length);
    expect(all.s.computedTokens).toBe(tokens);
    for (const r of [skip, seq]) {
      expect(r.fed).toBe(tokens - shared.tokens);
      expect(r.rows).toBe(samples.length - shared.samples);
      expect(r.s).toMatchObject({ tokens, computedTokens: tokens - shared.tokens, samples: samples.length, complete: true });
    }
    const ref = digest(join(root, 'all', 'rep'));
    expect(ref.length).toBeGreaterThanOrEqual(6);
    expect(digest(join(root, 'skip', 'rep'))).toEqual(ref);
    expect(digest(join(root, 'seq', 'rep'))).toEqual(ref);
    // The skipped samples read back as their owners' positions (what the teacher gave those).
    const rd = await DatasetReader.open(join(root, 'skip', 'rep'));
    try {
      const b0 = await rd.readBatch(0);
      expect(b0.topkLogprobs.some((v) => v !== 0)).toBe(true);
    } finally {
      await rd.close();
    }
  }, 120_000);

  it('a resumed run and two workers skip too and end byte-identical', async () => {
    const ref = digest(join(root, 'all', 'rep'));
    // Stop after the second window (= shard, 5 batches each): shards 0 and 1 stay committed.
    let events = 0;
    const stop = (): void => { if (++events === 2) throw new Error('stop here'); };
    await expect(precompute({ ...base, out: join(root, 'res') }, (e) => { if (e.type === 'batch') stop(); })).rejects.toThrow('stop here');
    const resumed = await run({ ...base, out: join(root, 'res') });
    expect(resumed.s.resumedFromBatch).toBe(10);
    expect(resumed.fed).toBeLessThan(resumed.s.tokens);
    expect(resumed.s.computedTokens).toBe(resumed.fed);
    expect(digest(join(root, 'res', 'rep'))).toEqual(ref);

    const w0 = await run({ ...base, out: join(root, 'two'), worker: { index: 0, count: 2 } });
    const w1 = await run({ ...base, out: join(root, 'two'), worker: { index: 1, count: 2 } });
    expect(w0.s.complete).toBe(false);
    expect(w1.s.complete).toBe(true);
    const shared = await fullyShared(join(root, 'two', 'rep'), samples, 20, 8);
    expect(w0.fed + w1.fed).toBe(w1.s.tokens - shared.tokens);
    expect(digest(join(root, 'two', 'rep'))).toEqual(ref);
  }, 120_000);

  it('Parquet shards: the same skip, the same bytes as feeding every sample', async () => {
    const all = await run({ ...base, shardFormat: 'parquet', out: join(root, 'pq-all') }, { skipShared: false });
    const skip = await run({ ...base, shardFormat: 'parquet', out: join(root, 'pq-skip') });
    const shared = await fullyShared(join(root, 'pq-skip', 'rep'), samples, 20, 8);
    expect(all.fed).toBe(tokens);
    expect(skip.fed).toBe(tokens - shared.tokens);
    expect(digest(join(root, 'pq-skip', 'rep'))).toEqual(digest(join(root, 'pq-all', 'rep')));
  }, 120_000);

  it('tail mass keeps feeding the teacher every sample (its tail moves in the last bit with fewer rows per call)', async () => {
    const tail = await run({ ...base, tailMass: true, out: join(root, 'tail') });
    expect(tail.fed).toBe(tokens);
    expect(tail.s.computedTokens).toBe(tokens);
    const ref = await run({ ...base, tailMass: true, out: join(root, 'tail-ref') }, { skipShared: false });
    expect(digest(join(root, 'tail', 'rep'))).toEqual(digest(join(root, 'tail-ref', 'rep')));
  }, 120_000);
});

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping stories260k skip-shared test: ${reason}`);

describe.skipIf(!stories)('fully shared samples skip the teacher (stories260k, compact)', () => {
  it('feeds the teacher about 70% of the tokens and writes the same bytes', async () => {
    const dir = join(root, 'st');
    mkdirSync(dir, { recursive: true });
    // The compact preset's settings, on the real teacher and its stories.
    const opts: PrecomputeOptions = {
      model: join(stories!, 'model.onnx'), data: join(stories!, 'stories.jsonl'), out: '', datasetId: 'st', k: 8, ...presetSettings('compact', 8),
      batchSize: 32, batchesPerShard: 1000, topkOn: 'graph', device: 'cpu', overwrite: false,
    };
    const all = await run({ ...opts, out: join(dir, 'all') }, { skipShared: false });
    const skip = await run({ ...opts, out: join(dir, 'skip') });
    const shared = await fullyShared(join(dir, 'skip', 'st'), readIds(opts.data), 32 * 1000, 32);
    console.log(`stories260k: teacher fed ${skip.fed} of ${all.fed} tokens (${shared.samples} fully shared samples skipped)`);
    expect(all.fed).toBe(all.s.tokens);
    expect(skip.fed).toBe(all.s.tokens - shared.tokens);
    expect(shared.tokens / all.s.tokens).toBeGreaterThan(0.2);
    expect(skip.s.computedTokens).toBe(skip.fed);
    expect(digest(join(dir, 'skip', 'st'))).toEqual(digest(join(dir, 'all', 'st')));
  }, 300_000);
});
