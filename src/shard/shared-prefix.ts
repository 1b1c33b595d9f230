// Shared prefixes (format 2.5, docs/FORMAT.md §4.3), the Arrow-free half: which samples of a
// shard reference an earlier root (the writer's choice), the suffix view whose positions a
// shard stores, and the assembly of a resolved batch from a batch's own positions and its
// owners'. A causal teacher's distribution at position t depends only on input_ids[0..t], so
// positions [0, L) of samples that share their first L tokens are the same and stored once.
import type { TopkBatch, TopkLayout } from './types.js';

/** Per sample of a batch: the owner of its first `len` positions (its own id when len is 0). */
export interface PrefixRefs {
  sample: Float64Array;
  len: Int32Array;
}

/**
 * Positions of roots the writer keeps per shard for later samples to reference (and for the
 * resolved stream it hashes): bounded so a shard at large k does not hold all its top-k lists.
 */
export const WRITER_ROOT_BYTES = 128 << 20;

/**
 * The chooser's memory cap (PrefixChooser.maxRootPositions) for a layout: the root positions
 * that fit in `rootBytes`. The writer and the precompute (which runs the same chooser ahead to
 * keep fully shared samples from the teacher) must agree on it, so both take it from here.
 */
export function rootPositionsCap(layout: TopkLayout, rootBytes = WRITER_ROOT_BYTES): number {
  const perPosition = 8 * layout.k + (layout.tailMass ? 4 : 0) + (layout.topP !== undefined ? 4 : 0) + 4;
  return Math.floor(rootBytes / perPosition);
}

/** True when sample i of a batch is shared in full (L = its length > 0): it stores no positions. */
export const fullyShared = (offsets: Int32Array, refs: PrefixRefs, i: number): boolean => {
  const l = refs.len[i];
  return l > 0 && l === offsets[i + 1] - offsets[i];
};

/** Roots kept per hash bucket: only hash collisions put two roots in one (see PrefixChooser). */
export const SHARE_CANDIDATES = 16;

/** FNV-1a over the first n tokens (each as its 32 bits), as an unsigned 32-bit number. */
function headHash(ids: Int32Array, from: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < from + n; i++) {
    const v = ids[i];
    h = Math.imul(h ^ (v & 0xff), 0x01000193);
    h = Math.imul(h ^ ((v >>> 8) & 0xff), 0x01000193);
    h = Math.imul(h ^ ((v >>> 16) & 0xff), 0x01000193);
    h = Math.imul(h ^ (v >>> 24), 0x01000193);
  }
  return h >>> 0;
}

/** Length of the common prefix of a[aFrom, aFrom + aLen) and b[bFrom, bFrom + bLen). */
export function commonPrefix(a: Int32Array, aFrom: number, aLen: number, b: Int32Array, bFrom: number, bLen: number): number {
  const n = Math.min(aLen, bLen);
  let i = 0;
  while (i < n && a[aFrom + i] === b[bFrom + i]) i++;
  return i;
}

/** What one call of PrefixChooser.choose changed: roots it indexed, roots it let go (sample ids, in order). */
export interface ChooserChange { added: number[]; evicted: number[] }

/**
 * The writer's choice, per shard, in sample order (deterministic in input_ids only): a sample
 * references the earlier root with the longest common prefix (ties: the lowest id) when that
 * prefix is at least `minLength` tokens, else it is a root. Roots are indexed by a hash of
 * their first minLength tokens. A sample whose first minLength tokens equal a root's references
 * it, so no two roots share their first minLength tokens: the one root that can reach
 * minLength is found in its bucket, and a sample costs O(minLength + L).
 *
 * The writer keeps each root's positions while it may be referenced, so the roots are bounded:
 * at most `maxRootPositions` positions of roots are kept, least recently used (referenced or
 * added) first to go; a root let go is no longer chosen. Deterministic too: it depends on the
 * lengths and order of the samples only. Unbounded, the choice is exactly the rule above.
 */
export class PrefixChooser {
  private readonly buckets = new Map<number, number[]>();
  /** Indexed roots: their tokens (copies, so the caller may reuse its arrays), by root number. */
  private readonly rootIds: Int32Array[] = [];
  private readonly rootSample: number[] = [];
  private readonly rootHash: number[] = [];
  /** Kept roots by root number, least recently used first (Map order), and their positions. */
  private readonly kept = new Map<number, number>();
  private keptPositions = 0;

