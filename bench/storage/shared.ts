// Shared prefixes (format 2.5) through the real writer and reader: bytes per token of the
// presets with and without --share-prefixes on the whole input and on its distinct samples only
// (no repeats: what sharing costs when there is nothing to share), and what random access costs:
// stored batches read per batch read (the batch plus its owners' batches) and ms per batch read,
// with a cold reader (every cache dropped before each read), reading in order, then at random with
// the caches that left (the reader keeps recent roots' positions, src/shard/shared-read.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { DatasetWriter, type Manifest, type PresetName, presetSettings, type TopkBatch, type TopkLayout } from '../../src/shard/index.js';
import { createRng } from '../../src/teacher/prng.js';
import { type Fidelity, fidelity } from './fidelity.js';
import type { TeacherData } from './teachers.js';

export interface SharedRow {
  teacher: string; input: 'all samples' | 'distinct samples'; samples: number; tokens: number; k: number; preset: PresetName; sharePrefixes: number;
  bytesPerToken: number; sharedFraction: number; writeMBs: number; fidelity: Fidelity;
}
export interface AccessRow {
  teacher: string; preset: PresetName; sharePrefixes: number; pattern: 'random, cold reader' | 'in order, warm reader' | 'random, warm reader';
  reads: number; batchesReadPerBatch: number; msPerBatch: number;
}

const BATCH = 32;

/**
 * Positions stored once in an earlier sample (the sum of prefix_len): the manifest's count when the
 * writer recorded it (docs/FORMAT.md §4.3), else by decoding every batch (datasets written before).
 */
export async function sharedPositionCount(ds: CheckedDataset): Promise<number> {
  const recorded = ds.manifest.stats.sharedPositions;
  if (recorded !== undefined) return recorded;
  let shared = 0;
  for (let b = 0; b < ds.batchCount; b++) shared += (await ds.sharedPositions(b))?.shared ?? 0;
  return shared;
}

/** One batch per row: the samples' rows of the input batches, regrouped into batches of BATCH with ids from 0. */
function regroup(rows: { b: TopkBatch; i: number }[], k: number): TopkBatch[] {
  const out: TopkBatch[] = [];
  for (let first = 0; first < rows.length; first += BATCH) {
    const part = rows.slice(first, first + BATCH);
    const offsets = new Int32Array(part.length + 1);
    part.forEach(({ b, i }, j) => { offsets[j + 1] = offsets[j] + b.offsets[i + 1] - b.offsets[i]; });
    const tokens = offsets[part.length];
    const batch: TopkBatch = {
      sampleIds: part.map((_, j) => first + j), offsets, inputIds: new Int32Array(tokens), topkIds: new Uint32Array(tokens * k), topkLogprobs: new Float32Array(tokens * k),
    };
    part.forEach(({ b, i }, j) => {
      const from = b.offsets[i], to = b.offsets[i + 1];
      batch.inputIds.set(b.inputIds.subarray(from, to), offsets[j]);
      (batch.topkIds as Uint32Array).set(b.topkIds.subarray(from * k, to * k), offsets[j] * k);
      batch.topkLogprobs.set(b.topkLogprobs.subarray(from * k, to * k), offsets[j] * k);
    });
    out.push(batch);
  }
  return out;
}

/** The input's samples, first occurrence of each distinct input_ids only. */
export function distinctSamples(batches: TopkBatch[], k: number): TopkBatch[] {
  const seen = new Set<string>();
  const rows: { b: TopkBatch; i: number }[] = [];
  for (const b of batches) {
    for (let i = 0; i + 1 < b.offsets.length; i++) {
      const key = Array.from(b.inputIds.subarray(b.offsets[i], b.offsets[i + 1])).join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({ b, i });
    }
  }
  return regroup(rows, k);
}

function layoutOf(preset: PresetName, k: number, vocabSize: number, share: boolean): { layout: TopkLayout; s: ReturnType<typeof presetSettings> } {
  const s = presetSettings(preset, k);
  const layout: TopkLayout = {
    k, vocabSize, values: s.values, ...(s.f16Ranks !== undefined ? { f16Ranks: s.f16Ranks } : {}), ...(s.gridStep !== undefined ? { gridStep: s.gridStep } : {}),
    ...(s.ids ? { ids: s.ids } : {}), ...(share ? { sharedPrefixes: true } : {}),
  };
  return { layout, s };
}

