/** Fixture writers and paths shared by the dataset tests. Fixtures go to a fresh temp dir. */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type DataType,
  Field,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Uint16,
  Uint32,
  makeData,
  tableToIPC,
} from 'apache-arrow';
import parquet from 'parquetjs-lite';
import { readSamples } from '../../src/data/read-samples.js';
import { findPython } from '../python.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = path.resolve(repoRoot, '../shared');
export const storiesPath = path.join(sharedDir, 'teachers/stories260k/stories.jsonl');
export const haveStories = existsSync(storiesPath);
if (!haveStories) console.log(`skipping stories.jsonl tests: ${storiesPath} not found`);

const tempDirs: string[] = [];

/** A fresh directory under the OS temp dir, removed when the test file finishes. */
export function tempDir(prefix = 'lc-data-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Call from afterAll in test files (the bench removes its own directory). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A Python with pyarrow (the project's .venv, or LOGIT_CACHE_PYTHON), for fixtures written the way most datasets are. */
export const pyarrowPython: string | undefined = (() => {
  const { python, reason } = findPython();
  if (!python) console.log(`skipping pyarrow-written fixtures: ${reason}`);
  return python ?? undefined;
})();

export function writeJsonl(file: string, samples: readonly (readonly number[])[], column = 'input_ids'): void {
  const lines = samples.map((ids, i) => JSON.stringify({ id: i, [column]: ids, text: `sample ${i} "quoted" ✓` }));
  writeFileSync(file, lines.join('\n') + '\n');
}

export type ArrowIdType = 'int8' | 'int16' | 'int32' | 'int64' | 'uint16' | 'uint32';

function arrowType(t: ArrowIdType): DataType {
  switch (t) {
    case 'int8': return new Int8();
    case 'int16': return new Int16();
    case 'int32': return new Int32();
    case 'int64': return new Int64();
    case 'uint16': return new Uint16();
    case 'uint32': return new Uint32();
  }
}

function typedValues(t: ArrowIdType, values: readonly number[]) {
  switch (t) {
    case 'int8': return Int8Array.from(values);
    case 'int16': return Int16Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'int64': return BigInt64Array.from(values, (v) => BigInt(v));
    case 'uint16': return Uint16Array.from(values);
    case 'uint32': return Uint32Array.from(values);
  }
}

/** One record batch holding `samples` as a list<t> column (plus a text column the reader must ignore). */
function listBatch(samples: readonly (readonly number[])[], t: ArrowIdType, column: string): RecordBatch {
  const offsets = new Int32Array(samples.length + 1);
  const flat: number[] = [];
  samples.forEach((ids, i) => { flat.push(...ids); offsets[i + 1] = flat.length; });
  const itemType = arrowType(t);
  const child = makeData({ type: itemType, length: flat.length, data: typedValues(t, flat) } as never);
  const listType = new List(new Field('item', itemType, false));
  const ids = makeData({ type: listType, length: samples.length, valueOffsets: offsets, child });
  const idCol = new Field(column, listType, false);
  const noteType = new Int32();
  const note = makeData({ type: noteType, length: samples.length, data: Int32Array.from(samples, (_, i) => i) });
  const schema = new Schema([new Field('row', noteType, false), idCol]);
  const struct = makeData({ type: new Struct(schema.fields), length: samples.length, children: [note, ids] });
  return new RecordBatch(schema, struct);
}

/** Write an Arrow IPC file or stream with record batches of `batchRows` samples each. */
export function writeArrow(
  file: string,
  samples: readonly (readonly number[])[],
  opts: { format?: 'file' | 'stream'; type?: ArrowIdType; batchRows?: number; column?: string } = {},
): void {
  const t = opts.type ?? 'int32';
  const rows = Math.max(1, opts.batchRows ?? 64);
  const batches: RecordBatch[] = [];
  for (let i = 0; i < samples.length; i += rows) batches.push(listBatch(samples.slice(i, i + rows), t, opts.column ?? 'input_ids'));
  if (batches.length === 0) batches.push(listBatch([], t, opts.column ?? 'input_ids'));
  writeFileSync(file, tableToIPC(new Table(batches), opts.format ?? 'file'));
}

