// The Parquet writers bench/parquet-writers.ts compares, each writing the same stored batches
// (one row group per batch where the writer can) to one file. Each takes what the project has
// (TopkBatch typed arrays and the Arrow schema/record batches the shard writer builds) and
// does whatever conversion that writer needs; the conversion is part of its measured time.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { RecordBatch, Table, tableToIPC, type Schema } from 'apache-arrow';
import { serializeBatch } from '../../src/shard/ipc-framing.js';
import { ParquetShardWriter } from '../../src/shard/parquet/parquet-shard-writer.js';
import type { ValueEncodingName } from '../../src/shard/parquet/leaf-values.js';
import type { LeafColumn } from '../../src/shard/parquet/parquet-schema.js';
import { toRecordBatch } from '../../src/shard/record-batch.js';
import { ShardWriter } from '../../src/shard/shard-writer.js';
import type { CodecName, TopkBatch, TopkLayout } from '../../src/shard/types.js';

const require = createRequire(import.meta.url);

/** codec: one of ours (lz4, zstd, none), or gzip for the writer that has neither lz4 nor zstd. */
export interface WriteJob { batches: TopkBatch[]; schema: Schema; layout: TopkLayout; path: string; codec: string; zstdLevel: number }
export interface Candidate {
  name: string;
  /** The npm package, for its installed version and release date. */
  pkg: string | null;
  /** Can it append batch by batch to a file (a shard never held whole in memory)? */
  streaming: string;
  codecs: string[];
  write(job: WriteJob): Promise<void>;
}

const shardOpts = (job: WriteJob, encodingOf?: (leaf: LeafColumn) => ValueEncodingName) => ({
  indexPath: `${job.path}.idx.arrow`, firstBatch: 0, firstSample: 0, zstdLevel: job.zstdLevel, ...(encodingOf ? { parquetEncodingOf: encodingOf } : {}),
});

function own(name: string, encodingOf?: (leaf: LeafColumn) => ValueEncodingName): Candidate {
  return {
    name, pkg: null, streaming: 'yes (row group per append)', codecs: ['lz4', 'zstd', 'none'],
    async write(job) {
      const w = new ParquetShardWriter(job.path, job.schema, job.layout, job.codec as CodecName, shardOpts(job, encodingOf));
      for (const b of job.batches) w.append(b);
      w.finish();
    },
  };
}

/** The Arrow IPC shard writer with the same codec: the size every Parquet row is compared with. */
const arrowShard: Candidate = {
  name: 'arrow shard (baseline)', pkg: null, streaming: 'yes', codecs: ['lz4', 'zstd', 'none'],
  async write(job) {
    const layout = { ...job.layout, shardFormat: undefined };
    const w = new ShardWriter(job.path, job.schema, layout, job.codec as CodecName, shardOpts(job));
    for (const b of job.batches) w.append(b);
    w.finish();
  },
};

/** parquet-wasm (arrow-rs in WebAssembly): an Arrow IPC stream in, row groups of batchSize rows. */
const parquetWasm: Candidate = {
  name: 'parquet-wasm', pkg: 'parquet-wasm', streaming: 'transformParquetStream (row groups cut by row count)', codecs: ['lz4', 'zstd', 'none'],
  async write(job) {
    const pw = require('parquet-wasm/node') as typeof import('parquet-wasm/node');
    const rbs = job.batches.map((b) => toRecordBatch(job.schema, job.layout, b));
    const table = pw.Table.fromIPCStream(tableToIPC(new Table(job.schema, rbs as RecordBatch[]), 'stream'));
    const codec = job.codec === 'zstd' ? pw.Compression.ZSTD : job.codec === 'lz4' ? pw.Compression.LZ4_RAW : pw.Compression.UNCOMPRESSED;
    const props = new pw.WriterPropertiesBuilder().setCompression(codec).setMaxRowGroupSize(job.batches[0].offsets.length - 1).build();
    writeFileSync(job.path, pw.writeParquet(table, props));
  },
};

interface HyparquetWriterLib {
  ParquetWriter: new (o: Record<string, unknown>) => { write(o: Record<string, unknown>): void; finish(): void };
  fileWriter(path: string): unknown;
}

/** Parquet schema elements for hyparquet-writer, from the Arrow schema (required LIST groups). */
function hyparquetSchema(schema: Schema): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [{ name: 'root', num_children: schema.fields.length }];
  const leaf = (t: { typeId: number; bitWidth?: number; isSigned?: boolean; precision?: number }, name: string) => {
    if (t.bitWidth === 64) return { name, type: 'INT64', repetition_type: 'REQUIRED', converted_type: t.isSigned ? 'INT_64' : 'UINT_64' };
    if (t.bitWidth === 16) return { name, type: 'INT32', repetition_type: 'REQUIRED', converted_type: 'UINT_16' };
    if (t.bitWidth === 8) return { name, type: 'INT32', repetition_type: 'REQUIRED', converted_type: 'UINT_8' };
    if (t.bitWidth === 32) return { name, type: 'INT32', repetition_type: 'REQUIRED' };
    if (t.precision === 0) return { name, type: 'FIXED_LEN_BYTE_ARRAY', type_length: 2, repetition_type: 'REQUIRED', logical_type: { type: 'FLOAT16' } };
    return { name, type: 'FLOAT', repetition_type: 'REQUIRED' };
  };
  for (const f of schema.fields) {
    let t = f.type as unknown as { typeId: number; children?: { type: unknown }[] };
    let name = f.name;
    while (t.children?.length) {
      out.push({ name, repetition_type: 'REQUIRED', num_children: 1, converted_type: 'LIST' }, { name: 'list', repetition_type: 'REPEATED', num_children: 1 });
      name = 'element';
      t = t.children[0].type as typeof t;
    }
    out.push(leaf(t as never, name));
  }
  return out;
}

