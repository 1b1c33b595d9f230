// Shared prefixes: the teacher skips fully shared samples (prefix_len = length). Side by side in
// one run, on stories260k with the compact preset's settings (shared prefixes of >= 32 tokens):
//   skip      the pipeline as shipped: fully shared samples never reach the teacher
//   feed-all  the same program feeding the teacher every sample (the behaviour before the skip)
// Both run as whole processes through bench/lib/precompute-once.mjs (dist/, so `npm run build`
// first), alternating within each round and swapping order between rounds; medians of the wall
// time (spawn to exit) are reported with the tokens the teacher was fed (counted at each call)
// and a check that both wrote the same bytes.
// Run: npx tsx bench/precompute-skip.ts [--rounds 5]   (writes bench/results/precompute-skip.json)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { presetSettings } from '../src/shard/encodings/presets.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(args.rounds);
const repo = resolve(import.meta.dirname, '..');
const stories = resolve(repo, '../shared/teachers/stories260k');
if (!existsSync(join(stories, 'model.onnx'))) {
  console.error(`skipping: ${stories} is absent (this bench needs ../shared)`);
  process.exit(0);
}
const work = join(os.tmpdir(), `lc-bench-skip-${process.pid}`);
mkdirSync(work, { recursive: true });
const K = 8;
// What `precompute-logits --preset compact` runs with (CLI defaults for the rest).
const base = {
  model: join(stories, 'model.onnx'), data: join(stories, 'stories.jsonl'), datasetId: 'st', k: K, ...presetSettings('compact', K),
  batchSize: 32, batchesPerShard: 64, topkOn: 'graph', device: 'cpu', overwrite: false,
};

type Variant = 'skip' | 'feed-all';
interface Run { variant: Variant; round: number; wallSeconds: number; fedTokens: number; teacherCalls: number; tokens: number; computedTokens: number; digest: string }

function digest(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(name);
      else h.update(name).update(readFileSync(join(dir, name)));
    }
  };
  walk('');
  return h.digest('hex');
}

function once(variant: Variant, round: number): Run {
  const out = join(work, `${variant}-${round}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(repo, 'bench/lib/precompute-once.mjs'), JSON.stringify({ ...base, out }), variant], { encoding: 'utf8' });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${variant} round ${round} failed (${r.status}): ${r.stderr}`);
  const { summary, fed, calls } = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const d = digest(join(out, 'st'));
  rmSync(out, { recursive: true, force: true });
  return { variant, round, wallSeconds, fedTokens: fed, teacherCalls: calls, tokens: summary.tokens, computedTokens: summary.computedTokens, digest: d };
}

const loadBefore = os.loadavg()[0];
const runs: Run[] = [];
for (let round = 0; round < rounds; round++) {
  const order: Variant[] = round % 2 === 0 ? ['skip', 'feed-all'] : ['feed-all', 'skip'];
  for (const v of order) runs.push(once(v, round));
}
rmSync(work, { recursive: true, force: true });

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const of = (v: Variant) => runs.filter((r) => r.variant === v);
const summary = Object.fromEntries((['feed-all', 'skip'] as const).map((v) => [v, {
  medianWallSeconds: median(of(v).map((r) => r.wallSeconds)), fedTokens: of(v)[0].fedTokens, teacherCalls: of(v)[0].teacherCalls,
  tokens: of(v)[0].tokens, computedTokens: of(v)[0].computedTokens,
}]));
const identical = new Set(runs.map((r) => r.digest)).size === 1;
const ratio = summary.skip.medianWallSeconds / summary['feed-all'].medianWallSeconds;
const fedRatio = summary.skip.fedTokens / summary['feed-all'].fedTokens;
const result = {
  bench: 'precompute-skip', date: new Date().toISOString(), host: { cpus: os.cpus().length, model: os.cpus()[0]?.model },
  dataset: 'stories260k (576 samples, 143445 tokens)', settings: 'precompute-logits --preset compact (k 8, rank-delta, ctx-table, zstd 19, share-prefixes 32)',
  rounds, loadAverage: { before: loadBefore, after: os.loadavg()[0] }, summary, wallRatioSkipOverFeedAll: ratio, fedTokenRatio: fedRatio, outputsByteIdentical: identical, runs,
};
mkdirSync(join(repo, 'bench/results'), { recursive: true });
writeFileSync(join(repo, 'bench/results/precompute-skip.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log('| variant | median wall (s) | tokens fed to the teacher | teacher calls | dataset tokens |');
console.log('|---|---|---|---|---|');
for (const v of ['feed-all', 'skip'] as const) {
  const s = summary[v];
  console.log(`| ${v} | ${s.medianWallSeconds.toFixed(2)} | ${s.fedTokens} | ${s.teacherCalls} | ${s.tokens} |`);
}
console.log(`skip / feed-all: wall ${ratio.toFixed(3)}x, tokens fed ${fedRatio.toFixed(3)}x; outputs byte-identical: ${identical}; load ${loadBefore.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`);
if (!identical) process.exitCode = 1;
