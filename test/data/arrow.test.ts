import { execFileSync } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readSamples } from '../../src/data/read-samples.js';
import { errorOf, type ArrowIdType, collect, within, expected, pyarrowPython, tempDir, writeArrow, writeWithPyarrow, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

const maxFor: Record<ArrowIdType, number> = {
  int8: 127, int16: 32767, int32: 2 ** 31 - 1, int64: 2 ** 31 - 1, uint16: 65535, uint32: 2 ** 31 - 1,
};
const idTypes = Object.keys(maxFor) as ArrowIdType[];

describe('readArrowSamples', () => {
  const dir = tempDir();

  it('reads list<int*> columns from IPC files and streams, across record batches', async () => {
    const arb = fc.constantFrom(...idTypes).chain((type) =>
      fc.record({
        type: fc.constant(type),
        samples: fc.array(fc.array(fc.integer({ min: 0, max: maxFor[type] }), { maxLength: 20 }), { maxLength: 30 }),
        batchRows: fc.integer({ min: 1, max: 12 }),
        format: fc.constantFrom('file' as const, 'stream' as const),
        maxSeqLen: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ type, samples, batchRows, format, maxSeqLen }) => {
        const file = path.join(dir, format === 'file' ? 'p.arrow' : 'p.arrows');
        writeArrow(file, samples, { type, batchRows, format });
        expect(await collect(readSamples(file, { maxSeqLen }))).toEqual(expected(samples, maxSeqLen));
      }),
      { numRuns: 80 },
    );
  });

  it('picks the format by extension or by option', async () => {
    const samples = [[1, 2], [3]];
    for (const name of ['a.feather', 'a.ipc', 'a.bin']) {
      writeArrow(path.join(dir, name), samples);
    }
    expect(await collect(readSamples(path.join(dir, 'a.feather')))).toEqual(expected(samples));
    expect(await collect(readSamples(path.join(dir, 'a.ipc')))).toEqual(expected(samples));
    expect(() => readSamples(path.join(dir, 'a.bin'))).toThrow(/cannot tell the format from the extension/);
    expect(await collect(readSamples(path.join(dir, 'a.bin'), { format: 'arrow' }))).toEqual(expected(samples));
  });

  it('treats a zero-byte file as zero samples but garbage as an error', async () => {
    writeFileSync(path.join(dir, 'empty.arrow'), '');
    expect(await collect(readSamples(path.join(dir, 'empty.arrow')))).toEqual([]);
    writeFileSync(path.join(dir, 'junk.arrow'), 'this is not arrow at all, just some text');
    expect(await errorOf(path.join(dir, 'junk.arrow'))).toMatch(/junk\.arrow: /);
  });

  it('names the missing column and the ones the file has', async () => {
    const file = path.join(dir, 'cols.arrow');
    writeArrow(file, [[1]], { column: 'tokens' });
    expect(await errorOf(file)).toBe(`dataset ${file}: no column "input_ids" (columns: row, tokens)`);
    expect(await collect(readSamples(file, { column: 'tokens' }))).toEqual(expected([[1]]));
    await expect(collect(readSamples(file, { column: 'row' }))).rejects.toThrow(/column "row" is Int32; expected a list of integers/);
  });

  it('names sample and position of negative and out-of-range ids', async () => {
    const cases: Array<[ArrowIdType, number, string]> = [
      ['int32', -1, '-1'],
      ['int8', -128, '-128'],
      ['int64', 2 ** 31, '2147483648'],
      ['int64', -5, '-5'],
      ['uint32', 2 ** 31, '2147483648'],
    ];
    for (const [type, bad, shown] of cases) {
      const file = path.join(dir, `bad-${type}.arrow`);
      writeArrow(file, [[1, 2], [3], [4, 5, 6], [7, 8, bad, 9]], { type, batchRows: 2 });
      expect(await errorOf(file)).toBe(
        `dataset ${file}: sample 3: input_ids[2] is ${shown}; ids must be non-negative integers below 2^31`,
      );
    }
  });

  it('streams: yields the first sample of a piped IPC stream before the writer has finished', async () => {
    const whole = path.join(dir, 'two.arrows');
    writeArrow(whole, [[1, 2], [3], [4]], { format: 'stream', batchRows: 2 });
    const bytes = readFileSync(whole);
    const fifo = path.join(dir, 'pipe.arrows');
    execFileSync('mkfifo', [fifo]);
    const writer = createWriteStream(fifo);
    // Schema and the first batch only; the rest is held back until the first sample arrived.
    const cut = bytes.length - 120;
    writer.write(bytes.subarray(0, cut));
    const it = readSamples(fifo)[Symbol.asyncIterator]();
    const first = await within(it.next(), 10_000, 'first sample from a pipe');
    expect(Array.from(first.value?.inputIds ?? [])).toEqual([1, 2]);
    writer.end(bytes.subarray(cut));
    const rest = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(Array.from(r.value.inputIds));
    expect(rest).toEqual([[3], [4]]);
  });

  it('streams: a file-format read stopped early never decodes a corrupt later batch', async () => {
    const file = path.join(dir, 'poison.arrow');
    const samples = Array.from({ length: 4000 }, (_, i) => Array.from({ length: 64 }, (_, j) => (i + j) % 500));
    writeArrow(file, samples, { batchRows: 1000 });
    const bytes = readFileSync(file);
    // In the file format the last two continuation markers (0xFFFFFFFF) are the last record
    // batch's message and the end-of-stream marker; ids and offsets here never equal -1.
    const markers: number[] = [];
    for (let p = 0; p + 4 <= bytes.length; p += 8) if (bytes.readInt32LE(p) === -1) markers.push(p);
    const lastBatch = markers[markers.length - 2];
    bytes.writeInt32LE(0x7ffffff0, lastBatch + 4); // absurd metadata length
    writeFileSync(file, bytes);
    await expect(collect(readSamples(file))).rejects.toThrow(/poison\.arrow/);
    const firstTwo = [];
    for await (const s of readSamples(file)) {
      firstTwo.push(s.sampleId);
      if (firstTwo.length === 2) break;
    }
    expect(firstTwo).toEqual([0, 1]);
  });

  describe.skipIf(!pyarrowPython)('files written by pyarrow', () => {
    const py = pyarrowPython as string;
    const samples = [[1, 2, 3], [], [40000], [7, 7]];

    it('reads list<int32|int64|uint16> and large_list from files and streams', async () => {
      const fixtures = ['pa.list_(pa.int32())', 'pa.list_(pa.int64())', 'pa.list_(pa.uint16())', 'pa.large_list(pa.int32())'].flatMap(
        (listType, i) => (['arrow-file', 'arrow-stream'] as const).map((kind) => ({ file: path.join(dir, `py-${i}-${kind}.arrow`), samples, kind, listType })),
      );
      writeWithPyarrow(py, fixtures);
      for (const { file, listType, kind } of fixtures) {
        expect(await collect(readSamples(file)), `${listType} ${kind}`).toEqual(expected(samples));
      }
    });

    it('rejects null rows and null ids, naming sample and position', async () => {
      const nullRow = path.join(dir, 'py-null-row.arrow');
      const nullId = path.join(dir, 'py-null-id.arrow');
      writeWithPyarrow(py, [
        { file: nullRow, samples: [[1], null, [2]], kind: 'arrow-file' },
        { file: nullId, samples: [[1], [2, 3, null]], kind: 'arrow-file' },
      ]);
      expect(await errorOf(nullRow)).toBe(`dataset ${nullRow}: sample 1: input_ids is null; expected a list of ids`);
      expect(await errorOf(nullId)).toBe(`dataset ${nullId}: sample 1: input_ids[2] is null; ids must be non-negative integers below 2^31`);
    });
  });
});
