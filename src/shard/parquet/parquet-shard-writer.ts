// Writes one Parquet shard (format 2.2): "PAR1", then one row group per stored batch (its
// column chunks back to back, so a batch is one contiguous byte range the index can hash),
// then the footer. The footer's key/value metadata carries the Arrow schema's logit_cache.*
// keys and ARROW:schema (base64 of the Arrow IPC schema message), so Arrow-based readers
// restore uint16, float16 and fixed_size_list exactly. Everything is derived from the Arrow
// schema and record batch the Arrow path builds, so new columns flow through unchanged.
import { createHash } from 'node:crypto';
import type { Schema } from 'apache-arrow';
import { serializeBatch, streamSha256 } from '../ipc-framing.js';
import type { ShardResult, ShardWriterOptions } from '../shard-sink.js';
import { resolvedStreamSha, ShardWriterBase } from '../shard-writer-base.js';
import type { CodecName, TopkBatch, TopkLayout } from '../types.js';
import { VERSION } from '../../version.js';
import { type ChunkSettings, columnChunkStruct, encodeColumnChunk } from './column-chunk-encode.js';
import type { ValueEncodingName } from './leaf-values.js';
import { ARROW_SCHEMA_KEY, type LeafColumn, leafColumns, PARQUET_MAGIC, schemaElements } from './parquet-schema.js';
import { bin, encodeStruct, i32, i64, type ThriftStruct } from './thrift-writer.js';


/**
 * Value encodings, chosen by bench/parquet-writers.ts on stories260k (k = 8, f16): dictionaries
 * for 32-bit integer leaves (ids, input ids, byte planes), byte planes (BYTE_STREAM_SPLIT)
 * for float32/float64, PLAIN for float16 and uint64. DuckDB 1.5 reads BYTE_STREAM_SPLIT only
 * on FLOAT and DOUBLE, so it is not used on integers or float16 although it would be smaller.
 */
export function defaultParquetEncoding(leaf: LeafColumn): ValueEncodingName {
  if (leaf.physical === 'INT32') return 'RLE_DICTIONARY';
  return leaf.physical === 'FLOAT' || leaf.physical === 'DOUBLE' ? 'BYTE_STREAM_SPLIT' : 'PLAIN';
}

export class ParquetShardWriter extends ShardWriterBase {
  private readonly leaves: LeafColumn[];
  private readonly settings: ChunkSettings;
  private readonly rowGroups: ThriftStruct[] = [];
  /** The Arrow schema message of the first batch: ARROW:schema and every stream's head. */
  private schemaMessage: Uint8Array | null = null;
  private rows = 0;

  constructor(path: string, schema: Schema, layout: TopkLayout, codec: CodecName, opts: ShardWriterOptions) {
    super(path, schema, layout, codec, opts, PARQUET_MAGIC);
    this.leaves = leafColumns(schema);
    this.settings = { codec, zstdLevel: opts.zstdLevel, encodingOf: opts.parquetEncodingOf ?? defaultParquetEncoding };
  }

  append(batch: TopkBatch, unsetShared?: Uint8Array): void {
    const { rb, resolved } = this.encodeBatch(batch, unsetShared);
    // What GET /logits serves for this batch: the same Arrow stream (shared prefixes: the
    // resolved batch's), uncompressed, hashed once here.
    const { schemaBytes, batchBytes } = serializeBatch(rb, null);
    this.schemaMessage ??= schemaBytes.slice();
    const streamSha = resolved ? resolvedStreamSha(resolved) : streamSha256(this.schemaMessage, batchBytes);
    const start = this.file.position;
    const rowGroupHash = createHash('sha256');
    const columns: ThriftStruct[] = [];
    let uncompressed = 0;
    this.leaves.forEach((leaf, i) => {
      const chunk = encodeColumnChunk(leaf, rb.getChildAt(i)!.data[0], this.settings);
      columns.push(columnChunkStruct(leaf, chunk, this.file.position, this.codec));
      for (const page of chunk.pages) {
        for (const part of [page.header, page.body]) {
          this.file.write(part);
          rowGroupHash.update(part);
        }
        uncompressed += page.header.length + page.uncompressedSize;
      }
    });
    const length = this.file.position - start;
    this.rowGroups.push([
      [1, { t: 'list', elem: 'struct', v: columns }], [2, i64(uncompressed)], [3, i64(rb.numRows)], [5, i64(start)], [6, i64(length)],
    ]);
    this.rows += rb.numRows;
    this.indexRow(batch, start, length, rowGroupHash.digest(), streamSha);
  }

  finish(): ShardResult {
    if (this.schemaMessage === null) throw new Error(`shard ${this.path}: no batches to write`);
    const tail = this.tail(this.schemaMessage);
    // The tail is both the last bytes written and the region the manifest's schemaSha256 covers.
    return this.commit(tail, tail);
  }

  /** FileMetaData, its length (uint32 LE) and "PAR1": the region the manifest's schemaSha256 covers. */
  private tail(schemaMessage: Uint8Array): Uint8Array {
    const kv: ThriftStruct[] = [...this.schema.metadata].map(([k, v]) => [[1, bin(k)], [2, bin(v)]]);
    kv.push([[1, bin(ARROW_SCHEMA_KEY)], [2, bin(Buffer.from(schemaMessage).toString('base64'))]]);
    const footer = encodeStruct([
      [1, i32(2)],
      [2, { t: 'list', elem: 'struct', v: schemaElements(this.schema) }],
      [3, i64(this.rows)],
      [4, { t: 'list', elem: 'struct', v: this.rowGroups }],
      [5, { t: 'list', elem: 'struct', v: kv }],
      [6, bin(`logit-cache version ${VERSION}`)],
    ]);
    const out = new Uint8Array(footer.length + 8);
    out.set(footer, 0);
    new DataView(out.buffer).setUint32(footer.length, footer.length, true);
    out.set(PARQUET_MAGIC, footer.length + 4);
    return out;
  }
}
