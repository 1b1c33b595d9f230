/**
 * Parquet reader on hyparquet, one row group at a time.
 *
 * Why hyparquet (bench/read-dataset.ts has the numbers): parquetjs-lite rejects files written by
 * pyarrow with its default format version ("invalid parquet version"), and for the format-1.0
 * files it does open it returns 3-level lists as `{ list: [{ element }] }` objects. hyparquet
 * reads both writers' list encodings, int32/int64/uint16 element types and dictionary pages,
 * ships TypeScript types, has no dependencies, and reads through a byte-range interface, which
 * lets us fetch exactly one row group's column chunk at a time.
 */

import { open, type FileHandle } from 'node:fs/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import {
  type AsyncBuffer,
  type ColumnData,
  type Compressors,
  type FileMetaData,
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
} from 'hyparquet';
import { type Sample, DEFAULT_COLUMN, checkMaxSeqLen, makeSample, toTokenIds } from './sample.js';
import { CodedError } from '../errors.js';

export interface ParquetReadOptions {
  column?: string;
  maxSeqLen?: number;
}

/** Byte-range access over one open descriptor (hyparquet's own helper opens a stream per slice). */
function asyncBufferFromHandle(handle: FileHandle, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? byteLength, byteLength);
      const out = new Uint8Array(Math.max(0, stop - start));
      let filled = 0;
      while (filled < out.length) {
        const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return out.buffer;
    },
  };
}

/**
 * hyparquet decodes SNAPPY itself; the other codecs pyarrow and `datasets` commonly write are
 * wired to node:zlib, and ZSTD to zstd-napi (already a dependency for shard compression), loaded
 * only when a file needs it so a missing native build cannot break plain files.
 */
async function compressorsFor(metadata: FileMetaData): Promise<Compressors> {
  const compressors: Compressors = {
    GZIP: (input) => gunzipSync(input),
    BROTLI: (input) => brotliDecompressSync(input),
  };
  const usesZstd = metadata.row_groups.some((g) => g.columns.some((c) => c.meta_data?.codec === 'ZSTD'));
  if (usesZstd) {
    const zstd = await import('zstd-napi');
    compressors.ZSTD = (input) => zstd.decompress(input);
  }
  return compressors;
}

function checkColumn(metadata: FileMetaData, file: string, column: string): void {
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  if (!names.includes(column)) {
    throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: no column "${column}" (columns: ${names.join(', ')})`);
  }
}

/** Rows [rowStart, rowEnd) of the column, as hyparquet assembles them (one array per row). */
async function readRowGroupColumn(
  file: AsyncBuffer,
  metadata: FileMetaData,
  column: string,
  rowStart: number,
  rowEnd: number,
  compressors: Compressors,
): Promise<ArrayLike<unknown>> {
  const rows: unknown[] = new Array(rowEnd - rowStart);
  await parquetRead({
    file,
    metadata,
    columns: [column],
    rowStart,
    rowEnd,
    compressors,
    onChunk(chunk: ColumnData) {
      // Chunks can cover rows outside the request; copy only the overlap.
      const from = Math.max(chunk.rowStart, rowStart);
      const to = Math.min(chunk.rowEnd, rowEnd);
      for (let r = from; r < to; r++) rows[r - rowStart] = chunk.columnData[r - chunk.rowStart];
    },
  });
  return rows;
}

export async function* readParquetSamples(file: string, opts: ParquetReadOptions = {}): AsyncGenerator<Sample> {
  const column = opts.column ?? DEFAULT_COLUMN;
  const { maxSeqLen } = opts;
  checkMaxSeqLen(maxSeqLen);
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size === 0) return; // empty dataset, as for an empty JSONL file
    const buffer = asyncBufferFromHandle(handle, size);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (err) {
      throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: not a readable Parquet file: ${err instanceof Error ? err.message : String(err)}`);
    }
    checkColumn(metadata, file, column);
    const compressors = await compressorsFor(metadata);
    let groupStart = 0;
    for (let g = 0; g < metadata.row_groups.length; g++) {
      const groupRows = Number(metadata.row_groups[g].num_rows);
      const groupEnd = groupStart + groupRows;
      let rows: ArrayLike<unknown>;
      try {
        rows = await readRowGroupColumn(buffer, metadata, column, groupStart, groupEnd, compressors);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: row group ${g} (samples ${groupStart}..${groupEnd - 1}): ${msg}`);
      }
      for (let r = 0; r < groupRows; r++) {
        const sampleId = groupStart + r;
        const row = rows[r];
        if (!Array.isArray(row)) {
          throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: sample ${sampleId}: ${column} is ${row === undefined ? 'missing' : String(row)}; expected a list of ids`);
        }
        const ids = toTokenIds(row as ArrayLike<number | bigint>, 0, row.length, `${file}: sample ${sampleId}`, column);
        yield makeSample(sampleId, ids, maxSeqLen);
      }
      groupStart = groupEnd;
    }
  } finally {
    await handle.close();
  }
}
