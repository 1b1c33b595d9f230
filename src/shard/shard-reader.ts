// The one checked shard reader (format 2.0). Every byte it hands out or parses was hashed
// against the manifest first, in this order (docs/FORMAT.md §7):
//   1. the shard's size equals the manifest's `bytes`;
//   2. the index file's size and sha256 equal the manifest's, before it is parsed; then its
//      rows agree with the manifest (count, order, bounds, sums);
//   3. the schema message [8, 8 + schemaLength) hashes to `schemaSha256` before it is parsed,
//      and its metadata agrees with the manifest;
//   4. a batch's message hashes to the index's message_sha256 before anyone decodes it.
// No allocation is ever sized from bytes that were not checked. Parquet shards (format 2.2)
// follow the same steps, with the footer tail in place of the schema message (step 3) and a
// row group in place of a record-batch message (step 4), re-encoded to the served stream.
import { createHash } from 'node:crypto';
import { type RecordBatch, RecordBatchReader } from 'apache-arrow';
import { type ByteSource, readInto } from './byte-source.js';
import { registerCodecs } from './codecs.js';
import { ShardCorruptError } from './errors.js';
import { decodeIndex, SHA_BYTES, shaHexAt, type ShardIndex } from './index-file.js';
import { batchStream, EOS, FILE_HEAD } from './ipc-framing.js';
import type { ShardEntry } from './manifest.js';
import { fromRecordBatch } from './record-batch.js';
import { layoutFromSchema } from './schema.js';
import type { TopkBatch, TopkLayout } from './types.js';
import { sameValueParams } from './encodings/value-planes.js';
import { checkParquetTail } from './parquet/checked-tail.js';
import type { ParquetFooter } from './parquet/footer.js';
import { decodeRowGroup, streamOf } from './parquet/row-group.js';
import { DEFAULT_Q8_SCALE } from './values.js';
import { sameRaggedParams } from './ragged.js';

/** What the reader needs from the manifest beyond the shard entry. */
export interface ShardContext {
  layout: TopkLayout;
  batchSize: number;
  /** The dataset's last shard is the only one whose last batch may be short. */
  isLastShard: boolean;
}

/** One batch as the checked index describes it. */
export interface BatchInfo {
  batch: number;
  shard: ShardEntry;
  /** Row in the shard's index. */
  row: number;
  offset: number;
  length: number;
  samples: number;
  tokens: number;
  /** Sample id of the batch's first row. */
  firstSample: number;
  /** sha256 of the record-batch message (the x-logit-cache-batch-sha256 header). */
  messageSha256: string;
  /** sha256 of the one-batch stream (the x-logit-cache-stream-sha256 header and the ETag). */
  streamSha256: string;
}

/** A batch whose bytes were hashed against the index: safe to send or decode. */
export interface VerifiedBatch {
  info: BatchInfo;
  /** schema message ++ record-batch message ++ end-of-stream: what GET /logits sends. */
  stream: Uint8Array;
  /** The record-batch message (a view into `stream`). */
  message: Uint8Array;
  /** Parquet shards: the batch already decoded (the stream was re-encoded from it). */
  decoded?: RecordBatch;
  /** Shared-prefix shards: the resolved batch the stream was encoded from. */
  resolved?: TopkBatch;
  /** Shared-prefix shards: positions of the batch taken from an owner (Σ of its stored prefix_len); `verify` checks the manifest's counts against them. */
  sharedPositions?: number;
}

/**
 * Remembers batches whose bytes were hashed and found right, so a later read of the very
 * same, unchanged file may skip the hash (the server's, in src/server/verified-batches.ts).
 */
export interface VerifiedMemo {
  /** True when `info`'s batch was verified from this file and the file is unchanged since. */
  vouches(source: ByteSource, info: BatchInfo): Promise<boolean>;
  /** Called after the batch's bytes hashed to the index's checksum. */
  verified(source: ByteSource, info: BatchInfo): void;
}

export interface ReadOptions {
  /** Where the stream is assembled (default: a fresh buffer); must return exactly `length` bytes. */
  alloc?: (length: number) => Uint8Array;
  memo?: VerifiedMemo;
}

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

/** Step 1: the source has exactly the manifest's size. */
export function checkShardSize(source: ByteSource, entry: ShardEntry): void {
  if (source.byteLength !== entry.bytes) {
    throw new ShardCorruptError(entry.file, null, `size ${source.byteLength} bytes, manifest says ${entry.bytes} (truncated or replaced)`);
  }
}

export class ShardReader {
  private constructor(
    readonly entry: ShardEntry,
    readonly index: ShardIndex,
    /** The verified schema message, as stored. */
    readonly schemaBytes: Uint8Array,
    /** Sample id of each row's first sample. */
    private readonly rowFirstSample: Float64Array,
    /** The dataset's layout (the manifest's, checked against this shard's schema). */
    readonly layout: TopkLayout,
    /** Parquet shards: the checked footer (row groups and the Arrow schema); null for Arrow shards. */
    readonly parquet: ParquetFooter | null = null,
  ) {}

