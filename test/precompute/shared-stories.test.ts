// Shared prefixes on the real case: the stories260k teacher over its own stories (576 samples,
// 396 distinct), precomputed with --preset compact (shared prefixes, N = 32) and with the same
// preset and --share-prefixes 0. Both read back to the same distributions: the shared positions
// come from the owner's teacher call, whose batch shape differs, so ONNX Runtime may differ in
// the last float32 bits; stored at float16 they agree within one float16 step, and the ids agree
// wherever the log-probabilities are not that close to a tie.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetReader, type Manifest } from '../../src/shard/index.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { runCli } from '../cli.js';
import { findStories } from '../python.js';

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping shared-prefix stories260k test: ${reason}`);
const root = mkdtempSync(join(tmpdir(), 'lc-shared-stories-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** One float16 step at the magnitude of x (the spacing of halfs near |x|). */
function f16Ulp(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

describe.skipIf(!stories)('shared prefixes on stories260k', () => {
  const manifests: Record<string, Manifest> = {};
  beforeAll(() => {
    for (const [id, extra] of [['shared', []], ['plain', ['--share-prefixes', '0']]] as const) {
      const r = runCli('precompute-logits', [
        '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', root, '--dataset-id', id,
        '--preset', 'compact', '--quiet', ...extra,
      ]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      manifests[id] = JSON.parse(readFileSync(join(root, id, 'manifest.json'), 'utf8'));
    }
  }, 600_000);

  it('shares 30% of the positions, is smaller, and reads back the plain dataset within one f16 step', async () => {
    const { shared: m, plain } = manifests;
    expect(m.formatVersion).toBe('2.5');
    expect(plain.formatVersion).toBe('2.4');
    expect(m.tokenCount).toBe(plain.tokenCount);
    const ds = await CheckedDataset.open(join(root, 'shared'));
    let sharedPositions = 0;
    const perShard: number[] = [];
    for (const s of m.shards) {
      let n = 0;
      for (let b = s.firstBatch; b < s.firstBatch + s.batchCount; b++) n += (await ds.sharedPositions(b))!.shared;
      perShard.push(n);
      sharedPositions += n;
    }
    await ds.close();
    // The counts precompute recorded are the stored prefix_len's, and what inspect reports.
    expect(m.shards.map((s) => s.sharedPositions)).toEqual(perShard);
    expect(m.stats.sharedPositions).toBe(sharedPositions);
    expect(plain.stats.sharedPositions).toBeUndefined();
    const inspected = runCli('logit-cache', ['inspect', join(root, 'shared'), '--json']);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ sharedPositions, storedPositions: m.tokenCount - sharedPositions });
    const fraction = sharedPositions / m.tokenCount;
    console.log(`stories260k compact: ${m.stats.bytesPerToken.toFixed(2)} B/token shared (${(100 * fraction).toFixed(1)}% of positions shared), ${plain.stats.bytesPerToken.toFixed(2)} without`);
    expect(fraction).toBeGreaterThan(0.2);
    expect(m.stats.bytesPerToken).toBeLessThan(plain.stats.bytesPerToken * (1 - fraction / 2));
    const a = await DatasetReader.open(join(root, 'shared'));
    const b = await DatasetReader.open(join(root, 'plain'));
    let idMismatch = 0, positions = 0, maxSteps = 0;
    try {
      for (let batch = 0; batch < a.batchCount; batch++) {
        const x = await a.readBatch(batch), y = await b.readBatch(batch);
        expect(Array.from(x.inputIds)).toEqual(Array.from(y.inputIds));
        const k = m.topk.k;
        for (let t = 0; t < x.inputIds.length; t++) {
          positions++;
          for (let r = 0; r < k; r++) {
            const i = t * k + r;
            maxSteps = Math.max(maxSteps, Math.abs(x.topkLogprobs[i] - y.topkLogprobs[i]) / f16Ulp(y.topkLogprobs[i]));
            if (x.topkIds[i] === y.topkIds[i]) continue;
            idMismatch++;
            // Another order is only allowed between entries whose log-probabilities are within one step of a tie.
            const near = [i - 1, i + 1].filter((j) => j >= t * k && j < t * k + k)
              .some((j) => Math.abs(y.topkLogprobs[j] - y.topkLogprobs[i]) <= 2 * f16Ulp(y.topkLogprobs[i]));
            expect(near, `batch ${batch} token ${t} rank ${r}: id ${x.topkIds[i]} vs ${y.topkIds[i]}`).toBe(true);
          }
        }
      }
    } finally {
      await a.close();
      await b.close();
    }
    console.log(`stories260k compact shared vs plain: max ${maxSteps.toFixed(2)} float16 steps apart, ${idMismatch} of ${positions * m.topk.k} ids in another order (near ties)`);
    expect(positions).toBe(m.tokenCount);
    expect(maxSteps).toBeLessThanOrEqual(1);
    expect(idMismatch).toBeLessThan(positions * 0.001);
    const v = runCli('logit-cache', ['verify', join(root, 'shared'), '--quiet']);
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, checked: m.batchCount });
  });
});

describe.skipIf(!stories)('recorded shared-position counts on stories260k with two workers', () => {
  it('two --num-workers 2 processes record the counts of one process, byte for byte, and they are the decoded ones', async () => {
    const run = (out: string, extra: string[]) => {
      const r = runCli('precompute-logits', [
        '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', out, '--dataset-id', 'st',
        '--preset', 'compact', '--batches-per-shard', '4', '--quiet', ...extra,
      ]);
      // The first worker says which shards it waits for; nothing else is written to stderr.
      expect(r.stderr.replace(/^precompute-logits: worker 0 of 2 done; waiting for shards [0-9, ]+[^\n]*\n/, '')).toBe('');
      expect(r.status).toBe(0);
    };
    run(join(root, 'one'), []);
    run(join(root, 'two'), ['--num-workers', '2', '--worker-index', '0']);
    run(join(root, 'two'), ['--num-workers', '2', '--worker-index', '1']);
    const text = readFileSync(join(root, 'one', 'st', 'manifest.json'), 'utf8');
    expect(readFileSync(join(root, 'two', 'st', 'manifest.json'), 'utf8')).toBe(text);
    const m = JSON.parse(text) as Manifest;
    const ds = await CheckedDataset.open(join(root, 'two', 'st'));
    const decoded: number[] = [];
    try {
      for (const s of m.shards) {
        let n = 0;
        for (let b = s.firstBatch; b < s.firstBatch + s.batchCount; b++) n += (await ds.sharedPositions(b))!.shared;
        decoded.push(n);
      }
    } finally {
      await ds.close();
    }
    expect(m.shards.length).toBeGreaterThan(2);
    expect(decoded.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(m.shards.map((s) => s.sharedPositions)).toEqual(decoded);
    expect(m.stats.sharedPositions).toBe(decoded.reduce((a, n) => a + n, 0));
  }, 600_000);
});
