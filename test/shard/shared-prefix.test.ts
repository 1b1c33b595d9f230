// Shared prefixes (format 2.5): a dataset written with --share-prefixes reads back equal to
// the plain dataset of the same input (ids exact, values bit-exact: the causal test teacher
// gives identical outputs for identical contexts), in Arrow and Parquet, plain and ctx-table
// ids, f16 and rank-delta values, tail mass and ragged top-p; and the stream a client is served
// is the one a plain writer stores.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { type CodecName, DatasetWriter, type TopkBatch, type TopkLayout, verifyDataset } from '../../src/shard/index.js';
import { causalBatch, samplesWithSharedPrefixes } from './causal-batch.js';
import { causalOptionsOf, writeSharedSet } from './shared-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'lc-shared-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VOCAB = 500;
const samples = samplesWithSharedPrefixes(70, 7, VOCAB);

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function expectSameBatch(got: TopkBatch, want: TopkBatch, where: string): void {
  expect(Array.from(got.sampleIds), where).toEqual(Array.from(want.sampleIds));
  expect(Array.from(got.offsets), where).toEqual(Array.from(want.offsets));
  expect(Array.from(got.inputIds), where).toEqual(Array.from(want.inputIds));
  expect(Array.from(got.topkIds), where).toEqual(Array.from(want.topkIds));
  expect(Array.from(bits(got.topkLogprobs)), where).toEqual(Array.from(bits(want.topkLogprobs)));
  expect(got.tailLogprobs && Array.from(bits(got.tailLogprobs)), where).toEqual(want.tailLogprobs && Array.from(bits(want.tailLogprobs)));
  expect(got.topkCounts && Array.from(got.topkCounts), where).toEqual(want.topkCounts && Array.from(want.topkCounts));
}

/** Shared positions over all, from the stored prefix_len of every batch (read through the checked path). */
async function sharedFraction(dir: string): Promise<number> {
  const ds = await CheckedDataset.open(dir);
  let shared = 0, all = 0;
  for (let b = 0; b < ds.batchCount; b++) {
    const p = (await ds.sharedPositions(b))!;
    shared += p.shared;
    all += p.shared + p.stored;
  }
  await ds.close();
  expect(all).toBe(ds.manifest.tokenCount);
  return shared / all;
}

/** The same by brute force over the input: per shard, positions covered by an earlier sample's prefix of >= n tokens. */
function expectedSharedFraction(n: number, batchSize: number, batchesPerShard: number): number {
  let shared = 0, all = 0;
  const perShard = batchSize * batchesPerShard;
  samples.forEach((s, i) => {
    all += s.length;
    const roots: Int32Array[] = [];
    // Roots of the shard before sample i, by the writer's rule (longest common prefix with an earlier root).
    for (let j = i - (i % perShard); j < i; j++) if (bestLcp(samples[j], roots) < n) roots.push(samples[j]);
    const l = bestLcp(s, roots);
    if (l >= n) shared += l;
  });
  return shared / all;
}

function bestLcp(s: Int32Array, roots: Int32Array[]): number {
  let best = 0;
  for (const r of roots) {
    let l = 0;
    while (l < s.length && l < r.length && s[l] === r[l]) l++;
    best = Math.max(best, l);
  }
  return best;
}

const CASES: { name: string; layout: TopkLayout; codec: CodecName }[] = [
  { name: 'arrow, plain ids, f16, lz4', layout: { k: 4, vocabSize: VOCAB, values: 'f16' }, codec: 'lz4' },
  { name: 'arrow, ctx-table ids, rank-delta, zstd', layout: { k: 8, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 8, ids: 'ctx-table' }, codec: 'zstd' },
  { name: 'arrow, ctx-table ids, rank-delta grid, tail mass', layout: { k: 8, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 0, gridStep: 0.3, ids: 'ctx-table', tailMass: true }, codec: 'none' },
  { name: 'arrow, ragged top-p, rank-delta', layout: { k: 6, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 6, topP: 0.9, minK: 2 }, codec: 'zstd' },
  { name: 'parquet, plain ids, f16, tail mass', layout: { k: 4, vocabSize: VOCAB, values: 'f16', tailMass: true, shardFormat: 'parquet' }, codec: 'zstd' },
  { name: 'parquet, ctx-table ids, rank-delta', layout: { k: 8, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 8, ids: 'ctx-table', shardFormat: 'parquet' }, codec: 'lz4' },
  { name: 'parquet, ragged top-p, q8', layout: { k: 5, vocabSize: VOCAB, values: 'q8', q8Scale: 0.1, topP: 0.8, minK: 1, shardFormat: 'parquet' }, codec: 'none' },
];

