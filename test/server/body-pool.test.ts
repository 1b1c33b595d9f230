import { describe, expect, it } from 'vitest';
import { BodyPool } from '../../src/server/body-pool.js';

describe('BodyPool', () => {
  it('hands out buffers of exactly the asked length and reuses released ones', () => {
    const pool = new BodyPool(1 << 20);
    const a = pool.acquire(200_000);
    expect(a.length).toBe(200_000);
    a.fill(7);
    pool.release(a);
    expect(pool.idleBytes).toBeGreaterThanOrEqual(200_000);
    // A slightly different length in the same 64 KiB class gets the same memory back.
    const b = pool.acquire(199_000);
    expect(b.length).toBe(199_000);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.idleBytes).toBe(0);
  });

  it('never hands the same memory to two holders at once', () => {
    const pool = new BodyPool(1 << 20);
    const a = pool.acquire(100_000);
    const b = pool.acquire(100_000);
    expect(b.buffer).not.toBe(a.buffer);
    pool.release(a);
    const c = pool.acquire(100_000);
    expect(c.buffer).toBe(a.buffer);
    const d = pool.acquire(100_000);
    expect(d.buffer).not.toBe(a.buffer);
    expect(d.buffer).not.toBe(b.buffer);
  });

  it('keeps at most maxFreeBytes idle and drops the rest', () => {
    const pool = new BodyPool(256 * 1024);
    const bodies = Array.from({ length: 4 }, () => pool.acquire(100_000)); // 128 KiB each
    for (const b of bodies) pool.release(b);
    expect(pool.idleBytes).toBe(256 * 1024);
    const again = Array.from({ length: 4 }, () => pool.acquire(100_000));
    const reused = again.filter((b) => bodies.some((x) => x.buffer === b.buffer));
    expect(reused).toHaveLength(2);
  });

  it('refuses buffers it did not make (a view into a shared slab)', () => {
    const pool = new BodyPool(1 << 20);
    pool.release(Buffer.from('not a pool buffer'));
    pool.release(Buffer.allocUnsafe(100).subarray(10));
    expect(pool.idleBytes).toBe(0);
  });
});