  constructor(readonly minLength: number, readonly maxRootPositions = Infinity) {
    if (!Number.isInteger(minLength) || minLength < 1) throw new RangeError(`shared prefixes need a minimum length >= 1, got ${minLength}`);
  }

  /** Fills `out` for the batch's samples (which follow every sample seen before, in order). */
  choose(batch: Pick<TopkBatch, 'sampleIds' | 'offsets' | 'inputIds'>, out: PrefixRefs): ChooserChange {
    const { offsets, inputIds } = batch;
    const n = this.minLength;
    const change: ChooserChange = { added: [], evicted: [] };
    for (let i = 0; i + 1 < offsets.length; i++) {
      const id = batch.sampleIds[i];
      const from = offsets[i], len = offsets[i + 1] - from;
      out.sample[i] = id;
      out.len[i] = 0;
      // Shorter than minLength: L >= minLength is impossible, as owner or as referrer.
      if (len < n) continue;
      const h = headHash(inputIds, from, n);
      let bucket = this.buckets.get(h);
      let best = -1, bestLen = 0;
      for (const r of bucket ?? []) {
        const ids = this.rootIds[r];
        const l = commonPrefix(ids, 0, ids.length, inputIds, from, len);
        if (l > bestLen) { best = r; bestLen = l; } // strictly longer: the lower root wins ties
      }
      if (best >= 0 && bestLen >= n) {
        out.sample[i] = this.rootSample[best];
        out.len[i] = bestLen;
        this.kept.delete(best);
        this.kept.set(best, this.rootIds[best].length);
        continue;
      }
      if (!bucket) this.buckets.set(h, bucket = []);
      if (bucket.length < SHARE_CANDIDATES) {
        const r = this.rootIds.length;
        bucket.push(r);
        this.rootIds.push(inputIds.slice(from, from + len));
        this.rootSample.push(id);
        this.rootHash.push(h);
        this.kept.set(r, len);
        this.keptPositions += len;
        change.added.push(id);
        this.evict(change);
      }
    }
    return change;
  }

  /** Lets the least recently used roots go until the kept ones fit. */
  private evict(change: ChooserChange): void {
    for (const [r, len] of this.kept) {
      if (this.keptPositions <= this.maxRootPositions) return;
      this.kept.delete(r);
      this.keptPositions -= len;
      const bucket = this.buckets.get(this.rootHash[r])!;
      bucket.splice(bucket.indexOf(r), 1);
      if (bucket.length === 0) this.buckets.delete(this.rootHash[r]);
      this.rootIds[r] = EMPTY; // nothing is held for a root that can no longer be chosen
      change.evicted.push(this.rootSample[r]);
    }
  }
}

const EMPTY = new Int32Array(0);

/** Positions [from, from + len) of `src` as a one-sample batch of their own (copies). */
export function samplePositions(src: TopkBatch, from: number, len: number, sampleId: number, k: number): TopkBatch {
  return {
    sampleIds: [sampleId], offsets: Int32Array.of(0, len), inputIds: src.inputIds.slice(from, from + len),
    topkIds: src.topkIds.slice(from * k, (from + len) * k), topkLogprobs: src.topkLogprobs.slice(from * k, (from + len) * k),
    ...(src.tailLogprobs ? { tailLogprobs: src.tailLogprobs.slice(from, from + len) } : {}), ...(src.topkCounts ? { topkCounts: src.topkCounts.slice(from, from + len) } : {}),
  };
}

/** Bytes a one-sample batch of samplePositions holds. */
export const positionsBytes = (b: TopkBatch): number => b.inputIds.byteLength + b.topkIds.byteLength + b.topkLogprobs.byteLength
  + (b.tailLogprobs?.byteLength ?? 0) + (b.topkCounts?.byteLength ?? 0);

/** Per sample, the offsets of its stored positions [L, len) in the suffix view. */
export function storedOffsets(offsets: Int32Array, refs: PrefixRefs): Int32Array {
  const out = new Int32Array(offsets.length);
  for (let i = 0; i + 1 < offsets.length; i++) out[i + 1] = out[i] + (offsets[i + 1] - offsets[i] - refs.len[i]);
  return out;
}

/**
 * The suffix view of a full batch: per sample only positions [L, len), with the input tokens
 * input_ids[L:] (what every per-position column and the ctx-table codes are encoded against).
 */