describe('shared prefixes round trip', () => {
  CASES.forEach((c, ci) => {
    it(c.name, async () => {
      const common = { root, layout: c.layout, codec: c.codec, samples, batchSize: 6, batchesPerShard: 4 };
      const shared = writeSharedSet({ ...common, datasetId: `s${ci}`, sharePrefixes: 8 });
      const plain = writeSharedSet({ ...common, datasetId: `p${ci}`, sharePrefixes: 0 });
      expect(shared.manifest.formatVersion).toBe('2.5');
      expect(shared.manifest.topk.sharedPrefixes).toBe(true);
      expect(plain.manifest.topk.sharedPrefixes).toBeUndefined();
      expect(shared.manifest.tokenCount).toBe(plain.manifest.tokenCount);
      const fraction = await sharedFraction(shared.dir);
      expect(fraction).toBeGreaterThan(0.2);
      expect(fraction).toBeCloseTo(expectedSharedFraction(8, 6, 4), 12);
      const a = await CheckedDataset.open(shared.dir);
      const b = await CheckedDataset.open(plain.dir);
      try {
        // Backwards, so owners are not simply the batches read just before.
        for (let batch = shared.manifest.batchCount - 1; batch >= 0; batch--) {
          const got = await a.readBatch(batch);
          const want = await b.readBatch(batch);
          expectSameBatch(got, want, `batch ${batch}`);
          // What GET /logits serves: the resolved batch encoded as the plain writer would, uncompressed.
          const sa = await a.readStream(batch);
          const sb = await b.readStream(batch);
          if (c.codec === 'none' || c.layout.shardFormat === 'parquet') expect(Buffer.from(sa.stream).equals(Buffer.from(sb.stream)), `stream ${batch}`).toBe(true);
          expect(sa.info.streamSha256).toBe(createHash('sha256').update(sa.stream).digest('hex'));
        }
      } finally {
        await a.close();
        await b.close();
      }
      const report = await verifyDataset(shared.dir);
      expect(report.problems).toEqual([]);
      expect(report.checked).toBe(shared.manifest.batchCount);
      // The point of it: fewer bytes for the same content.
      const bytes = (m: typeof shared.manifest) => m.shards.reduce((s, e) => s + e.bytes, 0);
      expect(bytes(shared.manifest)).toBeLessThan(bytes(plain.manifest));
      expect(readFileSync(join(shared.dir, shared.manifest.shards[0].file)).length).toBe(shared.manifest.shards[0].bytes);
    });
  });
});

