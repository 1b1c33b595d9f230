import { describe, expect, it } from 'vitest';
import { LeasePool, PromiseLru } from '../../src/shard/lease-pool.js';

class Fake {
  closed = 0;
  constructor(readonly name: string) {}
  close(): void { this.closed++; }
}

/** Closing happens once the value's promise settles: let those callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

function pool(capacity: number) {
  const opened: Fake[] = [];
  const p = new LeasePool<Fake>(capacity);
  const get = (key: string) => p.acquire(key, async () => { const f = new Fake(key); opened.push(f); return f; });
  return { p, opened, get };
}

describe('LeasePool', () => {
  it('reuses open values and evicts the least recently used beyond capacity', async () => {
    const { p, opened, get } = pool(2);
    (await get('a')).release();
    (await get('b')).release();
    (await get('a')).release(); // a is now more recent than b
    (await get('c')).release(); // evicts b
    await settle();
    expect(opened.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    expect(opened.map((f) => f.closed)).toEqual([0, 1, 0]);
    expect(p.openCount).toBe(2);
    (await get('a')).release();
    expect(opened).toHaveLength(3); // a was still pooled
  });

  it('closes an evicted value only when its last lease is released', async () => {
    const { p, opened, get } = pool(1);
    const leaseA1 = await get('a');
    const leaseA2 = await get('a');
    (await get('b')).release(); // evicts a while two leases hold it
    await settle();
    expect(opened[0].closed).toBe(0);
    expect(p.openCount).toBe(2);
    leaseA1.release();
    leaseA1.release(); // double release is harmless
    await settle();
    expect(opened[0].closed).toBe(0);
    leaseA2.release();
    await settle();
    expect(opened[0].closed).toBe(1);
    expect(p.openCount).toBe(1);
  });

  it('never holds more than capacity idle values, whatever the access pattern', async () => {
    const { p, opened, get } = pool(3);
    for (let i = 0; i < 200; i++) (await get(`k${(i * 7) % 11}`)).release();
    await settle();
    expect(p.openCount).toBe(3);
    expect(opened.filter((f) => f.closed === 0)).toHaveLength(3);
    expect(opened.every((f) => f.closed <= 1)).toBe(true);
  });

  it('shares one open between concurrent first acquires of a key', async () => {
    const { opened, get } = pool(2);
    const leases = await Promise.all([get('a'), get('a'), get('a')]);
    expect(opened).toHaveLength(1);
    expect(new Set(leases.map((l) => l.value)).size).toBe(1);
    for (const l of leases) l.release();
  });

  it('discard drops a value so the next acquire opens it again; close closes all', async () => {
    const { p, opened, get } = pool(4);
    (await get('a')).release();
    p.discard('a');
    await settle();
    expect(opened[0].closed).toBe(1);
    (await get('a')).release();
    expect(opened).toHaveLength(2);
    const held = await get('b');
    p.close();
    await settle();
    expect(opened[1].closed).toBe(1);
    expect(opened[2].closed).toBe(0);
    held.release();
    await settle();
    expect(opened[2].closed).toBe(1);
  });

  it('propagates open failures without caching them', async () => {
    const p = new LeasePool<Fake>(2);
    await expect(p.acquire('x', async () => { throw new Error('boom x'); })).rejects.toThrow('boom x');
    expect(p.openCount).toBe(0);
    const lease = await p.acquire('x', async () => new Fake('x'));
    expect(lease.value.name).toBe('x');
    expect(() => new LeasePool(0)).toThrow(/capacity/);
  });
});

describe('PromiseLru', () => {
  it('keeps at most capacity values, least recently used out first, and forgets failures', async () => {
    const lru = new PromiseLru<number>(2);
    let made = 0;
    const get = (k: string) => lru.get(k, async () => { made++; return k.length; });
    await get('a'); await get('bb'); await get('a'); await get('ccc'); // evicts bb
    expect(lru.size).toBe(2);
    await get('a');
    expect(made).toBe(3);
    await get('bb');
    expect(made).toBe(4);
    await expect(lru.get('bad', async () => { throw new Error('no'); })).rejects.toThrow('no');
    await settle();
    expect(await lru.get('bad', async () => 7)).toBe(7);
  });
});
