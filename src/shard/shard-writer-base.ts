// What both shard writers (Arrow IPC and Parquet) share: the file written through ShardFile,
// the index built row by row, the one validate-and-build-record-batch step every format
// encodes from, and the commit of shard then index.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { RecordBatch, Schema } from 'apache-arrow';
import { IndexBuilder } from './index-file.js';
import { toRecordBatch } from './record-batch.js';
import { commitIndex, ShardFile } from './shard-file.js';
import type { ShardResult, ShardSink, ShardWriterOptions } from './shard-sink.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';
import { validateBatch } from './validate.js';

export abstract class ShardWriterBase implements ShardSink {
  protected readonly file: ShardFile;
  protected readonly index: IndexBuilder;
  private samples = 0;
  private tokens = 0;

  constructor(
    readonly path: string,
    protected readonly schema: Schema,
    protected readonly layout: TopkLayout,
    protected readonly codec: CodecName,
    protected readonly opts: ShardWriterOptions,
    /** The bytes a file of this format starts with. */
    head: Uint8Array,
  ) {
    this.index = new IndexBuilder(opts.firstBatch, opts.firstSample);
    this.file = new ShardFile(path);
    this.file.write(head);
  }

  get batchCount(): number {
    return this.index.rows;
  }

  abstract append(batch: TopkBatch): void;
  abstract finish(): ShardResult;

  abort(): void {
    this.file.abort();
  }

  /** Validates a batch and builds its Arrow record batch: what every format encodes. */
  protected recordBatch(batch: TopkBatch): RecordBatch {
    validateBatch(batch, this.layout, `shard ${basename(this.path)} batch ${this.index.rows}`);
    return toRecordBatch(this.schema, this.layout, batch);
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
      index: commitIndex(this.opts.indexPath, this.index.build()),
    };
  }
}