describe('shared prefixes and resume', () => {
  for (const format of ['arrow', 'parquet'] as const) {
    it(`a resumed ${format} run writes the same bytes as an uninterrupted one (the choice depends on input_ids only)`, () => {
      const layout: TopkLayout = { k: 8, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 8, ids: 'ctx-table', ...(format === 'parquet' ? { shardFormat: 'parquet' as const } : {}) };
      const batchSize = 6, batchesPerShard = 4;
      const reference = writeSharedSet({ root, datasetId: `ref-${format}`, layout, codec: 'zstd', samples, batchSize, batchesPerShard, sharePrefixes: 8 });
      const opts = causalOptionsOf(layout);
      const batchOf = (b: number) => causalBatch(samples.slice(b * batchSize, (b + 1) * batchSize), b * batchSize, opts);
      const make = () => new DatasetWriter({
        root, datasetId: `res-${format}`, layout: { ...layout, sharedPrefixes: true }, codec: 'zstd', batchSize, batchesPerShard, runConfig: {}, sharePrefixes: 8,
      });
      // Killed in the middle of shard 1: shard 0 is committed, shard 1's batches are lost.
      const first = make();
      for (let b = 0; b < batchesPerShard + 2; b++) first.append(batchOf(b));
      first.abort();
      const again = make();
      expect(again.resumeFromBatch).toBe(batchesPerShard);
      const batches = Math.ceil(samples.length / batchSize);
      for (let s = 0; s * batchesPerShard < batches; s++) {
        if (!again.needsShard(s)) continue;
        again.beginShard(s);
        for (let b = s * batchesPerShard; b < Math.min(batches, (s + 1) * batchesPerShard); b++) again.append(batchOf(b));
        again.endShard();
      }
      const tokens = samples.reduce((a, x) => a + x.length, 0);
      const resumed = again.finish({
        teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize: VOCAB }, source: { file: 'data.jsonl', sha256: 'b'.repeat(64), samples: samples.length, tokens },
      });
      expect(resumed.shards.length).toBe(reference.manifest.shards.length);
      expect(JSON.stringify({ ...resumed, datasetId: '' })).toBe(JSON.stringify({ ...reference.manifest, datasetId: '' }));
      for (const e of resumed.shards) {
        expect(readFileSync(join(root, `res-${format}`, e.file)).equals(readFileSync(join(reference.dir, e.file))), e.file).toBe(true);
        expect(readFileSync(join(root, `res-${format}`, e.index.file)).equals(readFileSync(join(reference.dir, e.index.file))), e.index.file).toBe(true);
      }
    });
  }

  it('refuses a batch whose uncomputed samples the writer does not share in full, leaving no shard behind', () => {
    const layout: TopkLayout = { k: 4, vocabSize: VOCAB, values: 'f16', sharedPrefixes: true };
    const w = new DatasetWriter({ root, datasetId: 'unset', layout, codec: 'lz4', batchSize: 6, batchesPerShard: 2, runConfig: { k: 4 }, sharePrefixes: 8 });
    const batch = causalBatch(samples.slice(0, 6), 0, { k: 4, vocabSize: VOCAB });
    // Sample 0 is the shard's first root: nothing to copy from, so it cannot have been skipped.
    const unset = new Uint8Array(6);
    unset[0] = 1;
    expect(() => w.append(batch, undefined, unset)).toThrow(/batch 0: sample 0 was not computed but the writer shares only 0 of its \d+ positions/);
    expect(readdirSync(join(root, 'unset', 'shards')).filter((f) => f.startsWith('shard-'))).toEqual([]);
    w.abort();
  });

  it('refuses to continue with another minimum length (run.json records it), naming the setting', () => {
    const layout: TopkLayout = { k: 4, vocabSize: VOCAB, values: 'f16', sharedPrefixes: true };
    const open = (n: number) => new DatasetWriter({ root, datasetId: 'settings', layout, codec: 'lz4', batchSize: 6, batchesPerShard: 2, runConfig: { k: 4 }, sharePrefixes: n });
    const w = open(8);
    for (let b = 0; b < 3; b++) w.append(causalBatch(samples.slice(b * 6, b * 6 + 6), b * 6, { k: 4, vocabSize: VOCAB }));
    w.abort();
    expect(JSON.parse(readFileSync(join(root, 'settings', 'run.json'), 'utf8'))).toEqual({ k: 4, sharePrefixes: 8 });
    expect(() => open(16)).toThrow(expect.objectContaining({ code: 'LC_ERR_DATASET_SETTINGS', message: expect.stringMatching(/sharePrefixes: 8 -> 16/) }));
  });
});

