// Writes one Arrow IPC shard: assembled message by message through a ShardFile (temporary
// name, committed by fsync + rename only when complete), then its index file (format 2.0)
// the same way. The caller records both in a sidecar only after both are committed.
import { createHash } from 'node:crypto';
import type { Schema } from 'apache-arrow';
import { compressionTypeOf, registerCodecs, withZstdLevel } from './codecs.js';
import { type BlockInfo, FILE_HEAD, fileTail, serializeBatch, streamSha256 } from './ipc-framing.js';
import type { ShardResult, ShardWriterOptions } from './shard-sink.js';
import { resolvedStreamSha, ShardWriterBase } from './shard-writer-base.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';

export type { ShardResult, ShardWriterOptions } from './shard-sink.js';

export class ShardWriter extends ShardWriterBase {
  private schemaBytes: Uint8Array | null = null;
  private readonly blocks: BlockInfo[] = [];

  constructor(path: string, schema: Schema, layout: TopkLayout, codec: CodecName, opts: ShardWriterOptions) {
    registerCodecs();
    super(path, schema, layout, codec, opts, FILE_HEAD);
  }

  /** Validates, encodes and appends one batch. */
  append(batch: TopkBatch, unsetShared?: Uint8Array): void {
    const { rb, resolved } = this.encodeBatch(batch, unsetShared);
    const { schemaBytes, batchBytes, metaDataLength } = withZstdLevel(this.opts.zstdLevel, () => serializeBatch(rb, compressionTypeOf(this.codec)));
    if (this.schemaBytes === null) {
      this.file.write(schemaBytes);
      this.schemaBytes = schemaBytes.slice();
    }
    const offset = this.file.position;
    this.file.write(batchBytes);
    this.blocks.push({ offset, metaDataLength, bodyLength: batchBytes.length - metaDataLength });
    const messageSha = createHash('sha256').update(batchBytes).digest();
    // What a client receives for this batch, hashed once here so nobody needs to later: the
    // stored bytes, or (shared prefixes) the resolved batch re-encoded uncompressed.
    const streamSha = resolved ? resolvedStreamSha(resolved) : streamSha256(this.schemaBytes, batchBytes);
    this.indexRow(batch, offset, batchBytes.length, messageSha, streamSha);
  }

  /** Writes the footer and commits the shard, then its index; both are visible only after this. */
  finish(): ShardResult {
    if (this.schemaBytes === null) throw new Error(`shard ${this.path}: no batches to write`);
    return this.commit(fileTail(this.schema, this.blocks), this.schemaBytes);
  }
}