function arrowSchemaBase64(job: WriteJob): string {
  const { schemaBytes } = serializeBatch(toRecordBatch(job.schema, job.layout, job.batches[0]), null);
  return Buffer.from(schemaBytes).toString('base64');
}

/** hyparquet-writer: columns as JS arrays (nested lists as arrays of arrays), one write() per row group. */
const hyparquetWriter: Candidate = {
  name: 'hyparquet-writer', pkg: 'hyparquet-writer', streaming: 'yes (ParquetWriter.write per row group)', codecs: ['zstd', 'none'],
  async write(job) {
    const lib = (await import('hyparquet-writer')) as unknown as HyparquetWriterLib;
    const zstd = require('zstd-napi') as { compress(d: Uint8Array, p?: object): Buffer };
    const writer = lib.fileWriter(job.path);
    const pw = new lib.ParquetWriter({
      writer, schema: hyparquetSchema(job.schema), codec: job.codec === 'zstd' ? 'ZSTD' : 'UNCOMPRESSED', statistics: false,
      compressors: { ZSTD: (b: Uint8Array) => new Uint8Array(zstd.compress(b, { compressionLevel: job.zstdLevel })) },
      // The same ARROW:schema key the shard writer adds, so pyarrow can restore the same types.
      kvMetadata: [...[...job.schema.metadata].map(([key, value]) => ({ key, value })), { key: 'ARROW:schema', value: arrowSchemaBase64(job) }],
    });
    const k = job.layout.k;
    for (const b of job.batches) {
      const n = b.offsets.length - 1;
      const rows = (fn: (t: number) => unknown) => Array.from({ length: n }, (_, i) => Array.from({ length: b.offsets[i + 1] - b.offsets[i] }, (_, j) => fn(b.offsets[i] + j)));
      const fixed = (a: ArrayLike<number>) => (t: number) => Array.from({ length: k }, (_, r) => a[t * k + r]);
      pw.write({
        rowGroupSize: n,
        columnData: [
          { name: 'sample_id', data: Array.from(b.sampleIds, (s) => BigInt(s)) },
          { name: 'input_ids', data: rows((t) => b.inputIds[t]) },
          { name: 'topk_ids', data: rows(fixed(b.topkIds)) },
          { name: 'topk_logprobs', data: rows(fixed(b.topkLogprobs)) },
        ],
      });
    }
    pw.finish();
  },
};

/** parquetjs-lite (the design card's choice): row objects, repeated groups; no float16, zstd or lz4. */
const parquetjsLite: Candidate = {
  name: 'parquetjs-lite', pkg: 'parquetjs-lite', streaming: 'yes (appendRow, row groups by row count)', codecs: ['gzip', 'none'],
  async write(job) {
    const pq = require('parquetjs-lite') as { ParquetSchema: new (s: object) => unknown; ParquetWriter: { openFile(s: unknown, p: string, o: object): Promise<{ appendRow(r: object): Promise<void>; close(): Promise<void> }> } };
    const compression = job.codec === 'none' ? 'UNCOMPRESSED' : 'GZIP';
    const schema = new pq.ParquetSchema({
      sample_id: { type: 'INT64', compression },
      input_ids: { type: 'INT32', repeated: true, compression },
      topk_ids: { repeated: true, fields: { element: { type: 'UINT_16', repeated: true, compression } } },
      topk_logprobs: { repeated: true, fields: { element: { type: 'FLOAT', repeated: true, compression } } },
    });
    const w = await pq.ParquetWriter.openFile(schema, job.path, { rowGroupSize: job.batches[0].offsets.length - 1, useDataPageV2: false });
    const k = job.layout.k;
    for (const b of job.batches) {
      for (let i = 0; i < b.offsets.length - 1; i++) {
        const s = b.offsets[i], e = b.offsets[i + 1];
        const lists = (a: ArrayLike<number>) => Array.from({ length: e - s }, (_, j) => ({ element: Array.from({ length: k }, (_, r) => a[(s + j) * k + r]) }));
        await w.appendRow({ sample_id: b.sampleIds[i], input_ids: Array.from(b.inputIds.subarray(s, e)), topk_ids: lists(b.topkIds), topk_logprobs: lists(b.topkLogprobs) });
      }
    }
    await w.close();
  },
};

const bssAll = (): ValueEncodingName => 'BYTE_STREAM_SPLIT';
const plainAll = (): ValueEncodingName => 'PLAIN';

export const CANDIDATES: Candidate[] = [
  arrowShard,
  own('logit-cache (own writer, chosen encodings)'),
  own('logit-cache, BYTE_STREAM_SPLIT but float16', (leaf) => (leaf.physical === 'FIXED_LEN_BYTE_ARRAY' ? 'PLAIN' : 'BYTE_STREAM_SPLIT')),
  own('logit-cache, BYTE_STREAM_SPLIT everywhere', bssAll),
  own('logit-cache, PLAIN everywhere', plainAll),
  parquetWasm,
  hyparquetWriter,
  parquetjsLite,
];
