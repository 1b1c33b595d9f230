// The per-shard index (format 2.0): one row per stored batch, in order, kept in a small
// uncompressed Arrow IPC file beside the shard. The manifest holds its size and sha256, so a
// reader hashes it before it parses a byte of it (docs/FORMAT.md §6).
import {
  Field, FixedSizeBinary, makeData, RecordBatch, RecordBatchFileReader, Schema, Struct, Table, tableToIPC, Uint32, Uint64,
} from 'apache-arrow';
import { FORMAT_VERSION } from './types.js';
import { ShardCorruptError } from './errors.js';

export const INDEX_META = {
  formatVersion: 'logit_cache.format_version',
  firstBatch: 'logit_cache.first_batch',
  firstSample: 'logit_cache.first_sample',
  /** Shared-prefix shards (2.5, optional): Σ prefix_len, the manifest's sharedPositions under the index's hash. */
  sharedPositions: 'logit_cache.shared_positions',
} as const;

export const INDEX_COLUMNS = ['offset', 'length', 'samples', 'tokens', 'message_sha256', 'stream_sha256'] as const;
export const SHA_BYTES = 32;

/** The index of one shard as flat arrays; row i describes the shard's i-th batch. */
export interface ShardIndex {
  firstBatch: number;
  firstSample: number;
  /** Shared-prefix shards: positions stored once in an earlier sample (metadata, absent in indexes written before it was). */
  sharedPositions?: number;
  rows: number;
  /** Byte offset of the record-batch message in the shard. */
  offset: Float64Array;
  /** Byte length of that message (continuation marker to end of body). */
  length: Float64Array;
  samples: Uint32Array;
  tokens: Float64Array;
  /** rows × 32 bytes: sha256 of each record-batch message. */
  messageSha256: Uint8Array;
  /** rows × 32 bytes: sha256 of each one-batch stream (schema ++ message ++ end-of-stream). */
  streamSha256: Uint8Array;
}

/** Same folder, same stem: `shards/shard-000003.arrow` (or `.parquet`) -> `shards/shard-000003.idx.arrow`. */
// Lives with the other file names (generations.ts), where modules that must not load Arrow find it.
export { indexFileOf } from './generations.js';

function indexSchema(firstBatch: number, firstSample: number, sharedPositions?: number): Schema {
  return new Schema([
    new Field('offset', new Uint64(), false),
    new Field('length', new Uint64(), false),
    new Field('samples', new Uint32(), false),
    new Field('tokens', new Uint64(), false),
    new Field('message_sha256', new FixedSizeBinary(SHA_BYTES), false),
    new Field('stream_sha256', new FixedSizeBinary(SHA_BYTES), false),
  ], new Map([
    [INDEX_META.formatVersion, FORMAT_VERSION],
    [INDEX_META.firstBatch, String(firstBatch)],
    [INDEX_META.firstSample, String(firstSample)],
    ...(sharedPositions !== undefined ? [[INDEX_META.sharedPositions, String(sharedPositions)] as [string, string]] : []),
  ]));
}

const toU64 = (a: Float64Array, n: number): BigUint64Array => {
  const out = new BigUint64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(a[i]);
  return out;
};

/** The index file's bytes: an Arrow IPC file with a single record batch. */
export function encodeIndex(ix: ShardIndex): Uint8Array {
  const schema = indexSchema(ix.firstBatch, ix.firstSample, ix.sharedPositions);
  const n = ix.rows;
  const [fOff, fLen, fSam, fTok, fMsg, fStr] = schema.fields;
  const children = [
    makeData({ type: fOff.type as Uint64, length: n, nullCount: 0, data: toU64(ix.offset, n) }),
    makeData({ type: fLen.type as Uint64, length: n, nullCount: 0, data: toU64(ix.length, n) }),
    makeData({ type: fSam.type as Uint32, length: n, nullCount: 0, data: ix.samples.subarray(0, n) }),
    makeData({ type: fTok.type as Uint64, length: n, nullCount: 0, data: toU64(ix.tokens, n) }),
    makeData({ type: fMsg.type as FixedSizeBinary, length: n, nullCount: 0, data: ix.messageSha256.subarray(0, n * SHA_BYTES) }),
    makeData({ type: fStr.type as FixedSizeBinary, length: n, nullCount: 0, data: ix.streamSha256.subarray(0, n * SHA_BYTES) }),
  ];
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return tableToIPC(new Table([new RecordBatch(schema, struct)]), 'file');
}

/**
 * Parses index bytes that were already checked against the manifest's sha256 (never call it
 * on unchecked bytes: the Arrow reader sizes buffers from them). Checks the columns' names and
 * types, since a correct hash of a wrong writer's file is still a wrong file.
 */
export function decodeIndex(bytes: Uint8Array, shardFile: string, indexFile: string): ShardIndex {
  // Every failure, ours or the Arrow reader's, is the shard's: it names the shard and its index.
  try {
    return parseIndex(bytes, `index ${indexFile}`);
  } catch (e) {
    if (e instanceof ShardCorruptError) throw e;
    throw new ShardCorruptError(shardFile, null, (e as Error)?.message ?? String(e));
  }
}

