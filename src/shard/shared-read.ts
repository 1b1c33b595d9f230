// Reading a shared-prefix dataset (format 2.5, docs/FORMAT.md §4.3): a batch's stored positions
// are decoded through the checked path, every reference is checked (refusals name shard, batch
// and sample), the owners' positions are copied in from their batches (read through the same
// checked path; the decoded positions of recent roots are kept, bounded in bytes, so reading in
// order or with a warm reader rarely reads an owner's batch again), and the resolved batch is
// re-encoded as the stream a 2.4 writer would have stored, whose sha256 must be the index's
// stream_sha256 (what GET /logits serves and its ETag).
import { createHash } from 'node:crypto';
import type { RecordBatch } from 'apache-arrow';
import { ByteLru } from './byte-lru.js';
import { ShardCorruptError } from './errors.js';
import { batchStream, serializeBatch } from './ipc-framing.js';
import { fromStoredRecordBatch, type StoredBatch, toRecordBatch } from './record-batch.js';
import { resolvedSchemaOf, servedLayout } from './schema.js';
import { assembleResolved, commonPrefix, type OwnerRow, positionsBytes, type PrefixRefs, samplePositions } from './shared-prefix.js';
import type { BatchInfo, ReadOptions, VerifiedBatch, VerifiedMemo } from './shard-reader.js';
import type { TopkBatch, TopkLayout } from './types.js';

/**
 * Bytes of root samples' decoded positions kept per dataset (RootRows): owners are roots of
 * earlier batches of the same shard, and the few holding a shard's templates serve many samples.
 */
export const ROOT_ROW_BYTES = 32 << 20;

/** Reads one stored batch through the checked path (size, index, schema, message hash). */
export type StoredReader = (batch: number, memo?: VerifiedMemo) => Promise<{ info: BatchInfo; rb: RecordBatch }>;

interface Decoded extends StoredBatch { info: BatchInfo; rbSchema: RecordBatch['schema'] }

/** One root sample's positions (all of them: a root stores every position), as a one-sample batch. */
interface RootRow { positions: TopkBatch; bytes: number }

/** Copies row `i` of a decoded batch (a root: its stored positions are all of them) out as a one-sample batch. */
function rootRow(d: Decoded, i: number, k: number): RootRow {
  const from = d.view.offsets[i];
  const positions = samplePositions(d.view, from, d.view.offsets[i + 1] - from, d.full.sampleIds[i], k);
  return { positions, bytes: positionsBytes(positions) };
}

export class SharedPrefixResolver {
  /** Root rows by dataset and sample. Only roots enter (checked when they are copied out of their
   * checked, decoded batch), so an entry vouches for rule 3 by itself. */
  private readonly roots = new ByteLru<string, RootRow>(ROOT_ROW_BYTES, (r) => r.bytes);

  constructor(private readonly layout: TopkLayout, private readonly batchSize: number, private readonly readStored: StoredReader) {}

  /** Batch `batch` resolved, as the verified stream a client is served. */
  async readStream(batch: number, cacheKey: string, opts: ReadOptions = {}): Promise<VerifiedBatch> {
    // The asked-for batch is always read (and hashed, unless the memo vouches) afresh; owners' rows may come from the cache.
    const own = this.decode(await this.readStored(batch, opts.memo));
    const { info, refs, full } = own;
    const read = new Map<number, Decoded>([[batch, own]]);
    const owners: (OwnerRow | null)[] = [];
    for (let i = 0; i < info.samples; i++) {
      if (refs.len[i] === 0) {
        owners.push(null);
        continue;
      }
      const o = refs.sample[i];
      const key = `${cacheKey}\0${o}`;
      let row = this.roots.get(key);
      if (!row) {
        const ob = Math.floor(o / this.batchSize);
        let owner = read.get(ob);
        if (!owner) read.set(ob, owner = this.decode(await this.readStored(ob)));
        row = this.ownerRow(own, i, owner, o - ob * this.batchSize);
        this.roots.set(key, row);
      }
      owners.push(this.checkOwner(own, i, row));
    }
    // Later batches' owners are this batch's roots: kept while they are recent.
    for (let i = 0; i < info.samples; i++) {
      if (refs.len[i] === 0 && full.offsets[i + 1] > full.offsets[i]) this.roots.set(`${cacheKey}\0${refs.sample[i]}`, rootRow(own, i, this.layout.k));
    }
    const resolved = assembleResolved(full, refs, own.view, own.view.offsets, (i) => owners[i], this.layout);
    const rb = toRecordBatch(resolvedSchemaOf(own.rbSchema, this.layout), servedLayout(this.layout), resolved);
    const { schemaBytes, batchBytes } = serializeBatch(rb, null);
    const stream = batchStream(schemaBytes, batchBytes, opts.alloc);
    const sha = createHash('sha256').update(stream).digest('hex');
    if (sha !== info.streamSha256) {
      throw new ShardCorruptError(info.shard.file, info.batch, `resolved stream sha256 ${sha} does not match index ${info.streamSha256}`);
    }
    let sharedPositions = 0;
    for (let i = 0; i < info.samples; i++) sharedPositions += refs.len[i];
    return { info, stream, message: stream.subarray(schemaBytes.length, schemaBytes.length + batchBytes.length), decoded: rb, resolved, sharedPositions };
  }

  /** The stored references of a batch (checked as its decode checks them) and its whole-sample offsets. */
  async refs(batch: number): Promise<{ refs: PrefixRefs; offsets: Int32Array }> {
    const d = this.decode(await this.readStored(batch));
    return { refs: d.refs, offsets: d.full.offsets };
  }

  forget(): void {
    this.roots.clear();
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

  /** Rule 3 for sample i of `own`: its owner, at `row` of the decoded `owner` batch, is a root; its positions copied out. */
  private ownerRow(own: Decoded, i: number, owner: Decoded, row: number): RootRow {
    const { info, refs } = own;
    if (owner.refs.len[row] !== 0) {
      throw new ShardCorruptError(info.shard.file, info.batch, `sample ${info.firstSample + i}: its owner ${refs.sample[i]} is not a root (it has prefix_len ${owner.refs.len[row]})`);
    }
    return rootRow(owner, row, this.layout.k);
  }

  /** Rules 2 and 4 for sample i of `own` against its owner's (root) positions: long enough, same leading tokens. */
  private checkOwner(own: Decoded, i: number, owner: RootRow): OwnerRow {
    const { info, refs, full } = own;
    const s = info.firstSample + i, o = refs.sample[i], l = refs.len[i];
    const fail = (detail: string): never => { throw new ShardCorruptError(info.shard.file, info.batch, `sample ${s}: ${detail}`); };
    const ownerIds = owner.positions.inputIds;
    if (l > ownerIds.length) fail(`prefix_len ${l} is longer than its owner ${o} (${ownerIds.length} tokens)`);
    if (commonPrefix(full.inputIds, full.offsets[i], l, ownerIds, 0, l) !== l) fail(`its first ${l} input ids differ from its owner ${o}'s`);
    return { batch: owner.positions, row: 0 };
  }
}
