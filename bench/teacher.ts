// What the fused top-k head costs on top of the teacher's forward pass, per head formulation
// and per inference batch size, and how precise each formulation's log-probabilities are.
//   logits out  the model as it is, no head: [B,S,V] float32 logits leave ORT (the bare forward
//               a caller without our head runs)
//   forward     the model with its logits cut to [B,S,1] by a Slice: the whole forward pass
//               (the [d,V] head matmul included), nothing leaves ORT (the strict floor)
//   topk only   TopK(k) over raw logits, no normalizer (the least any head can cost)
//   blocked     max + exp + two-level float32 sum + log, TopK, Sub (this project's default before)
//   logsoftmax  ORT's LogSoftmax kernel, then TopK of the log-probabilities
//   reduce      ORT's ReduceLogSumExp, TopK, Sub
//   chunked/C   the output layer split into C vocabulary chunks, each chunk's TopK and
//               log-sum-exp taken while its logits are in cache (src/teacher/chunked-head.ts;
//               a spike: not a head mode precompute can use)
// Sessions are built the way TeacherSession builds them (head appended after the untouched
// model bytes), with the same options; variants and batch sizes are interleaved in each rep.
// Cost = CPU seconds of the process per token (user + sys) with --threads intra-op threads
// (default 1: no spinning thread pool, so CPU time is compute time; on a shared machine wall
// time is mostly waiting for a core), median over reps; wall time is recorded too.
// Precision: max |logprob - float64 reference| over the kept entries of real positions.
// Memory: RSS growth while ORT creates each variant's session from bytes already in memory
// (after, and peak: VmHWM reset through /proc/self/clear_refs before the create), each in a
// fresh child process of its own (in this one, memory freed by the previous variant's session
// would be reused and hide the growth).
// --profile: instead, ORT's profiler's kernel time per operator type (wall, median over reps,
// one process, per token), to see which kernels a head's cost is made of
// (writes bench/results/<out>-ops.json).
// Run: npx tsx bench/teacher.ts [--reps 5] [--budgets 128,256,441,512,1024] [--threads 1] [--variants blocked,logsoftmax,chunked]
//      [--chunks 64,256] [--out teacher.json] [--profile] [--d-model 384]  (writes bench/results/<out>, prints tables)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { writeSyntheticInputs } from '../src/precompute/demo.js';
import { syntheticSamples } from '../src/teacher/index.js';
import { appendTopkHead, type LseMode } from '../src/teacher/fuse-head.js';
import { chunkedHeadModel } from '../src/teacher/chunked-head.js';
import { graphAppendix, readModelFile, readModelLight, withAppendix } from '../src/teacher/model-splice.js';
import { int64Tensor, node, tensorInfo, DT } from '../src/teacher/onnx-model.js';

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '5' }, budgets: { type: 'string', default: '128,256,441,512,1024' }, threads: { type: 'string', default: '1' }, variants: { type: 'string' }, 'memory-of': { type: 'string' }, profile: { type: 'boolean' }, 'd-model': { type: 'string', default: '384' }, chunks: { type: 'string', default: '64,256' }, out: { type: 'string', default: 'teacher.json' } } });
const REPS = Number(args.reps);
const budgets = args.budgets.split(',').map(Number);
const K = 8;
const SEQ = 64;
const repo = path.resolve(import.meta.dirname, '..');
const cache = path.join(os.tmpdir(), 'lc-bench-precompute-cache');
const V = 151936;
// --d-model: the head's cost grows with V, the output layer's with V·d, so their ratio depends on d.
const D = Number(args['d-model']);
const { model } = writeSyntheticInputs(path.join(cache, D === 384 ? 'llama152k' : `llama152k-d${D}`), { vocabSize: V, dModel: D, layers: 4, samples: 70, minLen: 64, maxLen: 256, seed: 5 });

const THREADS = Number(args.threads);
const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', interOpNumThreads: 1, intraOpNumThreads: THREADS, logSeverityLevel: 3 };

const chunkCounts = args.chunks.split(',').map(Number);
const chunkedVariants = chunkCounts.map((c) => `chunked/${c}` as const);
type Variant = 'logits out' | 'forward' | 'topk only' | 'blocked' | 'logsoftmax' | 'reduce' | `chunked/${number}`;
const allVariants: Variant[] = ['logits out', 'forward', 'topk only', 'blocked', 'logsoftmax', 'reduce', ...chunkedVariants];
// --variants picks some (comma-separated; 'chunked' means every --chunks count); 'logits out'
// (the precision reference) and 'forward' always run.
const picked = (v: Variant): boolean => args.variants!.split(',').some((p) => p === v || (p === 'chunked' && v.startsWith('chunked/')));
const variants = args.variants ? allVariants.filter((v) => v === 'logits out' || v === 'forward' || picked(v)) : allVariants;
const heads = ['topk only', 'blocked', 'logsoftmax', 'reduce', ...chunkedVariants] as const;
const lseOf: Record<string, LseMode> = { 'topk only': 'none', blocked: 'blocked', logsoftmax: 'logsoftmax', reduce: 'reduce' };

