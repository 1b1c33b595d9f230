// `logit-cache inspect` reads through the checked reader: per-batch rows come from the index
// files, and a damaged index is refused naming the shard rather than printed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { writeFixture } from './fixture.js';
import { indexRows } from './index-rows.js';

const root = mkdtempSync(join(tmpdir(), 'lc-inspect-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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
