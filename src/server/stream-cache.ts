// Response streams the server had to build (Parquet row groups re-encoded, shared-prefix batches
// resolved and re-encoded), kept in memory so training's repeated random reads of the same
// batches (every epoch) cost a lookup and a socket write instead of a decode and an encode.
//
// Keyed by the stream's sha256 alone: it is the index's stream_sha256, and only a stream the
// reader already hashed to that value is stored. A lookup therefore returns bytes equal to what
// the *current* index asks for, whatever happened to the dataset: an overwrite (new manifest,
// new shards, new index) that changes a batch changes its hash and misses; one that leaves it
// byte-identical may be served from here, correctly. Nothing can be stale by construction,
// so nothing needs invalidating: old generations' entries just age out.
//
// Bounded by bytes (least recently used go first). Concurrent misses for one hash share one
// build (the first caller's), so a burst of trainers asking for a batch encodes it once.

import { ByteLru } from '../shard/byte-lru.js';

export interface StreamCacheStats {
  capacityBytes: number;
  bytes: number;
  entries: number;
  /** Served from memory. */
  hits: number;
  /** Built (each miss is one re-encode). */
  misses: number;
  /** Waited for a build another request had started. */
  coalesced: number;
  /** Entries dropped to stay within capacity. */
  evictions: number;
}

export class StreamCache {
  /** sha256 hex -> stream. */
  private readonly entries: ByteLru<string, Buffer>;
  private readonly building = new Map<string, Promise<Buffer>>();
  private hits = 0;
  private misses = 0;
  private coalesced = 0;

  /** `capacityBytes` 0 turns the cache off: every call builds, nothing is shared or kept. */
  constructor(readonly capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw new RangeError(`stream cache capacity must be a non-negative integer of bytes, got ${capacityBytes}`);
    this.entries = new ByteLru(capacityBytes, (b) => b.length);
  }

  get enabled(): boolean {
    return this.capacityBytes > 0;
  }

  /**
   * The stream whose sha256 is `sha`. On a miss `build` runs (once, however many callers wait);
   * it must resolve only to bytes already checked to hash to `sha` (a rejection reaches every
   * waiter and stores nothing). The returned buffer is shared: callers must not write to it.
   */
  get(sha: string, build: () => Promise<Buffer>): Promise<Buffer> {
    if (!this.enabled) return build();
    const hit = this.entries.get(sha);
    if (hit) {
      this.hits++;
      return Promise.resolve(hit);
    }
    const pending = this.building.get(sha);
    if (pending) {
      this.coalesced++;
      return pending;
    }
    this.misses++;
    const p = build().then((stream) => {
      this.store(sha, stream);
      return stream;
    }).finally(() => this.building.delete(sha));
    this.building.set(sha, p);
    return p;
  }

  stats(): StreamCacheStats {
    return {
      capacityBytes: this.capacityBytes, bytes: this.entries.bytes, entries: this.entries.size,
      hits: this.hits, misses: this.misses, coalesced: this.coalesced, evictions: this.entries.evictions,
    };
  }

  clear(): void {
    this.entries.clear();
  }

  private store(sha: string, stream: Buffer): void {
    // A stream larger than the whole cache is never kept (ByteLru.set skips it).
    if (!this.entries.has(sha)) this.entries.set(sha, stream);
  }
}
