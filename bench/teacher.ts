// Teacher throughput: fused top-k head inside ORT vs full logits copied out and selected in JS.
// Run: npx tsx bench/teacher.ts   (writes bench/results/teacher.json, prints a table)
//
// Modes are measured side by side in one process, repetitions interleaved, so machine noise
// (other jobs on the same cores) hits every mode alike. Reported time is the median.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TeacherSession, syntheticSamples, writeSyntheticTeacher, type LseMode } from '../src/teacher/index.js';
import { topkLogprobsRows } from '../src/topk/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const storiesModel = path.resolve(repoRoot, '../shared/teachers/stories260k/model.onnx');
const K = 8;
const REPS = Number(process.env.BENCH_REPS ?? 5);
const threads = os.availableParallelism();

interface Workload {
  name: string;
  modelPath: string;
  samples: Int32Array[];
  seq: number;
}

interface Row {
  model: string;
  mode: string;
  vocab: number;
  k: number;
  batch: number;
  seq: number;
  tokens: number;
  medianMs: number;
  tokensPerSec: number;
  /** Of medianMs, the JS top-k share (host mode only). */
  hostTopkMs: number | null;
  bytesPerToken: number;
}

function pad(samples: Int32Array[], seq: number): { ids: Int32Array; lengths: Int32Array } {
  const ids = new Int32Array(samples.length * seq);
  const lengths = Int32Array.from(samples, (s) => Math.min(s.length, seq));
  samples.forEach((s, b) => ids.set(s.subarray(0, lengths[b]), b * seq));
  return { ids, lengths };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function bench(w: Workload): Promise<Row[]> {
  const { ids, lengths } = pad(w.samples, w.seq);
  const batch = w.samples.length;
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const graphModes: Array<[string, LseMode]> = [
    ['graph (blocked lse)', 'blocked'],
    ['graph (ReduceLogSumExp)', 'reduce'],
  ];
  const graphs = await Promise.all(graphModes.map(([, lse]) => TeacherSession.open(w.modelPath, { k: K, lse, threads })));
  const host = await TeacherSession.open(w.modelPath, { k: K, topkOn: 'host', threads });
  const vocab = host.vocabSize;
  const rows = batch * w.seq;
  const outIds = new Int32Array(rows * K);
  const outLps = new Float32Array(rows * K);
  const times: number[][] = graphModes.map(() => []);
  const hostTimes: number[] = [];
  const hostTopk: number[] = [];
  // One warm-up pass each (first run allocates and plans memory), then interleaved reps.
  for (let rep = -1; rep < REPS; rep++) {
    for (let g = 0; g < graphs.length; g++) {
      const t0 = performance.now();
      await graphs[g].run(ids, batch, w.seq, lengths);
      if (rep >= 0) times[g].push(performance.now() - t0);
    }
    // Host path spelled out so the JS top-k share can be reported; same work as run().
    const t0 = performance.now();
    const { logits, width } = await host.runLogits(ids, batch, w.seq, lengths);
    const t1 = performance.now();
    topkLogprobsRows(logits, rows, width, K, outIds, outLps, vocab);
    const t2 = performance.now();
    if (rep >= 0) {
      hostTimes.push(t2 - t0);
      hostTopk.push(t2 - t1);
    }
  }
  for (const s of [...graphs, host]) await s.dispose();
  const base = { model: w.name, vocab, k: K, batch, seq: w.seq, tokens };
  const out: Row[] = graphModes.map(([mode], g) => {
    const ms = median(times[g]);
    return { ...base, mode, medianMs: ms, tokensPerSec: (tokens / ms) * 1000, hostTopkMs: null, bytesPerToken: 12 * K };
  });
  const ms = median(hostTimes);
  out.push({
    ...base,
    mode: 'host top-k (JS)',
    medianMs: ms,
    tokensPerSec: (tokens / ms) * 1000,
    hostTopkMs: median(hostTopk),
    bytesPerToken: 4 * host.logitsWidth,
  });
  return out;
}

function table(rows: Row[]): string {
  const head = ['model', 'mode', 'B x S', 'tokens/s', 'median ms', 'JS top-k ms', 'bytes out/token'];
  const body = rows.map((r) => [
    r.model,
    r.mode,
    `${r.batch} x ${r.seq}`,
    r.tokensPerSec.toFixed(0),
    r.medianMs.toFixed(1),
    r.hostTopkMs === null ? '' : r.hostTopkMs.toFixed(1),
    String(r.bytesPerToken),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lc-bench-teacher-'));
  const workloads: Workload[] = [];
  try {
    const v = 152_064;
    const t0 = performance.now();
    const synth = writeSyntheticTeacher(tmp, { vocabSize: v, seed: 0 });
    console.error(`built synthetic ${v}-vocab teacher in ${(performance.now() - t0).toFixed(0)} ms`);
    workloads.push({
      name: 'synthetic-152k',
      modelPath: synth,
      samples: [...syntheticSamples({ count: 4, minLen: 128, maxLen: 128, vocabSize: v, seed: 0 })],
      seq: 128,
    });
    try {
      const lines = readFileSync(path.join(path.dirname(storiesModel), 'stories.jsonl'), 'utf8').split('\n').filter(Boolean);
      const samples = lines.slice(0, 16).map((l) => Int32Array.from((JSON.parse(l) as { input_ids: number[] }).input_ids));
      workloads.push({ name: 'stories260k', modelPath: storiesModel, samples, seq: Math.min(256, Math.max(...samples.map((s) => s.length))) });
    } catch {
      console.error(`stories260k not found at ${storiesModel}; skipping it`);
    }
    const rows: Row[] = [];
    for (const w of workloads) {
      console.error(`benchmarking ${w.name} (${REPS} interleaved reps)...`);
      rows.push(...(await bench(w)));
    }
    const result = {
      bench: 'teacher',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      threads,
      reps: REPS,
      note: 'tokens = real (unpadded) positions; bytes out/token = bytes of session outputs per position (graph: int64 ids + float32 logprobs; host: float32 logits)',
      rows,
    };
    mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
    writeFileSync(path.join(repoRoot, 'bench/results/teacher.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(table(rows));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
