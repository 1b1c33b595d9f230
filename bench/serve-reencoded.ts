// Serving the batches the server has to build: shared-prefix datasets (format 2.5, what
// `--preset compact` and `--preset small` write) and Parquet shards. GET /logits re-encodes
// those per request unless the server's stream cache holds them (`serve --reencode-cache-mib`).
//
// Real teacher output: stories260k (../shared) is run once through the built precompute CLI
// (k = 8, float32, uncompressed), read back, and written through the real DatasetWriter as
// five datasets: compact with and without shared prefixes, fast with and without, fast as
// Parquet. Two `logit-cache serve` processes (built dist/) serve the same root: one with the
// cache off (--reencode-cache-mib 0: every request re-encodes), one with the default 256 MiB.
// nginx (one worker, sendfile) serves every batch's body as a static file (the bytes GET
// /logits answered, checked against their hash header), the reference bench/serve.ts uses.
//
// Two measurements: (1) one request at a time, every batch in order, twice, on the cache-on
// server (pass 1: nothing cached, every request re-encodes; pass 2: every request a hit), and
// the same pass on the cache-off server; (2) wrk, random batches, 16 connections, in
// interleaved rounds, each route's server CPU per request from /proc (robust on a shared
// machine). The cache-on server's hit/miss counters are read from /metrics at the end.
//
//   LOGIT_CACHE_SHARED=/path/to/shared npx tsx bench/serve-reencoded.ts     (needs nginx and wrk; installs them with apt-get when root)
//   BENCH_SECONDS=3 BENCH_ROUNDS=2 npx tsx bench/serve-reencoded.ts
// Writes bench/results/serve-reencoded.json and prints a table.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetReader, DatasetWriter, type PresetName, presetSettings, type TopkBatch, type TopkLayout } from '../src/shard/index.js';
import { startNginx } from './lib/nginx.js';
import { cpuSecondsOf, memoryOf } from './lib/proc.js';
import { ensureBuilt, type Server, startServer } from './lib/server.js';
import { ensureTools } from './lib/tools.js';
import { runWrk, type WrkRun, writeWrkScript } from './lib/wrk.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const STORIES = resolve(process.env.LOGIT_CACHE_SHARED ?? resolve(REPO, '../shared'), 'teachers/stories260k');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const K = 8;
const BATCH = 32;
const STREAM_SHA_HEADER = 'x-logit-cache-stream-sha256';

interface Variant { id: string; label: string; preset: PresetName; share: number; parquet: boolean }
const VARIANTS: Variant[] = [
  { id: 'compact-shared', label: '--preset compact (2.5)', preset: 'compact', share: 32, parquet: false },
  { id: 'compact-plain', label: '--preset compact --share-prefixes 0', preset: 'compact', share: 0, parquet: false },
  { id: 'fast-shared', label: '--preset fast --share-prefixes 32', preset: 'fast', share: 32, parquet: false },
  { id: 'fast-plain', label: '--preset fast', preset: 'fast', share: 0, parquet: false },
  { id: 'fast-parquet', label: '--preset fast --shard-format parquet', preset: 'fast', share: 0, parquet: true },
];
/** The same preset stored as plain Arrow shards (served by slicing the file). */
const plainId = (v: Variant): string => `${v.preset}-plain`;
/** Served by re-encoding (so the cache applies), or sliced from the file. */
const reencoded = (v: Variant): boolean => v.share > 0 || v.parquet;

type Route = 'cache-off' | 'cache-on' | 'nginx';

/** stories260k's exact top-8 (float32, uncompressed), from the built precompute CLI, as batches. */
async function teacherBatches(work: string): Promise<{ batches: TopkBatch[]; vocab: number }> {
  if (!existsSync(join(STORIES, 'model.onnx'))) throw new Error(`${STORIES}/model.onnx not found: set LOGIT_CACHE_SHARED to the folder holding teachers/stories260k`);
  const args = [join(REPO, 'dist/cli/precompute-logits.js'), '--model', join(STORIES, 'model.onnx'), '--data', join(STORIES, 'stories.jsonl'), '--out', work,
    '--dataset-id', 'exact', '--top-k', String(K), '--values', 'f32', '--codec', 'none', '--batch-size', String(BATCH), '--quiet'];
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`precompute-logits exited with ${r.status}`);
  const reader = await DatasetReader.open(join(work, 'exact'));
  const batches: TopkBatch[] = [];
  for (let b = 0; b < reader.batchCount; b++) {
    const x = await reader.readBatch(b);
    batches.push({ sampleIds: Float64Array.from(x.sampleIds), offsets: x.offsets.slice(), inputIds: x.inputIds.slice(), topkIds: Uint32Array.from(x.topkIds), topkLogprobs: x.topkLogprobs.slice() });
  }
  const vocab = reader.layout.vocabSize;
  await reader.close();
  return { batches, vocab };
}

