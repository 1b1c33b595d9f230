// Bounded, least-recently-used caches for the checked reader: a pool of open byte sources
// leased for the span of one read (an evicted source is closed only once its last lease
// returns, so eviction under load never pulls a descriptor out from under a read), and a
// plain LRU of checked shard indexes. Both hold promises, so concurrent first uses of one
// key share one open, and a failed open is forgotten so the next use tries again.

export interface Closable { close(): unknown }

export interface Lease<T> {
  readonly value: T;
  release(): void;
}

interface Slot<T> { value: Promise<T>; refs: number; evicted: boolean }

export class LeasePool<T extends Closable> {
  private readonly slots = new Map<string, Slot<T>>();
  /** Evicted from the map but still leased: open until released. */
  private draining = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`pool capacity must be a positive integer, got ${capacity}`);
  }

  /** Open values: pooled ones plus evicted ones still leased. */
  get openCount(): number {
    return this.slots.size + this.draining;
  }

  /** Leases the value under `key`, opening it with `open` on a miss (a rejected open is not kept). */
  async acquire(key: string, open: () => Promise<T>): Promise<Lease<T>> {
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
    const s = slot;
    s.refs++;
    let value: T;
    try {
      value = await s.value;
    } catch (e) {
      s.refs--;
      if (this.slots.get(key) === s) this.slots.delete(key);
      else if (s.evicted && s.refs === 0) this.draining--;
      throw e;
    }
    let released = false;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        s.refs--;
        if (s.evicted && s.refs === 0) {
          this.draining--;
          void closeQuietly(s.value);
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
    if (slot.refs === 0) void closeQuietly(slot.value);
    else this.draining++;
  }
}

async function closeQuietly<T extends Closable>(p: Promise<T>): Promise<void> {
  try {
    await (await p).close();
  } catch {
    // A value that failed to open has nothing to close; a failed close leaves nothing to do.
  }
}

/** Least-recently-used map of promised values (shard indexes and schemas: nothing to close). */
export class PromiseLru<T> {
  private readonly map = new Map<string, Promise<T>>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.map.get(key);
    if (p) {
      this.map.delete(key);
      this.map.set(key, p);
      return p;
    }
    p = make();
    this.map.set(key, p);
    p.catch(() => {
      if (this.map.get(key) === p) this.map.delete(key);
    });
    for (const k of this.map.keys()) {
      if (this.map.size <= this.capacity) break;
      this.map.delete(k);
    }
    return p;
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** The value under `key`, if cached, without making it nor changing its place. */
  peek(key: string): Promise<T> | undefined {
    return this.map.get(key);
  }

  clear(): void {
    this.map.clear();
  }
}
