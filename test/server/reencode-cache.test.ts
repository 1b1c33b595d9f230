// The server's memory of re-encoded batch streams (src/server/stream-cache.ts) on real datasets:
// shared-prefix (format 2.5) and Parquet shards are re-encoded once and then served from memory,
// an overwritten dataset is served its new bytes, the size cap evicts, concurrent requests for
// one batch share one re-encode, a batch that fails its hash never enters, and 0 turns it off.
// What is observed: the reencode-cache metrics and, independently, the dataset reader's count
// of stored batches read from its shard files (every re-encode of a shared-prefix batch reads).
import { createHash } from 'node:crypto';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppOptions, buildApp } from '../../src/server/index.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import type { TopkLayout } from '../../src/shard/types.js';
import { samplesWithSharedPrefixes } from '../shard/causal-batch.js';
import { pairBatches, writeDataset as writeParquet } from '../shard/parquet/pair.js';
import { patchStored } from '../shard/patch-stored.js';
import { writeSharedSet } from '../shard/shared-fixture.js';
import { tempRoot } from './fixture.js';

const layout: TopkLayout = { k: 8, vocabSize: 500, values: 'rank-delta', f16Ranks: 8, ids: 'ctx-table', tailMass: true };
const pqLayout: TopkLayout = { k: 4, vocabSize: 1000, values: 'f16', tailMass: true, shardFormat: 'parquet' };
let root: string, cleanup: () => void;
const apps: FastifyInstance[] = [];

const writeShared = (into: string, id: string, seed: number, share = 8) =>
  writeSharedSet({ root: into, datasetId: id, layout, codec: 'none', samples: samplesWithSharedPrefixes(40, seed, 500), batchSize: 5, batchesPerShard: 3, sharePrefixes: share });

beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  writeShared(root, 'shared', 5);
  writeShared(root, 'plain', 5, 0);
  writeParquet(root, 'pq', pqLayout, 'zstd', pairBatches(pqLayout, 5, 3), 3, 2);
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  cleanup();
});

function app(opts: Partial<AppOptions> = {}): FastifyInstance {
  const a = buildApp({ root, ...opts });
  apps.push(a);
  return a;
}

