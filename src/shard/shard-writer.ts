// Writes one shard: an Arrow IPC file assembled message by message under a temporary
// name, committed by fsync + rename only when complete.
import { CodedError, describeWriteFailure } from '../errors.js';
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Schema } from 'apache-arrow';
import { compressionTypeOf, registerCodecs } from './codecs.js';
import { onInterrupt } from './cleanup.js';
import { commitFile, temporaryName, writeAll } from './fs-atomic.js';
import { type BlockInfo, FILE_HEAD, fileTail, serializeBatch } from './ipc-framing.js';
import type { BatchEntry } from './manifest.js';
import { toRecordBatch } from './record-batch.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';
import { validateBatch } from './validate.js';

export interface ShardResult {
  bytes: number;
  sha256: string;
  schemaLength: number;
  batches: BatchEntry[];
}

export class ShardWriter {
  private fd: number;
  private readonly tmp: string;
  private readonly fileHash: Hash = createHash('sha256');
  private position = 0;
  private schemaLength = 0;
  private readonly blocks: BlockInfo[] = [];
  private readonly entries: BatchEntry[] = [];
  private readonly dropInterruptUndo: () => void;

  constructor(
    readonly path: string,
    private readonly schema: Schema,
    private readonly layout: TopkLayout,
    private readonly codec: CodecName,
  ) {
    registerCodecs();
    this.tmp = temporaryName(path);
    this.fd = openSync(this.tmp, 'wx');
    // Ctrl-C between here and the commit removes the unfinished file.
    this.dropInterruptUndo = onInterrupt(() => this.abort());
    this.write(FILE_HEAD);
  }

  get batchCount(): number {
    return this.entries.length;
  }

  /** Validates, encodes and appends one batch; returns its manifest entry. */
  append(batch: TopkBatch): BatchEntry {
    validateBatch(batch, this.layout, `shard ${basename(this.path)} batch ${this.entries.length}`);
    const rb = toRecordBatch(this.schema, this.layout, batch);
    const { schemaBytes, batchBytes, metaDataLength } = serializeBatch(rb, compressionTypeOf(this.codec));
    if (this.blocks.length === 0) {
      this.write(schemaBytes);
      this.schemaLength = schemaBytes.length;
    }
    const offset = this.position;
    this.write(batchBytes);
    this.blocks.push({ offset, metaDataLength, bodyLength: batchBytes.length - metaDataLength });
    const entry: BatchEntry = {
      offset,
      length: batchBytes.length,
      sha256: createHash('sha256').update(batchBytes).digest('hex'),
      samples: batch.offsets.length - 1,
      tokens: batch.inputIds.length,
    };
    this.entries.push(entry);
    return entry;
  }

  /** Writes the footer and commits the file; the shard is visible only after this. */
  finish(): ShardResult {
    if (this.blocks.length === 0) throw new Error(`shard ${this.path}: no batches to write`);
    this.write(fileTail(this.schema, this.blocks));
    commitFile(this.fd, this.tmp, this.path);
    this.fd = -1;
    this.dropInterruptUndo();
    return { bytes: this.position, sha256: this.fileHash.digest('hex'), schemaLength: this.schemaLength, batches: this.entries };
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
      throw new CodedError('LC_ERR_WRITE_FAILED', `shard ${this.path}: write failed (${describeWriteFailure(e)}); committed shards are kept, so re-running the same command resumes after them`, { file: this.path }, { cause: e });
    }
    this.fileHash.update(bytes);
    this.position += bytes.length;
  }
}
