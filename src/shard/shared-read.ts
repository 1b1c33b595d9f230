// Reading a shared-prefix dataset (format 2.5, docs/FORMAT.md §4.3): a batch's stored positions
// are decoded through the checked path, every reference is checked (refusals name shard, batch
// and sample), the owners' positions are copied in from their batches (read through the same
// checked path, kept in a small LRU so reading in order does not re-read them), and the
// resolved batch is re-encoded as the stream a 2.4 writer would have stored, whose sha256 must
// be the index's stream_sha256 (what GET /logits serves and its ETag).
import { createHash } from 'node:crypto';
import type { RecordBatch } from 'apache-arrow';
import { ShardCorruptError } from './errors.js';
import { EOS, serializeBatch } from './ipc-framing.js';
import { PromiseLru } from './lease-pool.js';
import { fromStoredRecordBatch, type StoredBatch, toRecordBatch } from './record-batch.js';
import { resolvedSchemaOf, servedLayout } from './schema.js';
import { assembleResolved, commonPrefix, type OwnerRow, type PrefixRefs } from './shared-prefix.js';
import type { BatchInfo, ReadOptions, VerifiedBatch, VerifiedMemo } from './shard-reader.js';
import type { TopkLayout } from './types.js';

/** Decoded stored batches kept per dataset: a batch's owners are in the same shard, at or before it. */
export const DECODED_BATCHES = 8;

/** Reads one stored batch through the checked path (size, index, schema, message hash). */
export type StoredReader = (batch: number, memo?: VerifiedMemo) => Promise<{ info: BatchInfo; rb: RecordBatch }>;

interface Decoded extends StoredBatch { info: BatchInfo; rbSchema: RecordBatch['schema'] }

export class SharedPrefixResolver {
  private readonly decoded = new PromiseLru<Decoded>(DECODED_BATCHES);

  constructor(private readonly layout: TopkLayout, private readonly batchSize: number, private readonly readStored: StoredReader) {}

  /** Batch `batch` resolved, as the verified stream a client is served. */
  async readStream(batch: number, cacheKey: string, opts: ReadOptions = {}): Promise<VerifiedBatch> {
    // The asked-for batch is always read (and hashed, unless the memo vouches) afresh; owners may come from the LRU.
    const own = this.decode(await this.readStored(batch, opts.memo));
    this.decoded.delete(`${cacheKey}\0${batch}`);
    this.decoded.get(`${cacheKey}\0${batch}`, () => Promise.resolve(own));
    const { info, refs, full } = own;
    const owners: (OwnerRow | null)[] = [];
    for (let i = 0; i < info.samples; i++) {
      if (refs.len[i] === 0) { owners.push(null); continue; }
      const o = refs.sample[i];
      const ob = Math.floor(o / this.batchSize);
      const owner = ob === batch ? own : await this.decoded.get(`${cacheKey}\0${ob}`, async () => this.decode(await this.readStored(ob)));
      owners.push(this.checkOwner(own, i, owner, o - ob * this.batchSize));
    }
    const resolved = assembleResolved(full, refs, own.view, own.view.offsets, (i) => owners[i], this.layout);
    const rb = toRecordBatch(resolvedSchemaOf(own.rbSchema, this.layout), servedLayout(this.layout), resolved);
    const { schemaBytes, batchBytes } = serializeBatch(rb, null);
    const length = schemaBytes.length + batchBytes.length + EOS.length;
    const stream = opts.alloc ? opts.alloc(length) : new Uint8Array(length);
    stream.set(schemaBytes, 0);
    stream.set(batchBytes, schemaBytes.length);
    stream.set(EOS, schemaBytes.length + batchBytes.length);
    const sha = createHash('sha256').update(stream).digest('hex');
    if (sha !== info.streamSha256) {
      throw new ShardCorruptError(info.shard.file, info.batch, `resolved stream sha256 ${sha} does not match index ${info.streamSha256}`);
    }
    return { info, stream, message: stream.subarray(schemaBytes.length, schemaBytes.length + batchBytes.length), decoded: rb, resolved };
  }

  /** The stored references of a batch (checked as its decode checks them) and its whole-sample offsets. */
  async refs(batch: number): Promise<{ refs: PrefixRefs; offsets: Int32Array }> {
    const d = this.decode(await this.readStored(batch));
    return { refs: d.refs, offsets: d.full.offsets };
  }

  forget(): void {
    this.decoded.clear();
  }

  /** Decodes a stored batch and checks what it says of itself: counts, sample ids, and rule 1 (owner earlier, same shard). */
  private decode({ info, rb }: { info: BatchInfo; rb: RecordBatch }): Decoded {
    const fail = (detail: string): never => { throw new ShardCorruptError(info.shard.file, info.batch, detail); };
    let stored: StoredBatch;
    try {
      stored = fromStoredRecordBatch(rb, this.layout, `shard ${info.shard.file} batch ${info.batch}`);
    } catch (e) {
      return fail((e as Error).message);
    }
    const { full, refs } = stored;
    if (full.offsets.length - 1 !== info.samples || full.inputIds.length !== info.tokens) {
      fail(`holds ${full.offsets.length - 1} samples/${full.inputIds.length} tokens, index says ${info.samples}/${info.tokens}`);
    }
    for (let i = 0; i < info.samples; i++) {
      const s = info.firstSample + i;
      if (full.sampleIds[i] !== s) fail(`row ${i} has sample_id ${full.sampleIds[i]}, expected ${s}`);
      const o = refs.sample[i];
      if (refs.len[i] === 0 ? o !== s : !(o < s && o >= info.shard.firstSample)) {
        fail(`sample ${s}: prefix_sample ${o} with prefix_len ${refs.len[i]}; ${refs.len[i] === 0 ? 'a root names itself' : `the owner must be an earlier sample of the same shard (samples ${info.shard.firstSample}..${s - 1})`}`);
      }
    }
    return { ...stored, info, rbSchema: rb.schema };
  }

  /** Rules 2-4 for sample i of `own` and its owner at `row` of `owner`: a root, long enough, same leading tokens. */
  private checkOwner(own: Decoded, i: number, owner: Decoded, row: number): OwnerRow {
    const { info, refs, full } = own;
    const s = info.firstSample + i, o = refs.sample[i], l = refs.len[i];
    const fail = (detail: string): never => { throw new ShardCorruptError(info.shard.file, info.batch, `sample ${s}: ${detail}`); };
    if (owner.refs.len[row] !== 0) fail(`its owner ${o} is not a root (it has prefix_len ${owner.refs.len[row]})`);
    const of = owner.full.offsets, ownerLen = of[row + 1] - of[row];
    if (l > ownerLen) fail(`prefix_len ${l} is longer than its owner ${o} (${ownerLen} tokens)`);
    if (commonPrefix(full.inputIds, full.offsets[i], l, owner.full.inputIds, of[row], l) !== l) fail(`its first ${l} input ids differ from its owner ${o}'s`);
    return { batch: owner.view, row };
  }
}
