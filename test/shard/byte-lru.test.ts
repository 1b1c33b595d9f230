import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../src/shard/byte-lru.js';

describe('ByteLru', () => {
  it('keeps the most recently used entries that fit, as a list model does', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 25 })), { maxLength: 60 }),
      (budget, ops) => {
        const lru = new ByteLru<number, number>(budget, (v) => v);
        let model: Array<[number, number]> = []; // least recent first
        for (const [isGet, key, size] of ops) {
          if (isGet) {
            const i = model.findIndex(([k]) => k === key);
            expect(lru.get(key)).toBe(i < 0 ? undefined : model[i][1]);
            if (i >= 0) model.push(...model.splice(i, 1));
          } else {
            lru.set(key, size);
            if (size > budget) continue;
            model = model.filter(([k]) => k !== key);
            model.push([key, size]);
            while (model.reduce((s, [, v]) => s + v, 0) > budget) model.shift();
          }
          expect(lru.size).toBe(model.length);
          expect(lru.bytes).toBe(model.reduce((s, [, v]) => s + v, 0));
          expect(lru.bytes).toBeLessThanOrEqual(budget);
        }
      },
    ));
  });

  it('counts evictions and never keeps a value larger than the budget', () => {
    const lru = new ByteLru<string, Buffer>(10, (b) => b.length);
    lru.set('a', Buffer.alloc(6));
    lru.set('b', Buffer.alloc(6));
    expect(lru.has('a')).toBe(false);
    expect(lru.evictions).toBe(1);
    lru.set('c', Buffer.alloc(11));
    expect(lru.has('c')).toBe(false);
    expect(lru.has('b')).toBe(true);
  });
});
