// precompute-logits --tail-mass end to end on the real teacher: the stored column equals a
// float64 log-sum-exp over the non-top-k logits, the manifest and schema say so (format 2.1),
// resume refuses to mix, the JSON route serves it, and Python (pyarrow, client, loss) reads it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { DatasetReader } from '../../src/shard/index.js';
import { runCli } from '../cli.js';
import { findPythonClient, findStories, runPythonAsync } from '../python.js';
import { tailErrors } from './tail-reference.js';

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping tail-mass precompute test: ${reason}`);
const { python, reason: noClient } = findPythonClient();
const clientOk = python !== null;
if (!clientOk) console.log(`skipping the Python half of the tail-mass test: ${noClient}`);
const root = mkdtempSync(join(tmpdir(), 'lc-tail-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const args = (k: number, topkOn: string, extra: string[] = []) => [
  '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', root, '--dataset-id', `t${k}${topkOn}`,
  '--top-k', String(k), '--topk-on', topkOn, '--max-seq-len', '24', '--batch-size', '64', '--batches-per-shard', '4', '--quiet', ...extra,
];

describe.skipIf(!stories)('precompute-logits --tail-mass', () => {
  for (const [k, topkOn] of [[8, 'graph'], [128, 'host']] as const) {
    it(`k=${k}, top-k on ${topkOn}: stored tails within 1e-4 nats of float64`, async () => {
      const r = runCli('precompute-logits', args(k, topkOn, ['--tail-mass']));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const dir = join(root, `t${k}${topkOn}`);
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      expect(manifest.formatVersion).toBe('2.1');
      expect(manifest.topk.tailMass).toBe(true);

      const reader = await DatasetReader.open(dir);
      const b0 = await reader.readBatch(0);
      const tokens = b0.inputIds.length;
      expect(b0.tailLogprobs!.length).toBe(tokens);
      // float64 reference from the teacher's full logits, sample by sample.
      const { worst, compared } = await tailErrors(join(stories!, 'model.onnx'), b0, k);
      expect(compared).toBeGreaterThan(50);
      expect(worst).toBeLessThanOrEqual(1e-4);

      // Same command without --tail-mass: the run settings differ, nothing is mixed.
      const mixed = runCli('precompute-logits', args(k, topkOn));
      expect(mixed.status).not.toBe(0);
      expect(mixed.stderr).toMatch(/other settings \(.*tailMass/);

      const batches: { offsets: number[]; tail: number[] }[] = [];
      for (let b = 0; b < Math.min(3, reader.batchCount); b++) {
        const x = await reader.readBatch(b);
        batches.push({ offsets: Array.from(x.offsets), tail: Array.from(x.tailLogprobs!) });
      }
      await reader.close();

      const app = buildApp({ root, token: 'tok' });
      await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const addr = app.server.address();
        const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
        const res = await fetch(`${base}/logits/t${k}${topkOn}/0?format=json`, { headers: { authorization: 'Bearer tok' } });
        expect(res.status).toBe(200);
        const json = (await res.json()) as { rows: { tailLogprobs: number[] }[] };
        const off = batches[0].offsets;
        json.rows.forEach((row, i) => expect(row.tailLogprobs).toEqual(batches[0].tail.slice(off[i], off[i + 1]).map((v) => Math.fround(v))));
        if (!clientOk) return;
        const expected = join(root, `expected-${k}.json`);
        writeFileSync(expected, JSON.stringify({ k, vocab: reader.layout.vocabSize, batches }));
        const out = await runPythonAsync(python!, [join(import.meta.dirname, '../client/read_tail_mass.py'), dir, base, `t${k}${topkOn}`, 'tok', expected]);
        console.log(out.stdout.trim());
        expect(out.stderr).toBe('');
        expect(out.code).toBe(0);
        expect(out.stdout).toMatch(/tail ok: \d+ batches local and over HTTP/);
      } finally {
        await app.close();
      }
    });
  }
});
