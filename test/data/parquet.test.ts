import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parquetMetadata } from 'hyparquet';
import { afterAll, describe, expect, it } from 'vitest';
import { readSamples } from '../../src/data/read-samples.js';
import { errorOf, collect, expected, pyarrowPython, tempDir, writeParquetLite, writeWithPyarrow, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

describe('readParquetSamples', () => {
  const dir = tempDir();

  it('reads files written by parquetjs-lite, across row groups', async () => {
    const arb = fc.record({
      samples: fc.array(fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 20 }), { maxLength: 40 }),
      rowGroupSize: fc.integer({ min: 1, max: 15 }),
      compression: fc.constantFrom('UNCOMPRESSED' as const, 'SNAPPY' as const),
      maxSeqLen: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ samples, rowGroupSize, compression, maxSeqLen }) => {
        const file = path.join(dir, 'lite.parquet');
        await writeParquetLite(file, samples, { rowGroupSize, compression });
        expect(await collect(readSamples(file, { maxSeqLen }))).toEqual(expected(samples, maxSeqLen));
      }),
      { numRuns: 40 },
    );
  });

  it('treats a zero-byte file as zero samples, garbage as an error naming the file', async () => {
    writeFileSync(path.join(dir, 'empty.parquet'), '');
    expect(await collect(readSamples(path.join(dir, 'empty.parquet')))).toEqual([]);
    const junk = path.join(dir, 'junk.parquet');
    writeFileSync(junk, 'definitely not parquet');
    expect(await errorOf(junk)).toMatch(new RegExp(`^dataset ${junk}: not a readable Parquet file`));
  });

  it('names the missing column and the ones the file has', async () => {
    const file = path.join(dir, 'cols.parquet');
    await writeParquetLite(file, [[1]]);
    expect(await collect(readSamples(file, { column: 'nope' })).catch((e: Error) => e.message)).toBe(
      `dataset ${file}: no column "nope" (columns: id, input_ids)`,
    );
  });

  it('streams: reading stopped early never decodes a corrupt later row group', async () => {
    const file = path.join(dir, 'poison.parquet');
    const samples = Array.from({ length: 3000 }, (_, i) => Array.from({ length: 64 }, (_, j) => (i * 7 + j) % 512));
    await writeParquetLite(file, samples, { rowGroupSize: 500 });
    const bytes = readFileSync(file);
    const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const lastGroup = meta.row_groups[meta.row_groups.length - 1];
    const chunk = lastGroup.columns.find((c) => c.meta_data?.path_in_schema[0] === 'input_ids')?.meta_data;
    expect(chunk).toBeDefined();
    // Garbage over the page header of the last row group's ids.
    bytes.fill(0xff, Number(chunk?.data_page_offset), Number(chunk?.data_page_offset) + 32);
    writeFileSync(file, bytes);
    await expect(collect(readSamples(file))).rejects.toThrow(new RegExp(`poison\\.parquet: row group ${meta.row_groups.length - 1} \\(samples 2500\\.\\.2999\\)`));
    const got = [];
    for await (const s of readSamples(file)) {
      got.push(s.sampleId);
      if (got.length === 3) break;
    }
    expect(got).toEqual([0, 1, 2]);
  });

  describe.skipIf(!pyarrowPython)('files written by pyarrow', () => {
    const py = pyarrowPython as string;
    const samples = [[1, 2, 3], [], [40000], [7, 7], Array.from({ length: 300 }, (_, i) => i % 3)];

    it('reads list<int32|int64|uint16>, large_list, every common codec and format version', async () => {
      const variants: Array<[string, Record<string, unknown>]> = [
        ['pa.list_(pa.int32())', {}],
        ['pa.list_(pa.int64())', {}],
        ['pa.list_(pa.uint16())', {}],
        ['pa.large_list(pa.int32())', {}],
        ['pa.list_(pa.int32())', { compression: 'none', use_dictionary: false }],
        ['pa.list_(pa.int32())', { compression: 'gzip' }],
        ['pa.list_(pa.int32())', { compression: 'zstd' }],
        ['pa.list_(pa.int32())', { compression: 'brotli' }],
        ['pa.list_(pa.int32())', { version: '1.0' }],
        ['pa.list_(pa.int32())', { data_page_version: '2.0' }],
        ['pa.list_(pa.int64())', { row_group_size: 2 }],
      ];
      const fixtures = variants.map(([listType, parquetArgs], i) => ({
        file: path.join(dir, `py-${i}.parquet`), samples, kind: 'parquet' as const, listType, parquetArgs,
      }));
      writeWithPyarrow(py, fixtures);
      for (const { file, listType, parquetArgs } of fixtures) {
        expect(await collect(readSamples(file, { maxSeqLen: 100 })), `${listType} ${JSON.stringify(parquetArgs)}`).toEqual(
          expected(samples, 100),
        );
      }
    });

    it('reads a file with zero rows as zero samples', async () => {
      const file = path.join(dir, 'py-empty.parquet');
      writeWithPyarrow(py, [{ file, samples: [], kind: 'parquet' }]);
      expect(await collect(readSamples(file))).toEqual([]);
    });

    it('names sample and position of bad ids and null rows', async () => {
      const [neg, big, nullRow, nullId] = ['neg', 'big', 'null-row', 'null-id'].map((n) => path.join(dir, `py-${n}.parquet`));
      writeWithPyarrow(py, [
        { file: neg, samples: [[1], [2], [3, 4, -7]], kind: 'parquet', parquetArgs: { row_group_size: 2 } },
        { file: big, samples: [[1], [2, 2 ** 31]], kind: 'parquet', listType: 'pa.list_(pa.int64())' },
        { file: nullRow, samples: [[1], null], kind: 'parquet' },
        { file: nullId, samples: [[1, null]], kind: 'parquet' },
      ]);
      expect(await errorOf(neg)).toBe(`dataset ${neg}: sample 2: input_ids[2] is -7; ids must be non-negative integers below 2^31`);
      expect(await errorOf(big)).toBe(`dataset ${big}: sample 1: input_ids[1] is 2147483648; ids must be non-negative integers below 2^31`);
      expect(await errorOf(nullRow)).toMatch(new RegExp(`^dataset ${nullRow}: sample 1: input_ids is .*; expected a list of ids`));
      expect(await errorOf(nullId)).toBe(`dataset ${nullId}: sample 0: input_ids[1] is null; ids must be non-negative integers below 2^31`);
    });
  });
});