function parseIndex(bytes: Uint8Array, where: string): ShardIndex {
  const reader = RecordBatchFileReader.from(bytes);
  reader.open();
  const schema = reader.schema;
  const names = schema.fields.map((f) => f.name);
  if (names.join(',') !== INDEX_COLUMNS.join(',')) throw new Error(`${where}: index columns are ${names.join(', ')}, expected ${INDEX_COLUMNS.join(', ')}`);
  const want = indexSchema(0, 0).fields;
  schema.fields.forEach((f, i) => {
    if (String(f.type) !== String(want[i].type)) throw new Error(`${where}: index column ${f.name} is ${String(f.type)}, expected ${String(want[i].type)}`);
  });
  const meta = (key: string): number => {
    const v = schema.metadata.get(key);
    if (v === undefined || !/^[0-9]{1,15}$/.test(v)) throw new Error(`${where}: index metadata ${key} is ${JSON.stringify(v)}, expected a decimal integer`);
    return Number(v);
  };
  const version = schema.metadata.get(INDEX_META.formatVersion);
  if (version === undefined || !/^2\.[0-9]+$/.test(version)) throw new Error(`${where}: index format version ${JSON.stringify(version)}, expected 2.x`);
  const batches = [...reader];
  if (batches.length !== 1) throw new Error(`${where}: index holds ${batches.length} record batches, expected 1`);
  const rb = batches[0];
  const n = rb.numRows;
  const u64 = (name: string): Float64Array => {
    const d = rb.getChild(name)!.data[0];
    const v = (d.values as BigUint64Array).subarray(d.offset, d.offset + n);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (v[i] > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${where}: index ${name}[${i}] = ${v[i]} is beyond 2^53`);
      out[i] = Number(v[i]);
    }
    return out;
  };
  const bin = (name: string): Uint8Array => {
    const d = rb.getChild(name)!.data[0];
    return (d.values as Uint8Array).slice(d.offset * SHA_BYTES, (d.offset + n) * SHA_BYTES);
  };
  const sd = rb.getChild('samples')!.data[0];
  return {
    firstBatch: meta(INDEX_META.firstBatch),
    firstSample: meta(INDEX_META.firstSample),
    ...(schema.metadata.has(INDEX_META.sharedPositions) ? { sharedPositions: meta(INDEX_META.sharedPositions) } : {}),
    rows: n,
    offset: u64('offset'),
    length: u64('length'),
    samples: (sd.values as Uint32Array).slice(sd.offset, sd.offset + n),
    tokens: u64('tokens'),
    messageSha256: bin('message_sha256'),
    streamSha256: bin('stream_sha256'),
  };
}

/** Row `i`'s hash as lowercase hex. */
export function shaHexAt(shas: Uint8Array, i: number): string {
  return Buffer.from(shas.buffer, shas.byteOffset + i * SHA_BYTES, SHA_BYTES).toString('hex');
}

/** Collects index rows as a shard is written (grows by doubling: one row per batch). */
export class IndexBuilder {
  private cap = 16;
  private ix: ShardIndex;

  constructor(firstBatch: number, firstSample: number) {
    this.ix = {
      firstBatch, firstSample, rows: 0,
      offset: new Float64Array(this.cap), length: new Float64Array(this.cap), samples: new Uint32Array(this.cap), tokens: new Float64Array(this.cap),
      messageSha256: new Uint8Array(this.cap * SHA_BYTES), streamSha256: new Uint8Array(this.cap * SHA_BYTES),
    };
  }

  get rows(): number {
    return this.ix.rows;
  }

  push(offset: number, length: number, samples: number, tokens: number, messageSha: Uint8Array, streamSha: Uint8Array): void {
    if (this.ix.rows === this.cap) this.grow();
    const i = this.ix.rows++;
    this.ix.offset[i] = offset; this.ix.length[i] = length; this.ix.samples[i] = samples; this.ix.tokens[i] = tokens;
    this.ix.messageSha256.set(messageSha, i * SHA_BYTES);
    this.ix.streamSha256.set(streamSha, i * SHA_BYTES);
  }

  /** The index so far; `sharedPositions` (shared-prefix shards) goes in its metadata. */
  build(sharedPositions?: number): ShardIndex {
    return sharedPositions === undefined ? this.ix : { ...this.ix, sharedPositions };
  }

  private grow(): void {
    const cap = this.cap * 2;
    const g = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, n: number): T => {
      const out = new (a.constructor as new (n: number) => T)(n);
      out.set(a);
      return out;
    };
    this.ix = {
      ...this.ix,
      offset: g(this.ix.offset, cap), length: g(this.ix.length, cap), samples: g(this.ix.samples, cap), tokens: g(this.ix.tokens, cap),
      messageSha256: g(this.ix.messageSha256, cap * SHA_BYTES), streamSha256: g(this.ix.streamSha256, cap * SHA_BYTES),
    };
    this.cap = cap;
  }
}
