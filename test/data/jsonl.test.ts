import { execFileSync } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readJsonlSamples } from '../../src/data/jsonl.js';
import { readSamples } from '../../src/data/read-samples.js';
import { errorOf, collect, within, expected, haveStories, storiesIds, storiesPath, tempDir, writeJsonl, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

const ids = fc.array(fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 30 }), { maxLength: 25 });

describe('readJsonlSamples', () => {
  const dir = tempDir();

  it('yields every line in order, whatever the chunk size (lines split across chunks)', async () => {
    await fc.assert(
      fc.asyncProperty(ids, fc.integer({ min: 1, max: 200 }), async (samples, chunkBytes) => {
        const file = path.join(dir, 'prop.jsonl');
        writeJsonl(file, samples);
        expect(await collect(readJsonlSamples(file, { chunkBytes }))).toEqual(expected(samples));
      }),
      { numRuns: 60 },
    );
  });

  it('truncates to maxSeqLen from the end and records the original length', async () => {
    await fc.assert(
      fc.asyncProperty(ids, fc.integer({ min: 1, max: 20 }), async (samples, maxSeqLen) => {
        const file = path.join(dir, 'trunc.jsonl');
        writeJsonl(file, samples);
        const got = await collect(readSamples(file, { maxSeqLen }));
        expect(got).toEqual(expected(samples, maxSeqLen));
        for (const s of got) expect(s.ids.length).toBeLessThanOrEqual(maxSeqLen);
      }),
      { numRuns: 30 },
    );
  });

  it('rejects a maxSeqLen that is not a positive integer', async () => {
    const file = path.join(dir, 'one.jsonl');
    writeJsonl(file, [[1]]);
    await expect(collect(readSamples(file, { maxSeqLen: 0 }))).rejects.toThrow(/maxSeqLen must be a positive integer, got 0/);
  });

  it('reads another column when asked', async () => {
    const file = path.join(dir, 'labels.jsonl');
    writeJsonl(file, [[1, 2], [3]], 'labels');
    expect(await collect(readSamples(file, { column: 'labels' }))).toEqual(expected([[1, 2], [3]]));
    expect(await errorOf(file)).toMatch(/labels\.jsonl:1: sample 0: no "input_ids" field/);
  });

  it('treats an empty file as zero samples and skips blank lines, counting physical lines in errors', async () => {
    const empty = path.join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    expect(await collect(readSamples(empty))).toEqual([]);

    const gappy = path.join(dir, 'gappy.jsonl');
    writeFileSync(gappy, '\uFEFF{"input_ids":[1]}\r\n\n   \n{"input_ids":[2,3]}\r\n\n\n');
    expect(await collect(readSamples(gappy))).toEqual(expected([[1], [2, 3]]));

    const gappyBad = path.join(dir, 'gappy-bad.jsonl');
    writeFileSync(gappyBad, '{"input_ids":[1]}\n\n{"input_ids":[2,-3]}\n');
    expect(await errorOf(gappyBad)).toBe(
      `dataset ${gappyBad}:3: sample 1: input_ids[1] is -3; ids must be non-negative integers below 2^31`,
    );
  });

  it('reads a last line without a trailing newline', async () => {
    const file = path.join(dir, 'nonl.jsonl');
    writeFileSync(file, '{"input_ids":[1]}\n{"input_ids":[4,5]}');
    expect(await collect(readSamples(file))).toEqual(expected([[1], [4, 5]]));
  });

  it('names file, 1-based line, sample and what was wrong for malformed lines', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"input_ids":[1,2', /:3: sample 2: invalid JSON at byte 18: expected ',' or ']', found end of line/],
      ['{"text":"no ids"}', /:3: sample 2: no "input_ids" field/],
      ['{"input_ids":"1 2"}', /:3: sample 2: "input_ids" is not an array \(found "1 2"\)/],
      ['{"input_ids":null}', /:3: sample 2: "input_ids" is not an array \(found null\)/],
      ['{"input_ids":[1,2.5]}', /:3: sample 2: input_ids\[1\] is 2\.5; ids must be non-negative integers below 2\^31/],
      ['{"input_ids":[0,1,-1]}', /:3: sample 2: input_ids\[2\] is -1;/],
      ['{"input_ids":[2147483648]}', /:3: sample 2: input_ids\[0\] is 2147483648;/],
      ['{"input_ids":[1,"7"]}', /:3: sample 2: input_ids\[1\] is "7";/],
      ['not json', /:3: sample 2: invalid JSON at byte 1: expected '\{'/],
    ];
    for (const [bad, pattern] of cases) {
      const file = path.join(dir, 'bad.jsonl');
      writeFileSync(file, `{"input_ids":[1]}\n{"input_ids":[2]}\n${bad}\n{"input_ids":[3]}\n`);
      const msg = await errorOf(file);
      expect(msg.startsWith(`dataset ${file}:3: `), msg).toBe(true);
      expect(msg).toMatch(pattern);
    }
  });

  it('streams: stops reading when the consumer stops, before a malformed tail', async () => {
    // Far more than one 64 KiB read chunk of valid lines, then a broken one. Breaking after the
    // first sample must neither parse nor fail on it.
    const file = path.join(dir, 'big.jsonl');
    const good = JSON.stringify({ input_ids: Array.from({ length: 256 }, (_, i) => i), text: 'x'.repeat(1000) });
    writeFileSync(file, `${good}\n`.repeat(2000) + '{"input_ids": [1,\n');
    await expect(collect(readSamples(file))).rejects.toThrow(/:2001: sample 2000: invalid JSON/);
    for await (const s of readSamples(file)) {
      expect(s.sampleId).toBe(0);
      break;
    }
  });

  it('streams: yields the first sample of a pipe before the writer has finished', async () => {
    // A FIFO makes "never the whole file in memory" observable: a reader that waited for the
    // end of input would hang here, because the writer only finishes after the first sample.
    const fifo = path.join(dir, 'pipe.jsonl');
    execFileSync('mkfifo', [fifo]);
    const writer = createWriteStream(fifo);
    writer.write('{"input_ids":[5,6]}\n');
    const it = readSamples(fifo)[Symbol.asyncIterator]();
    const first = await within(it.next(), 10_000, 'first sample from a pipe');
    expect(first.value?.sampleId).toBe(0);
    expect(Array.from(first.value?.inputIds ?? [])).toEqual([5, 6]);
    writer.end('{"input_ids":[7]}\n');
    const second = await it.next();
    expect(Array.from(second.value?.inputIds ?? [])).toEqual([7]);
    expect((await it.next()).done).toBe(true);
  });

  describe.skipIf(!haveStories)('stories.jsonl', () => {
    it('matches JSON.parse of every line', async () => {
      const reference = await storiesIds();
      expect(reference.length).toBeGreaterThan(0);
      expect(await collect(readSamples(storiesPath))).toEqual(expected(reference));
    });
  });
});
