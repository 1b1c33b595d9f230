// rank-delta through the real writer and both readers: TS values are the float16 rounding at the
// f16 ranks and within half a grid step below them; Python (pyarrow + logit_cache.encodings)
// decodes the very same bits; the manifest and the shard schema must agree on the parameters.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Field, RecordBatchReader, Schema, Uint64 } from 'apache-arrow';
import { buildApp } from '../../../src/server/index.js';
import { fromRecordBatch } from '../../../src/shard/record-batch.js';
import { afterAll, describe, expect, it } from 'vitest';
import { type CodecName, DatasetReader, layoutFromSchema, type TopkLayout } from '../../../src/shard/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../../../src/shard/float16.js';
import { findPython, repoRoot } from '../../python.js';
import { writeFixture } from '../fixture.js';

const root = mkdtempSync(join(tmpdir(), 'lc-encodings-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cases: { id: string; layout: TopkLayout; codec: CodecName }[] = [
  { id: 'f16-all', layout: { k: 8, vocabSize: 32000, values: 'rank-delta', f16Ranks: 8 }, codec: 'zstd' },
  { id: 'grid', layout: { k: 8, vocabSize: 512, values: 'rank-delta', f16Ranks: 0, gridStep: 0.25 }, codec: 'lz4' },
  { id: 'mixed', layout: { k: 5, vocabSize: 70000, values: 'rank-delta', f16Ranks: 2, gridStep: 0.099 }, codec: 'none' },
];

// Empty and one-token samples beside long ones.
const seqLen = (s: number): number => (s % 9 === 0 ? 0 : s % 5 === 0 ? 1 : 30 + (s * 17) % 90);

describe('rank-delta shards', () => {
  const expected: { dir: string; batches: Record<string, { topkLogprobs: number[] }> }[] = [];

  for (const c of cases) {
    it(`${c.id}: f16 ranks exact, grid ranks within step/2, manifest records the parameters`, async () => {
      const { dir, manifest, batches } = writeFixture({ root, datasetId: c.id, layout: c.layout, codec: c.codec, batches: 5, batchSize: 6, batchesPerShard: 2, seqLen });
      expect(manifest.topk.values).toBe('rank-delta');
      expect(manifest.topk.f16Ranks).toBe(c.layout.f16Ranks);
      expect(manifest.topk.gridStep).toBe(c.layout.f16Ranks! < c.layout.k ? c.layout.gridStep : undefined);
      const reader = await DatasetReader.open(dir);
      const seen: Record<string, { topkLogprobs: number[] }> = {};
      const k = c.layout.k;
      let f16Checked = 0, gridChecked = 0;
      for (const [b, want] of batches.entries()) {
        const got = await reader.readBatch(b);
        expect(Array.from(got.topkIds)).toEqual(Array.from(want.topkIds));
        const rounded = float16ToFloat32(float32ToFloat16(want.topkLogprobs));
        for (let i = 0; i < want.topkLogprobs.length; i++) {
          if (i % k < c.layout.f16Ranks!) {
            expect(got.topkLogprobs[i]).toBe(rounded[i] === 0 ? -0 : rounded[i]);
            f16Checked++;
          } else {
            expect(Math.abs(got.topkLogprobs[i] - want.topkLogprobs[i])).toBeLessThanOrEqual(c.layout.gridStep! / 2 + 1e-5);
            gridChecked++;
          }
        }
        seen[b] = { topkLogprobs: Array.from(got.topkLogprobs) };
      }
      await reader.close();
      expect(f16Checked + gridChecked).toBe(manifest.tokenCount * k);
      expected.push({ dir, batches: seen });
    });
  }

  const { python, reason } = findPython();
  if (!python) console.log(`skipping Python decoding of rank-delta: ${reason}`);
  it.skipIf(!python)('Python decodes the same bits with pyarrow + logit_cache.encodings, and refuses unknown encodings by name', () => {
    expect(expected.length).toBe(cases.length);
    const path = join(root, 'expected.json');
    writeFileSync(path, JSON.stringify(expected));
    const run = spawnSync(python!, [join(import.meta.dirname, 'read_encoded.py'), path], {
      encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(repoRoot, 'clients/python') },
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/encodings ok: 3 datasets, 15 batches/);
    expect(run.status).toBe(0);
  });

  it('the server serves rank-delta batches: the Arrow stream as stored, JSON decoded like the reader', async () => {
    const { dir, manifest } = writeFixture({ root, datasetId: 'served', layout: cases[2].layout, codec: 'zstd', batches: 3, batchSize: 4, batchesPerShard: 2, seqLen });
    const app = buildApp({ root });
    const reader = await DatasetReader.open(dir);
    try {
      for (let b = 0; b < manifest.batchCount; b++) {
        const stored = await reader.readBatch(b);
        const arrow = await app.inject({ url: `/logits/served/${b}` });
        expect(arrow.statusCode).toBe(200);
        const rb = RecordBatchReader.from(arrow.rawPayload).next().value;
        expect(Array.from(fromRecordBatch(rb, layoutFromSchema(rb.schema, 'served'), 'served').topkLogprobs)).toEqual(Array.from(stored.topkLogprobs));
        const json = await app.inject({ url: `/logits/served/${b}?format=json` });
        expect(json.statusCode).toBe(200);
        const lp = json.json().rows.flatMap((r: { topkLogprobs: number[][] }) => r.topkLogprobs.flat());
        expect(lp).toEqual(Array.from(stored.topkLogprobs, (x) => x + 0));
      }
    } finally {
      await reader.close();
      await app.close();
    }
  });

  it('refuses a shard whose rank-delta parameters differ from the manifest', async () => {
    const { dir } = writeFixture({ root, datasetId: 'tampered', layout: cases[1].layout, codec: 'lz4', batches: 2, batchSize: 3, batchesPerShard: 2, seqLen });
    const mPath = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(mPath, 'utf8'));
    m.topk.gridStep = 0.3;
    writeFileSync(mPath, JSON.stringify(m));
    const reader = await DatasetReader.open(dir);
    await expect(reader.readBatch(0)).rejects.toThrow(/schema says/);
    await reader.close();
  });

  it('refuses unknown value encodings and bad rank-delta parameters by name', () => {
    const schema = (meta: Record<string, string>) => new Schema([new Field('sample_id', new Uint64())], new Map(Object.entries({
      'logit_cache.format_version': '2.0', 'logit_cache.k': '8', 'logit_cache.vocab_size': '512', ...meta,
    })));
    expect(() => layoutFromSchema(schema({ 'logit_cache.values': 'zigzag-9' }), 's')).toThrow(/unknown value encoding "zigzag-9"/);
    expect(() => layoutFromSchema(schema({ 'logit_cache.values': 'f16', 'logit_cache.ids': 'huffman' }), 's')).toThrow(/unknown id encoding "huffman"/);
    expect(() => layoutFromSchema(schema({ 'logit_cache.values': 'rank-delta', 'logit_cache.f16_ranks': '9' }), 's')).toThrow(/f16 ranks must be an integer in \[0, k=8\]/);
    expect(() => layoutFromSchema(schema({ 'logit_cache.values': 'rank-delta', 'logit_cache.f16_ranks': '2' }), 's')).toThrow(/grid step must be a positive number/);
    expect(() => layoutFromSchema(schema({ 'logit_cache.values': 'rank-delta', 'logit_cache.f16_ranks': '8' }), 's')).toThrow(/missing column input_ids/);
  });
});
