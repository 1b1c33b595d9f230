// Parquet shards go through the same lifecycle as Arrow ones: an interrupted run keeps its
// committed shards, a re-run resumes after them and ends byte-identical to an uninterrupted
// run, and a run of the other shard format into the same folder is refused by name.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetWriter, type DatasetWriterOptions } from '../../../src/shard/dataset-writer.js';
import type { TopkLayout } from '../../../src/shard/types.js';
import { pairBatches, writeDataset } from './pair.js';

const root = mkdtempSync(join(tmpdir(), 'lc-pq-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const layout: TopkLayout = { k: 8, vocabSize: 512, values: 'f16', tailMass: true, shardFormat: 'parquet' };
const batches = pairBatches(layout, 5, 4);
const meta = {
  teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize: 512 },
  source: { file: 'data.jsonl', sha256: 'b'.repeat(64), samples: 20, tokens: batches.reduce((a, b) => a + b.inputIds.length, 0) },
};
const options = (datasetId: string, l: TopkLayout): DatasetWriterOptions => ({
  root, datasetId, layout: l, codec: 'zstd', batchSize: 4, batchesPerShard: 2, runConfig: { k: 8, ...(l.shardFormat ? { shardFormat: l.shardFormat } : {}) },
});

describe('Parquet shard lifecycle', () => {
  it('resumes after an interruption and ends byte-identical to an uninterrupted run', () => {
    const whole = writeDataset(root, 'whole', layout, 'zstd', batches, 4, 2).manifest;
    const first = new DatasetWriter(options('resumed', layout));
    for (const b of batches.slice(0, 3)) first.append(b); // shard 0 committed, shard 1 half written
    first.abort();
    const dir = join(root, 'resumed');
    expect(readdirSync(join(dir, 'shards')).sort()).toEqual(['shard-000000.idx.arrow', 'shard-000000.parquet']);
    const second = new DatasetWriter(options('resumed', layout));
    expect(second.resumeFromBatch).toBe(2);
    expect(second.needsShard(0)).toBe(false);
    second.beginShard(1);
    for (const b of batches.slice(2)) second.append(b);
    const resumed = second.finish(meta);
    expect(resumed.shards.map((s) => [s.file, s.sha256, s.index.sha256, s.schemaSha256])).toEqual(whole.shards.map((s) => [s.file, s.sha256, s.index.sha256, s.schemaSha256]));
    expect(resumed.shardFormat).toBe('parquet');
    expect(existsSync(join(dir, '.partial'))).toBe(false);
  });

  it('refuses to continue a Parquet dataset as Arrow (and back), naming both formats', () => {
    const w = new DatasetWriter(options('mixed', layout));
    for (const b of batches.slice(0, 2)) w.append(b);
    w.abort();
    const arrow = { ...layout, shardFormat: undefined };
    expect(() => new DatasetWriter(options('mixed', arrow))).toThrow(/holds parquet shards; this run writes arrow \(--shard-format arrow\); resume with --shard-format parquet, or use --overwrite/);
    try {
      new DatasetWriter(options('mixed', arrow));
    } catch (e) {
      expect((e as { code?: string }).code).toBe('LC_ERR_DATASET_SETTINGS');
    }
    // --overwrite replaces it with Arrow shards.
    const o = new DatasetWriter({ ...options('mixed', arrow), overwrite: true });
    for (const b of batches) o.append(b);
    const m = o.finish(meta);
    expect(m.shardFormat).toBeUndefined();
    expect(m.formatVersion).toBe('2.1');
    expect(m.shards[0].file).toBe('shards/shard-000000.arrow');
  });
});
