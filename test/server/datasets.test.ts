import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { tempRoot, writeDataset } from './fixture.js';
import { indexRows } from '../shard/index-rows.js';

let root: string, cleanup: () => void;
beforeEach(() => ({ root, cleanup } = tempRoot()));
afterEach(() => cleanup());

describe('GET /datasets', () => {
  it('lists every dataset with a summary, sorted by id', async () => {
    const b = writeDataset(root, { datasetId: 'b-set', batches: 3, k: 8, vocabSize: 70000, values: 'f32', codec: 'none' });
    const a = writeDataset(root, { datasetId: 'a.set', batches: 4 });
    const app = buildApp({ root });
    const res = await app.inject({ url: '/datasets' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(['a.set', 'b-set']);
    expect(body.datasets[1]).toMatchObject({
      batchCount: b.batchCount, sampleCount: b.sampleCount, tokenCount: b.tokenCount, k: 8, values: 'f32',
      indexType: 'uint32', codec: 'none', bytes: b.shards.reduce((s, x) => s + x.bytes, 0),
      teacher: { file: 'teacher.onnx', vocabSize: 70000 },
    });
    expect(body.datasets[0].batchCount).toBe(a.batchCount);
    expect(body.unavailable).toEqual([]);
    await app.close();
  });

  it('ignores folders without a complete manifest (precompute running) and reports invalid manifests', async () => {
    writeDataset(root, { datasetId: 'done' });
    // A precompute in progress: run.json, .partial/ and shards, but no manifest.
    mkdirSync(join(root, 'running', '.partial'), { recursive: true });
    mkdirSync(join(root, 'running', 'shards'));
    writeFileSync(join(root, 'running', 'run.json'), '{}');
    // A manifest that does not validate.
    mkdirSync(join(root, 'broken'));
    writeFileSync(join(root, 'broken', 'manifest.json'), '{"formatVersion": "2.0"}');
    // A manifest from a newer format, and one from 1.0 that needs migrating.
    mkdirSync(join(root, 'future'));
    writeFileSync(join(root, 'future', 'manifest.json'), '{"formatVersion": "3.0"}');
    mkdirSync(join(root, 'old'));
    writeFileSync(join(root, 'old', 'manifest.json'), '{"formatVersion": "1.0"}');
    const app = buildApp({ root });
    const body = (await app.inject({ url: '/datasets' })).json();
    expect(body.datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(['done']);
    expect(body.unavailable.map((u: { datasetId: string }) => u.datasetId)).toEqual(['broken', 'future', 'old']);
    expect(body.unavailable[1].reason).toMatch(/newer/);
    expect(body.unavailable[2].reason).toMatch(/logit-cache migrate <root>\/old/);
    expect(JSON.stringify(body)).not.toContain(root);
    for (const id of ['running', 'broken', 'future', 'old']) {
      for (const url of [`/datasets/${id}`, `/logits/${id}/0`]) {
        const res = await app.inject({ url });
        expect(res.statusCode, url).toBe(404);
        expect(res.json().code).toBe('LC_ERR_DATASET_NOT_FOUND');
      }
    }
    await app.close();
  });

  it('refuses a manifest copied into a folder of another name', async () => {
    writeDataset(root, { datasetId: 'orig' });
    renameSync(join(root, 'orig'), join(root, 'copy'));
    const app = buildApp({ root });
    expect((await app.inject({ url: '/logits/copy/0' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/datasets' })).json().unavailable[0].reason).toMatch(/names dataset "orig"/);
    await app.close();
  });

  it('sees a dataset as soon as its manifest appears, without a restart', async () => {
    const app = buildApp({ root, catalogTtlMs: 0 });
    expect((await app.inject({ url: '/datasets' })).json().datasets).toEqual([]);
    const m = writeDataset(root, { datasetId: 'late' });
    // Simulate the moment before the commit point: shards there, manifest not yet.
    const manifestPath = join(root, 'late', 'manifest.json');
    renameSync(manifestPath, `${manifestPath}.hold`);
    expect((await app.inject({ url: '/logits/late/0' })).statusCode).toBe(404);
    renameSync(`${manifestPath}.hold`, manifestPath);
    const res = await app.inject({ url: '/logits/late/0' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-logit-cache-batch-sha256']).toBe(indexRows(join(root, 'late'), m)[0].sha256);
    expect((await app.inject({ url: '/datasets' })).json().datasets).toHaveLength(1);
    await app.close();
  });

  it('answers 503 LC_ERR_NOT_READY when the root cannot be listed', async () => {
    const app = buildApp({ root: join(root, 'does-not-exist') });
    const res = await app.inject({ url: '/datasets' });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('LC_ERR_NOT_READY');
    await app.close();
  });
});

describe('GET /datasets/:datasetId', () => {
  it('returns the manifest exactly as stored, with an ETag and 304', async () => {
    writeDataset(root, { datasetId: 'demo' });
    const stored = readFileSync(join(root, 'demo', 'manifest.json'));
    const app = buildApp({ root });
    const res = await app.inject({ url: '/datasets/demo' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Buffer.compare(res.rawPayload, stored)).toBe(0);
    const again = await app.inject({ url: '/datasets/demo', headers: { 'if-none-match': res.headers.etag as string } });
    expect(again.statusCode).toBe(304);
    await app.close();
  });

  it('rejects bad ids with 400 and unknown ones with 404', async () => {
    const app = buildApp({ root });
    for (const [url, status, code] of [
      ['/datasets/nosuch', 404, 'LC_ERR_DATASET_NOT_FOUND'],
      ['/datasets/..%2F..%2Fetc', 400, 'LC_ERR_BAD_DATASET_ID'],
      ['/datasets/-x', 400, 'LC_ERR_BAD_DATASET_ID'],
      [`/datasets/${'z'.repeat(300)}`, 400, 'LC_ERR_BAD_DATASET_ID'],
    ] as const) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(status);
      expect(res.json()).toEqual({ code, message: expect.any(String) });
    }
    await app.close();
  });
});
