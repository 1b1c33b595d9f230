import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSamples } from '../../src/data/read-samples.js';
import { collect, expected, haveStories, storiesIds, storiesPath, tempDir, writeArrow, writeParquetLite, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

describe.skipIf(!haveStories)('readSamples on stories.jsonl in every format', () => {
  it('yields the same samples from JSONL, Arrow file, Arrow stream and Parquet, with and without maxSeqLen', async () => {
    const dir = tempDir();
    const samples = await storiesIds();
    const files = {
      arrowFile: path.join(dir, 'stories.arrow'),
      arrowStream: path.join(dir, 'stories.arrows'),
      parquet: path.join(dir, 'stories.parquet'),
    };
    writeArrow(files.arrowFile, samples, { batchRows: 100, type: 'int64' });
    writeArrow(files.arrowStream, samples, { batchRows: 33, format: 'stream' });
    await writeParquetLite(files.parquet, samples, { rowGroupSize: 128, compression: 'SNAPPY' });
    for (const maxSeqLen of [undefined, 100]) {
      const want = expected(samples, maxSeqLen);
      expect(await collect(readSamples(storiesPath, { maxSeqLen }))).toEqual(want);
      for (const [name, file] of Object.entries(files)) {
        expect(await collect(readSamples(file, { maxSeqLen })), name).toEqual(want);
      }
    }
  });
});
