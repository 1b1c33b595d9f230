/**
 * Arrow IPC reader for both the file format (.arrow/.feather v2) and the stream format.
 *
 * The reader is handed a FileHandle, not a byte stream: given a plain stream, apache-arrow
 * buffers a whole *file*-format input in memory before reading its footer, whereas with a handle
 * it reads the footer and then one record batch at a time by offset. For the stream format the
 * handle is read sequentially, message by message.
 */

import { type ReadStream, createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { type Data, DataType, type Field, RecordBatchReader, type Schema } from 'apache-arrow';
import { type Sample, DEFAULT_COLUMN, checkInt32Ids, checkMaxSeqLen, makeSample, toTokenIds } from './sample.js';
import { CodedError } from '../errors.js';

export interface ArrowReadOptions {
  column?: string;
  maxSeqLen?: number;
}

function findListColumn(schema: Schema, file: string, column: string): number {
  const index = schema.fields.findIndex((f: Field) => f.name === column);
  if (index < 0) {
    const names = schema.fields.map((f: Field) => f.name).join(', ');
    throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: no column "${column}" (columns: ${names})`);
  }
  const type = schema.fields[index].type;
  const isList = DataType.isList(type) || DataType.isLargeList(type);
  const child = isList ? type.children[0]?.type : undefined;
  if (!isList || !child || !DataType.isInt(child)) {
    throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: column "${column}" is ${type}; expected a list of integers`);
  }
  return index;
}

/** Yield one Sample per row of a list<int*> column chunk. */
function* samplesFromListData(
  data: Data,
  firstSampleId: number,
  file: string,
  column: string,
  maxSeqLen: number | undefined,
): Generator<Sample> {
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  const child = data.children[0];
  const values = child.values as ArrayLike<number | bigint>;
  // Int32 values with no nulls can be handed out as views; everything else is copied while checked.
  const viewable = values instanceof Int32Array && child.nullCount === 0;
  for (let row = 0; row < data.length; row++) {
    const sampleId = firstSampleId + row;
    const where = `${file}: sample ${sampleId}`;
    if (data.nullCount > 0 && !data.getValid(row)) {
      throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${where}: ${column} is null; expected a list of ids`);
    }
    const start = Number(offsets[data.offset + row]);
    const end = Number(offsets[data.offset + row + 1]);
    if (child.nullCount > 0) {
      for (let i = start; i < end; i++) {
        if (!child.getValid(i)) throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${where}: ${column}[${i - start}] is null; ids must be non-negative integers below 2^31`);
      }
    }
    let ids: Int32Array;
    if (viewable) {
      ids = (values as Int32Array).subarray(child.offset + start, child.offset + end);
      checkInt32Ids(ids, where, column);
    } else {
      ids = toTokenIds(values, child.offset + start, child.offset + end, where, column);
    }
    yield makeSample(sampleId, ids, maxSeqLen);
  }
}

export async function* readArrowSamples(file: string, opts: ArrowReadOptions = {}): AsyncGenerator<Sample> {
  const column = opts.column ?? DEFAULT_COLUMN;
  const { maxSeqLen } = opts;
  checkMaxSeqLen(maxSeqLen);
  const info = await stat(file);
  // A zero-byte file is an empty dataset, not a malformed one (same as an empty JSONL file).
  if (info.isFile() && info.size === 0) return;
  // Pipes and devices cannot seek: read them as a byte stream (fine for the stream format).
  const handle = info.isFile() ? await open(file, 'r') : undefined;
  const stream = handle ? undefined : createReadStream(file);
  try {
    const reader = await (handle ? RecordBatchReader.from(handle) : RecordBatchReader.from(stream as ReadStream));
    try {
      await reader.open();
      const columnIndex = findListColumn(reader.schema, file, column);
      let sampleId = 0;
      for await (const batch of reader) {
        const vector = batch.getChildAt(columnIndex);
        if (!vector) continue;
        for (const data of vector.data) {
          yield* samplesFromListData(data, sampleId, file, column, maxSeqLen);
          sampleId += data.length;
        }
      }
    } finally {
      await reader.cancel();
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (msg.startsWith('dataset ')) throw err;
    throw new CodedError('LC_ERR_DATA_INVALID', `dataset ${file}: not a readable Arrow IPC file or stream: ${msg}`);
  } finally {
    await handle?.close();
    stream?.destroy();
  }
}