/** VmRSS and VmHWM (peak) of this process, in MB. */
function memory(): { rss: number; peak: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
const creation: Record<string, { rssMB: number; peakMB: number; seconds: number }> = {};
let measureMemory = false;
let profiling: ort.InferenceSession.SessionOptions = {};

async function session(v: Variant): Promise<ort.InferenceSession> {
  const bytes = readModelFile(model);
  if (v.startsWith('chunked/')) return create(v, chunkedHeadModel(bytes, { k: K, chunks: Number(v.slice('chunked/'.length)), label: 'bench' }));
  const light = readModelLight(bytes, 'bench');
  const graph = light.proto.graph!;
  const outputs = graph.output!.map((o) => o.name!);
  if (v === 'logits out') return create(v, bytes);
  if (v === 'forward') {
    graph.initializer!.push(int64Tensor('b_s', [0]), int64Tensor('b_e', [1]), int64Tensor('b_a', [-1]));
    graph.node!.push(node('Slice', ['logits', 'b_s', 'b_e', 'b_a'], ['logits_cut'], 'bench_cut'));
    graph.output!.push(tensorInfo('logits_cut', DT.FLOAT, ['batch', 'seq', 1]));
  } else {
    appendTopkHead(light.proto, { k: K, lse: lseOf[v] }, 'bench');
  }
  return create(v, withAppendix(bytes, graphAppendix(light, outputs)));
}

async function create(v: Variant, bytes: Uint8Array): Promise<ort.InferenceSession> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = memory().rss;
  // Writing 5 resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
  if (measureMemory) writeFileSync('/proc/self/clear_refs', '5');
  const t0 = performance.now();
  const s = await ort.InferenceSession.create(bytes, { ...options, ...profiling });
  const seconds = (performance.now() - t0) / 1000;
  const after = memory();
  creation[v] = { rssMB: after.rss - before, peakMB: after.peak - before, seconds };
  return s;
}