async function cacheMetrics(a: FastifyInstance): Promise<Record<string, number>> {
  const text = (await a.inject({ url: '/metrics' })).body;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^logit_cache_reencode_cache_(\w+?)(?:_total)? (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** Stored batches the server's reader of `id` has read from its shard files so far. */
const storedReads = async (a: FastifyInstance, id: string): Promise<number> => (await a.catalog.get(id))!.reader.storedBatchReads;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function indexSha(dir: string, batch: number): Promise<string> {
  const ds = await CheckedDataset.open(dir);
  try {
    return (await ds.info(batch)).streamSha256;
  } finally {
    await ds.close();
  }
}

describe('re-encoded stream cache', () => {
  it('serves a repeated shared-prefix batch from memory, the same bytes, without reading the shard again', async () => {
    const a = app();
    const first = await a.inject({ url: '/logits/shared/4' });
    expect(first.statusCode).toBe(200);
    const reads = await storedReads(a, 'shared');
    expect(reads).toBeGreaterThan(0);
    expect(await cacheMetrics(a)).toMatchObject({ misses: 1, hits: 0, entries: 1, bytes: first.rawPayload.length });
    const second = await a.inject({ url: '/logits/shared/4' });
    expect(second.statusCode).toBe(200);
    expect(second.rawPayload.equals(first.rawPayload)).toBe(true);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(sha(second.rawPayload)).toBe(await indexSha(join(root, 'shared'), 4));
    expect(await storedReads(a, 'shared')).toBe(reads);
    expect(await cacheMetrics(a)).toMatchObject({ misses: 1, hits: 1, entries: 1 });
    // And it is the stream a plain dataset of the same input stores (plain shards are never cached).
    expect((await a.inject({ url: '/logits/plain/4' })).rawPayload.equals(first.rawPayload)).toBe(true);
    expect(await cacheMetrics(a)).toMatchObject({ misses: 1, hits: 1, entries: 1 });
  });

  it('serves a repeated Parquet batch from memory; JSON is still decoded per request', async () => {
    const a = app();
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await a.inject({ url: '/logits/pq/2' })).rawPayload);
    expect(bodies[1].equals(bodies[0]) && bodies[2].equals(bodies[0])).toBe(true);
    expect(sha(bodies[0])).toBe(await indexSha(join(root, 'pq'), 2));
    const json = await a.inject({ url: '/logits/pq/2?format=json' });
    expect(json.statusCode).toBe(200);
    expect((json.json() as { rows: { sampleId: number }[] }).rows.map((r) => r.sampleId)).toEqual([6, 7, 8]);
    expect(await cacheMetrics(a)).toMatchObject({ misses: 1, hits: 2, entries: 1 });
  });

  it('serves the new bytes after the dataset is overwritten', async () => {
    const a = app({ catalogTtlMs: 0 });
    const old = await a.inject({ url: '/logits/shared/4' });
    expect((await a.inject({ url: '/logits/shared/4' })).rawPayload.equals(old.rawPayload)).toBe(true);
    // Another input under the same id, swapped in whole (a new manifest, shards and index).
    const staging = join(root, '.staging');
    writeShared(staging, 'shared', 77);
    rmSync(join(root, 'shared'), { recursive: true });
    renameSync(join(staging, 'shared'), join(root, 'shared'));
    const want = await indexSha(join(root, 'shared'), 4);
    expect(want).not.toBe(sha(old.rawPayload));
    const fresh = await a.inject({ url: '/logits/shared/4' });
    expect(fresh.statusCode).toBe(200);
    expect(sha(fresh.rawPayload)).toBe(want);
    expect(fresh.headers.etag).toBe(`"${want}"`);
    expect(await cacheMetrics(a)).toMatchObject({ misses: 2, hits: 1, entries: 2 });
  });

  it('evicts least recently used streams to stay within its size', async () => {
    const sizes = [];
    const probe = app();
    for (const b of [0, 1, 2]) sizes.push((await probe.inject({ url: `/logits/shared/${b}` })).rawPayload.length);
    // Room for any two of the three, never all three.
    const cap = sizes[0] + sizes[1] + sizes[2] - Math.min(...sizes);
    const a = app({ reencodeCacheBytes: cap });
    for (const b of [0, 1, 2]) await a.inject({ url: `/logits/shared/${b}` });
    const after = await cacheMetrics(a);
    expect(after).toMatchObject({ misses: 3, evictions: 1, entries: 2, capacity_bytes: cap });
    expect(after.bytes).toBe(sizes[1] + sizes[2]);
    // Batch 0 went first (least recently used) and is re-encoded; batch 2 is still held.
    await a.inject({ url: '/logits/shared/2' });
    await a.inject({ url: '/logits/shared/0' });
    expect(await cacheMetrics(a)).toMatchObject({ misses: 4, hits: 1, evictions: 2, entries: 2 });
    expect((await cacheMetrics(a)).bytes).toBeLessThanOrEqual(cap);
  });

  it('re-encodes a batch once for many concurrent requests', async () => {
    const one = app();
    await one.inject({ url: '/logits/shared/7' });
    const readsForOne = await storedReads(one, 'shared');
    const a = app();
    await a.ready();
    await a.catalog.get('shared');
    const responses = await Promise.all(Array.from({ length: 8 }, () => a.inject({ url: '/logits/shared/7' })));
    for (const r of responses) {
      expect(r.statusCode).toBe(200);
      expect(r.rawPayload.equals(responses[0].rawPayload)).toBe(true);
    }
    expect(await storedReads(a, 'shared')).toBe(readsForOne);
    const m = await cacheMetrics(a);
    expect(m.misses).toBe(1);
    expect(m.coalesced + m.hits).toBe(7);
    expect(m.coalesced).toBeGreaterThan(0);
  });

  it('never keeps a stream that failed its hash check', async () => {
    patchStored(join(root, 'shared'), 4, { setStreamSha: Buffer.alloc(32, 1) });
    const a = app();
    for (let i = 0; i < 2; i++) {
      const res = await a.inject({ url: '/logits/shared/4' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'LC_ERR_SHARD_CORRUPT' });
    }
    expect(await cacheMetrics(a)).toMatchObject({ misses: 2, hits: 0, entries: 0, bytes: 0 });
  });

  it('0 turns it off: every request re-encodes', async () => {
    const a = app({ reencodeCacheBytes: 0 });
    const first = await a.inject({ url: '/logits/shared/4' });
    const reads = await storedReads(a, 'shared');
    const second = await a.inject({ url: '/logits/shared/4' });
    expect(second.rawPayload.equals(first.rawPayload)).toBe(true);
    expect(await storedReads(a, 'shared')).toBeGreaterThan(reads);
    expect(await cacheMetrics(a)).toMatchObject({ misses: 0, hits: 0, entries: 0, capacity_bytes: 0 });
  });
});
