// precompute-logits --top-p / --min-k end to end on the real teacher (stories260k): the kept
// counts are exactly the rule applied to the fixed-k run's float32 log-probs, the kept entries
// are that run's, the tail with trimming is the float64 log mass outside the kept set, P = 1
// equals fixed k, the files are smaller, bad flags are refused by name, and the Python client
// reads the same thing and computes finite losses.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetReader, type TopkBatch } from '../../src/shard/index.js';
import { errorCode, runCli } from '../cli.js';
import { findPythonClient, findStories, runPythonAsync } from '../python.js';
import { tailErrors } from './tail-reference.js';

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping top-p precompute test: ${reason}`);
const { python, reason: noClient } = findPythonClient();
const clientOk = python !== null;
if (!clientOk) console.log(`skipping the Python half of the top-p test: ${noClient}`);
const root = mkdtempSync(join(tmpdir(), 'lc-topp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const K = 32;
const args = (id: string, extra: string[]) => [
  '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', root, '--dataset-id', id,
  '--top-k', String(K), '--max-seq-len', '24', '--batch-size', '64', '--batches-per-shard', '4', '--quiet', ...extra,
];
const run = (id: string, extra: string[]) => {
  const r = runCli('precompute-logits', args(id, extra));
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(readFileSync(join(root, id, 'manifest.json'), 'utf8'));
};

/** The rule, written out from scratch: the first n in [minK, k] whose float64 prefix sum reaches P. */
function expectedCount(lp: Float32Array, base: number, topP: number, minK: number): number {
  for (let n = minK; n <= K; n++) {
    let mass = 0;
    for (let r = 0; r < n; r++) mass += Math.exp(lp[base + r]);
    if (mass >= topP) return n;
  }
  return K;
}

describe.skipIf(!stories)('precompute-logits --top-p', () => {
  let fixed: DatasetReader, ragged: DatasetReader;
  let fixedManifest: { stats: { bytesPerToken: number } }, raggedManifest: { formatVersion: string; topk: Record<string, unknown>; stats: { bytesPerToken: number; meanTopkMass: number } };
  beforeAll(async () => {
    fixedManifest = run('fixed', ['--values', 'f32', '--tail-mass']);
    raggedManifest = run('ragged', ['--values', 'f32', '--tail-mass', '--top-p', '0.9', '--min-k', '2']);
    fixed = await DatasetReader.open(join(root, 'fixed'));
    ragged = await DatasetReader.open(join(root, 'ragged'));
  }, 120_000);
  afterAll(async () => { await fixed?.close(); await ragged?.close(); });

  it('keeps exactly the smallest prefix reaching P (at least min-k) of the fixed-k run, and writes format 2.3', async () => {
    expect(raggedManifest.formatVersion).toBe('2.3');
    expect(raggedManifest.topk).toMatchObject({ k: K, topP: 0.9, minK: 2, tailMass: true });
    let positions = 0, kept = 0, atMin = 0, atMax = 0;
    for (let b = 0; b < fixed.batchCount; b++) {
      const f = await fixed.readBatch(b), r = await ragged.readBatch(b);
      for (let t = 0; t < f.inputIds.length; t++) {
        const n = expectedCount(f.topkLogprobs, t * K, 0.9, 2);
        expect(r.topkCounts![t]).toBe(n);
        for (let j = 0; j < n; j++) {
          expect(r.topkIds[t * K + j]).toBe(f.topkIds[t * K + j]);
          expect(r.topkLogprobs[t * K + j]).toBe(f.topkLogprobs[t * K + j]);
        }
        positions++; kept += n;
        if (n === 2) atMin++;
        if (n === K) atMax++;
      }
    }
    console.log(`top-p 0.9 min-k 2 on stories260k: ${positions} positions, mean kept ${(kept / positions).toFixed(2)}, ${atMin} at min-k, ${atMax} at k`);
    expect(atMin).toBeGreaterThan(0);
    expect(kept / positions).toBeLessThan(K);
    // The manifest's mean mass is of the stored (kept) entries: at least P wherever k was not the limit.
    expect(raggedManifest.stats.meanTopkMass).toBeGreaterThan(0.85);
    expect(raggedManifest.stats.bytesPerToken).toBeLessThan(fixedManifest.stats.bytesPerToken / 2);
  });

  it('the stored tail is the log mass outside the kept set, within 1e-4 nats of float64 over the full logits', async () => {
    const b0 = await ragged.readBatch(0);
    const { worst, compared } = await tailErrors(join(stories!, 'model.onnx'), b0, K, (t) => b0.topkCounts![t]);
    let trimmed = 0;
    for (let t = 0; t < b0.offsets[8]; t++) if (b0.topkCounts![t] < K) trimmed++;
    console.log(`tail with trimming: ${compared} positions (${trimmed} trimmed), worst |error| ${worst.toExponential(2)} nats`);
    expect(compared).toBeGreaterThan(50);
    expect(trimmed).toBeGreaterThan(25);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('--top-p 1 decodes exactly like fixed k (every count k); the Python client agrees and its losses are finite', async () => {
    run('p1', ['--tail-mass', '--top-p', '1']);
    run('fixed16', ['--tail-mass']);
    const a = await DatasetReader.open(join(root, 'p1')), b = await DatasetReader.open(join(root, 'fixed16'));
    for (let i = 0; i < a.batchCount; i++) {
      const x = await a.readBatch(i), y = await b.readBatch(i);
      expect(x.topkCounts!.every((c) => c === K)).toBe(true);
      expect(Buffer.from(x.topkIds.buffer, x.topkIds.byteOffset, x.topkIds.byteLength).equals(Buffer.from(y.topkIds.buffer, y.topkIds.byteOffset, y.topkIds.byteLength))).toBe(true);
      expect(Array.from(x.topkLogprobs)).toEqual(Array.from(y.topkLogprobs));
    }
    await a.close();
    await b.close();
    if (!clientOk) return;
    const r0: TopkBatch = await ragged.readBatch(0);
    const expected = join(root, 'expected.json');
    writeFileSync(expected, JSON.stringify({
      k: K, vocab: 512, offsets: Array.from(r0.offsets), counts: Array.from(r0.topkCounts!), ids: Array.from(r0.topkIds),
      logprobs: Array.from(r0.topkLogprobs, (v) => (Number.isFinite(v) ? v : null)),
    }));
    const out = await runPythonAsync(python!, [join(import.meta.dirname, '../client/read_top_p.py'), join(root, 'ragged'), join(root, 'p1'), join(root, 'fixed16'), expected]);
    console.log(out.stdout.trim());
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^top-p ok: \d+ positions/);
  }, 120_000);

  it('refuses bad flags by name before the teacher runs, and will not resume a run with other top-p settings', () => {
    for (const [extra, msg] of [
      [['--top-p', '0'], /--top-p 0 must be in \(0, 1\]/],
      [['--top-p', '1.5'], /--top-p 1\.5 must be in \(0, 1\]/],
      [['--top-p', '0.9', '--min-k', '33'], /--min-k 33 is more than --top-k 32/],
      [['--top-p', '0.9', '--min-k', '0'], /--min-k 0 must be an integer >= 1/],
      [['--min-k', '4'], /--min-k applies only with --top-p/],
    ] as const) {
      const r = runCli('precompute-logits', args('bad', [...extra]));
      expect(r.status).toBe(2);
      expect(errorCode(r.stderr)).toBe('LC_ERR_USAGE');
      expect(r.stderr).toMatch(msg);
    }
    const other = runCli('precompute-logits', args('ragged', ['--values', 'f32', '--tail-mass', '--top-p', '0.95', '--min-k', '2']));
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/other settings \(.*topP/);
  });
});