  /**
   * Checks the shard's size (1), index (2) and schema (3). The index source is read whole
   * (it is small) and may be closed afterwards; the shard source is kept by the caller for
   * batch reads. Anything wrong throws ShardCorruptError naming the shard.
   */
  static async open(entry: ShardEntry, ctx: ShardContext, shard: ByteSource, indexSource: ByteSource): Promise<ShardReader> {
    checkShardSize(shard, entry);
    const fail = (detail: string): never => { throw new ShardCorruptError(entry.file, null, detail); };
    // 2. Index: size and hash before a single byte is parsed.
    if (indexSource.byteLength !== entry.index.bytes) fail(`index ${entry.index.file} is ${indexSource.byteLength} bytes, manifest says ${entry.index.bytes}`);
    const indexBytes = await indexSource.read(0, entry.index.bytes);
    const indexSha = sha256(indexBytes).toString('hex');
    if (indexSha !== entry.index.sha256) fail(`index ${entry.index.file} sha256 ${indexSha} does not match manifest ${entry.index.sha256}`);
    const index: ShardIndex = decodeIndex(indexBytes, entry.file, entry.index.file);
    const rowFirstSample = checkIndex(index, entry, ctx, fail);
    if (ctx.layout.shardFormat === 'parquet') {
      // 3. Parquet tail: hash before parse, footer against the index, its Arrow schema against the manifest.
      const footer = await checkParquetTail(shard, entry, index, fail);
      checkSchema(footer.schemaMessage, entry, ctx.layout, fail);
      return new ShardReader(entry, index, footer.schemaMessage, rowFirstSample, ctx.layout, footer);
    }
    // 3. Schema message: hash before parse, then agree with the manifest.
    const schemaBytes = await shard.read(FILE_HEAD.length, FILE_HEAD.length + entry.schemaLength);
    const schemaSha = sha256(schemaBytes).toString('hex');
    if (schemaSha !== entry.schemaSha256) fail(`schema message sha256 ${schemaSha} does not match manifest ${entry.schemaSha256}`);
    checkSchema(schemaBytes, entry, ctx.layout, fail);
    return new ShardReader(entry, index, schemaBytes, rowFirstSample, ctx.layout);
  }

  /** The index row of dataset batch `batch` (which must be in this shard). */
  info(batch: number): BatchInfo {
    const row = batch - this.entry.firstBatch;
    if (!Number.isInteger(row) || row < 0 || row >= this.index.rows) {
      throw new RangeError(`batch ${batch} is not in shard ${this.entry.file} (batches ${this.entry.firstBatch}..${this.entry.firstBatch + this.entry.batchCount - 1})`);
    }
    const ix = this.index;
    return {
      batch, shard: this.entry, row, offset: ix.offset[row], length: ix.length[row], samples: ix.samples[row], tokens: ix.tokens[row],
      firstSample: this.rowFirstSample[row], messageSha256: shaHexAt(ix.messageSha256, row), streamSha256: shaHexAt(ix.streamSha256, row),
    };
  }

  /** Step 4: reads batch `batch` from `source` (this shard's bytes) into one stream buffer and checks its hash. */
  async read(source: ByteSource, batch: number, opts: ReadOptions = {}): Promise<VerifiedBatch> {
    const info = this.info(batch);
    // Its stored bytes are not what a client is served: shared-prefix.ts resolves them first.
    if (this.shared) throw new Error(`shard ${this.entry.file} stores shared prefixes (format 2.5); read it through CheckedDataset, which resolves them`);
    if (this.parquet) return this.readRowGroup(source, info, this.parquet, opts);
    const head = this.schemaBytes.length;
    // One buffer of exactly the response, its length taken from the checked index.
    const length = head + info.length + EOS.length;
    const stream = opts.alloc ? opts.alloc(length) : Buffer.allocUnsafe(length);
    stream.set(this.schemaBytes, 0);
    const message = stream.subarray(head, head + info.length);
    await readInto(source, info.offset, message);
    // Asked only after the bytes are in hand, so a change to the file during the read is seen.
    if (!(await opts.memo?.vouches(source, info))) {
      this.checkMessage(message, info);
      opts.memo?.verified(source, info);
    }
    stream.set(EOS, head + info.length);
    return { info, stream, message };
  }

