/**
 * JSONL reader: one JSON object per line, ids under a top-level key.
 *
 * The file is read as a byte stream and split on '\n' here rather than with node:readline, so
 * lines are never decoded to JS strings (see jsonl-scan.ts for why). Blank lines are skipped
 * wherever they are, so sampleId counts non-blank lines: the same numbering pandas or
 * `datasets` give the rows when converting the file to Parquet or Arrow.
 */

import { createReadStream } from 'node:fs';
import { IdScratch, scanIdField } from './jsonl-scan.js';
import { type Sample, DEFAULT_COLUMN, checkMaxSeqLen, makeSample } from './sample.js';
import { CodedError } from '../errors.js';

export interface JsonlReadOptions {
  column?: string;
  maxSeqLen?: number;
  /** Read-stream chunk size in bytes; tests lower it to exercise lines split across chunks. */
  chunkBytes?: number;
}

const NEWLINE = 0x0a;

function isBlank(b: Uint8Array, start: number, end: number): boolean {
  for (let p = start; p < end; p++) {
    const c = b[p];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

export async function* readJsonlSamples(file: string, opts: JsonlReadOptions = {}): AsyncGenerator<Sample> {
  const column = opts.column ?? DEFAULT_COLUMN;
  const { maxSeqLen } = opts;
  checkMaxSeqLen(maxSeqLen);
  const key = new TextEncoder().encode(column);
  const scratch = new IdScratch();
  const stream = createReadStream(file, { highWaterMark: opts.chunkBytes ?? 1 << 16 });

  let lineNo = 0;
  let sampleId = 0;
  // Pieces of a line that spans chunk boundaries; concatenated once when its '\n' arrives.
  let pending: Buffer[] = [];

  function parseLine(b: Uint8Array, start: number, end: number): Sample | undefined {
    lineNo++;
    // A UTF-8 byte-order mark is not JSON whitespace, but Windows editors write one.
    if (lineNo === 1 && end - start >= 3 && b[start] === 0xef && b[start + 1] === 0xbb && b[start + 2] === 0xbf) start += 3;
    if (isBlank(b, start, end)) return undefined;
    try {
      const n = scanIdField(b, start, end, key, column, scratch);
      // slice() copies: scratch is reused for the next line.
      return makeSample(sampleId++, scratch.ids.slice(0, n), maxSeqLen);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}:${lineNo}: sample ${sampleId}: ${msg}`);
    }
  }

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let pos = 0;
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, pos);
        if (nl < 0) break;
        let sample: Sample | undefined;
        if (pending.length > 0) {
          pending.push(chunk.subarray(pos, nl));
          const line = Buffer.concat(pending);
          pending = [];
          sample = parseLine(line, 0, line.length);
        } else {
          sample = parseLine(chunk, pos, nl);
        }
        pos = nl + 1;
        if (sample) yield sample;
      }
      if (pos < chunk.length) pending.push(chunk.subarray(pos));
    }
    // Last line without a trailing newline.
    if (pending.length > 0) {
      const line = Buffer.concat(pending);
      pending = [];
      const sample = parseLine(line, 0, line.length);
      if (sample) yield sample;
    }
  } finally {
    // Runs on early exit too (consumer `break`), so the descriptor is not left open.
    stream.destroy();
  }
}