/** Write Parquet with parquetjs-lite (2-level `repeated int32` list encoding). */
export async function writeParquetLite(
  file: string,
  samples: readonly (readonly number[])[],
  opts: { rowGroupSize?: number; compression?: 'UNCOMPRESSED' | 'SNAPPY' } = {},
): Promise<void> {
  const schema = new parquet.ParquetSchema({
    id: { type: 'INT32' },
    input_ids: { type: 'INT32', repeated: true, compression: opts.compression ?? 'UNCOMPRESSED' },
  });
  const writer = await parquet.ParquetWriter.openFile(schema, file, { rowGroupSize: opts.rowGroupSize ?? 64 });
  for (let i = 0; i < samples.length; i++) await writer.appendRow({ id: i, input_ids: samples[i] });
  await writer.close();
}

export interface PyarrowFixture {
  file: string;
  samples: readonly (readonly (number | null)[] | null)[];
  kind: 'parquet' | 'arrow-file' | 'arrow-stream';
  /** A pyarrow type expression, e.g. 'pa.large_list(pa.int64())'. Default list<int32>. */
  listType?: string;
  /** Keyword arguments for pq.write_table (compression, version, row_group_size, ...). */
  parquetArgs?: Record<string, unknown>;
}

/** Write fixtures with pyarrow, all in one interpreter (starting one costs about a second). */
export function writeWithPyarrow(python: string, fixtures: readonly PyarrowFixture[]): void {
  const script = `
import json, sys, pyarrow as pa, pyarrow.parquet as pq
for spec in json.loads(sys.stdin.read()):
    t = pa.table({'text': ['t'] * len(spec['samples']), 'input_ids': pa.array(spec['samples'], type=eval(spec.get('listType') or 'pa.list_(pa.int32())'))})
    if spec['kind'] == 'parquet':
        pq.write_table(t, spec['file'], **(spec.get('parquetArgs') or {}))
    else:
        new = pa.ipc.new_file if spec['kind'] == 'arrow-file' else pa.ipc.new_stream
        with new(spec['file'], t.schema) as w:
            w.write_table(t, max_chunksize=50)
`;
  execFileSync(python, ['-c', script], { input: JSON.stringify(fixtures) });
}

export interface PlainSample {
  sampleId: number;
  ids: number[];
  truncatedFrom?: number;
}

/** Collect a reader's output as plain values that compare structurally. */
export async function collect(samples: AsyncIterable<{ sampleId: number; inputIds: Int32Array; truncatedFrom?: number }>): Promise<PlainSample[]> {
  const out: PlainSample[] = [];
  for await (const s of samples) {
    const p: PlainSample = { sampleId: s.sampleId, ids: Array.from(s.inputIds) };
    if (s.truncatedFrom !== undefined) p.truncatedFrom = s.truncatedFrom;
    out.push(p);
  }
  return out;
}

/** What a correct reader must yield for `samples`: computed here independently of src/. */
export function expected(samples: readonly (readonly number[])[], maxSeqLen?: number): PlainSample[] {
  return samples.map((ids, i) => {
    if (maxSeqLen !== undefined && ids.length > maxSeqLen) return { sampleId: i, ids: ids.slice(0, maxSeqLen), truncatedFrom: ids.length };
    return { sampleId: i, ids: [...ids] };
  });
}

/** Ids of stories.jsonl parsed with JSON.parse, the reference for the streaming scanner. */
export async function storiesIds(): Promise<number[][]> {
  const { readFileSync } = await import('node:fs');
  return readFileSync(storiesPath, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l).input_ids as number[]);
}

/** Fail fast instead of hanging until the test timeout when a reader waits for end of input. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms (is the reader waiting for end of input?)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The message a full read of `file` fails with, or 'no error'. */
export async function errorOf(file: string): Promise<string> {
  try {
    await collect(readSamples(file));
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}
