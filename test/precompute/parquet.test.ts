// The commands end to end on the real stories260k teacher: precompute-logits --shard-format
// parquet, then inspect and verify on the Parquet dataset, a damaged shard failing verify,
// the same command finding the dataset complete, and the other format refused by name.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorCode, runCli } from '../cli.js';
import { findStories } from '../python.js';

const { dir: stories, reason } = findStories();
if (!stories) console.log(`skipping precompute --shard-format parquet test: ${reason}`);
const root = mkdtempSync(join(tmpdir(), 'lc-pq-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!stories)('precompute-logits --shard-format parquet', () => {
  it('writes Parquet shards that inspect and verify read; a damaged one fails verify naming it', () => {
    // The first 40 stories keep the test short.
    const data = join(root, 'stories40.jsonl');
    writeFileSync(data, readFileSync(join(stories!, 'stories.jsonl'), 'utf8').split('\n').slice(0, 40).join('\n') + '\n');
    const args = ['--model', join(stories!, 'model.onnx'), '--data', data, '--out', root, '--dataset-id', 'pq', '--top-k', '8',
      '--batch-size', '8', '--batches-per-shard', '2', '--tail-mass', '--shard-format', 'parquet', '--quiet'];
    const run = runCli('precompute-logits', args);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ samples: 40, batches: 5, shards: 3, complete: true });
    const dir = join(root, 'pq');

    const inspect = runCli('logit-cache', ['inspect', dir, '--json', '--batches']);
    expect(inspect.status).toBe(0);
    const summary = JSON.parse(inspect.stdout);
    expect(summary).toMatchObject({ formatVersion: '2.2', shardFormat: 'parquet', batches: 5, shards: 3, k: 8 });
    expect(summary.shardFiles.map((s: { file: string }) => s.file)).toEqual(['shards/shard-000000.parquet', 'shards/shard-000001.parquet', 'shards/shard-000002.parquet']);
    // Row group ranges start right after the leading "PAR1" and follow one another.
    const rows = summary.shardFiles[0].batchRows as { offset: number; length: number }[];
    expect(rows[0].offset).toBe(4);
    expect(rows[1].offset).toBe(rows[0].offset + rows[0].length);
    expect(runCli('logit-cache', ['inspect', dir]).stdout).toMatch(/shards {2,}3 \(parquet files\)/);

    const ok = runCli('logit-cache', ['verify', dir, '--quiet']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, batches: 5, checked: 5, problems: 0 });

    const again = runCli('precompute-logits', args);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyComplete: true, computedTokens: 0 });
    const arrow = runCli('precompute-logits', args.map((a) => (a === 'parquet' ? 'arrow' : a)));
    expect(arrow.status).toBe(1);
    // The other shard format is refused by name, with the way out.
    expect(errorCode(arrow.stderr)).toBe('LC_ERR_DATASET_SETTINGS');
    expect(arrow.stderr).toContain('holds parquet shards; this run writes arrow (--shard-format arrow); resume with --shard-format parquet, or use --overwrite');

    const file = join(dir, 'shards/shard-000001.parquet');
    const bytes = readFileSync(file);
    bytes[bytes.length - 40] ^= 1; // in the footer
    writeFileSync(file, bytes);
    const bad = runCli('logit-cache', ['verify', dir, '--quiet']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('FAIL shards/shard-000001.parquet: sha256');
    expect(bad.stderr).toContain('FAIL shards/shard-000001.parquet: shard shards/shard-000001.parquet: Parquet tail (footer) sha256');
  });
});
