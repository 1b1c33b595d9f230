import { describe, expect, it } from 'vitest';
import { ShardPool } from '../../src/server/shard-pool.js';

class Fake {
  closed = 0;
  constructor(readonly name: string) {}
  close(): void { this.closed++; }
}

function pool(capacity: number) {
  const opened: Fake[] = [];
  const p = new ShardPool<Fake>(capacity);
  const get = (key: string) => p.acquire(key, () => { const f = new Fake(key); opened.push(f); return f; });
  return { p, opened, get };
}

describe('ShardPool', () => {
  it('reuses open values and evicts the least recently used beyond capacity', () => {
    const { p, opened, get } = pool(2);
    get('a').release();
    get('b').release();
    get('a').release(); // a is now more recent than b
    get('c').release(); // evicts b
    expect(opened.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    expect(opened.map((f) => f.closed)).toEqual([0, 1, 0]);
    expect(p.openCount).toBe(2);
    get('a').release();
    expect(opened).toHaveLength(3); // a was still pooled
  });

  it('closes an evicted value only when its last lease is released', () => {
    const { p, opened, get } = pool(1);
    const leaseA1 = get('a');
    const leaseA2 = get('a');
    get('b').release(); // evicts a while two leases hold it
    expect(opened[0].closed).toBe(0);
    expect(p.openCount).toBe(2);
    leaseA1.release();
    leaseA1.release(); // double release is harmless
    expect(opened[0].closed).toBe(0);
    leaseA2.release();
    expect(opened[0].closed).toBe(1);
    expect(p.openCount).toBe(1);
  });

  it('never holds more than capacity idle values, whatever the access pattern', () => {
    const { p, opened, get } = pool(3);
    for (let i = 0; i < 200; i++) get(`k${(i * 7) % 11}`).release();
    expect(p.openCount).toBe(3);
    expect(opened.filter((f) => f.closed === 0)).toHaveLength(3);
    expect(opened.every((f) => f.closed <= 1)).toBe(true);
  });

  it('discard drops a value so the next acquire opens it again; close closes all', () => {
    const { p, opened, get } = pool(4);
    get('a').release();
    p.discard('a');
    expect(opened[0].closed).toBe(1);
    get('a').release();
    expect(opened).toHaveLength(2);
    const held = get('b');
    p.close();
    expect(opened[1].closed).toBe(1);
    expect(opened[2].closed).toBe(0);
    held.release();
    expect(opened[2].closed).toBe(1);
  });

  it('propagates open failures without caching them', () => {
    const p = new ShardPool<Fake>(2);
    expect(() => p.acquire('x', () => { throw new Error('boom x'); })).toThrow('boom x');
    expect(p.openCount).toBe(0);
    expect(() => new ShardPool(0)).toThrow(/capacity/);
  });
});
