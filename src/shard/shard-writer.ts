// Writes one shard: an Arrow IPC file assembled message by message under a temporary
// name, committed by fsync + rename only when complete, then its index file (format 2.0)
// the same way. The caller records both in a sidecar only after both are committed.
import { CodedError, describeWriteFailure } from '../errors.js';
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Schema } from 'apache-arrow';
import { compressionTypeOf, registerCodecs, withZstdLevel } from './codecs.js';
import { onInterrupt } from './cleanup.js';
import { commitFile, temporaryName, writeAll, writeFileAtomic } from './fs-atomic.js';
import { encodeIndex, IndexBuilder } from './index-file.js';
import { type BlockInfo, EOS, FILE_HEAD, fileTail, serializeBatch } from './ipc-framing.js';
import { toRecordBatch } from './record-batch.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';
import { validateBatch } from './validate.js';
import { shardSchema } from './schema.js';
import { ctxTableFor, idEncodingOf } from './encodings/id-columns.js';

export interface ShardResult {
  bytes: number;
  sha256: string;
  schemaLength: number;
  schemaSha256: string;
  batchCount: number;
  samples: number;
  tokens: number;
  /** The committed index file: its size and sha256 go in the manifest. */
  index: { bytes: number; sha256: string };
}

export interface ShardWriterOptions {
  /** Where the index file goes (beside the shard, same stem). */
  indexPath: string;
  /** Dataset batch and sample numbers of this shard's first row, recorded in the index. */
  firstBatch: number;
  firstSample: number;
  /** ZSTD level for codec zstd (default: the library's, 3). */
  zstdLevel?: number;
}

export class ShardWriter {
  private fd: number;
  private readonly tmp: string;
  private readonly fileHash: Hash = createHash('sha256');
  private position = 0;
  private schemaBytes: Uint8Array | null = null;
  private readonly blocks: BlockInfo[] = [];
  private readonly index: IndexBuilder;
  private samples = 0;
  private tokens = 0;
  private readonly dropInterruptUndo: () => void;

  constructor(
    readonly path: string,
    private schema: Schema,
    private readonly layout: TopkLayout,
    private readonly codec: CodecName,
    private readonly opts: ShardWriterOptions,
  ) {
    registerCodecs();
    this.tmp = temporaryName(path);
    this.index = new IndexBuilder(opts.firstBatch, opts.firstSample);
    this.fd = openSync(this.tmp, 'wx');
    // Ctrl-C between here and the commit removes the unfinished file.
    this.dropInterruptUndo = onInterrupt(() => this.abort());
    this.write(FILE_HEAD);
  }

  get batchCount(): number {
    return this.index.rows;
  }

  /** Validates, encodes and appends one batch. */
  append(batch: TopkBatch): void {
    validateBatch(batch, this.layout, `shard ${basename(this.path)} batch ${this.index.rows}`);
    // ctx-table: the shard's id table comes from its first batch and lives in its schema message.
    if (this.schemaBytes === null && idEncodingOf(this.layout) === 'ctx-table') this.schema = shardSchema(this.layout, ctxTableFor(batch, this.layout));
    const rb = toRecordBatch(this.schema, this.layout, batch);
    const { schemaBytes, batchBytes, metaDataLength } = withZstdLevel(this.opts.zstdLevel, () => serializeBatch(rb, compressionTypeOf(this.codec)));
    if (this.schemaBytes === null) {
      this.write(schemaBytes);
      this.schemaBytes = schemaBytes.slice();
    }
    const offset = this.position;
    this.write(batchBytes);
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
    this.write(fileTail(this.schema, this.blocks));
    commitFile(this.fd, this.tmp, this.path);
    this.fd = -1;
    this.dropInterruptUndo();
    // A shard without its index has no sidecar yet: the next run removes both and redoes it.
    const indexBytes = encodeIndex(this.index.build());
    writeFileAtomic(this.opts.indexPath, indexBytes);
    return {
      bytes: this.position,
      sha256: this.fileHash.digest('hex'),
      schemaLength: this.schemaBytes.length,
      schemaSha256: createHash('sha256').update(this.schemaBytes).digest('hex'),
      batchCount: this.index.rows,
      samples: this.samples,
      tokens: this.tokens,
      index: { bytes: indexBytes.length, sha256: createHash('sha256').update(indexBytes).digest('hex') },
    };
  }

  /** Drops the unfinished file; safe to call after a failed write. */
  abort(): void {
    if (this.fd >= 0) {
      try { closeSync(this.fd); } catch { /* already closed by a failed write */ }
      this.fd = -1;
    }
    rmSync(this.tmp, { force: true });
    this.dropInterruptUndo();
  }

  private write(bytes: Uint8Array): void {
    try {
      writeAll(this.fd, bytes);
    } catch (e) {
      throw this.writeError(this.path, e);
    }
    this.fileHash.update(bytes);
    this.position += bytes.length;
  }

  private writeError(file: string, e: unknown): Error {
    return new CodedError('LC_ERR_WRITE_FAILED', `shard ${file}: write failed (${describeWriteFailure(e)}); committed shards are kept, so re-running the same command resumes after them`, { file }, { cause: e });
  }
}
