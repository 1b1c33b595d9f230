// `logit-cache inspect` reads through the checked reader: per-batch rows come from the index
// files, and a damaged index is refused naming the shard rather than printed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { writeFixture } from './fixture.js';
import { indexRows } from './index-rows.js';
import { makeBatch } from './make-batch.js';
import { DatasetWriter } from '../../src/shard/index.js';

const root = mkdtempSync(join(tmpdir(), 'lc-inspect-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A small tail-mass (format 2.1) dataset: writeFixture's batches carry no tail column. */
function writeTailDataset(id: string): string {
  const w = new DatasetWriter({ root, datasetId: id, layout: { k: 4, vocabSize: 300, values: 'f16', tailMass: true }, codec: 'lz4', batchSize: 2, batchesPerShard: 2, runConfig: {} });
  const b = makeBatch({ lengths: [3, 5], k: 4, vocabSize: 300, firstSample: 0, seed: 5 });
  w.append({ ...b, tailLogprobs: new Float32Array(8).fill(-3) });
  w.finish({ teacher: { file: 't', sha256: 'a'.repeat(64), vocabSize: 300 }, source: { file: 's', sha256: 'b'.repeat(64), samples: 2, tokens: 8 } });
  return join(root, id);
}

describe('logit-cache inspect', () => {
  it('summarizes the manifest and, with --batches, lists every batch from the checked indexes', () => {
    const { dir, manifest } = writeFixture({ root, datasetId: 'ins', batches: 5, batchesPerShard: 2 });
    const r = runCli('logit-cache', ['inspect', dir, '--json', '--batches']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ datasetId: 'ins', formatVersion: '2.0', batches: 5, shards: 3 });
    expect(out.indexBytes).toBe(manifest.shards.reduce((a, s) => a + s.index.bytes, 0));
    const rows = out.shardFiles.flatMap((s: { batchRows: unknown[] }) => s.batchRows);
    expect(rows).toEqual(indexRows(dir, manifest).map((x) => ({
      batch: x.batch, offset: x.offset, length: x.length, samples: x.samples, tokens: x.tokens, messageSha256: x.sha256, streamSha256: x.streamSha256,
    })));
    const text = runCli('logit-cache', ['inspect', dir, '--batches']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/shards\/shard-000002\.arrow {2}batches 4\.\.4 {2}\d+ bytes {2}index \d+ bytes\n {4}batch 4 {2}at \d+\+\d+ {2}4 samples/);
  });

  it('shows the encodings and their parameters: rank-delta f16Ranks/gridStep, ctx-table ids, the tail-mass flag', () => {
    const { dir } = writeFixture({ root, datasetId: 'enc', batches: 3, layout: { k: 8, vocabSize: 512, values: 'rank-delta', f16Ranks: 2, gridStep: 0.25, ids: 'ctx-table' } });
    const out = JSON.parse(runCli('logit-cache', ['inspect', dir, '--json']).stdout);
    expect(out).toMatchObject({ formatVersion: '2.4', values: 'rank-delta', f16Ranks: 2, gridStep: 0.25, ids: 'ctx-table', tailMass: false });
    const text = runCli('logit-cache', ['inspect', dir]).stdout;
    expect(text).toMatch(/top-k +k=8, values rank-delta \(f16Ranks 2, gridStep 0\.25\), ids ctx-table \(uint16\)\n/);
    expect(text).toMatch(/tail mass +no\n/);
    const tailDir = writeTailDataset('tail');
    const t = JSON.parse(runCli('logit-cache', ['inspect', tailDir, '--json']).stdout);
    expect(t).toMatchObject({ formatVersion: '2.1', values: 'f16', ids: 'plain', tailMass: true });
    expect(t.f16Ranks).toBeUndefined();
    expect(runCli('logit-cache', ['inspect', tailDir]).stdout).toMatch(/tail mass +yes \(topk_tail_logprob, format 2\.1\)\n/);
  });

  it('exits 1 naming the shard when an index does not match its manifest hash', () => {
    const { dir, manifest } = writeFixture({ root, datasetId: 'bad', batches: 5, batchesPerShard: 2 });
    const idx = join(dir, manifest.shards[1].index.file);
    const bytes = readFileSync(idx);
    bytes[bytes.length - 20] ^= 1;
    writeFileSync(idx, bytes);
    expect(runCli('logit-cache', ['inspect', dir]).status).toBe(0); // the summary needs no index
    const r = runCli('logit-cache', ['inspect', dir, '--batches']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/shard shards\/shard-000001\.arrow: index shards\/shard-000001\.idx\.arrow sha256 [0-9a-f]{64} does not match manifest/);
  });
});
