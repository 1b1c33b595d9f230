// A bounded, least-recently-used pool of open shards. Handlers lease a shard for the
// span of one read; an evicted shard is closed only once its last lease is returned, so
// eviction under load never pulls a descriptor out from under a request.

export interface Closable { close(): void }

export interface Lease<T> {
  readonly value: T;
  release(): void;
}

interface Slot<T> { value: T; refs: number; evicted: boolean }

export class ShardPool<T extends Closable> {
  private readonly slots = new Map<string, Slot<T>>();
  /** Evicted from the map but still leased: open until released. */
  private draining = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`shard pool capacity must be a positive integer, got ${capacity}`);
  }

  /** Open files: pooled ones plus evicted ones still leased. */
  get openCount(): number {
    return this.slots.size + this.draining;
  }

  /** Leases the value under `key`, opening it with `open` on a miss (open may throw). */
  acquire(key: string, open: () => T): Lease<T> {
    let slot = this.slots.get(key);
    if (slot) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.slots.delete(key);
      this.slots.set(key, slot);
    } else {
      slot = { value: open(), refs: 0, evicted: false };
      this.slots.set(key, slot);
      this.evictOverflow();
    }
    slot.refs++;
    const s = slot;
    let released = false;
    return {
      value: s.value,
      release: () => {
        if (released) return;
        released = true;
        s.refs--;
        if (s.evicted && s.refs === 0) {
          this.draining--;
          s.value.close();
        }
      },
    };
  }

  /** Drops `key` (e.g. a shard found corrupt), closing it once no lease holds it. */
  discard(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.slots.delete(key);
    this.retire(slot);
  }

  /** Closes everything not leased now, the rest as leases come back. */
  close(): void {
    for (const slot of this.slots.values()) this.retire(slot);
    this.slots.clear();
  }

  private evictOverflow(): void {
    for (const [key, slot] of this.slots) {
      if (this.slots.size <= this.capacity) break;
      this.slots.delete(key);
      this.retire(slot);
    }
  }

  private retire(slot: Slot<T>): void {
    slot.evicted = true;
    if (slot.refs === 0) slot.value.close();
    else this.draining++;
  }
}
