// One shard file opened for serving. On open, the record batches are located through the
// file's footer and cross-checked against the manifest; any disagreement refuses the whole
// shard. Each read then slices one batch's bytes, verifies them against the manifest
// sha256 (the file may have changed since it was opened), and frames them as a stream.
import { RecordBatchReader, type Schema } from 'apache-arrow';
import {
  type BatchBytes, type BatchEntry, EOS, footerProblems, readShardFooter, ShardCorruptError, type ShardEntry, ShardFile, sha256Hex, type TopkLayout,
} from '../shard/index.js';

/** "ARROW1" plus padding before the schema message. */
const FILE_HEAD_LENGTH = 8;

interface Block { offset: number; length: number }

export class OpenShard {
  private readonly file: ShardFile;
  /** The schema message as stored, checked against the footer's schema at open. */
  readonly schemaBytes: Buffer;
  private readonly blocks: Block[];

  /** Throws ShardCorruptError for anything that keeps the shard from being served. */
  constructor(readonly path: string, readonly shard: ShardEntry, layout: TopkLayout) {
    this.file = new ShardFile(path, shard.bytes, shard.file);
    try {
      const footerSchema = this.readFooter(layout);
      this.blocks = footerSchema.blocks;
      this.schemaBytes = this.readSchemaMessage(footerSchema.schema);
    } catch (e) {
      this.file.close();
      if (e instanceof ShardCorruptError) throw e;
      throw new ShardCorruptError(shard.file, null, (e as Error).message);
    }
  }

  /**
   * The one-batch IPC stream for `batch`: schema message, the batch's record-batch
   * message, end-of-stream. Throws ShardCorruptError (and nothing is returned) when the
   * bytes no longer hash to the manifest's sha256.
   */
  async readBatch(batch: number, entry: BatchEntry): Promise<{ body: Buffer; bytes: BatchBytes }> {
    const block = this.blocks[batch - this.shard.firstBatch];
    if (!block) throw new RangeError(`batch ${batch} is not in shard ${this.shard.file} (batches ${this.shard.firstBatch}..${this.shard.firstBatch + this.shard.batchCount - 1})`);
    const head = this.schemaBytes.length;
    // One allocation of exactly the response: the batch message is read in place.
    const body = Buffer.allocUnsafe(head + block.length + EOS.length);
    this.schemaBytes.copy(body, 0);
    const message = await this.file.readAsync(block.offset, body.subarray(head, head + block.length));
    const got = sha256Hex(message);
    if (got !== entry.sha256) {
      throw new ShardCorruptError(this.shard.file, batch, `sha256 ${got} does not match manifest ${entry.sha256}`);
    }
    body.set(EOS, head + block.length);
    return { body, bytes: { schemaBytes: this.schemaBytes, batchBytes: message, entry, shard: this.shard } };
  }

  close(): void {
    this.file.close();
  }

  /** Reads the footer; the first disagreement with the manifest refuses the shard. */
  private readFooter(layout: TopkLayout): { schema: Schema; blocks: Block[] } {
    const footer = readShardFooter(this.file, `shard ${this.shard.file}`);
    const problem = footerProblems(footer, this.shard, layout)[0];
    if (problem) throw new Error(problem.message);
    return { schema: footer.schema, blocks: footer.blocks.map((b) => ({ offset: b.offset, length: b.metaDataLength + b.bodyLength })) };
  }

  /** The schema message must decode to the same schema the footer declares. */
  private readSchemaMessage(footerSchema: Schema): Buffer {
    const bytes = this.file.read(FILE_HEAD_LENGTH, this.shard.schemaLength);
    let decoded: string;
    try {
      const reader = RecordBatchReader.from(Buffer.concat([bytes, EOS]));
      decoded = schemaSignature(reader.open().schema);
    } catch (e) {
      throw new Error(`schema message at byte ${FILE_HEAD_LENGTH} does not decode: ${(e as Error).message}`);
    }
    if (decoded !== schemaSignature(footerSchema)) throw new Error('schema message differs from the schema in the footer');
    return bytes;
  }
}

/** Fields (names, types, nullability) and metadata: what must agree between message and footer. */
function schemaSignature(schema: Schema): string {
  const meta = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([schema.fields.map((f) => [String(f), f.nullable, meta(f.metadata)]), meta(schema.metadata)]);
}
