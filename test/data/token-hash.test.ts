import { createHash } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readSamples } from '../../src/data/read-samples.js';
import { tokenStreamHasher } from '../../src/data/token-hash.js';
import { haveStories, pyarrowPython, storiesIds, storiesPath, tempDir, writeArrow, writeJsonl, writeParquetLite, writeWithPyarrow, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

/** The documented definition, written out with Buffer writes: an independent reference. */
function referenceHash(samples: readonly (readonly number[])[]): string {
  const parts: Buffer[] = [];
  for (const ids of samples) {
    const b = Buffer.alloc(4 + 4 * ids.length);
    b.writeUInt32LE(ids.length, 0);
    ids.forEach((id, i) => b.writeInt32LE(id, 4 + 4 * i));
    parts.push(b);
  }
  return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
}

function hashOf(samples: readonly Int32Array[]): string {
  const h = tokenStreamHasher();
  for (const s of samples) h.update(s);
  return h.digest();
}

async function hashFile(file: string): Promise<string> {
  const h = tokenStreamHasher();
  for await (const s of readSamples(file)) h.update(s.inputIds);
  return h.digest();
}

const samplesArb = fc.array(fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 30 }), { maxLength: 20 });

describe('tokenStreamHasher', () => {
  it('is sha256 over (uint32 LE length, int32 LE ids) per sample', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        expect(hashOf(samples.map((s) => Int32Array.from(s)))).toBe(referenceHash(samples));
      }),
    );
    expect(hashOf([])).toBe(createHash('sha256').digest('hex'));
  });

  it('depends on sample boundaries, not only on the concatenated tokens', () => {
    expect(hashOf([Int32Array.of(1, 2), Int32Array.of(3)])).not.toBe(hashOf([Int32Array.of(1), Int32Array.of(2, 3)]));
    expect(hashOf([Int32Array.of(1), new Int32Array(0)])).not.toBe(hashOf([Int32Array.of(1)]));
  });

  it('hashes a view (non-zero byteOffset) like a copy of it', () => {
    const big = Int32Array.from({ length: 100 }, (_, i) => i * 3);
    expect(hashOf([big.subarray(7, 19)])).toBe(hashOf([big.slice(7, 19)]));
  });

  it('is the same for the same tokens in JSONL, Arrow (int32/int64/uint16) and Parquet', async () => {
    const dir = tempDir();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.integer({ min: 0, max: 65535 }), { maxLength: 20 }), { maxLength: 15 }), async (samples) => {
        const want = referenceHash(samples);
        writeJsonl(path.join(dir, 'h.jsonl'), samples);
        writeArrow(path.join(dir, 'h.arrow'), samples, { type: 'int64', batchRows: 4 });
        writeArrow(path.join(dir, 'h.arrows'), samples, { type: 'uint16', format: 'stream', batchRows: 3 });
        await writeParquetLite(path.join(dir, 'h.parquet'), samples, { rowGroupSize: 5 });
        for (const name of ['h.jsonl', 'h.arrow', 'h.arrows', 'h.parquet']) {
          expect(await hashFile(path.join(dir, name)), name).toBe(want);
        }
      }),
      { numRuns: 20 },
    );
  });

  describe.skipIf(!haveStories || !pyarrowPython)('stories.jsonl converted by pyarrow', () => {
    it('hashes the same as the JSONL original', async () => {
      const dir = tempDir();
      const samples = await storiesIds();
      const parquetFile = path.join(dir, 'stories.parquet');
      const arrowFile = path.join(dir, 'stories.arrow');
      writeWithPyarrow(pyarrowPython as string, [
        { file: parquetFile, samples, kind: 'parquet', listType: 'pa.list_(pa.int64())', parquetArgs: { row_group_size: 100 } },
        { file: arrowFile, samples, kind: 'arrow-file', listType: 'pa.list_(pa.uint16())' },
      ]);
      const want = referenceHash(samples);
      expect(await hashFile(storiesPath)).toBe(want);
      expect(await hashFile(parquetFile)).toBe(want);
      expect(await hashFile(arrowFile)).toBe(want);
    });
  });
});
