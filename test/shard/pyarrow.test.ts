// The contract with training jobs: pyarrow, memory-mapping the shards, reads exactly
// what the writer wrote, for every value encoding and codec.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CodecName, DatasetReader, type ValueEncoding } from '../../src/shard/index.js';
import { findPython } from '../python.js';
import { writeFixture } from './fixture.js';

const { python, reason } = findPython();
if (!python) console.log(`skipping pyarrow contract tests: ${reason}`);
const root = mkdtempSync(join(tmpdir(), 'lc-pyarrow-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const combos: [ValueEncoding, CodecName][] = [['f32', 'lz4'], ['f16', 'lz4'], ['f16', 'zstd'], ['bf16', 'none'], ['q8', 'lz4']];

describe.skipIf(!python)('pyarrow reads the shards', () => {
  for (const [values, codec] of combos) {
    it(`${values} / ${codec}, over 10,000 tokens`, async () => {
      const datasetId = `${values}-${codec}`;
      const layout = { k: 8, vocabSize: 32000, values, ...(values === 'q8' ? { q8Scale: 0.1 } : {}) };
      // Include empty and one-token samples alongside long ones.
      const { dir, manifest } = writeFixture({
        root, datasetId, layout, codec, batches: 6, batchSize: 8, batchesPerShard: 4,
        seqLen: (s) => (s % 11 === 0 ? 0 : s % 7 === 0 ? 1 : 200 + (s * 13) % 150),
      });
      expect(manifest.tokenCount).toBeGreaterThanOrEqual(10_000);
      const reader = await DatasetReader.open(dir);
      const expected: Record<string, unknown> = {};
      for (let b = 0; b < manifest.batchCount; b++) {
        const got = await reader.readBatch(b);
        expected[b] = {
          sampleIds: Array.from(got.sampleIds), offsets: Array.from(got.offsets), inputIds: Array.from(got.inputIds),
          topkIds: Array.from(got.topkIds), topkLogprobs: Array.from(got.topkLogprobs),
        };
      }
      await reader.close();
      const expectedPath = join(root, `${datasetId}.json`);
      writeFileSync(expectedPath, JSON.stringify(expected));
      const run = spawnSync(python!, [join(import.meta.dirname, 'read_with_pyarrow.py'), dir, expectedPath], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/pyarrow ok: 6 batches/);
    });
  }
});
