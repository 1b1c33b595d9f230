// What both shard writers (Arrow IPC and Parquet) share: the file written through ShardFile,
// the index built row by row, the one validate-and-build-record-batch step every format
// encodes from, and the commit of shard then index.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { RecordBatch, Schema } from 'apache-arrow';
import { IndexBuilder } from './index-file.js';
import { serializeBatch, streamSha256 } from './ipc-framing.js';
import { toRecordBatch } from './record-batch.js';
import { resolvedSchemaOf, servedLayout, shardSchema } from './schema.js';
import {
  assembleResolved, fillFullyShared, fullyShared, type OwnerRow, PrefixChooser, type PrefixRefs, rootPositionsCap, samplePositions,
} from './shared-prefix.js';

export { WRITER_ROOT_BYTES } from './shared-prefix.js';
import { ctxTableFor, idEncodingOf } from './encodings/id-columns.js';
import { commitIndex, ShardFile } from './shard-file.js';
import type { ShardResult, ShardSink, ShardWriterOptions } from './shard-sink.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';
import { validateBatch } from './validate.js';

/** What a writer stores for one batch, and (shared prefixes) the resolved batch clients are served. */
export interface EncodedBatch {
  rb: RecordBatch;
  /** Shared-prefix layouts: the resolved batch as a 2.4 writer would store it; its stream's sha256 goes in the index. */
  resolved: RecordBatch | null;
}

export abstract class ShardWriterBase implements ShardSink {
  protected readonly file: ShardFile;
  /** Shared prefixes (format 2.5): the per-shard choice and the positions of the roots it keeps (copies). */
  private readonly chooser: PrefixChooser | null;
  private readonly owners = new Map<number, OwnerRow>();
  protected readonly index: IndexBuilder;
  private samples = 0;
  private tokens = 0;
  /** Shared prefixes: Σ prefix_len over the batches encoded (a failed batch drops the whole shard, so none is counted in vain). */
  private sharedPositions = 0;

  constructor(
    readonly path: string,
    protected schema: Schema,
    protected readonly layout: TopkLayout,
    protected readonly codec: CodecName,
    protected readonly opts: ShardWriterOptions,
    /** The bytes a file of this format starts with. */
    head: Uint8Array,
  ) {
    this.index = new IndexBuilder(opts.firstBatch, opts.firstSample);
    if (Boolean(layout.sharedPrefixes) !== (opts.sharePrefixes ?? 0) > 0) {
      throw new Error(`shard ${path}: layout sharedPrefixes ${Boolean(layout.sharedPrefixes)} but minimum shared length ${opts.sharePrefixes ?? 0}`);
    }
    // Roots' positions are kept while they may be referenced: at most WRITER_ROOT_BYTES of them.
    this.chooser = layout.sharedPrefixes ? new PrefixChooser(opts.sharePrefixes!, rootPositionsCap(layout, opts.sharePrefixRootBytes)) : null;
    this.file = new ShardFile(path);
    this.file.write(head);
  }

  get batchCount(): number {
    return this.index.rows;
  }

  abstract append(batch: TopkBatch, unsetShared?: Uint8Array): void;
  abstract finish(): ShardResult;

  abort(): void {
    this.file.abort();
  }

