// The Python client against the real thing: shards written by precompute-logits from the real
// teacher, read through a mount and through the real server, equal what the TS reader sees.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { DatasetReader } from '../../src/shard/index.js';
import { runCli } from '../cli.js';
import { findPythonClient, findStories, runPythonAsync } from '../python.js';

const { python, reason: noClient } = findPythonClient();
const { dir: stories, reason: noStories } = findStories();
const skip = !stories ? noStories : !python ? noClient : '';
if (skip) console.log(`skipping Python client integration test: ${skip}`);
const root = mkdtempSync(join(tmpdir(), 'lc-client-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!!skip)('Python client on precompute-logits output', () => {
  it('reads every batch locally and over HTTP exactly as written; BiLD teacher-led part from it matches full logits', async () => {
    const r = runCli('precompute-logits', [
      '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', root, '--dataset-id', 'st',
      '--max-seq-len', '64', '--batch-size', '64', '--batches-per-shard', '3', '--values', 'f16', '--quiet',
    ]);
    expect(r.status).toBe(0);
    const reader = await DatasetReader.open(join(root, 'st'));
    const batches = [];
    for (let b = 0; b < reader.batchCount; b++) {
      const x = await reader.readBatch(b);
      batches.push({ sampleIds: Array.from(x.sampleIds), offsets: Array.from(x.offsets), inputIds: Array.from(x.inputIds), topkIds: Array.from(x.topkIds), topkLogprobs: Array.from(x.topkLogprobs) });
    }
    await reader.close();
    const expected = join(root, 'expected.json');
    writeFileSync(expected, JSON.stringify({ k: 8, vocab: 512, batches }));

    const app = buildApp({ root, token: 'tok' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const addr = app.server.address();
      const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      // Async spawn: the server answers from this same process while Python reads.
      const out = await runPythonAsync(python!, [join(import.meta.dirname, 'read_with_client.py'), join(root, 'st'), base, 'st', 'tok', expected, join(stories!, 'model.onnx')]);
      console.log(out.stdout.trim());
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/client ok: 9 batches local and over HTTP; bild=[\d.]+; teacher-led rel err/);
    } finally {
      await app.close();
    }
  });
});
