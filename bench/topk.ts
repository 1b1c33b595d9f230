// Host top-k (the --topk-on host fallback) against the implementation before issue 9 (read from
// git history), in the same process, interleaved, on 152k-wide rows shaped like LM logits (a Zipf-like prior plus
// noise, so the kept set changes along the row). Also checks both agree exactly on ids.
// Run: npx tsx bench/topk.ts [--reps 15]   (writes bench/results/topk.json, prints a line)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRng } from '../src/teacher/prng.js';
import { topkLogprobsRows } from '../src/topk/topk.js';

// The previous implementation straight from git history (commit f6b75fc), not a copy in the tree.
const BEFORE = 'f6b75fc';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lc-bench-topk-'));
const beforeFile = path.join(tmp, 'topk-before.ts');
writeFileSync(beforeFile, execFileSync('git', ['show', `${BEFORE}:src/topk/topk.ts`], { cwd: import.meta.dirname }));
const { topkLogprobsRows: before } = (await import(beforeFile)) as typeof import('../src/topk/topk.js');
rmSync(tmp, { recursive: true, force: true });

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '15' } } });
const REPS = Number(args.reps);
const V = 151936;
const ROWS = 32;
const K = 8;
const rng = createRng(1);
const rank = Float64Array.from({ length: V }, (_, i) => -1.1 * Math.log(1 + ((i * 7919) % V)));
const logits = new Float32Array(ROWS * V);
for (let i = 0; i < logits.length; i++) logits[i] = rank[i % V] + 3 * rng.normal();
const ids = [new Int32Array(ROWS * K), new Int32Array(ROWS * K)];
const lps = [new Float32Array(ROWS * K), new Float32Array(ROWS * K)];
const ratios: number[] = [];
const now: number[] = [];
const old: number[] = [];
for (let rep = -1; rep < REPS; rep++) {
  let t = performance.now();
  topkLogprobsRows(logits, ROWS, V, K, ids[0], lps[0]);
  const a = performance.now() - t;
  t = performance.now();
  before(logits, ROWS, V, K, ids[1], lps[1]);
  const b = performance.now() - t;
  if (rep < 0) continue; // warm-up
  ratios.push(b / a);
  now.push((ROWS * V) / a / 1e3);
  old.push((ROWS * V) / b / 1e3);
}
let maxDiff = 0;
for (let i = 0; i < ROWS * K; i++) {
  if (ids[0][i] !== ids[1][i]) throw new Error(`ids differ at ${i}: ${ids[0][i]} vs ${ids[1][i]}`);
  maxDiff = Math.max(maxDiff, Math.abs(lps[0][i] - lps[1][i]));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const result = {
  bench: 'topk', before: BEFORE, date: new Date().toISOString(), node: process.version, loadavg: os.loadavg(), vocab: V, rows: ROWS, k: K, reps: REPS,
  medianRatio: median(ratios), nowMlogitsPerSec: median(now), beforeMlogitsPerSec: median(old), maxAbsLogprobDiff: maxDiff,
  note: 'machine shared with other jobs: the ratio (same process, interleaved) is what carries over',
};
mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(path.join(import.meta.dirname, 'results/topk.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`host top-k, V=${V}, k=${K}: ${result.nowMlogitsPerSec.toFixed(0)} M logits/s now, ${result.beforeMlogitsPerSec.toFixed(0)} before: ${result.medianRatio.toFixed(2)}x (ids identical, max |Δ logprob| ${maxDiff.toExponential(1)})`);
