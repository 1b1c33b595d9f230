/** The one entry point callers use: pick the reader by format and stream Samples in file order. */

import { readArrowSamples } from './arrow.js';
import { readJsonlSamples } from './jsonl.js';
import { readParquetSamples } from './parquet.js';
import { type ReadSamplesOptions, type Sample, formatFromPath } from './sample.js';

export function readSamples(file: string, opts: ReadSamplesOptions = {}): AsyncIterable<Sample> {
  const format = opts.format ?? formatFromPath(file);
  const readerOpts = { column: opts.column, maxSeqLen: opts.maxSeqLen };
  switch (format) {
    case 'jsonl':
      return readJsonlSamples(file, readerOpts);
    case 'arrow':
      return readArrowSamples(file, readerOpts);
    case 'parquet':
      return readParquetSamples(file, readerOpts);
    default:
      throw new Error(`dataset ${file}: unknown format ${String(format)} (expected jsonl, arrow or parquet)`);
  }
}
