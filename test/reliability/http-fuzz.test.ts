// Bounded property-based fuzzing of the real app (buildApp + inject, datasets written by the
// real writer): whatever the method, path, query, headers or body, the answer is never a 5xx
// except LC_ERR_SHARD_CORRUPT for the dataset whose bytes were damaged; every error body is
// {code, message} with a registered code and the registry's status; every 200 batch hashes to
// its own header.
import { createHash } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, isErrorCode } from '../../src/errors.js';
import { buildApp } from '../../src/server/index.js';
import type { Manifest } from '../../src/shard/index.js';
import { tempRoot, writeDataset } from '../server/fixture.js';
import { indexRows } from '../shard/index-rows.js';

export const FUZZ_RUNS = Number(process.env.LOGIT_CACHE_FUZZ_RUNS ?? 1500);

let root: string, cleanup: () => void, app: FastifyInstance, good: Manifest;
const stats = { requests: 0, byStatus: new Map<number, number>() };

beforeAll(async () => {
  ({ root, cleanup } = tempRoot());
  good = writeDataset(root, { datasetId: 'good', batches: 7, batchesPerShard: 3 });
  const bad = writeDataset(root, { datasetId: 'bad', batches: 4, batchesPerShard: 2 });
  // Damage one byte inside the body of batch 1 (shard 0): reading it must be refused.
  const row = indexRows(join(root, 'bad'), bad)[1];
  const fd = openSync(join(root, 'bad', row.shard.file), 'r+');
  writeSync(fd, Buffer.from([0x5a]), 0, 1, row.offset + row.length - 3);
  closeSync(fd);
  app = buildApp({ root, catalogTtlMs: 0 });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  cleanup();
  const table = [...stats.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`).join(' ');
  console.log(`[fuzz] ${stats.requests} requests; statuses ${table}`);
});

const datasetId = fc.oneof(
  { arbitrary: fc.constantFrom('good', 'bad'), weight: 8 },
  fc.constantFrom('good', 'bad', 'missing', '.hidden', '..', 'good.', 'GOOD', '%2e%2e', 'good%2Fshards', 'a'.repeat(200)),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
);
const batch = fc.oneof(
  { arbitrary: fc.nat(8).map(String), weight: 6 },
  fc.constantFrom('-1', '01', '1.5', '1e3', ' 1', '0x1', '99999999999999999999', '%00', ''),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);
const query = fc.option(fc.oneof(
  fc.constantFrom('?format=json', '?format=arrow', '?format=xml', '?format=', '?format=json&format=arrow', '?x=%zz'),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }).map((d) => `?${new URLSearchParams(d)}`),
), { nil: '' });
const path = fc.oneof(
  { arbitrary: fc.tuple(datasetId, batch, query).map(([d, b, q]) => `/logits/${d}/${b}${q}`), weight: 6 },
  fc.tuple(datasetId, batch, query).map(([d, b, q]) => `/logits/${d}/${b}${q}`),
  fc.tuple(datasetId, query).map(([d, q]) => `/datasets/${d}${q}`),
  fc.constantFrom('/datasets', '/healthz', '/readyz', '/metrics', '/openapi.json', '/', '/logits', '/logits/good', '/logits/good/0/extra', '//logits/good/0'),
  fc.string({ maxLength: 30 }).map((s) => `/${encodeURIComponent(s)}`),
);
const headers = fc.record({
  accept: fc.option(fc.constantFrom('application/json', 'application/vnd.apache.arrow.stream', 'text/html', '*/*', 'application/json;q=0, */*;q=0', ''), { nil: undefined }),
  'if-none-match': fc.option(fc.oneof(fc.constant('*'), fc.string({ maxLength: 70 }).map((s) => `"${s}"`)), { nil: undefined }),
  range: fc.option(fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=abc'), { nil: undefined }),
  authorization: fc.option(fc.constantFrom('Bearer x', 'Basic abc'), { nil: undefined }),
  'content-type': fc.option(fc.constantFrom('application/json', 'text/plain', 'application/octet-stream'), { nil: undefined }),
}, { requiredKeys: [] });
const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH');
const body = fc.option(fc.oneof(fc.string({ maxLength: 50 }), fc.constant('{"a":'), fc.constant('{}')), { nil: undefined });

describe('fuzzed HTTP requests against the real app', () => {
  it(`never answer 5xx except LC_ERR_SHARD_CORRUPT on the damaged dataset (${FUZZ_RUNS} requests)`, async () => {
    await fc.assert(
      fc.asyncProperty(method, path, headers, body, async (m, url, hdrs, payload) => {
        const clean = Object.fromEntries(Object.entries(hdrs).filter(([, v]) => v !== undefined)) as Record<string, string>;
        const res = await app.inject({ method: m as 'GET', url, headers: clean, ...(payload !== undefined && m !== 'GET' && m !== 'HEAD' ? { payload } : {}) });
        stats.requests++;
        stats.byStatus.set(res.statusCode, (stats.byStatus.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 400 && m !== 'HEAD') {
          const err = res.json() as { code: string; message: string };
          expect(Object.keys(err).sort(), url).toEqual(['code', 'message']);
          expect(isErrorCode(err.code), err.code).toBe(true);
          expect(ERRORS[err.code as keyof typeof ERRORS].http, `${url} ${err.code}`).toBe(res.statusCode);
          if (res.statusCode >= 500) {
            expect(err.code, `${m} ${url}: ${err.message}`).toBe('LC_ERR_SHARD_CORRUPT');
            expect(url).toMatch(/^\/logits\/bad\//);
          }
        } else if (res.statusCode >= 500) {
          // HEAD has no body to carry the code: the damaged dataset is the only allowed source.
          expect(url, `${m} ${url} answered ${res.statusCode}`).toMatch(/^\/logits\/bad\//);
        }
        if (res.statusCode === 200 && m === 'GET' && /^\/logits\//.test(url) && res.headers['content-type']?.toString().startsWith('application/vnd.apache.arrow')) {
          expect(createHash('sha256').update(res.rawPayload).digest('hex')).toBe(res.headers['x-logit-cache-stream-sha256']);
        }
      }),
      { numRuns: FUZZ_RUNS, seed: 20261130 },
    );
    // The property saw the interesting answers, not only 404s.
    expect(stats.byStatus.get(200) ?? 0).toBeGreaterThan(10);
    expect(stats.byStatus.get(400) ?? 0).toBeGreaterThan(10);
    // ...and the damaged batch was asked for and refused.
    expect(stats.byStatus.get(500) ?? 0).toBeGreaterThan(0);
    expect(good.batchCount).toBe(7);
  }, 300_000);
});
