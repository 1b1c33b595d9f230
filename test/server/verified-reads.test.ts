// GET /logits with reused response bodies and remembered verification: every body still
// carries exactly its own batch, and a file changed after a batch was verified is hashed
// (and refused) again. Real writer, real server on a real socket, real files.
import { createHash } from 'node:crypto';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { closeSync, openSync, readFileSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { CheckedDataset, DatasetWriter, LocalFileSource, type Manifest, type VerifiedMemo } from '../../src/shard/index.js';
import { makeBatch } from '../shard/make-batch.js';
import { VerifiedBatches } from '../../src/server/verified-batches.js';
import { indexRows } from '../shard/index-rows.js';
import { tempRoot, writeDataset } from './fixture.js';

let root: string, cleanup: () => void, manifest: Manifest;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  // Uncompressed and large enough (tens of kB per body) that responses span several socket writes.
  manifest = writeDataset(root, { batches: 24, batchesPerShard: 8, batchSize: 8, seqLen: 400, k: 8, codec: 'none' });
});
afterEach(() => cleanup());

/** Flips one byte of batch b's message in place, then puts the file's old mtime back (as cp -p or rsync -t would). */
function corruptInPlaceKeepingMtime(b: number): void {
  const row = indexRows(join(root, 'demo'), manifest)[b];
  const path = join(root, 'demo', row.shard.file);
  const before = statSync(path);
  const at = row.offset + row.length - 5;
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([readFileSync(path)[at] ^ 0x40]), 0, 1, at);
  closeSync(fd);
  utimesSync(path, before.atime, before.mtime);
}

describe('GET /logits over a real socket', () => {
  it('gives every concurrent response its own batch, byte for byte, while bodies are reused', async () => {
    const app = buildApp({ root });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const rows = indexRows(join(root, 'demo'), manifest);
    const files = new Map<string, Buffer>();
    const expected = rows.map((r) => {
      const f = files.get(r.shard.file) ?? readFileSync(join(root, 'demo', r.shard.file));
      files.set(r.shard.file, f);
      return sha(Buffer.concat([f.subarray(8, 8 + r.shard.schemaLength), f.subarray(r.offset, r.offset + r.length), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0])]));
    });
    let next = 0;
    const seen: number[] = [];
    try {
      // 16 clients, 240 requests: each batch ten times, the first read hashed and the rest vouched for.
      await Promise.all(Array.from({ length: 16 }, async () => {
        for (let i = next++; i < 240; i = next++) {
          const b = (i * 7) % manifest.batchCount;
          const res = await fetch(`${base}/logits/demo/${b}`);
          const body = new Uint8Array(await res.arrayBuffer());
          expect(res.status).toBe(200);
          expect(sha(body)).toBe(expected[b]);
          expect(res.headers.get('x-logit-cache-stream-sha256')).toBe(expected[b]);
          seen.push(b);
        }
      }));
    } finally {
      await app.close();
    }
    expect(new Set(seen).size).toBe(manifest.batchCount);
  });

  it('keeps a body out of the pool until a slow client has received all of it', async () => {
    // Equal-sized ~17 MB batches (larger than the socket buffers), so they share one pool size class.
    const lengths = Array<number>(8).fill(40_000);
    const writer = new DatasetWriter({ root, datasetId: 'big', layout: { k: 8, vocabSize: 50_000, values: 'f16' }, codec: 'none', batchSize: 8, batchesPerShard: 4, runConfig: {} });
    for (let b = 0; b < 3; b++) writer.append(makeBatch({ lengths, k: 8, vocabSize: 50_000, firstSample: b * 8, seed: 77 + b }));
    writer.finish({ teacher: { file: 't.onnx', sha256: 'a'.repeat(64), vocabSize: 50_000 }, source: { file: 's.jsonl', sha256: 'b'.repeat(64), samples: 24, tokens: 24 * 40_000 } });
    const app = buildApp({ root });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const open = (b: number) => new Promise<IncomingMessage>((resolve, reject) => httpGet({ host: '127.0.0.1', port, path: `/logits/big/${b}` }, resolve).on('error', reject));
    const drain = (res: IncomingMessage) => new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
      res.resume();
    });
    try {
      const slow = await open(0);
      slow.pause(); // most of batch 0 now waits in the server's socket buffer
      await new Promise((r) => setTimeout(r, 100));
      for (const b of [1, 2, 1, 2]) {
        const fast = await open(b);
        const body = await drain(fast);
        expect(sha(body)).toBe(fast.headers['x-logit-cache-stream-sha256']);
      }
      const body = await drain(slow);
      expect(body.length).toBe(Number(slow.headers['content-length']));
      expect(sha(body)).toBe(slow.headers['x-logit-cache-stream-sha256']);
    } finally {
      await app.close();
    }
  });

  it('hashes a verified batch again once its file changed in place, even with the old mtime put back', async () => {
    const app = buildApp({ root });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/logits/demo/3`;
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(url)).status).toBe(200); // verified, then vouched for
      // Past the filesystem's timestamp tick, so the change is visible in ctime.
      await new Promise((r) => setTimeout(r, 20));
      corruptInPlaceKeepingMtime(3);
      const res = await fetch(url);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { code: string }).code).toBe('LC_ERR_SHARD_CORRUPT');
      expect(res.headers.get('x-logit-cache-stream-sha256')).toBeNull();
    } finally {
      await app.close();
    }
  });
});

describe('the checked reader with a verified-batch memo', () => {
  it('skips the hash only when the memo vouches, and records only batches that hashed right', async () => {
    const ds = await CheckedDataset.open(join(root, 'demo'));
    const calls: string[] = [];
    const always: VerifiedMemo = { vouches: async () => true, verified: (_s, info) => { calls.push(`verified ${info.batch}`); } };
    const never: VerifiedMemo = { vouches: async () => false, verified: (_s, info) => { calls.push(`verified ${info.batch}`); } };
    await ds.readStream(2, { memo: never });
    expect(calls).toEqual(['verified 2']);
    await new Promise((r) => setTimeout(r, 20));
    corruptInPlaceKeepingMtime(2);
    // A memo that vouches is believed: this is why the server's memo checks the file's identity.
    const vouched = await ds.readStream(2, { memo: always });
    expect(sha(vouched.message)).not.toBe(vouched.info.messageSha256);
    await expect(ds.readStream(2, { memo: never })).rejects.toMatchObject({ code: 'LC_ERR_SHARD_CORRUPT' });
    expect(calls).toEqual(['verified 2']);
    await ds.close();
  });

  it('VerifiedBatches vouches for a batch it saw verified, from the same unchanged local file only', async () => {
    const ds = await CheckedDataset.open(join(root, 'demo'));
    const memo = new VerifiedBatches(16);
    const info = await ds.info(4);
    const path = join(root, 'demo', info.shard.file);
    const source = await LocalFileSource.open(path, info.shard.file);
    expect(await memo.vouches(source, info)).toBe(false);
    await ds.readStream(4, { memo });
    const again = await LocalFileSource.open(path, info.shard.file); // a reopened, unchanged file is the same file
    expect(await memo.vouches(again, info)).toBe(true);
    expect(await memo.vouches(again, await ds.info(5))).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    corruptInPlaceKeepingMtime(4);
    expect(await memo.vouches(again, info)).toBe(false);
    await Promise.all([source.close(), again.close(), ds.close()]);
  });
});
