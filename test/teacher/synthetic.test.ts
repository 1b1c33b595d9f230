import { describe, expect, it } from 'vitest';
import { buildSyntheticTeacher, syntheticSamples } from '../../src/teacher/index.js';
import { decodeModel, toNumber } from '../../src/teacher/onnx-model.js';
import { createRng, permutation } from '../../src/teacher/prng.js';

describe('synthetic teacher builder', () => {
  it('is deterministic in the seed', () => {
    const a = buildSyntheticTeacher({ vocabSize: 500, dModel: 16, seed: 4 }).model;
    const b = buildSyntheticTeacher({ vocabSize: 500, dModel: 16, seed: 4 }).model;
    const c = buildSyntheticTeacher({ vocabSize: 500, dModel: 16, seed: 5 }).model;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('declares input_ids [batch, seq] int64 and logits [batch, seq, V] float32', () => {
    const proto = decodeModel(buildSyntheticTeacher({ vocabSize: 1234, dModel: 8, layers: 3 }).model, 's');
    const g = proto.graph!;
    expect(g.input!.map((i) => i.name)).toEqual(['input_ids']);
    expect(g.input![0].type!.tensorType!.elemType).toBe(7);
    const dims = g.output![0].type!.tensorType!.shape!.dim!;
    expect(dims.map((d) => d.dimParam || toNumber(d.dimValue))).toEqual(['batch', 'seq', 1234]);
    expect(g.node!.filter((n) => n.opType === 'LayerNormalization')).toHaveLength(4);
  });

  it('external data moves the big tensors to the side file and leaves references', () => {
    const t = buildSyntheticTeacher({ vocabSize: 2000, dModel: 16, externalData: true, externalDataName: 'w.bin' });
    expect(t.externalData?.location).toBe('w.bin');
    // embed + head alone are 2 x 2000 x 16 float32.
    expect(t.externalData!.data.length).toBeGreaterThanOrEqual(2 * 2000 * 16 * 4);
    const head = decodeModel(t.model, 'ext').graph!.initializer!.find((i) => i.name === 'head')!;
    expect(head.dataLocation).toBe(1);
    expect(head.externalData!.find((e) => e.key === 'location')!.value).toBe('w.bin');
    expect(t.model.length).toBeLessThan(20_000);
  });
});

describe('synthetic token streams', () => {
  const opts = { count: 50, minLen: 4, maxLen: 40, vocabSize: 1000, seed: 9 };

  it('is deterministic, starts with BOS, respects lengths and the vocabulary', () => {
    const a = [...syntheticSamples(opts)];
    const b = [...syntheticSamples(opts)];
    const c = [...syntheticSamples({ ...opts, seed: 10 })];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).toHaveLength(50);
    for (const s of a) {
      expect(s[0]).toBe(1);
      expect(s.length).toBeGreaterThanOrEqual(4);
      expect(s.length).toBeLessThanOrEqual(40);
      for (let t = 1; t < s.length; t++) {
        expect(s[t]).toBeGreaterThanOrEqual(3);
        expect(s[t]).toBeLessThan(1000);
      }
    }
  });

  it('is long-tailed: the most frequent id is far above uniform', () => {
    const counts = new Map<number, number>();
    let total = 0;
    for (const s of syntheticSamples({ ...opts, count: 200 })) {
      for (let t = 1; t < s.length; t++) {
        counts.set(s[t], (counts.get(s[t]) ?? 0) + 1);
        total++;
      }
    }
    const top = Math.max(...counts.values());
    expect(top / total).toBeGreaterThan(20 / 997);
  });

  it('rejects impossible lengths', () => {
    expect(() => [...syntheticSamples({ ...opts, minLen: 5, maxLen: 4 })]).toThrow(/minLen <= maxLen/);
  });
});

describe('prng', () => {
  it('gives uniforms in [0,1) with the right mean and a true permutation', () => {
    const rng = createRng(123);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const u = rng.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
    }
    expect(sum / 20000).toBeCloseTo(0.5, 1);
    const p = permutation(1000, rng);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
