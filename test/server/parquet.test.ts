// GET /logits on a Parquet dataset (format 2.2): the verified row group re-encoded as the
// one-batch Arrow stream clients already read, whose sha256 is the index's stream_sha256
// (the ETag); JSON, 304, the dataset and inspector routes work as for Arrow shards; a damaged
// row group is a 500 naming the shard, with nothing sent.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { fromRecordBatch } from '../../src/shard/record-batch.js';
import type { Manifest } from '../../src/shard/manifest.js';
import type { TopkLayout } from '../../src/shard/types.js';
import { pairBatches, readAll, sameBatches, writeDataset } from '../shard/parquet/pair.js';
import { tempRoot } from './fixture.js';

const ARROW = 'application/vnd.apache.arrow.stream';
const layout: TopkLayout = { k: 4, vocabSize: 1000, values: 'f16', tailMass: true, shardFormat: 'parquet' };
let root: string, cleanup: () => void, manifest: Manifest;

beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  ({ manifest } = writeDataset(root, 'pq', layout, 'zstd', pairBatches(layout, 5, 3), 3, 2));
});
afterEach(() => cleanup());

describe('GET /logits/:datasetId/:batch from Parquet shards', () => {
  it('serves each batch as the Arrow stream whose sha256 the index recorded, decoding to the stored batch', async () => {
    const app = buildApp({ root });
    const ds = await CheckedDataset.open(join(root, 'pq'));
    const stored = await readAll(join(root, 'pq'));
    try {
      for (let b = 0; b < manifest.batchCount; b++) {
        const res = await app.inject({ url: `/logits/pq/${b}` });
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toBe(ARROW);
        const sha = createHash('sha256').update(res.rawPayload).digest('hex');
        const info = await ds.info(b);
        expect(sha).toBe(info.streamSha256);
        expect(res.headers['x-logit-cache-stream-sha256']).toBe(sha);
        expect(res.headers.etag).toBe(`"${sha}"`);
        expect(res.headers['x-logit-cache-batch-sha256']).toBe(info.messageSha256);
        const reader = RecordBatchReader.from(res.rawPayload);
        reader.open();
        expect(reader.schema.metadata.get('logit_cache.format_version')).toBe('2.2');
        const decoded = fromRecordBatch(reader.next().value, ds.layout, `batch ${b}`);
        expect(sameBatches([decoded], [stored[b]])).toBeNull();
        const again = await app.inject({ url: `/logits/pq/${b}`, headers: { 'if-none-match': res.headers.etag as string } });
        expect(again.statusCode).toBe(304);
      }
      const json = await app.inject({ url: '/logits/pq/1?format=json' });
      expect(json.statusCode).toBe(200);
      const body = json.json() as { rows: { sampleId: number; inputIds: number[] }[] };
      expect(body.rows.map((r) => r.sampleId)).toEqual([3, 4, 5]);
      expect(body.rows.flatMap((r) => r.inputIds)).toEqual(Array.from(stored[1].inputIds));
      const listed = await app.inject({ url: '/datasets/pq' });
      expect(listed.json()).toMatchObject({ shardFormat: 'parquet', formatVersion: '2.2' });
      const stats = await app.inject({ url: '/ui/api/datasets/pq/stats' });
      expect(stats.statusCode).toBe(200);
      const sample = await app.inject({ url: '/ui/api/datasets/pq/samples/4' });
      expect(sample.statusCode).toBe(200);
    } finally {
      await ds.close();
      await app.close();
    }
  });

  it('answers 500 LC_ERR_SHARD_CORRUPT naming the shard when a row group changed on disk', async () => {
    const file = join(root, 'pq', manifest.shards[1].file);
    const bytes = readFileSync(file);
    bytes[6] ^= 1; // inside the shard's first row group (batch 2)
    writeFileSync(file, bytes);
    const app = buildApp({ root });
    try {
      const res = await app.inject({ url: '/logits/pq/2' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'LC_ERR_SHARD_CORRUPT' });
      expect(res.json().message).toContain('shards/shard-000001.parquet batch 2');
      expect((await app.inject({ url: '/logits/pq/0' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