async function write(root: string, id: string, batches: TopkBatch[], preset: PresetName, k: number, vocab: number, share: number): Promise<{ manifest: Manifest; ms: number }> {
  const { layout, s } = layoutOf(preset, k, vocab, share > 0);
  const t0 = performance.now();
  const w = new DatasetWriter({
    root, datasetId: id, layout, codec: s.codec, zstdLevel: s.zstdLevel, batchSize: BATCH, batchesPerShard: 64, runConfig: {}, ...(share > 0 ? { sharePrefixes: share } : {}),
  });
  for (const b of batches) w.append(b);
  const samples = batches.reduce((a, b) => a + b.offsets.length - 1, 0);
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  const manifest = w.finish({ teacher: { file: 't', sha256: '0'.repeat(64), vocabSize: vocab }, source: { file: 's', sha256: '0'.repeat(64), samples, tokens } });
  return { manifest, ms: performance.now() - t0 };
}

export async function measureShared(t: TeacherData, input: SharedRow['input'], batches: TopkBatch[], k: number, preset: PresetName, share: number): Promise<SharedRow> {
  const root = mkdtempSync(join(tmpdir(), 'lc-bench-shared-'));
  try {
    const { manifest, ms } = await write(root, 'd', batches, preset, k, t.vocab, share);
    const ds = await CheckedDataset.open(join(root, 'd'));
    const tokens = manifest.tokenCount;
    const decoded = new Float32Array(tokens * k), exact = new Float32Array(tokens * k);
    let at = 0;
    for (let b = 0; b < ds.batchCount; b++) {
      const x = await ds.readBatch(b);
      decoded.set(x.topkLogprobs, at);
      exact.set(batches[b].topkLogprobs, at);
      at += x.topkLogprobs.length;
    }
    const shared = await sharedPositionCount(ds);
    await ds.close();
    const bytes = manifest.shards.reduce((a, x) => a + x.bytes + x.index.bytes, 0);
    return {
      teacher: t.name, input, samples: manifest.sampleCount, tokens, k, preset, sharePrefixes: share, bytesPerToken: bytes / tokens, sharedFraction: shared / tokens,
      writeMBs: (tokens * k * 8) / 1e6 / (ms / 1000), fidelity: fidelity(exact, decoded, k),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Random (cold) and in-order (warm) reads of one dataset of `batches`, with and without shared prefixes. */
export async function measureAccess(t: TeacherData, batches: TopkBatch[], k: number, preset: PresetName, share: number, draws: number): Promise<AccessRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'lc-bench-access-'));
  try {
    await write(root, 'd', batches, preset, k, t.vocab, share);
    const ds = await CheckedDataset.open(join(root, 'd'));
    const rng = createRng(42);
    const reads: number[] = [], ms: number[] = [];
    for (let i = 0; i < draws; i++) {
      const b = Math.floor(rng.uniform() * ds.batchCount);
      ds.forget(); // cold: no decoded owner, no checked index or schema kept
      const before = ds.storedBatchReads;
      const t0 = performance.now();
      await ds.readBatch(b);
      ms.push(performance.now() - t0);
      reads.push(share > 0 ? ds.storedBatchReads - before : 1);
    }
    ds.forget();
    const seqReads: number[] = [], seqMs: number[] = [];
    for (let b = 0; b < ds.batchCount; b++) {
      const before = ds.storedBatchReads;
      const t0 = performance.now();
      await ds.readBatch(b);
      seqMs.push(performance.now() - t0);
      seqReads.push(share > 0 ? ds.storedBatchReads - before : 1);
    }
    // Random again with the caches the in-order pass left (a training job shuffling batches).
    const warmReads: number[] = [], warmMs: number[] = [];
    for (let i = 0; i < draws; i++) {
      const b = Math.floor(rng.uniform() * ds.batchCount);
      const before = ds.storedBatchReads;
      const t0 = performance.now();
      await ds.readBatch(b);
      warmMs.push(performance.now() - t0);
      warmReads.push(share > 0 ? ds.storedBatchReads - before : 1);
    }
    await ds.close();
    return [
      { teacher: t.name, preset, sharePrefixes: share, pattern: 'random, cold reader', reads: draws, batchesReadPerBatch: mean(reads), msPerBatch: mean(ms) },
      { teacher: t.name, preset, sharePrefixes: share, pattern: 'in order, warm reader', reads: seqMs.length, batchesReadPerBatch: mean(seqReads), msPerBatch: mean(seqMs) },
      { teacher: t.name, preset, sharePrefixes: share, pattern: 'random, warm reader', reads: draws, batchesReadPerBatch: mean(warmReads), msPerBatch: mean(warmMs) },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
