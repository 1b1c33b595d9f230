/** The one entry point callers use: pick the reader by format and stream Samples in file order. */

import { readJsonlSamples } from './jsonl.js';
import { type ReadSamplesOptions, type Sample, formatFromPath } from './sample.js';
import { CodedError } from '../errors.js';

/**
 * Stream the samples of a tokenized dataset, in file order, one at a time.
 *
 * - Format: `opts.format`, else by extension: .jsonl/.json → JSONL; .arrow/.feather/.arrows/.ipc
 *   → Arrow IPC (file or stream format, detected from the bytes); .parquet → Parquet.
 *   An unknown extension throws at once, before any I/O.
 * - Column: `opts.column` (default 'input_ids'): a top-level JSONL key, or an Arrow/Parquet
 *   list<int8|16|32|64, signed or unsigned> column. Other fields/columns are never decoded.
 * - sampleId: 0-based row index; for JSONL the index among non-blank lines.
 * - maxSeqLen: keeps the first maxSeqLen tokens and sets `truncatedFrom` to the original length.
 * - Empty file → zero samples; the caller decides whether that is an error. Empty id lists are
 *   yielded as empty samples for the same reason.
 * - Errors are plain Errors starting `dataset <file>` and naming the line (JSONL), sample and
 *   position of what was wrong.
 * Breaking out of the loop closes the file.
 */
export function readSamples(file: string, opts: ReadSamplesOptions = {}): AsyncIterable<Sample> {
  const format = opts.format ?? formatFromPath(file);
  const readerOpts = { column: opts.column, maxSeqLen: opts.maxSeqLen };
  switch (format) {
    case 'jsonl':
      return readJsonlSamples(file, readerOpts);
    // apache-arrow and hyparquet take hundreds of milliseconds to load: only their own format pays.
    case 'arrow':
      return loaded(async () => (await import('./arrow.js')).readArrowSamples(file, readerOpts));
    case 'parquet':
      return loaded(async () => (await import('./parquet.js')).readParquetSamples(file, readerOpts));
    default:
      throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: unknown format ${String(format)} (expected jsonl, arrow or parquet)`);
  }
}

/** Streams the reader `open` resolves to; `return()` (a loop's break) reaches it through yield*. */
async function* loaded(open: () => Promise<AsyncIterable<Sample>>): AsyncGenerator<Sample> {
  yield* await open();
}
