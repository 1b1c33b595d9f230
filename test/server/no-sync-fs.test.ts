// Issue 8.2: no synchronous file-system call on the server's request path. Every *Sync
// function of node:fs is wrapped (and the wrappers pushed into the ESM named exports) while
// requests run: first sight of a dataset, manifest change, shard open, batch reads, listing,
// a corrupt shard. Any call is recorded with the function's name.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { tempRoot, writeDataset } from './fixture.js';

let root: string, cleanup: () => void;
beforeEach(() => { ({ root, cleanup } = tempRoot()); });
afterEach(() => cleanup());

function recordSyncCalls(): { calls: string[]; restore: () => void } {
  const calls: string[] = [];
  const target = fs as unknown as Record<string, unknown>;
  const originals = new Map<string, unknown>();
  for (const name of Object.keys(target)) {
    const fn = target[name];
    if (!name.endsWith('Sync') || typeof fn !== 'function') continue;
    originals.set(name, fn);
    target[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(name);
      if (process.env.LC_DEBUG_SYNC) console.log(name, new Error().stack);
      return (fn as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  syncBuiltinESMExports();
  return {
    calls,
    restore: () => {
      for (const [name, fn] of originals) target[name] = fn;
      syncBuiltinESMExports();
    },
  };
}

describe('request path', () => {
  it('makes no synchronous file-system call', async () => {
    writeDataset(root, { datasetId: 'a', batches: 5, batchesPerShard: 2 });
    writeDataset(root, { datasetId: 'b', batches: 3 });
    const app = buildApp({ root, catalogTtlMs: 0, maxOpenShards: 1 });
    await app.ready();
    // Fastify loads its injector (light-my-request) on first use: a test-harness cost, not the server's.
    await app.inject({ url: '/healthz' });
    const rec = recordSyncCalls();
    try {
      const codes: number[] = [];
      for (const url of ['/datasets', '/datasets/a', '/logits/a/0', '/logits/a/3', '/logits/b/1', '/logits/a/4?format=json', '/readyz', '/logits/nosuch/0']) {
        codes.push((await app.inject({ url })).statusCode);
      }
      expect(codes).toEqual([200, 200, 200, 200, 200, 200, 200, 404]);
      // A corrupt shard and a replaced manifest are handled without blocking calls too.
      rec.restore();
      const idx = join(root, 'b', 'shards', 'shard-000001.idx.arrow'); // a shard not opened yet
      const bytes = fs.readFileSync(idx);
      bytes[10] ^= 1;
      fs.writeFileSync(idx, bytes);
      const manifestPath = join(root, 'a', 'manifest.json');
      const before = (await app.inject({ url: '/datasets/a' })).headers.etag;
      fs.writeFileSync(manifestPath, JSON.stringify(JSON.parse(fs.readFileSync(manifestPath, 'utf8'))));
      const rec2 = recordSyncCalls();
      try {
        expect((await app.inject({ url: '/logits/b/2' })).statusCode).toBe(500);
        expect((await app.inject({ url: '/logits/a/3' })).statusCode).toBe(200);
        expect((await app.inject({ url: '/datasets/a' })).headers.etag).not.toBe(before); // re-read and re-parsed
        expect(rec2.calls).toEqual([]);
      } finally {
        rec2.restore();
      }
      expect(rec.calls).toEqual([]);
    } finally {
      rec.restore();
      await app.close();
    }
  });
});