export function suffixView(batch: TopkBatch, refs: PrefixRefs, layout: TopkLayout): TopkBatch {
  const { offsets } = batch;
  const n = offsets.length - 1;
  let shared = 0;
  for (let i = 0; i < n; i++) shared += refs.len[i];
  if (shared === 0) return batch;
  const view = storedOffsets(offsets, refs);
  const k = layout.k;
  const tokens = view[n];
  const out: TopkBatch = { sampleIds: batch.sampleIds, offsets: view, inputIds: new Int32Array(tokens), ...emptyPositions(batch, tokens, k) };
  for (let i = 0; i < n; i++) copyPositions(batch, offsets[i] + refs.len[i], out, view[i], view[i + 1] - view[i], k, true);
  return out;
}

/** Zeroed per-position arrays for `tokens` positions, of the id type and optional columns of `like`. */
function emptyPositions(like: TopkBatch, tokens: number, k: number): Pick<TopkBatch, 'topkIds' | 'topkLogprobs' | 'tailLogprobs' | 'topkCounts'> {
  return {
    topkIds: new (like.topkIds.constructor as Uint32ArrayConstructor)(tokens * k), topkLogprobs: new Float32Array(tokens * k),
    ...(like.tailLogprobs ? { tailLogprobs: new Float32Array(tokens) } : {}), ...(like.topkCounts ? { topkCounts: new Int32Array(tokens) } : {}),
  };
}

/**
 * Copies positions [from, from + count) of `src` to [to, to + count) of `dst`: top-k ids and
 * log-probabilities (k per position), tail mass and ragged counts when present, and with
 * `inputs` the input tokens. One typed-array copy per array, none per token.
 */
export function copyPositions(src: TopkBatch, from: number, dst: TopkBatch, to: number, count: number, k: number, inputs: boolean): void {
  if (count <= 0) return;
  if (inputs) dst.inputIds.set(src.inputIds.subarray(from, from + count), to);
  (dst.topkIds as Uint32Array).set(src.topkIds.subarray(from * k, (from + count) * k), to * k);
  dst.topkLogprobs.set(src.topkLogprobs.subarray(from * k, (from + count) * k), to * k);
  if (dst.tailLogprobs) dst.tailLogprobs.set(src.tailLogprobs!.subarray(from, from + count), to);
  if (dst.topkCounts) dst.topkCounts.set(src.topkCounts!.subarray(from, from + count), to);
}

/**
 * Fills, in `batch` itself, the positions of every fully shared sample from its owner's: the
 * precompute does not run the teacher on such samples (their positions are all the owner's),
 * yet the shard's ctx table and the run's statistics read every position of the batch.
 */
export function fillFullyShared(batch: TopkBatch, refs: PrefixRefs, ownerOf: (i: number) => OwnerRow, k: number): void {
  const { offsets } = batch;
  for (let i = 0; i + 1 < offsets.length; i++) {
    if (!fullyShared(offsets, refs, i)) continue;
    const owner = ownerOf(i);
    copyPositions(owner.batch, owner.batch.offsets[owner.row], batch, offsets[i], refs.len[i], k, false);
  }
}

/** Where an owner's full (root) positions are: a decoded batch and the row of the owner in it. */
export interface OwnerRow {
  batch: TopkBatch;
  row: number;
}

/**
 * A resolved batch: input tokens and sample ids of `full`; per sample, positions [0, L) from
 * its owner's positions [0, L), then its own positions, which are `own` from `ownStart[i]` on
 * (the writer: the full batch itself; a reader: the decoded suffix view).
 */
export function assembleResolved(
  full: Pick<TopkBatch, 'sampleIds' | 'offsets' | 'inputIds'>, refs: PrefixRefs, own: TopkBatch, ownStart: Int32Array,
  ownerOf: (i: number) => OwnerRow | null, layout: TopkLayout,
): TopkBatch {
  const { offsets } = full;
  const n = offsets.length - 1;
  const tokens = offsets[n];
  const k = layout.k;
  const out: TopkBatch = { sampleIds: full.sampleIds, offsets, inputIds: full.inputIds, ...emptyPositions(own, tokens, k) };
  for (let i = 0; i < n; i++) {
    const l = refs.len[i];
    if (l > 0) {
      const owner = ownerOf(i)!;
      copyPositions(owner.batch, owner.batch.offsets[owner.row], out, offsets[i], l, k, false);
    }
    copyPositions(own, ownStart[i], out, offsets[i] + l, offsets[i + 1] - offsets[i] - l, k, false);
  }
  return out;
}