  /**
   * Validates a batch and builds its Arrow record batch (and the resolved one): what every
   * format encodes. `unsetShared` (shared prefixes): per sample, 1 when its positions were not
   * computed (the teacher skipped it); those are filled here from their owners first, and
   * each must be a sample this writer's choice shares in full.
   */
  protected encodeBatch(batch: TopkBatch, unsetShared?: Uint8Array): EncodedBatch {
    const where = `shard ${basename(this.path)} batch ${this.index.rows}`;
    // With unset positions, their fill comes first (the chooser itself reads input ids only).
    if (!this.chooser || !unsetShared) validateBatch(batch, this.layout, where);
    if (!this.chooser) {
      this.useCtxTable(batch);
      return { rb: toRecordBatch(this.schema, this.layout, batch), resolved: null };
    }
    const n = batch.offsets.length - 1;
    const refs: PrefixRefs = { sample: new Float64Array(n), len: new Int32Array(n) };
    const { added, evicted } = this.chooser.choose(batch, refs);
    const ownStart = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ownStart[i] = batch.offsets[i] + refs.len[i];
      this.sharedPositions += refs.len[i];
    }
    // A root's stored positions are all of its positions: what samples referencing it copy, later.
    // Roots are never fully shared, so their positions are always the teacher's.
    const first = batch.sampleIds[0];
    for (const s of added) {
      const i = s - first;
      this.owners.set(s, { batch: samplePositions(batch, batch.offsets[i], batch.offsets[i + 1] - batch.offsets[i], s, this.layout.k), row: 0 });
    }
    const ownerOf = (i: number): OwnerRow => this.owners.get(refs.sample[i])!;
    if (unsetShared) {
      // The precompute predicted these with the same chooser; a sample it skipped that this
      // choice does not share in full would otherwise be stored with positions nobody computed.
      for (let i = 0; i < n; i++) {
        if (unsetShared[i] && !fullyShared(batch.offsets, refs, i)) {
          throw new Error(`${where}: sample ${batch.sampleIds[i]} was not computed but the writer shares only ${refs.len[i]} of its ${batch.offsets[i + 1] - batch.offsets[i]} positions`);
        }
      }
      fillFullyShared(batch, refs, ownerOf, this.layout.k);
      validateBatch(batch, this.layout, where);
    }
    this.useCtxTable(batch);
    // What a reader resolves this batch to: the owners' positions [0, L), then each sample's own.
    const full = assembleResolved(batch, refs, batch, ownStart, ownerOf, this.layout);
    // Only now: a root let go during this batch may still have been referenced in it.
    for (const s of evicted) this.owners.delete(s);
    return { rb: toRecordBatch(this.schema, this.layout, batch, refs), resolved: toRecordBatch(resolvedSchemaOf(this.schema, this.layout), servedLayout(this.layout), full) };
  }

  /**
   * ctx-table: the shard's id table comes from its first batch (all of its positions, shared
   * ones included) and lives in its schema (the Arrow schema message, or the Parquet footer).
   */
  private useCtxTable(batch: TopkBatch): void {
    if (this.index.rows === 0 && idEncodingOf(this.layout) === 'ctx-table') this.schema = shardSchema(this.layout, ctxTableFor(batch, this.layout));
  }

  /** Records the batch just written at [offset, offset + length) in the index. */
  protected indexRow(batch: TopkBatch, offset: number, length: number, messageSha: Uint8Array, streamSha: Uint8Array): void {
    const samples = batch.offsets.length - 1;
    this.index.push(offset, length, samples, batch.inputIds.length, messageSha, streamSha);
    this.samples += samples;
    this.tokens += batch.inputIds.length;
  }

  /** Writes the last bytes, commits the shard, then its index. `schemaRegion`: what schemaLength/schemaSha256 cover. */
  protected commit(last: Uint8Array, schemaRegion: Uint8Array): ShardResult {
    this.file.write(last);
    const { bytes, sha256 } = this.file.commit();
    return {
      bytes, sha256, schemaLength: schemaRegion.length, schemaSha256: createHash('sha256').update(schemaRegion).digest('hex'),
      batchCount: this.index.rows, samples: this.samples, tokens: this.tokens,
      ...(this.chooser ? { sharedPositions: this.sharedPositions } : {}),
      // The count also goes in the index, under the hash the manifest records for it (docs/FORMAT.md §6.2).
      index: commitIndex(this.opts.indexPath, this.index.build(this.chooser ? this.sharedPositions : undefined)),
    };
  }
}

/** sha256 of the one-batch stream GET /logits serves for a resolved batch: uncompressed, as every reader re-makes it. */
export function resolvedStreamSha(resolved: RecordBatch): Buffer {
  const { schemaBytes, batchBytes } = serializeBatch(resolved, null);
  return streamSha256(schemaBytes, batchBytes);
}