function writeVariant(root: string, v: Variant, batches: TopkBatch[], vocab: number): void {
  const s = presetSettings(v.preset, K);
  const layout: TopkLayout = {
    k: K, vocabSize: vocab, values: s.values, ...(s.f16Ranks !== undefined ? { f16Ranks: s.f16Ranks } : {}), ...(s.gridStep !== undefined ? { gridStep: s.gridStep } : {}),
    ...(s.ids ? { ids: s.ids } : {}), ...(v.share > 0 ? { sharedPrefixes: true } : {}), ...(v.parquet ? { shardFormat: 'parquet' as const } : {}),
  };
  const w = new DatasetWriter({
    root, datasetId: v.id, layout, codec: s.codec, zstdLevel: s.zstdLevel, batchSize: BATCH, batchesPerShard: 64,
    runConfig: { preset: v.preset, sharePrefixes: v.share, shardFormat: v.parquet ? 'parquet' : 'arrow' }, ...(v.share > 0 ? { sharePrefixes: v.share } : {}),
  });
  for (const b of batches) w.append(b);
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  w.finish({
    teacher: { file: 'model.onnx', sha256: '0'.repeat(64), vocabSize: vocab },
    source: { file: 'stories.jsonl', sha256: '0'.repeat(64), samples: batches.reduce((a, b) => a + b.offsets.length - 1, 0), tokens },
  });
}

async function getChecked(base: string, id: string, b: number): Promise<Buffer> {
  const res = await fetch(`${base}/logits/${id}/${b}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${id} batch ${b}: HTTP ${res.status} ${body.toString().slice(0, 200)}`);
  const sha = createHash('sha256').update(body).digest('hex');
  if (sha !== res.headers.get(STREAM_SHA_HEADER)) throw new Error(`${id} batch ${b}: body sha256 ${sha} differs from ${STREAM_SHA_HEADER}`);
  return body;
}

/** Every batch in order, one request at a time: ms per batch (client-side, loopback). */
async function timedPass(base: string, id: string, batches: number, check?: Buffer[]): Promise<number> {
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const body = await getChecked(base, id, b);
    if (check && !body.equals(check[b])) throw new Error(`${id} batch ${b}: the two servers answered different bytes`);
  }
  return (performance.now() - t0) / batches;
}