describe('inspect on a shared-prefix dataset', () => {
  it('shows the share of positions stored once in an earlier sample, as the stored prefix_len say', async () => {
    const { dir, manifest } = writeSharedSet({ root, datasetId: 'inspect', layout: { k: 4, vocabSize: VOCAB, values: 'f16' }, codec: 'lz4', samples, batchSize: 6, batchesPerShard: 4, sharePrefixes: 8 });
    const r = runCli('logit-cache', ['inspect', dir, '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    const fraction = expectedSharedFraction(8, 6, 4);
    expect(out).toMatchObject({ formatVersion: '2.5', sharedPrefixes: true, sharedPositions: Math.round(fraction * manifest.tokenCount) });
    expect(out.sharedPositions + out.storedPositions).toBe(manifest.tokenCount);
    const text = runCli('logit-cache', ['inspect', dir]);
    expect(text.stdout).toMatch(new RegExp(`shared prefixes +yes \\(format 2\\.5\\): ${(100 * fraction).toFixed(1)}% of positions \\(${out.sharedPositions} of ${manifest.tokenCount}\\)`));
    const plain = writeSharedSet({ root, datasetId: 'inspect-plain', layout: { k: 4, vocabSize: VOCAB, values: 'f16' }, codec: 'lz4', samples, batchSize: 6, batchesPerShard: 4, sharePrefixes: 0 });
    expect(JSON.parse(runCli('logit-cache', ['inspect', plain.dir, '--json']).stdout)).toMatchObject({ sharedPrefixes: false });
    expect(runCli('logit-cache', ['inspect', plain.dir]).stdout).toMatch(/shared prefixes +no\n/);
  });
});

describe('shared prefixes and reading cost', () => {
  it('reads each stored batch once in order (roots kept), and a cold read of a referencing batch reads its owners\' batches too', async () => {
    const { dir, manifest } = writeSharedSet({ root, datasetId: 'cost', layout: { k: 4, vocabSize: VOCAB, values: 'f16' }, codec: 'lz4', samples, batchSize: 6, batchesPerShard: 4, sharePrefixes: 8 });
    const ds = await CheckedDataset.open(dir);
    try {
      for (let b = 0; b < ds.batchCount; b++) await ds.readBatch(b);
      expect(ds.storedBatchReads).toBe(manifest.batchCount);
      // The last batch of the last shard, cold: its own batch plus one read per distinct owner batch.
      const last = ds.batchCount - 1;
      const firstOfShard = manifest.shards[manifest.shards.length - 1].firstBatch;
      const stored = await CheckedDataset.open(dir);
      const refs = await stored.sharedPositions(last);
      await stored.close();
      expect(refs!.shared).toBeGreaterThan(0);
      ds.forget();
      const before = ds.storedBatchReads;
      await ds.readBatch(last);
      const reads = ds.storedBatchReads - before;
      expect(reads).toBeGreaterThan(1);
      expect(reads).toBeLessThanOrEqual(last - firstOfShard + 1);
    } finally {
      await ds.close();
    }
  });
});

describe('shared prefixes at the edges', () => {
  it('empty samples, whole samples shared, a prefix of its root, and a short last batch of empty samples', async () => {
    const t = samples.find((s) => s.length >= 20)!;
    const edge = [t.slice(), new Int32Array(0), t.slice(), t.slice(0, 10), t.slice(0, 9), Int32Array.of(...t.subarray(0, 12), 1, 2), new Int32Array(0), new Int32Array(0)];
    for (const layout of [
      { k: 3, vocabSize: VOCAB, values: 'f16', tailMass: true, topP: 0.9, minK: 1 },
      { k: 4, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 4, ids: 'ctx-table', shardFormat: 'parquet' },
    ] as TopkLayout[]) {
      const id = `edge-${layout.shardFormat ?? 'arrow'}`;
      const common = { root, layout, codec: 'zstd' as const, samples: edge, batchSize: 3, batchesPerShard: 4 };
      const shared = writeSharedSet({ ...common, datasetId: id, sharePrefixes: 9 });
      const plain = writeSharedSet({ ...common, datasetId: `${id}-plain`, sharePrefixes: 0 });
      const a = await CheckedDataset.open(shared.dir), b = await CheckedDataset.open(plain.dir);
      try {
        const p = await Promise.all([0, 1, 2].map((x) => a.sharedPositions(x)));
        // Sample 2 is all of its root (20+ tokens), 3 is 10 tokens of it, 4 is 9 (= N), 5 shares 12; the empty ones share nothing.
        expect(p.map((x) => x!.shared)).toEqual([0 + 0 + t.length, 10 + 9 + 12, 0]);
        for (let x = 0; x < a.batchCount; x++) expectSameBatch(await a.readBatch(x), await b.readBatch(x), `${id} batch ${x}`);
      } finally {
        await a.close();
        await b.close();
      }
      expect((await verifyDataset(shared.dir)).problems).toEqual([]);
    }
  });
});

describe('shared prefixes with a bounded writer', () => {
  it('a writer keeping few roots still writes what reads back as the plain dataset, sharing less', async () => {
    const layout: TopkLayout = { k: 4, vocabSize: VOCAB, values: 'f16' };
    const common = { root, layout, codec: 'lz4' as const, samples, batchSize: 6, batchesPerShard: 12 };
    // 36 bytes per position at k = 4: about 55 root positions kept, so roots are let go within batches.
    const tight = writeSharedSet({ ...common, datasetId: 'tight', sharePrefixes: 8, rootBytes: 2000 });
    const loose = writeSharedSet({ ...common, datasetId: 'loose', sharePrefixes: 8 });
    const plain = writeSharedSet({ ...common, datasetId: 'tight-plain', sharePrefixes: 0 });
    const shared = async (dir: string) => {
      const ds = await CheckedDataset.open(dir);
      let n = 0;
      for (let b = 0; b < ds.batchCount; b++) n += (await ds.sharedPositions(b))!.shared;
      await ds.close();
      return n;
    };
    const [t, l] = [await shared(tight.dir), await shared(loose.dir)];
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThan(l);
    const a = await CheckedDataset.open(tight.dir), b = await CheckedDataset.open(plain.dir);
    try {
      for (let x = 0; x < a.batchCount; x++) expectSameBatch(await a.readBatch(x), await b.readBatch(x), `batch ${x}`);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
