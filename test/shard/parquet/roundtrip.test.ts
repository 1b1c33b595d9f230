// Parquet shards decode to exactly the batches the Arrow shards of the same data decode to,
// for every value encoding, codec, tail mass on and off, uint16 and uint32 ids.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CodecName, TopkLayout } from '../../../src/shard/types.js';
import { readAll, sameBatches, writePair } from './pair.js';

const root = mkdtempSync(join(tmpdir(), 'lc-pq-rt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cases: [string, TopkLayout, CodecName][] = [
  ['f16 lz4', { k: 8, vocabSize: 512, values: 'f16' }, 'lz4'],
  ['f16 zstd tail mass', { k: 8, vocabSize: 512, values: 'f16', tailMass: true }, 'zstd'],
  ['q8 none', { k: 4, vocabSize: 1000, values: 'q8', q8Scale: 0.2 }, 'none'],
  ['rank-delta zstd tail mass', { k: 8, vocabSize: 512, values: 'rank-delta', f16Ranks: 3, gridStep: 0.25, tailMass: true }, 'zstd'],
  ['f32 uint32 ids lz4', { k: 3, vocabSize: 152064, values: 'f32' }, 'lz4'],
  ['bf16 zstd', { k: 5, vocabSize: 70000, values: 'bf16' }, 'zstd'],
  ['ragged top-p f16 zstd', { k: 8, vocabSize: 512, values: 'f16', topP: 0.6, minK: 2 }, 'zstd'],
  ['ragged top-p rank-delta lz4', { k: 8, vocabSize: 512, values: 'rank-delta', f16Ranks: 8, topP: 0.5, minK: 1 }, 'lz4'],
  // The per-shard id table is built from the first batch and must reach the Parquet footer too.
  ['ctx-table ids rank-delta zstd', { k: 8, vocabSize: 512, values: 'rank-delta', f16Ranks: 8, ids: 'ctx-table' }, 'zstd'],
  ['ctx-table ids f32 uint32 ids lz4', { k: 3, vocabSize: 152064, values: 'f32', ids: 'ctx-table' }, 'lz4'],
];

const versionOf = (layout: TopkLayout): string => (layout.ids === 'ctx-table' ? '2.4' : layout.topP !== undefined ? '2.3' : '2.2');

describe('Parquet shards round trip', () => {
  for (const [name, layout, codec] of cases) {
    it(`${name}: the checked reader gives the Arrow path's batches`, async () => {
      const { arrow, parquet } = writePair({ root, id: name.replace(/ /g, '-'), layout, codec });
      expect(parquet.manifest.shardFormat).toBe('parquet');
      expect(parquet.manifest.formatVersion).toBe(versionOf(layout));
      expect(parquet.manifest.shards.map((s) => s.file)).toEqual(arrow.manifest.shards.map((s) => s.file.replace(/\.arrow$/, '.parquet')));
      const a = await readAll(arrow.dir);
      const p = await readAll(parquet.dir);
      expect(a.length).toBe(5);
      expect(a.some((b) => Array.from(b.offsets).some((o, i) => i > 0 && o === b.offsets[i - 1]))).toBe(true); // an empty sample is in there
      expect(sameBatches(a, p)).toBeNull();
      if (layout.topP !== undefined) expect(a.some((b) => b.topkCounts!.some((c) => c < layout.k))).toBe(true); // really ragged
    });
  }
});
