// GET /logits on a shared-prefix dataset (format 2.5) serves the resolved batch as the stream a
// plain writer stores (byte for byte for an uncompressed dataset of the same input), so HTTP
// clients are unchanged: ETag and x-logit-cache-stream-sha256 are the index's stream_sha256;
// a stream whose hash is not the index's is a 500 naming the shard, with nothing sent.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import type { TopkLayout } from '../../src/shard/types.js';
import { samplesWithSharedPrefixes } from '../shard/causal-batch.js';
import { patchStored } from '../shard/patch-stored.js';
import { writeSharedSet } from '../shard/shared-fixture.js';
import { tempRoot } from './fixture.js';

const layout: TopkLayout = { k: 8, vocabSize: 500, values: 'rank-delta', f16Ranks: 8, ids: 'ctx-table', tailMass: true };
const samples = samplesWithSharedPrefixes(40, 5, 500);
let root: string, cleanup: () => void;

beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  for (const [id, share] of [['shared', 8], ['plain', 0]] as const) {
    writeSharedSet({ root, datasetId: id, layout, codec: 'none', samples, batchSize: 5, batchesPerShard: 3, sharePrefixes: share });
  }
});
afterEach(() => cleanup());

describe('GET /logits/:datasetId/:batch from shared-prefix shards', () => {
  it('serves the stream a plain dataset of the same input stores, under the index\'s hash', async () => {
    const app = buildApp({ root });
    const ds = await CheckedDataset.open(join(root, 'shared'));
    try {
      let shared = 0;
      for (let b = 0; b < ds.batchCount; b++) {
        shared += (await ds.sharedPositions(b))!.shared;
        const res = await app.inject({ url: `/logits/shared/${b}` });
        const plain = await app.inject({ url: `/logits/plain/${b}` });
        expect(res.statusCode).toBe(200);
        expect(plain.statusCode).toBe(200);
        expect(res.rawPayload.equals(plain.rawPayload), `batch ${b}`).toBe(true);
        const sha = createHash('sha256').update(res.rawPayload).digest('hex');
        expect(res.headers['x-logit-cache-stream-sha256']).toBe(sha);
        expect(res.headers.etag).toBe(`"${sha}"`);
        expect(sha).toBe((await ds.info(b)).streamSha256);
        const reader = RecordBatchReader.from(res.rawPayload);
        reader.open();
        expect(reader.schema.metadata.get('logit_cache.format_version')).toBe('2.4');
        expect(reader.schema.metadata.has('logit_cache.shared_prefixes')).toBe(false);
        expect(reader.schema.fields.map((f) => f.name)).not.toContain('prefix_len');
        const json = await app.inject({ url: `/logits/shared/${b}?format=json` });
        const plainJson = (await app.inject({ url: `/logits/plain/${b}?format=json` })).json();
        // The same rows; sha256 is the stored message's, which differs (it holds only the stored positions).
        expect(json.json()).toEqual({ ...plainJson, datasetId: 'shared', sha256: (await ds.info(b)).messageSha256 });
        const again = await app.inject({ url: `/logits/shared/${b}`, headers: { 'if-none-match': res.headers.etag as string } });
        expect(again.statusCode).toBe(304);
      }
      expect(shared).toBeGreaterThan(0);
      expect((await app.inject({ url: '/datasets/shared' })).json()).toMatchObject({ formatVersion: '2.5' });
    } finally {
      await ds.close();
      await app.close();
    }
  });

  it('answers 500 LC_ERR_SHARD_CORRUPT when the resolved stream is not the one the index hashed', async () => {
    patchStored(join(root, 'shared'), 4, { setStreamSha: Buffer.alloc(32, 1) });
    const app = buildApp({ root });
    try {
      const res = await app.inject({ url: '/logits/shared/4' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'LC_ERR_SHARD_CORRUPT' });
      expect(res.json().message).toContain('shards/shard-000001.arrow batch 4');
      expect((await app.inject({ url: '/logits/shared/0' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
