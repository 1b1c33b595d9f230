/**
 * What every dataset reader yields, and the checks they share.
 *
 * A reader never decides policy about empty files or empty samples: it reports what is in the
 * file, in file order, and leaves "is zero samples an error?" to the caller.
 */

import { CodedError } from '../errors.js';

export type DatasetFormat = 'jsonl' | 'arrow' | 'parquet';

export interface Sample {
  /** 0-based position of the sample in the source file (row index, or data-line index for JSONL). */
  sampleId: number;
  /**
   * Token ids, each an integer in [0, 2^31). May be a view into a reader's buffer (Arrow int32
   * columns are not copied): treat it as read-only, copy before mutating.
   */
  inputIds: Int32Array;
  /** Set only when maxSeqLen cut the sample: its length in the file. */
  truncatedFrom?: number;
}

export interface ReadSamplesOptions {
  /** Default: chosen from the file extension (see formatFromPath). */
  format?: DatasetFormat;
  /** Column (Arrow/Parquet) or top-level key (JSONL) holding the ids. Default 'input_ids'. */
  column?: string;
  /**
   * Keep only the first maxSeqLen tokens of longer samples (the end is dropped, so the prompt
   * start the teacher conditions on is preserved) and record the original length in
   * `truncatedFrom`. Ids past the cut are still validated: a bad id anywhere means a bad file.
   */
  maxSeqLen?: number;
}

export const DEFAULT_COLUMN = 'input_ids';

/** Exclusive upper bound for a token id: ids must fit a non-negative int32. */
export const MAX_TOKEN_ID_EXCLUSIVE = 2 ** 31;

const EXTENSIONS: ReadonlyArray<[string, DatasetFormat]> = [
  ['.jsonl', 'jsonl'],
  ['.json', 'jsonl'],
  ['.arrow', 'arrow'],
  ['.feather', 'arrow'],
  ['.arrows', 'arrow'],
  ['.ipc', 'arrow'],
  ['.parquet', 'parquet'],
];

export function formatFromPath(file: string): DatasetFormat {
  const lower = file.toLowerCase();
  for (const [ext, format] of EXTENSIONS) {
    if (lower.endsWith(ext)) return format;
  }
  const known = EXTENSIONS.map(([ext]) => ext).join(' ');
  throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: cannot tell the format from the extension (known: ${known}); pass format`);
}

/** An API argument check: the CLI refuses --max-seq-len < 1 first (LC_ERR_USAGE), so only a bug in a caller lands here. */
export function checkMaxSeqLen(maxSeqLen: number | undefined): void {
  if (maxSeqLen === undefined) return;
  if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) {
    throw new Error(`dataset: maxSeqLen must be a positive integer, got ${maxSeqLen}`);
  }
}

/** Apply maxSeqLen as a view (no copy) and build the Sample. */
export function makeSample(sampleId: number, ids: Int32Array, maxSeqLen: number | undefined): Sample {
  if (maxSeqLen !== undefined && ids.length > maxSeqLen) {
    return { sampleId, inputIds: ids.subarray(0, maxSeqLen), truncatedFrom: ids.length };
  }
  return { sampleId, inputIds: ids };
}

/** The one wording for a bad id, so every format reports it the same way. */
export function badIdMessage(column: string, position: number, value: string): string {
  return `${column}[${position}] is ${value}; ids must be non-negative integers below 2^31`;
}

/**
 * Copy numeric ids into an Int32Array, checking each one. `where` locates the sample in
 * errors (e.g. "data.arrow: sample 12"). Works for any typed array or number array, including
 * BigInt64Array from int64 columns.
 */
export function toTokenIds(
  values: ArrayLike<number | bigint>,
  start: number,
  end: number,
  where: string,
  column: string,
): Int32Array {
  const out = new Int32Array(end - start);
  for (let i = start; i < end; i++) {
    const v = values[i];
    // Number() on a bigint is exact for |v| < 2^53, and anything that large fails the range test anyway.
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (!(n >= 0 && n < MAX_TOKEN_ID_EXCLUSIVE && Number.isInteger(n))) {
      throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${where}: ${badIdMessage(column, i - start, String(v))}`);
    }
    out[i - start] = n;
  }
  return out;
}

/** Check ids already in an Int32Array (only the sign can be wrong) without copying them. */
export function checkInt32Ids(ids: Int32Array, where: string, column: string): void {
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0) throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${where}: ${badIdMessage(column, i, String(ids[i]))}`);
  }
}
