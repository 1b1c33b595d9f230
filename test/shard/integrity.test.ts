// A damaged, truncated or foreign dataset is refused with a clear error, never partial data.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatasetReader, DatasetWriter, ShardCorruptError, verifyDataset } from '../../src/shard/index.js';
import { writeFixture } from './fixture.js';
import { makeBatch } from './make-batch.js';

let root: string;
beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'lc-integrity-')); });
afterEach(() => rmSync(root, { recursive: true, force: true }));

function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] ^= 0x5a;
  writeFileSync(path, bytes);
}

describe('integrity', () => {
  it('passes verify on an intact dataset', () => {
    const { dir, manifest } = writeFixture({ root });
    const report = verifyDataset(dir);
    expect(report.problems).toEqual([]);
    expect(report.checked).toBe(manifest.batchCount);
  });

  it('catches a flipped byte inside a batch, naming shard and batch', () => {
    const { dir, manifest } = writeFixture({ root });
    const shard = manifest.shards[1];
    const entry = shard.batches[1];
    flipByte(join(dir, shard.file), entry.offset + entry.length - 3);
    const batch = shard.firstBatch + 1;
    const reader = DatasetReader.open(dir);
    expect(() => reader.readBatch(batch)).toThrow(ShardCorruptError);
    expect(() => reader.readBatch(batch)).toThrow(new RegExp(`${shard.file} batch ${batch}: sha256`));
    expect(() => reader.readBatch(0)).not.toThrow();
    reader.close();
    const report = verifyDataset(dir);
    expect(report.problems.some((p) => p.shard === shard.file && p.batch === batch)).toBe(true);
    expect(report.problems.some((p) => p.shard === shard.file && p.batch === null && /sha256/.test(p.message))).toBe(true);
  });

  it('catches a truncated shard in the reader and in verify', () => {
    const { dir, manifest } = writeFixture({ root });
    const shard = manifest.shards[0];
    truncateSync(join(dir, shard.file), shard.bytes - 100);
    const reader = DatasetReader.open(dir);
    expect(() => reader.readBatch(0)).toThrow(/truncated/);
    const report = verifyDataset(dir);
    expect(report.problems.map((p) => p.shard)).toContain(shard.file);
  });

  it('refuses a missing or invalid manifest, and a newer major version', () => {
    expect(() => DatasetReader.open(join(root, 'nothing'))).toThrow(/no manifest/);
    const { dir } = writeFixture({ root });
    const path = join(dir, 'manifest.json');
    const good = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, '{ not json');
    expect(() => DatasetReader.open(dir)).toThrow(/manifest.json: invalid JSON/);
    writeFileSync(path, JSON.stringify({ ...good, batchCount: good.batchCount + 1 }));
    expect(() => DatasetReader.open(dir)).toThrow(/manifest says/);
    writeFileSync(path, JSON.stringify({ ...good, codec: 'gzip' }));
    expect(() => DatasetReader.open(dir)).toThrow(/schemas\/manifest.schema.json.*codec/);
    writeFileSync(path, JSON.stringify({ ...good, formatVersion: '2.0' }));
    expect(() => DatasetReader.open(dir)).toThrow(/format version 2.0 is newer than this reader/);
    expect(verifyDataset(dir).problems[0].message).toMatch(/newer/);
  });
});

describe('writer refuses bad batches and leaves nothing behind', () => {
  const layout = { k: 4, vocabSize: 100, values: 'f16' as const };
  const cases: [string, (b: ReturnType<typeof makeBatch>) => void, RegExp][] = [
    ['lengths that disagree', (b) => { b.offsets[b.offsets.length - 1] += 1; }, /offsets end at/],
    ['log-probabilities not descending', (b) => { b.topkLogprobs[4 * 3 + 2] = 0; }, /sample 0, position 3: log-probabilities not descending/],
    ['a log-probability above 0', (b) => { b.topkLogprobs[4 * 5] = 0.5; }, /sample 0, position 5: log-probability 0.5 at rank 0 is above 0/],
    ['NaN', (b) => { b.topkLogprobs[4 * 7 + 1] = NaN; }, /sample 1, position 1: log-probability at rank 1 is NaN/],
    ['an id outside the vocabulary', (b) => { b.topkIds[4 * 6 + 3] = 100; }, /sample 1, position 0: top-k id 100 \(rank 3\) is outside/],
    ['an input id outside the vocabulary', (b) => { b.inputIds[2] = -1; }, /sample 0, position 2: input id -1/],
    ['a k that differs from the dataset', (b) => { b.topkIds = b.topkIds.subarray(0, b.topkIds.length - 4); }, /expected 10 tokens x k=4/],
  ];
  for (const [name, damage, message] of cases) {
    it(name, () => {
      const w = new DatasetWriter({ root, datasetId: 'bad', layout, codec: 'lz4', batchSize: 2, batchesPerShard: 4, runConfig: {} });
      const b = makeBatch({ lengths: [6, 4], k: 4, vocabSize: 100, firstSample: 0, seed: 3 });
      damage(b);
      expect(() => w.append(b)).toThrow(message);
      expect(readdirSync(join(root, 'bad', 'shards'))).toEqual([]);
      expect(existsSync(join(root, 'bad', 'manifest.json'))).toBe(false);
    });
  }

  it('refuses to resume with other settings unless overwriting', () => {
    writeFixture({ root, datasetId: 'same' });
    const opts = { root, datasetId: 'same', layout, codec: 'lz4' as const, batchSize: 2, batchesPerShard: 4 };
    expect(() => new DatasetWriter({ ...opts, runConfig: { k: 4 } })).toThrow(/written with other settings.*--overwrite/);
    const w = new DatasetWriter({ ...opts, runConfig: { k: 4 }, overwrite: true });
    expect(w.resumeFromBatch).toBe(0);
    expect(existsSync(join(root, 'same', 'manifest.json'))).toBe(false);
  });
});

describe('versioning', () => {
  it('reads a newer minor version with fields it does not know', () => {
    const root2 = mkdtempSync(join(tmpdir(), 'lc-minor-'));
    try {
      const { dir } = writeFixture({ root: root2 });
      const path = join(dir, 'manifest.json');
      const m = JSON.parse(readFileSync(path, 'utf8'));
      writeFileSync(path, JSON.stringify({ ...m, formatVersion: '1.7', futureField: { x: 1 } }));
      expect(DatasetReader.open(dir).readBatch(0).sampleIds.length).toBe(4);
    } finally {
      rmSync(root2, { recursive: true, force: true });
    }
  });
});

describe('batch sizes', () => {
  it('refuses a batch larger than batchSize, and a manifest whose middle batch is short', () => {
    const layout = { k: 2, vocabSize: 100, values: 'f32' as const };
    const w = new DatasetWriter({ root, datasetId: 'sizes', layout, codec: 'none', batchSize: 2, batchesPerShard: 4, runConfig: {} });
    expect(() => w.append(makeBatch({ lengths: [1, 1, 1], k: 2, vocabSize: 100, firstSample: 0, seed: 1 }))).toThrow(/holds 1..2 samples, got 3/);
    const { dir } = writeFixture({ root, datasetId: 'short', batches: 3, batchSize: 4, batchesPerShard: 3 });
    const path = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    // Move one sample from batch 0 to batch 2: sums still agree, but batch 0 is now short.
    m.shards[0].batches[0].samples -= 1;
    m.shards[0].batches[2].samples += 1;
    writeFileSync(path, JSON.stringify(m));
    expect(() => DatasetReader.open(dir)).toThrow(/batch 0 holds 3 samples; every batch but the last holds batchSize \(4\)/);
  });
});
