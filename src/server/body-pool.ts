// Reusable response bodies for GET /logits. A fresh ~240 KB Buffer per response cost more
// than reading the batch into it: above malloc's mmap threshold every allocation is a new
// mapping whose pages fault in on first write and are unmapped when collected. Bodies are
// taken from here and given back once the response has been handed to the kernel.

/** Capacities are rounded up to this, so batches of slightly different sizes share buffers. */
const GRANULE = 64 * 1024;

export class BodyPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;

  /** `maxFreeBytes` bounds what is kept while idle; bodies in flight are not counted. */
  constructor(readonly maxFreeBytes: number) {}

  get idleBytes(): number {
    return this.freeBytes;
  }

  /** A buffer of exactly `length` bytes, contents undefined. */
  acquire(length: number): Buffer {
    const capacity = Math.max(GRANULE, Math.ceil(length / GRANULE) * GRANULE);
    const spare = this.free.get(capacity)?.pop();
    if (spare) {
      this.freeBytes -= capacity;
      return Buffer.from(spare, 0, length);
    }
    return Buffer.from(Buffer.allocUnsafeSlow(capacity).buffer, 0, length);
  }

  /**
   * Gives `body` back. Only once nothing can read it any more: after the response's
   * 'finish' (the kernel has all of it), never on an aborted one whose write may be pending.
   */
  release(body: Buffer): void {
    const whole = body.buffer as ArrayBuffer;
    const capacity = whole.byteLength;
    if (body.byteOffset !== 0 || capacity % GRANULE !== 0 || this.freeBytes + capacity > this.maxFreeBytes) return;
    let list = this.free.get(capacity);
    if (!list) this.free.set(capacity, (list = []));
    list.push(whole);
    this.freeBytes += capacity;
  }
}
