import { openSync, readFileSync, writeSync, closeSync, truncateSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { DatasetReader, type Manifest, registerCodecs } from '../../src/shard/index.js';
import { indexRows } from '../shard/index-rows.js';
import { tempRoot, writeDataset } from './fixture.js';

const ARROW = 'application/vnd.apache.arrow.stream';
let root: string, cleanup: () => void, manifest: Manifest;

beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  manifest = writeDataset(root, { batches: 5, batchesPerShard: 2 });
});
afterEach(() => cleanup());

/** Where the shard index says batch b lives: [shard entry, index row]. */
function locate(b: number) {
  const entry = indexRows(join(root, 'demo'), manifest)[b];
  return { shard: entry.shard, entry };
}

describe('GET /logits/:datasetId/:batch (Arrow)', () => {
  it('serves schema message + batch message + EOS, byte for byte from the shard file', async () => {
    const app = buildApp({ root });
    for (let b = 0; b < manifest.batchCount; b++) {
      const res = await app.inject({ url: `/logits/demo/${b}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe(ARROW);
      const { shard, entry } = locate(b);
      const file = readFileSync(join(root, 'demo', shard.file));
      const expected = Buffer.concat([
        file.subarray(8, 8 + shard.schemaLength),
        file.subarray(entry.offset, entry.offset + entry.length),
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
      ]);
      expect(Buffer.compare(res.rawPayload, expected)).toBe(0);
      expect(res.headers['content-length']).toBe(String(expected.length));
    }
    await app.close();
  });

  it('decodes to exactly the batch stored in the file', async () => {
    registerCodecs();
    const app = buildApp({ root });
    const reader = await DatasetReader.open(join(root, 'demo'));
    const res = await app.inject({ url: '/logits/demo/3' });
    const batches = [...RecordBatchReader.from(res.rawPayload)];
    expect(batches).toHaveLength(1);
    const stored = await reader.readBatch(3);
    const rb = batches[0];
    expect(rb.numRows).toBe(stored.offsets.length - 1);
    expect(rb.getChild('sample_id')!.toArray()).toEqual(BigUint64Array.from(Array.from(stored.sampleIds, BigInt)));
    const inputIds = rb.getChild('input_ids')!;
    expect(Int32Array.from(inputIds.data[0].children[0].values.subarray(0, stored.inputIds.length))).toEqual(stored.inputIds);
    await reader.close();
    await app.close();
  });

  it('honours the checksum contract: stream header = sha256(body), batch header = index sha256 = sha256(body[8+L : len-8])', async () => {
    const app = buildApp({ root });
    for (const b of [0, 2, 4]) {
      const res = await app.inject({ url: `/logits/demo/${b}` });
      const body = res.rawPayload;
      const L = body.readInt32LE(4);
      const digest = createHash('sha256').update(body.subarray(8 + L, body.length - 8)).digest('hex');
      expect(res.headers['x-logit-cache-batch-sha256']).toBe(locate(b).entry.sha256);
      expect(digest).toBe(locate(b).entry.sha256);
      expect(res.headers['x-logit-cache-stream-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
      expect(res.headers['x-logit-cache-stream-sha256']).toBe(locate(b).entry.streamSha256);
    }
    await app.close();
  });

  it('sends a strong ETag from the stream sha256, immutable caching, and 304 on If-None-Match', async () => {
    const app = buildApp({ root });
    const sha = locate(1).entry.streamSha256;
    const res = await app.inject({ url: '/logits/demo/1' });
    expect(res.headers.etag).toBe(`"${sha}"`);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    for (const inm of [`"${sha}"`, `W/"${sha}"`, `"other", "${sha}"`, '*']) {
      const again = await app.inject({ url: '/logits/demo/1', headers: { 'if-none-match': inm } });
      expect(again.statusCode, inm).toBe(304);
      expect(again.rawPayload.length).toBe(0);
      expect(again.headers.etag).toBe(`"${sha}"`);
    }
    const other = await app.inject({ url: '/logits/demo/1', headers: { 'if-none-match': `"${locate(0).entry.streamSha256}"` } });
    expect(other.statusCode).toBe(200);
    await app.close();
  });

  it('answers HEAD with the GET headers and no body', async () => {
    const app = buildApp({ root });
    const get = await app.inject({ url: '/logits/demo/2' });
    const head = await app.inject({ method: 'HEAD', url: '/logits/demo/2' });
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);
    for (const h of ['content-length', 'content-type', 'etag', 'cache-control', 'x-logit-cache-batch-sha256', 'x-logit-cache-stream-sha256']) {
      expect(head.headers[h], h).toBe(get.headers[h]);
    }
    await app.close();
  });
});

describe('GET /logits under concurrency', () => {
  it('serves concurrent reads across shards correctly through a pool of one open file', async () => {
    const app = buildApp({ root, maxOpenShards: 1 });
    const order = Array.from({ length: 40 }, (_, i) => (i * 3) % manifest.batchCount);
    const results = await Promise.all(order.map((b) => app.inject({ url: `/logits/demo/${b}` })));
    results.forEach((res, i) => {
      expect(res.statusCode).toBe(200);
      const body = res.rawPayload;
      const L = body.readInt32LE(4);
      expect(createHash('sha256').update(body.subarray(8 + L, body.length - 8)).digest('hex')).toBe(locate(order[i]).entry.sha256);
    });
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^logit_cache_open_shard_files 1$/m); // evicted shards were closed once released
    await app.close();
  });
});

describe('GET /logits as JSON', () => {
  it('serves the same batch as JSON for ?format=json and for Accept: application/json', async () => {
    const app = buildApp({ root });
    const reader = await DatasetReader.open(join(root, 'demo'));
    const stored = await reader.readBatch(2);
    const k = manifest.topk.k;
    for (const req of [{ url: '/logits/demo/2?format=json' }, { url: '/logits/demo/2', headers: { accept: 'application/json' } }]) {
      const res = await app.inject(req);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers.etag).toBe(`"${locate(2).entry.streamSha256}.json"`);
      const body = res.json();
      expect(body).toMatchObject({ datasetId: 'demo', batch: 2, k, samples: locate(2).entry.samples, tokens: locate(2).entry.tokens });
      expect(body.rows.map((r: { sampleId: number }) => r.sampleId)).toEqual(Array.from(stored.sampleIds));
      const flatIds = body.rows.flatMap((r: { topkIds: number[][] }) => r.topkIds.flat());
      const flatLp = body.rows.flatMap((r: { topkLogprobs: number[][] }) => r.topkLogprobs.flat());
      const flatInput = body.rows.flatMap((r: { inputIds: number[] }) => r.inputIds);
      expect(flatIds).toEqual(Array.from(stored.topkIds));
      expect(flatLp).toEqual(Array.from(stored.topkLogprobs));
      expect(flatInput).toEqual(Array.from(stored.inputIds));
      expect(body.rows[0].topkIds[0]).toHaveLength(k);
    }
    await reader.close();
    await app.close();
  });

  it('prefers Arrow when the client accepts both (the Python client does), and 406 when neither', async () => {
    const app = buildApp({ root });
    const both = await app.inject({ url: '/logits/demo/0', headers: { accept: `${ARROW}, application/json` } });
    expect(both.headers['content-type']).toBe(ARROW);
    const none = await app.inject({ url: '/logits/demo/0', headers: { accept: 'text/html' } });
    expect(none.statusCode).toBe(406);
    expect(none.json().code).toBe('LC_ERR_NOT_ACCEPTABLE');
    await app.close();
  });
});

describe('GET /logits bad input', () => {
  const cases: [string, number, string][] = [
    ['/logits/nosuch/0', 404, 'LC_ERR_DATASET_NOT_FOUND'],
    ['/logits/demo/5', 404, 'LC_ERR_BATCH_NOT_FOUND'],
    ['/logits/demo/99999999', 404, 'LC_ERR_BATCH_NOT_FOUND'],
    ['/logits/demo/-1', 400, 'LC_ERR_BAD_BATCH'],
    ['/logits/demo/1.5', 400, 'LC_ERR_BAD_BATCH'],
    ['/logits/demo/abc', 400, 'LC_ERR_BAD_BATCH'],
    ['/logits/demo/01', 400, 'LC_ERR_BAD_BATCH'],
    ['/logits/demo/1e3', 400, 'LC_ERR_BAD_BATCH'],
    ['/logits/demo/%20', 400, 'LC_ERR_BAD_BATCH'],
    [`/logits/demo/${'9'.repeat(40)}`, 400, 'LC_ERR_BAD_BATCH'],
    // (A raw "/logits/../0" is normalized away by inject; test/server/real-server.test.ts sends it over a socket.)
    ['/logits/..%2Fdemo/0', 400, 'LC_ERR_BAD_DATASET_ID'],
    ['/logits/demo%2Fshards/0', 400, 'LC_ERR_BAD_DATASET_ID'],
    ['/logits/demo%5C..%5C/0', 400, 'LC_ERR_BAD_DATASET_ID'],
    ['/logits/.hidden/0', 400, 'LC_ERR_BAD_DATASET_ID'],
    ['/logits/%00demo/0', 400, 'LC_ERR_BAD_DATASET_ID'],
    [`/logits/${'a'.repeat(129)}/0`, 400, 'LC_ERR_BAD_DATASET_ID'],
    [`/logits/${'a'.repeat(5000)}/0`, 400, 'LC_ERR_BAD_DATASET_ID'],
    ['/logits/demo/0?format=xml', 400, 'LC_ERR_BAD_REQUEST'],
    ['/logits/%zz/0', 400, 'LC_ERR_BAD_REQUEST'],
  ];
  it.each(cases)('%s → %i %s', async (url, status, code) => {
    const app = buildApp({ root });
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(status);
    const body = res.json();
    expect(body).toEqual({ code, message: expect.any(String) });
    expect(body.message).not.toMatch(/\n\s+at /); // no stack trace
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    await app.close();
  });

  it('names the offending value in the message, cut short when absurdly long', async () => {
    const app = buildApp({ root });
    expect((await app.inject({ url: '/logits/demo/7' })).json().message).toContain('7');
    expect((await app.inject({ url: '/logits/nosuch/0' })).json().message).toContain('nosuch');
    const long = (await app.inject({ url: `/logits/${'a'.repeat(5000)}/0` })).json().message;
    expect(long).toContain('5000 characters');
    expect(long.length).toBeLessThan(300);
    await app.close();
  });
});

describe('GET /logits with a corrupt shard', () => {
  it('answers 500 LC_ERR_SHARD_CORRUPT and sends none of the bytes when a batch changes after open', async () => {
    const app = buildApp({ root });
    expect((await app.inject({ url: '/logits/demo/1' })).statusCode).toBe(200); // shard 0 now open and pooled
    const { shard, entry } = locate(1);
    const fd = openSync(join(root, 'demo', shard.file), 'r+');
    const at = entry.offset + entry.length - 3;
    const original = readFileSync(join(root, 'demo', shard.file))[at];
    writeSync(fd, Buffer.from([original ^ 0xff]), 0, 1, at);
    closeSync(fd);
    const res = await app.inject({ url: '/logits/demo/1' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: 'LC_ERR_SHARD_CORRUPT', message: expect.stringContaining(entry.sha256) });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['x-logit-cache-batch-sha256']).toBeUndefined();
    expect(res.headers['x-logit-cache-stream-sha256']).toBeUndefined();
    expect(res.rawPayload.includes(readFileSync(join(root, 'demo', shard.file)).subarray(entry.offset + 64, entry.offset + 96))).toBe(false);
    // JSON must not decode the bad bytes either; the batch next to it is still served.
    expect((await app.inject({ url: '/logits/demo/1?format=json' })).json().code).toBe('LC_ERR_SHARD_CORRUPT');
    expect((await app.inject({ url: '/logits/demo/0' })).statusCode).toBe(200);
    await app.close();
  });

  it('refuses a shard whose index file is damaged, truncated or another shard\'s, naming the shard', async () => {
    const dir = join(root, 'demo');
    const idx = (i: number) => join(dir, manifest.shards[i].index.file);
    const original = readFileSync(idx(0));
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length / 2)] ^= 0x01;
    const cases: [string, Buffer, RegExp][] = [
      ['flipped byte', damaged, /index shards\/shard-000000\.idx\.arrow sha256 [0-9a-f]{64} does not match manifest/],
      ['truncated', original.subarray(0, original.length - 16), /index shards\/shard-000000\.idx\.arrow is \d+ bytes, manifest says/],
      ['swapped with shard 1\'s', readFileSync(idx(1)), /index shards\/shard-000000\.idx\.arrow (sha256|is \d+ bytes)/],
    ];
    const { writeFileSync } = await import('node:fs');
    for (const [name, bytes, message] of cases) {
      writeFileSync(idx(0), bytes);
      const app = buildApp({ root });
      for (const b of [0, 1]) {
        const res = await app.inject({ url: `/logits/demo/${b}` });
        expect(res.statusCode, name).toBe(500);
        expect(res.json().code, name).toBe('LC_ERR_SHARD_CORRUPT');
        expect(res.json().message, name).toMatch(/^shard shards\/shard-000000\.arrow: /);
        expect(res.json().message, name).toMatch(message);
        expect(res.json().message, name).not.toContain(root);
      }
      expect((await app.inject({ url: '/logits/demo/2' })).statusCode, name).toBe(200); // other shard unaffected
      await app.close();
    }
  });

  it('refuses a truncated or missing shard file', async () => {
    truncateSync(join(root, 'demo', manifest.shards[1].file), 100);
    const { rmSync } = await import('node:fs');
    rmSync(join(root, 'demo', manifest.shards[2].file));
    const app = buildApp({ root });
    const truncated = await app.inject({ url: '/logits/demo/2' });
    expect(truncated.statusCode).toBe(500);
    expect(truncated.json()).toEqual({ code: 'LC_ERR_SHARD_CORRUPT', message: expect.stringMatching(/size 100 bytes/) });
    const missing = await app.inject({ url: '/logits/demo/4' });
    expect(missing.statusCode).toBe(500);
    expect(missing.json().code).toBe('LC_ERR_SHARD_CORRUPT');
    expect(missing.json().message).not.toContain(root); // no server paths in client messages
    expect(truncated.json().message).not.toContain(root);
    expect(missing.json().message).toContain('shard-000002.arrow');
    await app.close();
  });
});
