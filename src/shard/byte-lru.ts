// A map bounded by the bytes of its values, least recently used dropped first. Map order is
// recency order (a get moves the entry to the end), so eviction walks from the front.
// Used by the shared-prefix reader (root rows) and the server (re-encoded streams).

export class ByteLru<K, V> {
  private readonly map = new Map<K, V>();
  private total = 0;
  /** Entries dropped to stay within the budget. */
  evictions = 0;

  /** `sizeOf` gives a value's bytes; a value larger than `budget` is never kept. */
  constructor(readonly budget: number, private readonly sizeOf: (v: V) => number) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.map.size;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Stores (or replaces) `key`, then drops the least recently used entries until the rest fit. */
  set(key: K, value: V): void {
    const size = this.sizeOf(value);
    if (size > this.budget) return;
    const had = this.map.get(key);
    if (had !== undefined) {
      this.map.delete(key);
      this.total -= this.sizeOf(had);
    }
    this.map.set(key, value);
    this.total += size;
    for (const [k, v] of this.map) {
      if (this.total <= this.budget) break;
      this.map.delete(k);
      this.total -= this.sizeOf(v);
      this.evictions++;
    }
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }
}