// Child mode: create one variant's session, print its creation figures, exit.
if (args['memory-of']) {
  measureMemory = true;
  const v = args['memory-of'] as Variant;
  await (await session(v)).release();
  console.log(JSON.stringify(creation[v]));
  process.exit(0);
}
const sessionMemory: Record<string, { rssMB: number; peakMB: number; seconds: number }> = {};
for (const v of args.profile ? [] : variants) {
  console.error(`session memory of ${v}...`);
  const out = execFileSync(process.execPath, [...process.execArgv, '--expose-gc', import.meta.filename, ...process.argv.slice(2), '--memory-of', v], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  sessionMemory[v] = JSON.parse(out.trim().split('\n').pop()!) as (typeof sessionMemory)[string];
  console.error(`  +${sessionMemory[v].rssMB.toFixed(0)} MB RSS (peak +${sessionMemory[v].peakMB.toFixed(0)} MB), ${sessionMemory[v].seconds.toFixed(1)} s`);
}

const fetchOf = (v: Variant): string[] => (v === 'forward' ? ['logits_cut'] : v === 'logits out' ? ['logits'] : ['topk_ids', 'topk_logprobs']);
function feeds(rows: number, seq: number, seed: number): Record<string, ort.Tensor> {
  const ids = new BigInt64Array(rows * seq);
  let r = 0;
  for (const s of syntheticSamples({ count: rows, minLen: seq, maxLen: seq, vocabSize: V, seed })) ids.set(Array.from(s, BigInt), seq * r++);
  return { input_ids: new ort.Tensor('int64', ids, [rows, seq]) };
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (args.profile) {
  await profileOps();
  process.exit(0);
}

async function profileOps(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lc-bench-teacher-profile-'));
  const ops: Record<string, Record<string, number>> = {};
  for (const v of variants.filter((x) => x !== 'logits out')) {
    console.error(`profiling ${v}...`);
    profiling = { enableProfiling: true, profileFilePrefix: path.join(dir, v.replace(/[^a-z0-9]/g, '_')) };
    const s = await session(v);
    const tokens = budgets.map((b) => Math.max(1, Math.round(b / SEQ)) * SEQ);
    for (let rep = -1; rep < REPS; rep++) for (const t of tokens) await s.run(feeds(t / SEQ, SEQ, 100 + rep), fetchOf(v));
    s.endProfiling();
    await s.release();
    const file = readdirSync(dir).find((f) => f.startsWith(path.basename(profiling.profileFilePrefix!)));
    type Event = { cat?: string; name: string; ts: number; dur: number; args?: { op_name?: string } };
    const events = JSON.parse(readFileSync(path.join(dir, file!), 'utf8')) as Event[];
    // The first budgets.length runs are the warm-up; each run's kernel times summed per operator type.
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(budgets.length);
    const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    const perRun = runs.map((r, i) => {
      const sums: Record<string, number> = { total: r.dur };
      for (const e of kernels) if (e.ts >= r.ts && e.ts <= r.ts + r.dur) sums[e.args?.op_name ?? '?'] = (sums[e.args?.op_name ?? '?'] ?? 0) + e.dur;
      const perToken = tokens[i % tokens.length] * 1000; // µs -> ms per token
      return Object.fromEntries(Object.entries(sums).map(([k, us]) => [k, us / perToken]));
    });
    const names = new Set(perRun.flatMap((r) => Object.keys(r)));
    ops[v] = Object.fromEntries([...names].map((n) => [n, median(perRun.map((r) => r[n] ?? 0))]));
  }
  rmSync(dir, { recursive: true, force: true });
  const out = path.join(repo, 'bench/results', args.out.replace(/\.json$/, '-ops.json'));
  writeFileSync(out, `${JSON.stringify({
    bench: 'teacher --profile', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(),
    model: `synthetic Llama-shaped, V=${V}, d=${D}, 4 layers`, k: K, seq: SEQ, reps: REPS, threads: THREADS, budgets,
    note: 'ORT profiler kernel wall time per operator type, ms per token, median over reps (all budgets pooled); machine shared with other jobs', ops,
  }, null, 2)}\n`);
  const shown = ['total', 'MatMul', 'Add', 'TopK', 'LogSoftmax', 'GatherElements'];
  console.log(`ORT kernel wall time, ms per token (median of ${REPS} reps, ${budgets.join(',')} tokens per call)\n`);
  console.log(`| variant | ${shown.join(' | ')} | other |`);
  console.log(`| --- | ${shown.map(() => '---:').join(' | ')} | ---: |`);
  for (const [v, o] of Object.entries(ops)) {
    // Every other operator type's kernel time (the forward's layers, the chunked head's small ops).
    const other = Object.entries(o).filter(([k]) => !shown.includes(k)).reduce((a, [, x]) => a + x, 0);
    console.log(`| ${v} | ${shown.map((k) => (o[k] ?? 0).toFixed(3)).join(' | ')} | ${other.toFixed(3)} |`);
  }
  console.log(`\nwritten: ${path.relative(repo, out)}`);
}

// Memory: a session of this 474 MB model holds ~1.7 GB (weights and pre-packed copies), so
// only two live at a time: the forward-pass reference, and the variant being measured, which
// alternates with it call by call (ratios are taken against the forward calls of the same reps).
const pf = feeds(4, SEQ, 7);
let logits: Float32Array | null = null;
const times = new Map<string, number[]>();
const walls = new Map<string, number[]>();
const syss = new Map<string, number[]>();
const loads: number[] = [];
const precision: Record<string, number> = {};
console.error('creating the forward session...');
const forward = await session('forward');
for (const v of variants.filter((x) => x !== 'forward')) {
  console.error(`measuring ${v}...`);
  const s = await session(v);
  const pair: [Variant, ort.InferenceSession][] = [['forward', forward], [v, s]];
  for (let rep = -1; rep < REPS; rep++) {
    for (const budget of budgets) {
      // Rows of SEQ tokens: a budget that is no multiple of SEQ (441) is rounded to whole rows.
      const rows = Math.max(1, Math.round(budget / SEQ));
      const f = feeds(rows, SEQ, 100 + rep);
      for (const [name, sess] of rep % 2 ? [...pair].reverse() : pair) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await sess.run(f, fetchOf(name));
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (rep < 0) continue; // warm-up
        // The forward pass is measured once per variant: keyed by the variant it ran beside.
        const key = `${name === 'forward' ? `forward|${v}` : v}@${budget}`;
        times.set(key, [...(times.get(key) ?? []), (c.user + c.system) / 1000 / (rows * SEQ)]);
        walls.set(key, [...(walls.get(key) ?? []), ms / (rows * SEQ)]);
        syss.set(key, [...(syss.get(key) ?? []), c.system / 1000 / (rows * SEQ)]);
      }
    }
    loads.push(os.loadavg()[0]);
  }
  // Precision: against float64 log-softmax of the model's own logits.
  if (v === 'logits out') logits = (await s.run(pf, ['logits'])).logits.data as Float32Array;
  else if (v !== 'topk only' && logits) precision[v] = maxError(logits, await s.run(pf, fetchOf(v)));
  await s.release();
}
await forward.release();

function maxError(full: Float32Array, out: Record<string, ort.Tensor>): number {
  const positions = 4 * SEQ;
  const ids = out.topk_ids.data as BigInt64Array;
  const lps = out.topk_logprobs.data as Float32Array;
  let worst = 0;
  for (let p = 0; p < positions; p++) {
    let m = -Infinity;
    for (let i = p * V; i < (p + 1) * V; i++) m = Math.max(m, full[i]);
    let sum = 0;
    for (let i = p * V; i < (p + 1) * V; i++) sum += Math.exp(full[i] - m);
    const lse = m + Math.log(sum);
    for (let j = 0; j < K; j++) worst = Math.max(worst, Math.abs(lps[p * K + j] - (full[p * V + Number(ids[p * K + j])] - lse)));
  }
  return worst;
}

const rows = variants.filter((v) => v !== 'forward').flatMap((v) => budgets.map((b) => {
  const cpuMsPerToken = median(times.get(`${v}@${b}`)!);
  const forwardCpu = median(times.get(`forward|${v}@${b}`)!);
  return {
    variant: v, budget: b, cpuMsPerToken, forwardCpuMsPerToken: forwardCpu,
    sysMsPerToken: median(syss.get(`${v}@${b}`)!), forwardSysMsPerToken: median(syss.get(`forward|${v}@${b}`)!), wallMsPerToken: median(walls.get(`${v}@${b}`)!),
    forwardWallMsPerToken: median(walls.get(`forward|${v}@${b}`)!), overForward: cpuMsPerToken / forwardCpu, maxAbsErrVsFloat64: precision[v] ?? null,
  };
}));
// The choices the project makes from this table: the head with the least cost among those
// within the 1e-4 bound, and for it the tokens per call with the least CPU per token.
const BOUND = 1e-4;
const precise = (['blocked', 'logsoftmax', 'reduce', ...chunkedVariants] as const).filter((h) => variants.includes(h) && precision[h] <= BOUND);
const meanOver = (v: Exclude<Variant, 'forward'>): number => budgets.reduce((a, b) => a + rows.find((r) => r.variant === v && r.budget === b)!.overForward, 0) / budgets.length;
const bestHead = precise.reduce((a, b) => (meanOver(b) < meanOver(a) ? b : a));
const bestBudget = budgets.reduce((a, b) => (rows.find((r) => r.variant === bestHead && r.budget === b)!.cpuMsPerToken < rows.find((r) => r.variant === bestHead && r.budget === a)!.cpuMsPerToken ? b : a));
mkdirSync(path.join(repo, 'bench/results'), { recursive: true });
writeFileSync(path.join(repo, 'bench/results', args.out), `${JSON.stringify({
  bench: 'teacher', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), loadPerRep: loads,
  model: `synthetic Llama-shaped, V=${V}, d=${D}, 4 layers`, k: K, seq: SEQ, reps: REPS, threads: THREADS,
  note: 'machine shared with other jobs; cost = process CPU per token (median over interleaved reps), ratios per budget',
  precisionBound: BOUND, bestHead, bestBudget, sessionCreation: sessionMemory, meanOverForward: Object.fromEntries(heads.filter((h) => variants.includes(h)).map((h) => [h, meanOver(h)])), rows,
}, null, 2)}\n`);

const pct = (x: number) => `${((x - 1) * 100).toFixed(1)}%`;
console.log(`CPU per token, ${THREADS} intra-op thread(s), median of ${REPS} reps; each variant as extra cost over the forward pass measured beside it\n`);
console.log(`| variant \\ tokens per call | ${budgets.join(' | ')} | max abs err vs float64 | session RSS (peak) MB |`);
console.log(`| --- | ${budgets.map(() => '---:').join(' | ')} | ---: | ---: |`);
console.log(`| forward (ms/token) | ${budgets.map((b) => `${median(variants.filter((v) => v !== 'forward').map((v) => median(times.get(`forward|${v}@${b}`)!))).toFixed(3)}`).join(' | ')} | | ${sessionMemory.forward.rssMB.toFixed(0)} (${sessionMemory.forward.peakMB.toFixed(0)}) |`);
for (const v of variants.filter((x) => x !== 'forward')) {
  const cells = budgets.map((b) => pct(rows.find((x) => x.variant === v && x.budget === b)!.overForward));
  const mem = `${sessionMemory[v].rssMB.toFixed(0)} (${sessionMemory[v].peakMB.toFixed(0)})`;
  console.log(`| ${v} | ${cells.join(' | ')} | ${precision[v] === undefined ? '' : precision[v].toExponential(1)} | ${mem} |`);
}
console.log(`\nwithin ${BOUND} of float64: ${precise.join(', ')}; cheapest of them on average: ${bestHead}; its best tokens per call: ${bestBudget}`);