  /** Step 4 for Parquet: the row group's bytes hashed, decoded, re-encoded, and the stream's hash checked. */
  private async readRowGroup(source: ByteSource, info: BatchInfo, footer: ParquetFooter, opts: ReadOptions): Promise<VerifiedBatch> {
    const bytes = await source.read(info.offset, info.offset + info.length);
    if (!(await opts.memo?.vouches(source, info))) {
      this.checkMessage(bytes, info);
      opts.memo?.verified(source, info);
    }
    let decoded: RecordBatch;
    try {
      decoded = decodeRowGroup(bytes, footer.rowGroups[info.row], footer, `row group ${info.row}`);
    } catch (e) {
      throw new ShardCorruptError(this.entry.file, info.batch, (e as Error).message);
    }
    const { stream, message } = streamOf(decoded, this.schemaBytes, opts.alloc);
    // The served stream is re-made, not stored: its hash must be the one the writer recorded.
    const got = sha256(stream);
    if (!got.equals(this.index.streamSha256.subarray(info.row * SHA_BYTES, (info.row + 1) * SHA_BYTES))) {
      throw new ShardCorruptError(this.entry.file, info.batch, `re-encoded stream sha256 ${got.toString('hex')} does not match index ${info.streamSha256}`);
    }
    return { info, stream, message, decoded };
  }

  /** True for shared-prefix shards (format 2.5): batches are read with readStored and resolved. */
  get shared(): boolean {
    return this.layout.sharedPrefixes === true;
  }

  /**
   * Step 4 for a shared-prefix shard: the stored bytes (Arrow record-batch message or Parquet
   * row group) hashed against message_sha256, then decoded to the stored record batch. The
   * stream a client is served is the resolved batch's (checked-dataset.ts).
   */
  async readStored(source: ByteSource, batch: number, memo?: VerifiedMemo): Promise<{ info: BatchInfo; rb: RecordBatch }> {
    const info = this.info(batch);
    const bytes = await source.read(info.offset, info.offset + info.length);
    if (!(await memo?.vouches(source, info))) {
      this.checkMessage(bytes, info);
      memo?.verified(source, info);
    }
    registerCodecs();
    try {
      if (this.parquet) return { info, rb: decodeRowGroup(bytes, this.parquet.rowGroups[info.row], this.parquet, `row group ${info.row}`) };
      return { info, rb: firstBatchOf(batchStream(this.schemaBytes, bytes)) };
    } catch (e) {
      throw new ShardCorruptError(this.entry.file, info.batch, (e as Error).message);
    }
  }

  private checkMessage(bytes: Uint8Array, info: BatchInfo): void {
    const got = sha256(bytes);
    const want = this.index.messageSha256.subarray(info.row * SHA_BYTES, (info.row + 1) * SHA_BYTES);
    if (!got.equals(want)) throw new ShardCorruptError(this.entry.file, info.batch, `sha256 ${got.toString('hex')} does not match index ${info.messageSha256}`);
  }
}

/** Rows against the manifest entry; returns each row's first sample id. */
function checkIndex(ix: ShardIndex, entry: ShardEntry, ctx: ShardContext, fail: (d: string) => never): Float64Array {
  const at = `index ${entry.index.file}`;
  if (ix.rows !== entry.batchCount) fail(`${at} has ${ix.rows} rows, manifest says ${entry.batchCount} batches`);
  if (ix.firstBatch !== entry.firstBatch || ix.firstSample !== entry.firstSample) {
    fail(`${at} starts at batch ${ix.firstBatch} sample ${ix.firstSample}, manifest says batch ${entry.firstBatch} sample ${entry.firstSample}`);
  }
  const first = new Float64Array(ix.rows);
  // Arrow: batches follow the schema message; Parquet: row groups follow "PAR1", back to back, and end where the tail starts.
  const parquet = ctx.layout.shardFormat === 'parquet';
  let expect = parquet ? 4 : FILE_HEAD.length + entry.schemaLength;
  const dataEnd = parquet ? entry.bytes - entry.schemaLength : entry.bytes;
  let samples = 0, tokens = 0;
  for (let i = 0; i < ix.rows; i++) {
    const off = ix.offset[i], len = ix.length[i], n = ix.samples[i];
    // The first batch follows the schema message directly; the rest follow in order, no overlap.
    if (i === 0 || parquet ? off !== expect : off < expect) fail(`${at} row ${i}: offset ${off}, expected ${i === 0 || parquet ? '' : 'at least '}${expect}`);
    if (len < 8 || off + len > dataEnd) fail(`${at} row ${i}: ${parquet ? 'row group' : 'message'} at ${off}+${len} does not fit the ${entry.bytes}-byte shard${parquet ? ' before its footer' : ''}`);
    if (parquet && i === ix.rows - 1 && off + len !== dataEnd) fail(`${at} row ${i}: the last row group ends at ${off + len}, the footer starts at ${dataEnd}`);
    const lastRow = ctx.isLastShard && i === ix.rows - 1;
    if (lastRow ? n < 1 || n > ctx.batchSize : n !== ctx.batchSize) fail(`${at} row ${i}: ${n} samples; batchSize is ${ctx.batchSize}`);
    first[i] = entry.firstSample + samples;
    expect = off + len;
    samples += n;
    tokens += ix.tokens[i];
  }
  if (samples !== entry.sampleCount || tokens !== entry.tokens) {
    fail(`${at} rows sum to ${samples} samples/${tokens} tokens, manifest says ${entry.sampleCount}/${entry.tokens}`);
  }
  // A recorded shared-position count is confirmed by the hashed index, as tokens are. An index
  // may hold one the manifest leaves out (a build resumed from shards of an older writer records
  // counts in no shard of the manifest); nothing is read by it then.
  if (entry.sharedPositions !== undefined && ix.sharedPositions !== entry.sharedPositions) {
    fail(`${at} records ${ix.sharedPositions ?? 'no'} shared positions, manifest says ${entry.sharedPositions}`);
  }
  return first;
}

