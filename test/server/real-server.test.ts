// The server on a real port: pyarrow reads batches over HTTP, raw path tricks that
// inject() would normalize away, and graceful shutdown.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import type { Manifest } from '../../src/shard/index.js';
import { tempRoot, writeDataset } from './fixture.js';
import { indexRows } from '../shard/index-rows.js';
import { findPython } from '../python.js';

const run = promisify(execFile);
const { python: foundPython, reason: noPython } = findPython();
const skipPython = foundPython ? null : noPython;
const PYTHON = foundPython ?? '';
if (skipPython) console.warn(`[skip] pyarrow over HTTP: ${skipPython}`);

let root: string, cleanup: () => void, manifest: Manifest, app: FastifyInstance, base: string;

beforeEach(async () => {
  ({ root, cleanup } = tempRoot());
  manifest = writeDataset(root, { datasetId: 'demo', batches: 7, batchesPerShard: 3, k: 8, vocabSize: 50000 });
  app = buildApp({ root, token: 'tok' });
  app.addHook('onRequest', async (req) => {
    // Test-only: holds a request in flight so shutdown can be observed mid-request.
    const ms = Number(req.headers['x-test-delay-ms'] ?? 0);
    if (ms) await new Promise((r) => setTimeout(r, ms));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterEach(async () => {
  await app.close();
  cleanup();
});

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** A GET with the path sent as-is (no URL normalization). */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/`, { path, headers: { authorization: 'Bearer tok', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const PY_READ = `
import json, sys, urllib.request, hashlib
import pyarrow as pa, pyarrow.ipc as ipc
base, root, token, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
manifest = json.load(open(f"{root}/demo/manifest.json"))
out = []
for b in range(n):
    req = urllib.request.Request(f"{base}/logits/demo/{b}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as resp:
        body, sha = resp.read(), resp.headers["x-logit-cache-batch-sha256"]
        stream_sha = resp.headers["x-logit-cache-stream-sha256"]
        ctype = resp.headers["Content-Type"]
    got = list(ipc.open_stream(pa.py_buffer(body)))
    shard = next(s for s in manifest["shards"] if s["firstBatch"] <= b < s["firstBatch"] + s["batchCount"])
    stored = ipc.open_file(f"{root}/demo/{shard['file']}").get_batch(b - shard["firstBatch"])
    L = int.from_bytes(body[4:8], "little", signed=True)
    # The shard's index file is a plain Arrow file too: pyarrow reads the per-batch hashes from it.
    idx = ipc.open_file(f"{root}/demo/{shard['index']['file']}").read_all()
    row = b - shard["firstBatch"]
    out.append({"batch": b, "batches": len(got), "equal": len(got) == 1 and got[0].equals(stored),
                "rows": got[0].num_rows if got else -1, "ctype": ctype,
                "shaOk": hashlib.sha256(body[8 + L:len(body) - 8]).hexdigest() == sha == idx.column("message_sha256")[row].as_py().hex(),
                "streamShaOk": hashlib.sha256(body).hexdigest() == stream_sha == idx.column("stream_sha256")[row].as_py().hex()})
print(json.dumps(out))
`;

describe('real server', () => {
  it.skipIf(skipPython !== null)('pyarrow ipc.open_stream reads every batch over HTTP, equal to the batch in the file', async () => {
    const { stdout } = await run(PYTHON, ['-c', PY_READ, base, root, 'tok', String(manifest.batchCount)], { timeout: 60_000 });
    const results = JSON.parse(stdout) as { batch: number; batches: number; equal: boolean; rows: number; ctype: string; shaOk: boolean; streamShaOk: boolean }[];
    expect(results).toHaveLength(manifest.batchCount);
    for (const r of results) {
      expect(r, `batch ${r.batch}`).toMatchObject({ batches: 1, equal: true, shaOk: true, streamShaOk: true, ctype: 'application/vnd.apache.arrow.stream' });
      expect(r.rows).toBe(manifest.batchSize);
    }
  });

  it.skipIf(skipPython !== null)('the Python client (HttpLogitCache) reads and verifies every batch', async () => {
    const script = [
      'import sys, json',
      `sys.path.insert(0, ${JSON.stringify(join(process.cwd(), 'clients', 'python'))})`,
      'from logit_cache.reader_http import HttpLogitCache',
      'c = HttpLogitCache(sys.argv[1], "demo", token="tok", retries=0)',
      'print(json.dumps([c.record_batch(b).num_rows for b in range(len(c))]))',
    ].join('\n');
    let stdout: string;
    try {
      ({ stdout } = await run(PYTHON, ['-c', script, base], { timeout: 60_000 }));
    } catch (e) {
      const stderr = String((e as { stderr?: string }).stderr ?? '');
      // The client package may need torch; without it this check says so and passes.
      if (/No module named '(torch|numpy)'/.test(stderr)) return void console.warn(`[skip] Python client: ${stderr.trim().split('\n').pop()}`);
      throw e;
    }
    expect(JSON.parse(stdout)).toEqual(Array(manifest.batchCount).fill(manifest.batchSize));
  });

  it.skipIf(skipPython !== null)('the Python snippet in docs/HTTP.md works as written', async () => {
    const doc = readFileSync(new URL('../../docs/HTTP.md', import.meta.url), 'utf8');
    const snippet = /```python\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(snippet).toBeDefined();
    const script = snippet!.replace('http://127.0.0.1:8080', base).replace('Bearer T', 'Bearer tok');
    const { stdout } = await run(PYTHON, ['-c', script], { timeout: 60_000 });
    expect(stdout.trim()).toBe(`${manifest.batchSize} ['sample_id', 'input_ids', 'topk_ids', 'topk_logprobs']`);
  });

  it('rejects raw path tricks with 400 (or a 404 for a path that names no route), never a file', async () => {
    for (const path of ['/logits/../0', '/logits/%2E%2E/0', '/logits/..%2F..%2Fetc%2Fpasswd/0', '/logits/demo%2F..%2Fdemo/0', '/logits/demo/..%2F1']) {
      const res = await rawGet(path);
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body.toString()).code, path).toMatch(/^LC_ERR_BAD_(DATASET_ID|BATCH)$/);
    }
    const traversal = await rawGet('/logits/demo/../../datasets');
    expect([400, 404]).toContain(traversal.status);
    expect(traversal.headers['content-type']).toMatch(/^application\/json/);
  });

  it('on close, finishes the request in flight and refuses new ones', async () => {
    const inflight = rawGet('/logits/demo/4', { 'x-test-delay-ms': '400' });
    await new Promise((r) => setTimeout(r, 100));
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 20));
    const refused = await rawGet('/logits/demo/0').then((r) => r.status, (e: NodeJS.ErrnoException) => e.code);
    expect(['ECONNREFUSED', 'ECONNRESET', 503]).toContain(refused);
    const done = await inflight;
    expect(done.status).toBe(200);
    expect(done.headers.connection).toBe('close');
    expect(done.headers['x-logit-cache-batch-sha256']).toBe(indexRows(join(root, 'demo'), manifest)[4].sha256);
    const t0 = Date.now();
    await closing;
    expect(Date.now() - t0).toBeLessThan(2000); // not held open for the keep-alive timeout
  });
});
