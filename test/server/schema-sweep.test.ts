// Issue 12.1 as a test: flip every byte of a shard's schema message, one at a time. Each flip
// must be refused (LC_ERR_SHARD_CORRUPT naming the shard) by the server and by verify, before
// anything is parsed from it, while every other dataset keeps serving and /healthz answers.
// Before format 2.0 some flips made the server allocate until it ran out of heap.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { type Manifest, verifyDataset } from '../../src/shard/index.js';
import { runCli } from '../cli.js';
import { tempRoot, writeDataset } from './fixture.js';

let root: string, cleanup: () => void, victim: Manifest;
beforeAll(() => {
  ({ root, cleanup } = tempRoot());
  victim = writeDataset(root, { datasetId: 'victim', batches: 4, batchesPerShard: 2, k: 8, vocabSize: 50000, values: 'q8' });
  writeDataset(root, { datasetId: 'other', batches: 3 });
});
afterAll(() => cleanup());

/** XORs one byte of `path` in place; returns a function that puts it back. */
function flip(path: string, at: number): () => void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  const original = b[0];
  writeSync(fd, Buffer.from([original ^ 0x2f]), 0, 1, at);
  closeSync(fd);
  return () => {
    const fd2 = openSync(path, 'r+');
    writeSync(fd2, Buffer.from([original]), 0, 1, at);
    closeSync(fd2);
  };
}

describe('schema-byte sweep (issue 12.1)', () => {
  it('refuses every single-byte flip of the schema message in the server and in verify; nothing else is affected', async () => {
    const shard = victim.shards[0];
    const path = join(root, 'victim', shard.file);
    const app = buildApp({ root, catalogTtlMs: 0 });
    const heapBefore = process.memoryUsage().heapUsed;
    const refusedBy = { server: 0, verify: 0 };
    try {
      for (let at = 8; at < 8 + shard.schemaLength; at++) {
        const restore = flip(path, at);
        try {
          const res = await app.inject({ url: '/logits/victim/1' });
          expect(res.statusCode, `byte ${at}`).toBe(500);
          const body = res.json();
          expect(body.code, `byte ${at}`).toBe('LC_ERR_SHARD_CORRUPT');
          expect(body.message, `byte ${at}`).toMatch(/^shard shards\/shard-000000\.arrow: schema message sha256 [0-9a-f]{64} does not match manifest/);
          refusedBy.server++;
          // The other shard of the same dataset and every other dataset still serve.
          expect((await app.inject({ url: '/logits/victim/2' })).statusCode, `byte ${at}`).toBe(200);
          expect((await app.inject({ url: '/logits/other/0' })).statusCode, `byte ${at}`).toBe(200);
          if (at % 32 === 0) expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
          const report = await verifyDataset(join(root, 'victim'));
          expect(report.problems.length, `byte ${at}`).toBeGreaterThan(0);
          expect(report.problems.every((p) => p.shard === shard.file), `byte ${at}`).toBe(true);
          expect(report.problems.some((p) => /schema message sha256/.test(p.message)), `byte ${at}`).toBe(true);
          refusedBy.verify++;
        } finally {
          restore();
        }
      }
      // Restored: served again (the refusal was not cached).
      expect((await app.inject({ url: '/logits/victim/1' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
    expect(refusedBy).toEqual({ server: shard.schemaLength, verify: shard.schemaLength });
    // Nothing was sized from a damaged length: the heap did not balloon over the sweep.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 << 20);
  }, 300_000); // ~800 flips x (3 requests + verify): ~30 s on a loaded 2-core machine

  it('`logit-cache verify` exits 1 naming the shard for flips at the start, middle and end of the schema', () => {
    const shard = victim.shards[0];
    const path = join(root, 'victim', shard.file);
    for (const at of [8, 8 + (shard.schemaLength >> 1), 8 + shard.schemaLength - 1]) {
      const restore = flip(path, at);
      try {
        const r = runCli('logit-cache', ['verify', join(root, 'victim'), '--quiet']);
        expect(r.status, `byte ${at}`).toBe(1);
        expect(r.stderr, `byte ${at}`).toMatch(/FAIL shards\/shard-000000\.arrow.*schema message sha256/);
        expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, checked: 2 });
      } finally {
        restore();
      }
    }
    expect(runCli('logit-cache', ['verify', join(root, 'victim'), '--quiet']).status).toBe(0);
  });
});