async function scrape(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^logit_cache_reencode_cache_(\w+) (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

interface Measured extends WrkRun { id: string; route: Route; round: number; serverCpuSeconds: number }
interface Summary { mbPerSec: number; reqPerSec: number; p99Ms: number; cpuMsPerRequest: number; requests: number }

function summarize(runs: Measured[]): Summary {
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const mean = (f: (r: Measured) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  return {
    mbPerSec: mean((r) => r.mbPerSec), reqPerSec: mean((r) => r.reqPerSec), p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
    cpuMsPerRequest: (runs.reduce((a, r) => a + r.serverCpuSeconds, 0) / requests) * 1e3, requests,
  };
}

async function main(): Promise<void> {
  ensureTools(['nginx', 'wrk']);
  ensureBuilt();
  const tmp = mkdtempSync(join(tmpdir(), 'lc-bench-reencoded-'));
  chmodSync(tmp, 0o755);
  const root = join(tmp, 'root'), staticDir = join(tmp, 'static');
  const stops: (() => Promise<void>)[] = [];
  try {
    const t0 = performance.now();
    const { batches, vocab } = await teacherBatches(join(tmp, 'exact'));
    for (const v of VARIANTS) writeVariant(root, v, batches, vocab);
    const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
    process.stderr.write(`stories260k: ${batches.length} batches of ${BATCH}, ${tokens} tokens; ${VARIANTS.length} datasets written in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const servers: Record<Exclude<Route, 'nginx'>, Server> = {
      'cache-off': await startServer(root, { serveArgs: ['--reencode-cache-mib', '0'] }),
      'cache-on': await startServer(root),
    };
    stops.push(servers['cache-off'].stop, servers['cache-on'].stop);

    // Bodies from the cache-off server (every one re-encoded and hash-checked) become nginx's files.
    // That pass is the cache-off server's first over each dataset (timed: one request at a time,
    // in order), its second is its steady state; the cache-on server's first pass is then its
    // first over the dataset (every request a miss) and its second every request a hit.
    const bodies: Record<string, Buffer[]> = {};
    const firstOff: Record<string, number> = {};
    for (const v of VARIANTS) {
      mkdirSync(join(staticDir, v.id), { recursive: true });
      bodies[v.id] = [];
      const t1 = performance.now();
      for (let b = 0; b < batches.length; b++) {
        const body = await getChecked(servers['cache-off'].base, v.id, b);
        writeFileSync(join(staticDir, v.id, `${b}.arrow`), body);
        bodies[v.id].push(body);
      }
      firstOff[v.id] = (performance.now() - t1) / batches.length;
    }
    const passes: Record<string, { offFirstMs: number; offMs: number; coldMs: number; warmMs: number }> = {};
    for (const v of VARIANTS) {
      const offMs = await timedPass(servers['cache-off'].base, v.id, batches.length, bodies[v.id]);
      const coldMs = await timedPass(servers['cache-on'].base, v.id, batches.length, bodies[v.id]);
      const warmMs = await timedPass(servers['cache-on'].base, v.id, batches.length, bodies[v.id]);
      passes[v.id] = { offFirstMs: firstOff[v.id], offMs, coldMs, warmMs };
      process.stderr.write(`${v.id}: in order, one at a time, ms/batch: cache off pass 1 ${firstOff[v.id].toFixed(2)}, pass 2 ${offMs.toFixed(2)}; cache on pass 1 ${coldMs.toFixed(2)}, pass 2 ${warmMs.toFixed(2)}\n`);
    }
    const afterPasses = await scrape(servers['cache-on'].base);

    const nginx = await startNginx(staticDir, join(tmp, 'nginx'));
    stops.push(nginx.stop);
    const probe = Buffer.from(await (await fetch(`${nginx.base}/compact-shared/0.arrow`)).arrayBuffer());
    if (!probe.equals(bodies['compact-shared'][0])) throw new Error('nginx and GET /logits disagree on compact-shared batch 0');

    const script = writeWrkScript(tmp);
    const measure = async (v: Variant, route: Route, seconds: number, round: number): Promise<Measured> => {
      const base = route === 'nginx' ? nginx.base : servers[route].base;
      const pid = route === 'nginx' ? nginx.workerPid : servers[route].pid;
      const target = route === 'nginx'
        ? { base, prefix: `/${v.id}/`, suffix: '.arrow', count: batches.length }
        : { base, prefix: `/logits/${v.id}/`, suffix: '', count: batches.length };
      const cpu0 = cpuSecondsOf(pid);
      const run = await runWrk(script, target, { threads: 1, connections: CONNECTIONS, seconds });
      return { ...run, id: v.id, route, round, serverCpuSeconds: cpuSecondsOf(pid) - cpu0 };
    };
    const routesOf = (v: Variant): Route[] => (reencoded(v) ? ['cache-off', 'cache-on', 'nginx'] : ['cache-on', 'nginx']);
    for (const v of VARIANTS) for (const route of routesOf(v)) await measure(v, route, 1, -1); // warm-up, not recorded
    const runs: Measured[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of VARIANTS) {
        const routes = round % 2 === 0 ? routesOf(v) : [...routesOf(v)].reverse();
        for (const route of routes) {
          const m = await measure(v, route, SECONDS, round);
          process.stderr.write(`round ${round} ${v.id.padEnd(14)} ${route.padEnd(9)}: ${m.mbPerSec.toFixed(0)} MB/s, ${m.reqPerSec.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(1)} ms, server CPU ${((m.serverCpuSeconds / m.requests) * 1e3).toFixed(3)} ms/req\n`);
          runs.push(m);
        }
      }
    }
    const counters = await scrape(servers['cache-on'].base);
    const rssMiB = Object.fromEntries((['cache-off', 'cache-on'] as const).map((r) => {
      const m = memoryOf(servers[r].pid);
      return [r, { rss: m.rss / 2 ** 20, peak: m.peak / 2 ** 20 }];
    }));

    const table: Record<string, Partial<Record<Route, Summary>>> = {};
    for (const v of VARIANTS) {
      table[v.id] = {};
      for (const route of routesOf(v)) table[v.id][route] = summarize(runs.filter((r) => r.id === v.id && r.route === route));
    }
    const meanBody = (id: string) => bodies[id].reduce((a, b) => a + b.length, 0) / bodies[id].length;
    const ratios: Record<string, Record<string, number>> = {};
    for (const v of VARIANTS.filter(reencoded)) {
      const t = table[v.id], plain = table[plainId(v)]['cache-on']!;
      ratios[v.id] = {
        warmOverOffReqPerSec: t['cache-on']!.reqPerSec / t['cache-off']!.reqPerSec,
        offOverWarmCpuPerRequest: t['cache-off']!.cpuMsPerRequest / t['cache-on']!.cpuMsPerRequest,
        offOverNginxMbPerSec: t['cache-off']!.mbPerSec / t.nginx!.mbPerSec,
        warmOverNginxMbPerSec: t['cache-on']!.mbPerSec / t.nginx!.mbPerSec,
        // Time per batch against the same preset stored without re-encoding, through the same server.
        offTimeOverPlain: plain.reqPerSec / t['cache-off']!.reqPerSec,
        warmTimeOverPlain: plain.reqPerSec / t['cache-on']!.reqPerSec,
        passOffOverWarm: passes[v.id].offMs / passes[v.id].warmMs,
        passWarmOverPlain: passes[v.id].warmMs / passes[plainId(v)].warmMs,
        offCpuOverPlain: t['cache-off']!.cpuMsPerRequest / plain.cpuMsPerRequest,
        warmCpuOverPlain: t['cache-on']!.cpuMsPerRequest / plain.cpuMsPerRequest,
      };
    }

    console.log(`\nstories260k, ${batches.length} batches of ${BATCH} samples (~${Math.round(tokens / batches.length)} tokens), k = ${K}; wrk 1 thread, ${CONNECTIONS} loopback connections, random batches, ${ROUNDS} rounds x ${SECONDS} s (${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
    console.log('| dataset | body KiB | server | MB/s | req/s | p99 ms | server CPU ms/req | MB/s vs nginx |');
    console.log('|---|---:|---|---:|---:|---:|---:|---:|');
    for (const v of VARIANTS) {
      for (const route of routesOf(v)) {
        const s = table[v.id][route]!;
        const name = route === 'nginx' ? 'nginx, same bytes as files' : reencoded(v) ? `GET /logits, ${route === 'cache-on' ? 'cache on (warm)' : 'cache off'}` : 'GET /logits (sliced from file)';
        console.log(`| ${v.label} | ${(meanBody(v.id) / 1024).toFixed(0)} | ${name} | ${s.mbPerSec.toFixed(0)} | ${s.reqPerSec.toFixed(0)} | ${s.p99Ms.toFixed(1)} | ${s.cpuMsPerRequest.toFixed(3)} | ${(s.mbPerSec / table[v.id].nginx!.mbPerSec).toFixed(2)}x |`);
      }
    }
    console.log('\nIn order, one request at a time, ms per batch (client side); and ratios from the wrk rows above:');
    console.log('| dataset | cache off: pass 1 | pass 2 | cache on: pass 1 (cold) | pass 2 (warm) | warm / off req/s | off / warm server CPU per req | vs same preset plain Arrow, server CPU per req: off | warm |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const v of VARIANTS) {
      const p = passes[v.id], r = ratios[v.id];
      const cells = r
        ? [`${r.warmOverOffReqPerSec.toFixed(1)}x`, `${r.offOverWarmCpuPerRequest.toFixed(0)}x`, `${r.offCpuOverPlain.toFixed(1)}x`, `${r.warmCpuOverPlain.toFixed(2)}x`]
        : ['', '', '', ''];
      console.log(`| ${v.label} | ${p.offFirstMs.toFixed(2)} | ${p.offMs.toFixed(2)} | ${p.coldMs.toFixed(2)} | ${p.warmMs.toFixed(2)} | ${cells.join(' | ')} |`);
    }
    console.log(`server RSS at the end (MiB, now / peak): cache off ${rssMiB['cache-off'].rss.toFixed(0)} / ${rssMiB['cache-off'].peak.toFixed(0)}, cache on ${rssMiB['cache-on'].rss.toFixed(0)} / ${rssMiB['cache-on'].peak.toFixed(0)}`);
    console.log(`cache-on server counters after the in-order passes: ${JSON.stringify(afterPasses)}; at the end: ${JSON.stringify(counters)}`);

    const out = {
      date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
      note: 'Machine shared with other jobs; compare the side-by-side ratios (and server CPU per request), not absolute figures.',
      teacher: { name: 'stories260k', vocab, batches: batches.length, batchSize: BATCH, tokens, k: K },
      load: { tool: 'wrk', threads: 1, connections: CONNECTIONS, secondsPerRun: SECONDS, rounds: ROUNDS, loadAverageAtEnd: loadavg() },
      servers: { 'cache-off': '--reencode-cache-mib 0', 'cache-on': 'default (256 MiB)' }, nginx: { workers: 1, sendfile: true },
      datasets: VARIANTS.map((v) => ({ ...v, reencoded: reencoded(v), meanBodyBytes: meanBody(v.id) })),
      passesMsPerBatch: passes, summary: table, ratios, cacheCounters: { afterPasses, atEnd: counters }, rssMiB, runs,
    };
    writeFileSync(fileURLToPath(new URL('./results/serve-reencoded.json', import.meta.url)), `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
