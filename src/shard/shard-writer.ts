// Writes one Arrow IPC shard: assembled message by message through a ShardFile (temporary
// name, committed by fsync + rename only when complete), then its index file (format 2.0)
// the same way. The caller records both in a sidecar only after both are committed.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Schema } from 'apache-arrow';
import { compressionTypeOf, registerCodecs, withZstdLevel } from './codecs.js';
import { IndexBuilder } from './index-file.js';
import { type BlockInfo, EOS, FILE_HEAD, fileTail, serializeBatch } from './ipc-framing.js';
import { toRecordBatch } from './record-batch.js';
import { commitIndex, ShardFile } from './shard-file.js';
import type { ShardResult, ShardSink, ShardWriterOptions } from './shard-sink.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';
import { validateBatch } from './validate.js';

export type { ShardResult, ShardWriterOptions } from './shard-sink.js';

export class ShardWriter implements ShardSink {
  private readonly file: ShardFile;
  private schemaBytes: Uint8Array | null = null;
  private readonly blocks: BlockInfo[] = [];
  private readonly index: IndexBuilder;
  private samples = 0;
  private tokens = 0;

  constructor(
    readonly path: string,
    private readonly schema: Schema,
    private readonly layout: TopkLayout,
    private readonly codec: CodecName,
    private readonly opts: ShardWriterOptions,
  ) {
    registerCodecs();
    this.index = new IndexBuilder(opts.firstBatch, opts.firstSample);
    this.file = new ShardFile(path);
    this.file.write(FILE_HEAD);
  }

  get batchCount(): number {
    return this.index.rows;
  }

  /** Validates, encodes and appends one batch. */
  append(batch: TopkBatch): void {
    validateBatch(batch, this.layout, `shard ${basename(this.path)} batch ${this.index.rows}`);
    const rb = toRecordBatch(this.schema, this.layout, batch);
    const { schemaBytes, batchBytes, metaDataLength } = withZstdLevel(this.opts.zstdLevel, () => serializeBatch(rb, compressionTypeOf(this.codec)));
    if (this.schemaBytes === null) {
      this.file.write(schemaBytes);
      this.schemaBytes = schemaBytes.slice();
    }
    const offset = this.file.position;
    this.file.write(batchBytes);
    this.blocks.push({ offset, metaDataLength, bodyLength: batchBytes.length - metaDataLength });
    const messageSha = createHash('sha256').update(batchBytes).digest();
    // What a client receives for this batch, hashed once here so nobody needs to later.
    const streamSha = createHash('sha256').update(this.schemaBytes).update(batchBytes).update(EOS).digest();
    const samples = batch.offsets.length - 1;
    this.index.push(offset, batchBytes.length, samples, batch.inputIds.length, messageSha, streamSha);
    this.samples += samples;
    this.tokens += batch.inputIds.length;
  }

  /** Writes the footer and commits the shard, then its index; both are visible only after this. */
  finish(): ShardResult {
    if (this.schemaBytes === null) throw new Error(`shard ${this.path}: no batches to write`);
    this.file.write(fileTail(this.schema, this.blocks));
    const { bytes, sha256 } = this.file.commit();
    return {
      bytes,
      sha256,
      schemaLength: this.schemaBytes.length,
      schemaSha256: createHash('sha256').update(this.schemaBytes).digest('hex'),
      batchCount: this.index.rows,
      samples: this.samples,
      tokens: this.tokens,
      index: commitIndex(this.opts.indexPath, this.index.build()),
    };
  }

  abort(): void {
    this.file.abort();
  }
}
