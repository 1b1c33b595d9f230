import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { buildApp } from '../../src/server/index.js';
import { tempRoot, writeDataset } from './fixture.js';

let root: string, cleanup: () => void;
beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  writeDataset(root, { datasetId: 'demo', batches: 6, batchesPerShard: 1 });
});
afterEach(() => cleanup());

const metric = (text: string, name: string, labels: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : NaN;
};

describe('health and readiness', () => {
  it('/healthz is 200 always, /readyz is 503 when the root is missing', async () => {
    const ok = buildApp({ root });
    expect((await ok.inject({ url: '/healthz' })).json()).toMatchObject({ status: 'ok' });
    expect((await ok.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ready' });
    await ok.close();
    const missing = buildApp({ root: join(root, 'gone') });
    expect((await missing.inject({ url: '/healthz' })).statusCode).toBe(200);
    const res = await missing.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('LC_ERR_NOT_READY');
    await missing.close();
  });
});

describe('/metrics', () => {
  it('counts requests by route and status, bytes served, latency and open shard files', async () => {
    const app = buildApp({ root, maxOpenShards: 2 });
    let bytes = 0;
    for (const b of [0, 1, 2, 3]) bytes += (await app.inject({ url: `/logits/demo/${b}` })).rawPayload.length;
    await app.inject({ url: '/logits/demo/99' });
    await app.inject({ url: '/logits/demo/x' });
    await app.inject({ url: '/nowhere' });
    const text = (await app.inject({ url: '/metrics' })).body;
    const route = 'route="/logits/:datasetId/:batch"';
    expect(metric(text, 'logit_cache_http_requests_total', `${route},method="GET",status="200"`)).toBe(4);
    expect(metric(text, 'logit_cache_http_requests_total', `${route},method="GET",status="404"`)).toBe(1);
    expect(metric(text, 'logit_cache_http_requests_total', `${route},method="GET",status="400"`)).toBe(1);
    expect(metric(text, 'logit_cache_http_requests_total', 'route="unmatched",method="GET",status="404"')).toBe(1);
    expect(metric(text, 'logit_cache_http_response_bytes_total', route)).toBeGreaterThanOrEqual(bytes);
    expect(metric(text, 'logit_cache_http_request_duration_seconds_count', route)).toBe(6);
    expect(metric(text, 'logit_cache_http_request_duration_seconds_bucket', `${route},le="+Inf"`)).toBe(6);
    // Four one-batch shards were read through a pool of two.
    expect(text).toMatch(/^logit_cache_open_shard_files 2$/m);
    expect(text).toMatch(/# TYPE logit_cache_http_request_duration_seconds histogram/);
    await app.close();
  });
});

describe('/openapi.json', () => {
  it('is generated from the route schemas and embeds the body schemas from schemas/', async () => {
    const app = buildApp({ root });
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/logits/{datasetId}/{batch}', '/datasets', '/datasets/{datasetId}', '/healthz', '/readyz', '/metrics']) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['ErrorBody', 'DatasetList', 'BatchJson', 'Health']));
    const ok = doc.paths['/logits/{datasetId}/{batch}'].get.responses['200'];
    expect(Object.keys(ok.content)).toEqual(expect.arrayContaining(['application/vnd.apache.arrow.stream', 'application/json']));
    expect(JSON.stringify(doc.paths['/logits/{datasetId}/{batch}'].get.responses['404'])).toContain('ErrorBody');
    await app.close();
  });
});
