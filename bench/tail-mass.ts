// How far is the tail mass a reader can recover from a cache, 1 - Σ exp(logprob) over the
// stored top-k, from the exact probability outside the top-k? The exact value is a
// log-sum-exp over the non-top-k logits in float64 (what a tail-mass column computed in the
// graph in log space would store); the recovered one is what a training job computes from the
// stored float32 or float16 top-k values in float32. Real stories260k teacher, full logits.
// Second table: the column `precompute-logits --tail-mass` stores (fused graph head, float32,
// log space) at k = 8 and 128, against the same float64 exact value, and how far 1 - Σp read from
// the stored f32 top-k is from that stored column.
// Run: LOGIT_CACHE_SHARED=../shared npx tsx bench/tail-mass.ts   (writes bench/results/tail-mass.json)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSamples } from '../src/data/index.js';
import { float16ToFloat32, float32ToFloat16 } from '../src/shard/float16.js';
import { TeacherSession } from '../src/teacher/index.js';

const repo = resolve(import.meta.dirname, '..');
const stories = resolve(process.env.LOGIT_CACHE_SHARED ?? resolve(repo, '../shared'), 'teachers/stories260k');
const STORIES = 64;

interface Stat { k: number; values: string; positions: number; nonPositive: number; medianAbsLogErr: number; p99AbsLogErr: number; maxAbsLogErr: number; medianExactLogTail: number }

interface StoredStat { k: number; positions: number; storedMaxAbsErrVsFloat64: number; oneMinusSumNonPositive: number; gapMedian: number; gapP99: number; gapMax: number }

const q = (xs: number[], p: number): number => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : NaN);

/** float64 log Σ_{rank >= k} p of one row of logits. */
function exactLogTail(logits: Float64Array, k: number): number {
  const sorted = Float64Array.from(logits).sort().reverse();
  let all = 0, tail = 0;
  for (let i = 0; i < sorted.length; i++) all += Math.exp(sorted[i] - sorted[0]);
  for (let i = k; i < sorted.length; i++) tail += Math.exp(sorted[i] - sorted[k]);
  return sorted[k] + Math.log(tail) - sorted[0] - Math.log(all);
}

async function main(): Promise<void> {
  const session = await TeacherSession.open(join(stories, 'model.onnx'), { k: 8, topkOn: 'host' });
  const V = session.vocabSize;
  const rows: { logits: Float64Array }[] = [];
  const inputs: Int32Array[] = [];
  let n = 0;
  for await (const s of readSamples(join(stories, 'stories.jsonl'))) {
    if (n++ >= STORIES) break;
    const len = s.inputIds.length;
    if (len === 0) continue;
    inputs.push(Int32Array.from(s.inputIds));
    const { logits, width } = await session.runLogits(Int32Array.from(s.inputIds), 1, len, Int32Array.of(len));
    for (let t = 0; t < len; t++) rows.push({ logits: Float64Array.from(logits.subarray(t * width, t * width + V)) });
  }
  await session.dispose();
  const stats: Stat[] = [];
  for (const k of [8, 32, 128]) for (const values of ['f32', 'f16']) {
    const errs: number[] = [];
    const exactTails: number[] = [];
    let nonPositive = 0;
    for (const { logits } of rows) {
      const sorted = Float64Array.from(logits).sort().reverse();
      const max = sorted[0];
      let all = 0, top = 0;
      for (let i = 0; i < V; i++) all += Math.exp(sorted[i] - max);
      for (let i = k; i < V; i++) top += Math.exp(sorted[i] - max);
      const lse = max + Math.log(all);
      const exactLogTail = Math.log(top) + max - lse; // log Σ_{i>=k} p_i, in float64
      // What the cache stores: float32 log-probs (or their float16 rounding), summed in float32.
      const stored = new Float32Array(k);
      for (let i = 0; i < k; i++) stored[i] = sorted[i] - lse;
      const vals = values === 'f16' ? float16ToFloat32(float32ToFloat16(stored)) : stored;
      let sum = Math.fround(0);
      for (let i = 0; i < k; i++) sum = Math.fround(sum + Math.fround(Math.exp(vals[i])));
      const tail = Math.fround(1 - sum);
      exactTails.push(exactLogTail);
      if (!(tail > 0)) { nonPositive++; continue; }
      errs.push(Math.abs(Math.log(tail) - exactLogTail));
    }
    errs.sort((a, b) => a - b);
    exactTails.sort((a, b) => a - b);
    stats.push({ k, values, positions: rows.length, nonPositive, medianAbsLogErr: q(errs, 0.5), p99AbsLogErr: q(errs, 0.99), maxAbsLogErr: errs[errs.length - 1] ?? NaN, medianExactLogTail: q(exactTails, 0.5) });
  }
  const stored: StoredStat[] = [];
  for (const k of [8, 128]) {
    const fused = await TeacherSession.open(join(stories, 'model.onnx'), { k, tailMass: true });
    const storedErr: number[] = [];
    const gap: number[] = [];
    let nonPositive = 0;
    let row = 0;
    for (const ids of inputs) {
      const out = await fused.run(ids, 1, ids.length, Int32Array.of(ids.length));
      for (let t = 0; t < ids.length; t++, row++) {
        const exact = exactLogTail(rows[row].logits, k);
        const tail = out.tailLogprobs![t];
        storedErr.push(Math.abs(tail - exact));
        let sum = Math.fround(0);
        for (let j = 0; j < k; j++) sum = Math.fround(sum + Math.fround(Math.exp(out.topkLogprobs[t * k + j])));
        const recovered = Math.fround(1 - sum);
        if (!(recovered > 0)) { nonPositive++; continue; }
        gap.push(Math.abs(Math.log(recovered) - tail));
      }
    }
    await fused.dispose();
    storedErr.sort((a, b) => a - b);
    gap.sort((a, b) => a - b);
    stored.push({
      k, positions: row, storedMaxAbsErrVsFloat64: storedErr[storedErr.length - 1], oneMinusSumNonPositive: nonPositive,
      gapMedian: q(gap, 0.5), gapP99: q(gap, 0.99), gapMax: gap[gap.length - 1] ?? NaN,
    });
  }
  console.log(`| k | stored values | positions | 1-Σp <= 0 | median |log err| | p99 | max | median exact log tail |`);
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of stats) console.log(`| ${s.k} | ${s.values} | ${s.positions} | ${s.nonPositive} | ${s.medianAbsLogErr.toExponential(2)} | ${s.p99AbsLogErr.toExponential(2)} | ${s.maxAbsLogErr.toExponential(2)} | ${s.medianExactLogTail.toFixed(2)} |`);
  console.log('\nStored exact tail (--tail-mass, fused head) vs float64, and |log(1-Σp) - stored| from the stored f32 top-k:');
  console.log('| k | positions | stored max |err| vs float64 | 1-Σp <= 0 | median |log(1-Σp) - stored| | p99 | max |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of stored) console.log(`| ${s.k} | ${s.positions} | ${s.storedMaxAbsErrVsFloat64.toExponential(2)} | ${s.oneMinusSumNonPositive} | ${s.gapMedian.toExponential(2)} | ${s.gapP99.toExponential(2)} | ${s.gapMax.toExponential(2)} |`);
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/tail-mass.json'), JSON.stringify({ bench: 'tail-mass', date: new Date().toISOString(), teacher: 'stories260k', stories: STORIES, vocab: V, machine: 'shared 2-core machine under load from parallel jobs (error figures do not depend on load)', stats, stored }, null, 2) + '\n');
}

await main();
