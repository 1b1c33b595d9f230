// Scale benchmark: does a 10^8-token dataset behave like a 10^6-token one?
//
// For each size, a synthetic dataset is written with the real shard writer (one batch built
// up front and re-appended with new sample ids: the teacher is not what is measured), then:
// write tokens/s; manifest, index and shard bytes; `logit-cache serve` start-up time and RSS;
// time from spawn to the first batch received; GET /logits req/s on random batches (wrk);
// the Python reader's open time and RSS; `logit-cache verify` time. Datasets live under
// BENCH_SCALE_DIR (default /work/scale-data), one at a time, and are deleted after use.
//
//   npx tsx bench/scale.ts                       (sizes 1e6,1e7,1e8)
//   BENCH_SIZES=1e6,1e7,1e8,1e9 BENCH_SCALE_DIR=/big/disk npx tsx bench/scale.ts
// Writes bench/results/scale.json and prints a table.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOf, memoryOf } from './lib/proc.js';
import { ensureBuilt, startServer } from './lib/server.js';
import { writeSynthetic } from './lib/synthetic.js';
import { ensureTools } from './lib/tools.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DIR = process.env.BENCH_SCALE_DIR ?? '/work/scale-data';
const SIZES = (process.env.BENCH_SIZES ?? '1e6,1e7,1e8').split(',').map(Number);
const WRK_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
/** 8 x 1000-token samples per batch, 256 batches (2.048M tokens, ~107 MB) per shard, k=8 f16, uncompressed. */
const SHAPE = { batchSize: 8, seqLen: 1000, k: 8, vocabSize: 151_936, values: 'f16' as const, batchesPerShard: 256 };
const TOKENS_PER_BATCH = SHAPE.batchSize * SHAPE.seqLen;
const MiB = 2 ** 20;

interface LooseShard { bytes: number; index?: { bytes: number } }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; seconds: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, maxBuffer: 16 << 20, cwd: REPO }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve({ stdout, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? duBytes(p) : statSync(p).blocks * 512;
  }
  return total;
}

function pythonPath(): string | null {
  const p = process.env.LOGIT_CACHE_PYTHON ?? join(REPO, '.venv', 'bin', 'python');
  return existsSync(p) ? p : null;
}

interface SizeResult {
  tokens: number; batches: number; shards: number;
  write: { seconds: number; tokensPerSec: number };
  bytes: { shards: number; manifest: number; indexes: number; onDisk: number };
  server: { listeningMs: number; firstBatchMs: number; firstRequestMs: number; rssAfterFirstBatchMiB: number; cpuSecondsToFirstBatch: number; wrk: { reqPerSec: number; mbPerSec: number; p99Ms: number }; peakRssMiB: number };
  python: { openSeconds: number; reopenSeconds: number; firstBatchSeconds: number; rssAfterOpenMiB: number; rssOpenDeltaMiB: number } | { skipped: string };
  verify: { seconds: number; mbPerSec: number };
}

