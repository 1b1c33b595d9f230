// The writer's choice of shared prefixes (src/shard/shared-prefix.ts) against a brute force of
// the rule in docs/FORMAT.md §4.3: in sample order, the earlier root with the longest common
// prefix (ties: the lowest id), referenced when that prefix is at least N tokens, else a root;
// whatever way the samples are split into batches.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrefixChooser, type PrefixRefs } from '../../src/shard/shared-prefix.js';

function bruteForce(samples: number[][], n: number): { sample: number[]; len: number[] } {
  const roots: number[] = [];
  const sample: number[] = [], len: number[] = [];
  samples.forEach((s, i) => {
    let best = -1, bestLen = -1;
    for (const r of roots) {
      let l = 0;
      while (l < s.length && l < samples[r].length && s[l] === samples[r][l]) l++;
      if (l > bestLen) { best = r; bestLen = l; }
    }
    if (best >= 0 && bestLen >= n) { sample.push(best); len.push(bestLen); } else { roots.push(i); sample.push(i); len.push(0); }
  });
  return { sample, len };
}

function chooseAll(samples: number[][], n: number, cuts: number[], chooser = new PrefixChooser(n)): { sample: number[]; len: number[] } {
  const sample: number[] = [], len: number[] = [];
  const bounds = [0, ...[...new Set(cuts.map((c) => c % (samples.length + 1)))].sort((a, b) => a - b), samples.length];
  for (let b = 0; b + 1 < bounds.length; b++) {
    const part = samples.slice(bounds[b], bounds[b + 1]);
    if (part.length === 0) continue;
    const offsets = new Int32Array(part.length + 1);
    part.forEach((s, i) => { offsets[i + 1] = offsets[i] + s.length; });
    const refs: PrefixRefs = { sample: new Float64Array(part.length), len: new Int32Array(part.length) };
    chooser.choose({ sampleIds: part.map((_, i) => bounds[b] + i), offsets, inputIds: Int32Array.from(part.flat()) }, refs);
    sample.push(...refs.sample);
    len.push(...refs.len);
  }
  return { sample, len };
}

describe('PrefixChooser', () => {
  it('equals the brute-force longest-common-prefix rule (small alphabets, so prefixes repeat)', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 14 }), { maxLength: 40 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.nat(), { maxLength: 5 }),
      (samples, n, cuts) => {
        expect(chooseAll(samples, n, cuts)).toEqual(bruteForce(samples, n));
      },
    ), { numRuns: 400 });
  });

  it('shares a common template and its duplicates, and never below the minimum', () => {
    const template = [5, 6, 7, 8, 9, 10];
    const samples = [[...template, 1], [...template, 2, 3], [...template.slice(0, 3), 4], [...template, 1], [1, 2]];
    expect(chooseAll(samples, 4, [])).toEqual({ sample: [0, 0, 2, 0, 4], len: [0, 6, 0, 7, 0] });
    expect(chooseAll(samples, 3, [2])).toEqual({ sample: [0, 0, 0, 0, 4], len: [0, 6, 3, 7, 0] });
  });
});

/** The rule with a bound on kept root positions, least recently used (referenced or added) let go first. */
function boundedModel(samples: number[][], n: number, max: number): { sample: number[]; len: number[] } {
  const kept: number[] = []; // root sample ids, least recently used first
  const sample: number[] = [], len: number[] = [];
  samples.forEach((s, i) => {
    let best = -1, bestLen = -1;
    for (const r of [...kept].sort((a, b) => a - b)) {
      let l = 0;
      while (l < s.length && l < samples[r].length && s[l] === samples[r][l]) l++;
      if (l > bestLen) { best = r; bestLen = l; }
    }
    if (best >= 0 && bestLen >= n) {
      sample.push(best); len.push(bestLen);
      kept.splice(kept.indexOf(best), 1);
      kept.push(best);
      return;
    }
    sample.push(i); len.push(0);
    if (s.length < n) return;
    kept.push(i);
    while (kept.reduce((a, r) => a + samples[r].length, 0) > max) kept.shift();
  });
  return { sample, len };
}

describe('PrefixChooser with a bound on kept roots', () => {
  it('lets the least recently used roots go, as the model says, whatever the batches', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 14 }), { maxLength: 40 }),
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 40 }), fc.array(fc.nat(), { maxLength: 5 }),
      (samples, n, max, cuts) => {
        const chooser = (): PrefixChooser => new PrefixChooser(n, max);
        expect(chooseAll(samples, n, cuts, chooser())).toEqual(boundedModel(samples, n, max));
      },
    ), { numRuns: 400 });
  });
});
