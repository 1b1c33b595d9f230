// The topk_tail_logprob column through the real writer and the checked reader: exact round trip
// beside every value encoding, refusals before anything is written, and a manifest that
// disagrees with a shard's schema about the column.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetReader, DatasetWriter, type TopkBatch, type TopkLayout, type ValueEncoding } from '../../src/shard/index.js';
import { makeBatch } from './make-batch.js';

const root = mkdtempSync(join(tmpdir(), 'lc-tail-shard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function withTail(b: TopkBatch, seed: number): TopkBatch {
  const tokens = b.inputIds.length;
  const tail = new Float32Array(tokens);
  for (let t = 0; t < tokens; t++) tail[t] = -((t * 7919 + seed) % 1000) / 13 - 1e-3;
  return { ...b, tailLogprobs: tail };
}

function write(id: string, layout: TopkLayout, batches: TopkBatch[]) {
  const w = new DatasetWriter({ root, datasetId: id, layout, codec: 'zstd', batchSize: batches[0].offsets.length - 1, batchesPerShard: 2, runConfig: {} });
  for (const b of batches) w.append(b);
  return w.finish({
    teacher: { file: 't.onnx', sha256: '0'.repeat(64), vocabSize: layout.vocabSize },
    source: { file: 's.jsonl', sha256: '1'.repeat(64), samples: batches.reduce((a, b) => a + b.offsets.length - 1, 0), tokens: batches.reduce((a, b) => a + b.inputIds.length, 0) },
  });
}

describe('topk_tail_logprob column', () => {
  for (const values of ['f32', 'f16', 'q8', 'rank-delta'] as ValueEncoding[]) {
    it(`round-trips bit-exactly beside ${values} values, empty samples included; manifest 2.1`, async () => {
      const k = 8;
      const layout: TopkLayout = { k, vocabSize: 512, values, ...(values === 'q8' ? { q8Scale: 0.1 } : {}), tailMass: true };
      const batches = [0, 1, 2].map((i) => withTail(makeBatch({ lengths: [3, 0, 5], k, vocabSize: 512, firstSample: i * 3, seed: i }), i));
      const manifest = write(`rt-${values}`, layout, batches);
      expect(manifest.formatVersion).toBe('2.1');
      expect(manifest.topk.tailMass).toBe(true);
      const reader = await DatasetReader.open(join(root, `rt-${values}`));
      for (let b = 0; b < batches.length; b++) {
        const got = await reader.readBatch(b);
        expect(Array.from(got.tailLogprobs!)).toEqual(Array.from(batches[b].tailLogprobs!));
        expect(Array.from(got.offsets)).toEqual(Array.from(batches[b].offsets));
      }
      await reader.close();
    });
  }

  it('a dataset without it stays 2.0 and its batches have no tailLogprobs', async () => {
    const manifest = write('plain', { k: 4, vocabSize: 64, values: 'f16' }, [makeBatch({ lengths: [2, 3], k: 4, vocabSize: 64, firstSample: 0, seed: 1 })]);
    expect(manifest.formatVersion).toBe('2.0');
    expect(manifest.topk.tailMass).toBeUndefined();
    const reader = await DatasetReader.open(join(root, 'plain'));
    expect((await reader.readBatch(0)).tailLogprobs).toBeUndefined();
    await reader.close();
  });

  it('refuses a NaN or positive tail, a missing one, and one the layout does not store, before writing', () => {
    const layout: TopkLayout = { k: 4, vocabSize: 64, values: 'f16', tailMass: true };
    const good = withTail(makeBatch({ lengths: [2, 3], k: 4, vocabSize: 64, firstSample: 0, seed: 2 }), 0);
    const nan = { ...good, tailLogprobs: good.tailLogprobs!.slice() };
    nan.tailLogprobs[3] = NaN;
    expect(() => write('nan', layout, [nan])).toThrow(/sample 1, position 1: tail log-probability NaN is NaN or above 0/);
    const pos = { ...good, tailLogprobs: good.tailLogprobs!.slice() };
    pos.tailLogprobs[0] = 0.5;
    expect(() => write('pos', layout, [pos])).toThrow(/sample 0, position 0: tail log-probability 0.5/);
    expect(() => write('missing', layout, [{ ...good, tailLogprobs: undefined }])).toThrow(/topk_tail_logprob has no entries, expected one per token \(5\)/);
    expect(() => write('extra', { ...layout, tailMass: false }, [good])).toThrow(/not opened with tail mass/);
    for (const id of ['nan', 'pos', 'missing', 'extra']) expect(existsSync(join(root, id, 'manifest.json'))).toBe(false);
  });

  it('the checked reader refuses a manifest that disagrees with the shard schema about the column', async () => {
    write('liar', { k: 4, vocabSize: 64, values: 'f16' }, [makeBatch({ lengths: [2, 3], k: 4, vocabSize: 64, firstSample: 0, seed: 3 })]);
    const file = join(root, 'liar', 'manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    m.topk.tailMass = true;
    writeFileSync(file, JSON.stringify(m));
    const reader = await DatasetReader.open(join(root, 'liar'));
    await expect(reader.readBatch(0)).rejects.toThrow(/tail mass false, manifest .* tail mass true/);
    await reader.close();
  });
});