async function measureSize(tokensWanted: number, script: string): Promise<SizeResult> {
  const label = tokensWanted.toExponential(0).replace('+', '');
  const root = join(DIR, label);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const datasetId = `scale-${label}`;
  const dir = join(root, datasetId);
  try {
    const batches = Math.ceil(tokensWanted / TOKENS_PER_BATCH);
    const w = writeSynthetic(root, datasetId, SHAPE, batches, 4);
    const shards = w.manifest.shards as unknown as LooseShard[];
    const bytes = {
      shards: shards.reduce((a, s) => a + s.bytes, 0),
      manifest: statSync(join(dir, 'manifest.json')).size,
      indexes: shards.reduce((a, s) => a + (s.index?.bytes ?? 0), 0),
      onDisk: duBytes(dir),
    };
    process.stderr.write(`${label}: wrote ${w.tokens} tokens in ${shards.length} shards (${(bytes.shards / MiB).toFixed(0)} MiB) in ${w.seconds.toFixed(1)} s\n`);

    // Server: spawn -> listening -> first batch, then random batches under wrk.
    const t0 = performance.now();
    const server = await startServer(root);
    let serverResult: SizeResult['server'];
    try {
      const b = Math.floor(Math.random() * batches);
      const t1 = performance.now();
      const res = await fetch(`${server.base}/logits/${datasetId}/${b}`);
      const body = await res.arrayBuffer();
      if (res.status !== 200 || body.byteLength < TOKENS_PER_BATCH) throw new Error(`${label}: first batch ${b} answered ${res.status} with ${body.byteLength} bytes`);
      const firstBatchMs = performance.now() - t0;
      // The part that can depend on the dataset: manifest load, shard index check, batch read.
      const firstRequestMs = performance.now() - t1;
      const mem = memoryOf(server.pid);
      const cpuToFirst = cpuSecondsOf(server.pid);
      const wrk = await runWrk(script, { base: server.base, prefix: `/logits/${datasetId}/`, suffix: '', count: batches }, { threads: 1, connections: 16, seconds: WRK_SECONDS });
      serverResult = {
        listeningMs: server.listeningMs, firstBatchMs, firstRequestMs, rssAfterFirstBatchMiB: mem.rss / MiB, cpuSecondsToFirstBatch: cpuToFirst,
        wrk: { reqPerSec: wrk.reqPerSec, mbPerSec: wrk.mbPerSec, p99Ms: wrk.p99Ms }, peakRssMiB: memoryOf(server.pid).peak / MiB,
      };
    } finally {
      await server.stop();
    }

    const py = pythonPath();
    let python: SizeResult['python'];
    if (!py) python = { skipped: 'no Python: set LOGIT_CACHE_PYTHON or run scripts/setup-python.sh' };
    else {
      const env = { ...process.env, PYTHONPATH: join(REPO, 'clients', 'python') };
      const out = JSON.parse((await run(py, [join(REPO, 'bench', 'scale_reader.py'), dir], env)).stdout.trim().split('\n').pop()!) as
        { openSeconds: number; reopenSeconds: number; firstBatchSeconds: number; rssAfterImport: number; rssAfterOpen: number };
      python = { openSeconds: out.openSeconds, reopenSeconds: out.reopenSeconds, firstBatchSeconds: out.firstBatchSeconds, rssAfterOpenMiB: out.rssAfterOpen / MiB, rssOpenDeltaMiB: (out.rssAfterOpen - out.rssAfterImport) / MiB };
    }

    const v = await run(process.execPath, [join(REPO, 'dist', 'cli', 'logit-cache.js'), 'verify', '--quiet', dir]);
    const report = JSON.parse(v.stdout.trim()) as { ok: boolean };
    if (!report.ok) throw new Error(`${label}: verify found problems: ${v.stdout}`);
    return {
      tokens: w.tokens, batches, shards: shards.length,
      write: { seconds: w.seconds, tokensPerSec: w.tokens / w.seconds },
      bytes, server: serverResult, python, verify: { seconds: v.seconds, mbPerSec: bytes.shards / v.seconds / 1e6 },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * What start-up costs before any dataset is involved, measured in the same run: a bare
 * `node -e ""`, and `logit-cache serve` on an empty root (process start, module loading).
 */
async function baseline(): Promise<{ nodeMs: number; emptyRootListeningMs: number; emptyRootCpuSeconds: number }> {
  const nodeMs = (await run(process.execPath, ['-e', ''])).seconds * 1e3;
  const empty = join(DIR, 'empty-root');
  mkdirSync(empty, { recursive: true });
  try {
    const server = await startServer(empty);
    const cpu = cpuSecondsOf(server.pid);
    await server.stop();
    return { nodeMs, emptyRootListeningMs: server.listeningMs, emptyRootCpuSeconds: cpu };
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  ensureTools(['wrk']);
  ensureBuilt();
  mkdirSync(DIR, { recursive: true });
  const fs0 = statfsSync(DIR);
  const freeBefore = fs0.bavail * fs0.bsize;
  const need = Math.max(...SIZES) / TOKENS_PER_BATCH * TOKENS_PER_BATCH * (SHAPE.k * 6 + 4) * 1.05;
  if (need > freeBefore * 0.8) throw new Error(`${DIR}: the largest size needs ~${(need / 2 ** 30).toFixed(0)} GiB, only ${(freeBefore / 2 ** 30).toFixed(0)} GiB free; drop it from BENCH_SIZES`);
  const script = writeWrkScript(DIR);
  const results: SizeResult[] = [];
  const baselines = [await baseline()];
  try {
    for (const size of SIZES) results.push(await measureSize(size, script));
  } finally {
    rmSync(script, { force: true });
  }
  baselines.push(await baseline());
  const mean = (f: (b: (typeof baselines)[number]) => number) => baselines.reduce((a, b) => a + f(b), 0) / baselines.length;
  const base = { nodeMs: mean((b) => b.nodeMs), emptyRootListeningMs: mean((b) => b.emptyRootListeningMs), emptyRootCpuSeconds: mean((b) => b.emptyRootCpuSeconds) };

  const f = (x: number, d = 0) => x.toFixed(d);
  const py = (r: SizeResult) => ('skipped' in r.python ? null : r.python);
  console.log(`\nSynthetic datasets, k=8 f16 uncompressed, ${SHAPE.batchSize}x${SHAPE.seqLen}-token batches, ${SHAPE.batchesPerShard} batches per shard (${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; page cache warm)`);
  console.log(`baseline, same run: node -e "" ${f(base.nodeMs)} ms; logit-cache serve on an empty root listening after ${f(base.emptyRootListeningMs)} ms, ${f(base.emptyRootCpuSeconds, 2)} CPU s`);
  console.log('| tokens | shards | write Mtok/s | manifest KiB | indexes KiB | serve: listening ms | first request ms | spawn to first batch ms | server CPU s to first batch | RSS MiB | req/s | py open ms | py reopen ms | py RSS +MiB | verify s |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const p = py(r);
    console.log(`| ${r.tokens.toExponential(0).replace('+', '')} | ${r.shards} | ${f(r.write.tokensPerSec / 1e6, 1)} | ${f(r.bytes.manifest / 1024, 1)} | ${f(r.bytes.indexes / 1024, 1)} | ${f(r.server.listeningMs)} | ${f(r.server.firstRequestMs, 1)} | ${f(r.server.firstBatchMs)} | ${f(r.server.cpuSecondsToFirstBatch, 2)} | ${f(r.server.rssAfterFirstBatchMiB)} | ${f(r.server.wrk.reqPerSec)} | ${p ? f(p.openSeconds * 1e3, 1) : '-'} | ${p ? f(p.reopenSeconds * 1e3, 1) : '-'} | ${p ? f(p.rssOpenDeltaMiB, 1) : '-'} | ${f(r.verify.seconds, 1)} |`);
  }
  const first = results[0], last = results[results.length - 1];
  const ratios = {
    from: first.tokens, to: last.tokens,
    serverFirstBatchMs: last.server.firstBatchMs / first.server.firstBatchMs,
    serverFirstRequestMs: last.server.firstRequestMs / first.server.firstRequestMs,
    serverCpuToFirstBatch: last.server.cpuSecondsToFirstBatch / first.server.cpuSecondsToFirstBatch,
    serverRss: last.server.rssAfterFirstBatchMiB / first.server.rssAfterFirstBatchMiB,
    manifestBytes: last.bytes.manifest / first.bytes.manifest,
    pythonOpen: py(first) && py(last) ? py(last)!.openSeconds / py(first)!.openSeconds : null,
    pythonReopen: py(first) && py(last) ? py(last)!.reopenSeconds / py(first)!.reopenSeconds : null,
  };
  console.log(`${f(last.tokens / first.tokens)}x the tokens: server spawn-to-first-batch ${ratios.serverFirstBatchMs.toFixed(2)}x (first request alone ${ratios.serverFirstRequestMs.toFixed(2)}x, server CPU to first batch ${ratios.serverCpuToFirstBatch.toFixed(2)}x), server RSS ${ratios.serverRss.toFixed(2)}x, manifest ${ratios.manifestBytes.toFixed(1)}x, shards ${f(last.shards / first.shards)}x${ratios.pythonOpen === null ? '' : `, Python open ${ratios.pythonOpen.toFixed(2)}x (reopen ${ratios.pythonReopen!.toFixed(2)}x)`}`);
  const fs1 = statfsSync(DIR);
  const out = {
    date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
    note: 'Machine shared with other jobs; page cache warm (the datasets were just written). Each dataset was deleted after its row.',
    shape: { ...SHAPE, codec: 'none' }, dir: DIR, diskFreeBeforeGiB: freeBefore / 2 ** 30, diskFreeAfterGiB: (fs1.bavail * fs1.bsize) / 2 ** 30,
    baseline: base, results, ratios,
  };
  writeFileSync(fileURLToPath(new URL('./results/scale.json', import.meta.url)), `${JSON.stringify(out, null, 2)}\n`);
}

await main();
