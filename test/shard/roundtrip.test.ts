// Property: whatever shapes, encodings and codecs, the reader returns what the writer took.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetReader, DatasetWriter, type TopkBatch, type ValueEncoding, CODECS, VALUE_ENCODINGS } from '../../src/shard/index.js';
import { makeBatch } from './make-batch.js';

const root = mkdtempSync(join(tmpdir(), 'lc-roundtrip-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Largest decode error each encoding may introduce for a log-probability x. */
function tolerance(values: ValueEncoding, x: number): number {
  switch (values) {
    case 'f32': return 0;
    case 'f16': return Math.max(Math.abs(x) * 2 ** -11, 2 ** -24);
    case 'bf16': return Math.abs(x) * 2 ** -8;
    case 'q8': return x < -25.5 ? Infinity : 0.05 + 1e-6;
  }
}

let seq = 0;
async function writeAndRead(batches: TopkBatch[], opts: { k: number; vocabSize: number; values: ValueEncoding; codec: (typeof CODECS)[number]; perShard: number }) {
  const datasetId = `d${seq++}`;
  const layout = { k: opts.k, vocabSize: opts.vocabSize, values: opts.values, ...(opts.values === 'q8' ? { q8Scale: 0.1 } : {}) };
  const batchSize = batches[0].offsets.length - 1;
  const w = new DatasetWriter({ root, datasetId, layout, codec: opts.codec, batchSize, batchesPerShard: opts.perShard, runConfig: {} });
  for (const b of batches) w.append(b);
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  const samples = batches.reduce((a, b) => a + b.offsets.length - 1, 0);
  const manifest = w.finish({
    teacher: { file: 't.onnx', sha256: '0'.repeat(64), vocabSize: opts.vocabSize },
    source: { file: 's.jsonl', sha256: '1'.repeat(64), samples, tokens },
  });
  const reader = await DatasetReader.open(join(root, datasetId));
  return { manifest, reader };
}

describe('shard round trip', () => {
  it('returns every column as written, for random shapes, encodings and codecs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          vocabSize: fc.constantFrom(3, 512, 65536, 65537),
          kPick: fc.constantFrom('one', 'eight', 'vocab'),
          values: fc.constantFrom(...VALUE_ENCODINGS),
          codec: fc.constantFrom(...CODECS),
          perShard: fc.integer({ min: 1, max: 3 }),
          batchSize: fc.integer({ min: 1, max: 5 }),
          batchCount: fc.integer({ min: 1, max: 4 }),
          lastSize: fc.integer({ min: 1, max: 5 }),
          lengths: fc.array(fc.constantFrom(0, 1, 2, 7, 40), { minLength: 20, maxLength: 20 }),
          seed: fc.integer(),
        }),
        async ({ vocabSize, kPick, values, codec, perShard, batchSize, batchCount, lastSize, lengths, seed }) => {
          // Full batches of batchSize samples, the last possibly shorter, as the format requires.
          const shapes = Array.from({ length: batchCount }, (_, b) =>
            lengths.slice(b * batchSize, b * batchSize + (b === batchCount - 1 ? Math.min(lastSize, batchSize) : batchSize)));
          const k = kPick === 'one' ? 1 : kPick === 'eight' ? Math.min(8, vocabSize) : Math.min(vocabSize, 3);
          let first = 0;
          const batches = shapes.map((lengths, i) => {
            const b = makeBatch({ lengths, k, vocabSize, firstSample: first, seed: seed + i });
            first += lengths.length;
            return b;
          });
          const { manifest, reader } = await writeAndRead(batches, { k, vocabSize, values, codec, perShard });
          try {
            expect(manifest.batchCount).toBe(batches.length);
            expect(manifest.topk.indexType).toBe(vocabSize <= 65536 ? 'uint16' : 'uint32');
            expect(manifest.shards.length).toBe(Math.ceil(batches.length / perShard));
            for (const [b, want] of batches.entries()) {
              const got = await reader.readBatch(b);
              expect(Array.from(got.sampleIds)).toEqual(Array.from(want.sampleIds));
              expect(Array.from(got.offsets)).toEqual(Array.from(want.offsets));
              expect(Array.from(got.inputIds)).toEqual(Array.from(want.inputIds));
              expect(Array.from(got.topkIds)).toEqual(Array.from(want.topkIds));
              expect(got.topkLogprobs.length).toBe(want.topkLogprobs.length);
              for (let i = 0; i < want.topkLogprobs.length; i++) {
                const x = want.topkLogprobs[i];
                expect(Math.abs(got.topkLogprobs[i] - x)).toBeLessThanOrEqual(tolerance(values, x));
              }
            }
          } finally {
            await reader.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('switches the index width exactly above 65536 ids', async () => {
    for (const vocabSize of [65536, 65537]) {
      const b = makeBatch({ lengths: [3], k: 2, vocabSize, firstSample: 0, seed: 1 });
      b.topkIds[0] = vocabSize - 1;
      b.topkIds[1] = vocabSize - 2;
      const { manifest, reader } = await writeAndRead([b], { k: 2, vocabSize, values: 'f32', codec: 'none', perShard: 1 });
      expect(manifest.topk.indexType).toBe(vocabSize === 65536 ? 'uint16' : 'uint32');
      const got = await reader.readBatch(0);
      expect(got.topkIds[0]).toBe(vocabSize - 1);
      expect(got.topkIds instanceof (vocabSize === 65536 ? Uint16Array : Uint32Array)).toBe(true);
      await reader.close();
    }
  });

  it('makes LZ4 shards smaller than uncompressed ones on sequence-like data', async () => {
    const lengths = Array.from({ length: 8 }, () => 256);
    const mk = () => [makeBatch({ lengths, k: 8, vocabSize: 32000, firstSample: 0, seed: 5 })];
    const none = await writeAndRead(mk(), { k: 8, vocabSize: 32000, values: 'f16', codec: 'none', perShard: 1 });
    const lz4 = await writeAndRead(mk(), { k: 8, vocabSize: 32000, values: 'f16', codec: 'lz4', perShard: 1 });
    expect(lz4.manifest.shards[0].bytes).toBeLessThan(none.manifest.shards[0].bytes);
    await none.reader.close();
    await lz4.reader.close();
  });
});