function checkSchema(schemaBytes: Uint8Array, entry: ShardEntry, layout: TopkLayout, fail: (d: string) => never): void {
  let fileLayout: TopkLayout;
  try {
    const withEos = new Uint8Array(schemaBytes.length + EOS.length);
    withEos.set(schemaBytes, 0);
    withEos.set(EOS, schemaBytes.length);
    fileLayout = layoutFromSchema(RecordBatchReader.from(withEos).open().schema, entry.file);
  } catch (e) {
    return fail(`schema message: ${(e as Error).message}`);
  }
  // A 1.0 writer could leave the scale unset ("undefined" in the schema): that meant the default.
  const q8 = (l: TopkLayout) => (l.values !== 'q8' ? null : Number.isFinite(Number(l.q8Scale)) ? Number(l.q8Scale) : DEFAULT_Q8_SCALE);
  if (fileLayout.k !== layout.k || fileLayout.values !== layout.values || fileLayout.vocabSize !== layout.vocabSize || q8(fileLayout) !== q8(layout)
    || !sameValueParams(fileLayout, layout) || Boolean(fileLayout.tailMass) !== Boolean(layout.tailMass) || (fileLayout.ids ?? 'plain') !== (layout.ids ?? 'plain')) {
    fail(`schema says k=${fileLayout.k} ${fileLayout.values} vocab ${fileLayout.vocabSize} q8 scale ${q8(fileLayout)} ids ${fileLayout.ids ?? 'plain'} tail mass ${Boolean(fileLayout.tailMass)}, manifest k=${layout.k} ${layout.values} vocab ${layout.vocabSize} q8 scale ${q8(layout)} ids ${layout.ids ?? 'plain'} tail mass ${Boolean(layout.tailMass)}`);
  }
  if (Boolean(fileLayout.sharedPrefixes) !== Boolean(layout.sharedPrefixes)) {
    fail(`schema says shared prefixes ${Boolean(fileLayout.sharedPrefixes)} (logit_cache.shared_prefixes), manifest topk.sharedPrefixes ${Boolean(layout.sharedPrefixes)}`);
  }
  if (!sameRaggedParams(fileLayout, layout)) {
    fail(`schema says top-p ${fileLayout.topP ?? 'none'} min-k ${fileLayout.minK ?? 'none'}, manifest topk.topP ${layout.topP ?? 'none'} topk.minK ${layout.minK ?? 'none'}`);
  }
}

/** Decodes a verified batch to typed arrays, rechecking its counts and sample ids against the index. */
export function decodeVerified(v: VerifiedBatch, layout: TopkLayout): TopkBatch {
  registerCodecs();
  const { info } = v;
  const where = `shard ${info.shard.file} batch ${info.batch}`;
  let out: TopkBatch;
  try {
    out = v.resolved ?? fromRecordBatch(v.decoded ?? firstBatchOf(v.stream), layout, where);
  } catch (e) {
    if (e instanceof ShardCorruptError) throw e;
    throw new ShardCorruptError(info.shard.file, info.batch, (e as Error).message);
  }
  if (out.offsets.length - 1 !== info.samples || out.inputIds.length !== info.tokens) {
    throw new ShardCorruptError(info.shard.file, info.batch, `holds ${out.offsets.length - 1} samples/${out.inputIds.length} tokens, index says ${info.samples}/${info.tokens}`);
  }
  for (let i = 0; i < info.samples; i++) {
    if (out.sampleIds[i] !== info.firstSample + i) {
      throw new ShardCorruptError(info.shard.file, info.batch, `row ${i} has sample_id ${out.sampleIds[i]}, expected ${info.firstSample + i}`);
    }
  }
  return out;
}

function firstBatchOf(stream: Uint8Array): RecordBatch {
  const reader = RecordBatchReader.from(stream);
  reader.open();
  const result = reader.next();
  if (result.done) throw new Error('no record batch in message');
  return result.value;
}
