// Several workers share one dataset: each writes its own shards, the last writes the manifest,
// and the result is byte-identical to a single-process run.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../cli.js';
import { findStories } from '../python.js';

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping multi-worker tests: ${reason}`);
const root = mkdtempSync(join(tmpdir(), 'lc-workers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const args = (out: string, extra: string[] = []) => [
  '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', out, '--dataset-id', 'st',
  '--batch-size', '16', '--batches-per-shard', '3', '--max-seq-len', '64', '--quiet', ...extra,
];

function files(dir: string): Map<string, Buffer> {
  const out = new Map([['manifest.json', readFileSync(join(dir, 'manifest.json'))]]);
  for (const f of readdirSync(join(dir, 'shards'))) out.set(f, readFileSync(join(dir, 'shards', f)));
  return out;
}

function expectSame(a: Map<string, Buffer>, b: Map<string, Buffer>): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes), name).toBe(true);
}

describe.skipIf(!stories)('precompute with several workers', () => {
  let reference: Map<string, Buffer>;
  beforeAll(() => {
    expect(runCli('precompute-logits', args(join(root, 'one'))).status).toBe(0);
    reference = files(join(root, 'one', 'st'));
  });

  it('worker by worker: the first leaves no manifest, finalize names what is missing, the last completes', () => {
    const out = join(root, 'seq');
    const w0 = runCli('precompute-logits', args(out, ['--num-workers', '2', '--worker-index', '0']));
    expect(w0.status).toBe(0);
    const s0 = JSON.parse(w0.stdout);
    expect(s0.complete).toBe(false);
    expect(s0.pendingShards).toEqual(Array.from({ length: s0.shards }, (_, i) => i).filter((i) => i % 2 === 1));
    expect(w0.stderr).toMatch(/worker 0 of 2 done; waiting for shards 1, 3/);
    expect(existsSync(join(out, 'st', 'manifest.json'))).toBe(false);

    const fin = runCli('logit-cache', ['finalize', join(out, 'st')]);
    expect(fin.status).toBe(1);
    expect(JSON.parse(fin.stdout).missingShards).toEqual(s0.pendingShards);

    // The worker index can come from a Kubernetes Indexed Job's environment.
    const w1 = runCli('precompute-logits', args(out, ['--num-workers', '2']), { JOB_COMPLETION_INDEX: '1' });
    expect(w1.status).toBe(0);
    expect(JSON.parse(w1.stdout)).toMatchObject({ complete: true, pendingShards: [] });
    expectSame(reference, files(join(out, 'st')));
    expect(runCli('logit-cache', ['verify', join(out, 'st'), '--quiet']).status).toBe(0);
  });

  it('three workers at once end byte-identical to one process', async () => {
    const out = join(root, 'par');
    const children = [0, 1, 2].map((i) => startCli('precompute-logits', args(out, ['--num-workers', '3', '--worker-index', String(i)])));
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((res) => c.on('exit', res))));
    expect(codes).toEqual([0, 0, 0]);
    expectSame(reference, files(join(out, 'st')));
    expect(existsSync(join(out, 'st', '.partial'))).toBe(false);
  });

  it('refuses a worker index outside 0..N-1 and --overwrite with several workers', () => {
    const bad = runCli('precompute-logits', args(join(root, 'bad'), ['--num-workers', '2', '--worker-index', '2']));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--worker-index 2 must be an integer from 0 to 1/);
    const ow = runCli('precompute-logits', args(join(root, 'bad'), ['--num-workers', '2', '--overwrite']));
    expect(ow.status).toBe(2);
    expect(ow.stderr).toMatch(/--overwrite cannot be combined with --num-workers/);
  });
});
