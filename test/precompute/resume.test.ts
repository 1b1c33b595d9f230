// Resume: a run killed with SIGKILL mid-way and re-run with the same command ends
// byte-identical to an uninterrupted run, and never leaves a manifest behind early.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../cli.js';
import { findStories } from '../python.js';

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping resume test: ${reason}`);
const root = mkdtempSync(join(tmpdir(), 'lc-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const args = (out: string) => [
  '--model', join(stories!, 'model.onnx'), '--data', join(stories!, 'stories.jsonl'), '--out', out, '--dataset-id', 'stories',
  '--batch-size', '8', '--batches-per-shard', '2', '--max-seq-len', '96', '--infer-batch-tokens', '256', '--quiet',
];

function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  out.set('manifest.json', readFileSync(join(dir, 'manifest.json')));
  for (const f of readdirSync(join(dir, 'shards'))) out.set(`shards/${f}`, readFileSync(join(dir, 'shards', f)));
  return out;
}

describe.skipIf(!stories)('resume after SIGKILL', () => {
  it('continues after the last complete shard and ends byte-identical', async () => {
    const reference = runCli('precompute-logits', args(join(root, 'a')));
    expect(reference.status).toBe(0);

    const child = startCli('precompute-logits', args(join(root, 'b')));
    const partial = join(root, 'b', 'stories', '.partial');
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // Kill once a few shards are committed, while later ones are still being computed.
    const deadline = Date.now() + 120_000;
    while (!existsSync(join(partial, 'shard-000004.json')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(child.exitCode).toBe(null);
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(root, 'b', 'stories', 'manifest.json'))).toBe(false);

    const resumed = runCli('precompute-logits', args(join(root, 'b')));
    expect(resumed.status).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.resumedFromBatch).toBeGreaterThanOrEqual(10);
    expect(summary.computedTokens).toBeLessThan(summary.tokens);

    const a = filesOf(join(root, 'a', 'stories'));
    const b = filesOf(join(root, 'b', 'stories'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes), name).toBe(true);
    expect(existsSync(partial)).toBe(false);

    // The same command once more finds the dataset complete and recomputes nothing.
    const again = runCli('precompute-logits', args(join(root, 'b')));
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyComplete: true, computedTokens: 0 });
  });
});
