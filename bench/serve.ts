// Serving benchmark: GET /logits against nginx serving the very same bytes as static files.
//
// A synthetic dataset (~233 KiB one-batch streams) is written with the real shard writer;
// `logit-cache serve` (built dist/, its own process) answers one full pass over every batch,
// each body checked against its checksum header and written out as a file, and nginx (one
// worker, sendfile) serves that folder. wrk then requests random batches from each, in
// interleaved rounds, with 1 and with 2 client threads: when the two client settings agree,
// the client is not what limits the figure. CPU seconds each server process used per
// request come from /proc, a figure that stays meaningful on a machine shared with others.
// Random batches repeat, so a server that remembers verified batches hashes few of them;
// the "one epoch" rows request batches in order from a fresh copy of the dataset (new
// files) on the same warm server, so every GET /logits response there is hashed: both
// access patterns are reported.
//
//   npx tsx bench/serve.ts            (needs nginx and wrk; installs them with apt-get when root)
//   BENCH_BYTES=1073741824 BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_PROFILE=1 npx tsx bench/serve.ts
//   BENCH_SERVER_CLI=/other/build/dist/cli/logit-cache.js npx tsx bench/serve.ts   (another build, same harness)
// Writes bench/results/serve.json; with BENCH_PROFILE=1 also the server's .cpuprofile (in the temp folder).
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx } from './lib/nginx.js';
import { cpuSecondsOf, memoryOf } from './lib/proc.js';
import { ensureBuilt, startServer } from './lib/server.js';
import { writeSynthetic } from './lib/synthetic.js';
import { ensureTools } from './lib/tools.js';
import { runWrk, type WrkRun, type WrkTarget, writeWrkScript } from './lib/wrk.js';

const TARGET_BYTES = Number(process.env.BENCH_BYTES ?? 1 << 30);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PROFILE = process.env.BENCH_PROFILE === '1';
/** 8 samples x 576 tokens, k=8, f16: a 239 kB (233 KiB) one-batch stream. */
const SHAPE = { batchSize: 8, seqLen: 576, k: 8, vocabSize: 151_936, values: 'f16' as const, batchesPerShard: 256 };
const DATASET = 'bench';
const STREAM_SHA_HEADER = 'x-logit-cache-stream-sha256';
const THREADS = [1, 2];

type Route = 'logits' | 'nginx';

/** Reads every batch once through GET /logits, checks each against its checksum header, and writes it out as a file. */
async function passAndSlice(base: string, batches: number, staticDir: string): Promise<{ seconds: number; bytes: number }> {
  let next = 0, bytes = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let b = next++; b < batches; b = next++) {
      const res = await fetch(`${base}/logits/${DATASET}/${b}`);
      const body = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`batch ${b}: HTTP ${res.status}`);
      const sha = createHash('sha256').update(body).digest('hex');
      if (sha !== res.headers.get(STREAM_SHA_HEADER)) throw new Error(`batch ${b}: body sha256 ${sha} differs from ${STREAM_SHA_HEADER} ${res.headers.get(STREAM_SHA_HEADER)}`);
      writeFileSync(join(staticDir, `${b}.arrow`), body);
      bytes += body.length;
    }
  }));
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/** A byte-for-byte copy of a dataset folder under another id: new files the server has never verified. */
function copyDataset(from: string, to: string, datasetId: string): void {
  cpSync(from, to, { recursive: true });
  const manifestPath = join(to, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { datasetId: string };
  manifest.datasetId = datasetId;
  writeFileSync(manifestPath, JSON.stringify(manifest));
}

interface Measured extends WrkRun { route: Route; round: number; serverCpuSeconds: number }

interface Summary {
  mbPerSec: number; reqPerSec: number; p50Ms: number; p99Ms: number;
  /** Server CPU milliseconds per request (all the server's threads; nginx: its one worker). */
  cpuMsPerRequest: number;
  /** Server CPU seconds per wall second: near 1.0 for a one-threaded server means the server is the limit. */
  serverCpuBusy: number;
  requests: number; seconds: number; roundsMbPerSec: number[];
}

/** Throughput is averaged over rounds; latency percentiles take the worst round (conservative). */
function summarize(runs: Measured[]): Summary {
  const mean = (f: (r: Measured) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const cpu = runs.reduce((a, r) => a + r.serverCpuSeconds, 0);
  return {
    mbPerSec: mean((r) => r.mbPerSec), reqPerSec: mean((r) => r.reqPerSec),
    p50Ms: Math.max(...runs.map((r) => r.p50Ms)), p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
    cpuMsPerRequest: (cpu / requests) * 1e3, serverCpuBusy: cpu / seconds,
    requests, seconds, roundsMbPerSec: runs.map((r) => r.mbPerSec),
  };
}

async function main(): Promise<void> {
  ensureTools(['nginx', 'wrk']);
  ensureBuilt();
  const tmp = mkdtempSync(join(tmpdir(), 'lc-bench-serve-'));
  // nginx's worker runs as an unprivileged user when we are root: it must be able to walk in.
  chmodSync(tmp, 0o755);
  const root = join(tmp, 'root'), staticDir = join(tmp, 'static'), profDir = join(tmp, 'prof');
  mkdirSync(staticDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  try {
    const approxBatch = SHAPE.batchSize * SHAPE.seqLen * (SHAPE.k * 6 + 4);
    const batches = Math.max(1, Math.round(TARGET_BYTES / approxBatch));
    // 16 distinct batch bodies cycled: the bytes differ between neighbours, as real data would.
    const written = writeSynthetic(root, DATASET, SHAPE, batches, 16);
    const shardBytes = written.manifest.shards.reduce((a, s) => a + s.bytes, 0);
    process.stderr.write(`wrote ${batches} batches in ${written.manifest.shards.length} shards, ${(shardBytes / 2 ** 20).toFixed(0)} MiB, in ${written.seconds.toFixed(1)} s\n`);

    const server = await startServer(root, PROFILE ? { cpuProfDir: profDir } : {});
    stops.push(server.stop);
    const idle = memoryOf(server.pid);
    const pass = await passAndSlice(server.base, batches, staticDir);
    const afterPass = memoryOf(server.pid);
    process.stderr.write(`full pass through GET /logits: ${(pass.bytes / 2 ** 20).toFixed(0)} MiB in ${pass.seconds.toFixed(1)} s, every body checked and written out for nginx\n`);
    const nginx = await startNginx(staticDir, join(tmp, 'nginx'));
    stops.push(nginx.stop);
    const probeRes = await fetch(`${nginx.base}/0.arrow`);
    if (probeRes.status !== 200) throw new Error(`nginx: GET /0.arrow answered ${probeRes.status} (see ${join(tmp, 'nginx', 'error.log')})`);
    const probe = await probeRes.arrayBuffer();
    const same = await (await fetch(`${server.base}/logits/${DATASET}/0`)).arrayBuffer();
    if (Buffer.compare(Buffer.from(probe), Buffer.from(same)) !== 0) throw new Error('nginx and GET /logits disagree on batch 0');

    const script = writeWrkScript(tmp);
    const targets = (): Record<Route, { target: WrkTarget; pid: number }> => ({
      logits: { target: { base: server.base, prefix: `/logits/${DATASET}/`, suffix: '', count: batches }, pid: server.pid },
      nginx: { target: { base: nginx.base, prefix: '/', suffix: '.arrow', count: batches }, pid: nginx.workerPid },
    });
    const measure = async (route: Route, threads: number, seconds: number, round: number): Promise<Measured> => {
      const { target, pid } = targets()[route];
      const cpu0 = cpuSecondsOf(pid);
      const run = await runWrk(script, target, { threads, connections: CONNECTIONS, seconds });
      return { ...run, route, round, serverCpuSeconds: cpuSecondsOf(pid) - cpu0 };
    };
    // Warm-up: JIT, page cache, keep-alive connections; not recorded.
    for (const route of ['logits', 'nginx'] as const) await measure(route, 2, 2, -1);

    const runs: Measured[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate who goes first so neither always inherits the other's warm state or the machine's drift.
      const routes: Route[] = round % 2 === 0 ? ['logits', 'nginx'] : ['nginx', 'logits'];
      for (const route of routes) {
        for (const threads of round % 2 === 0 ? THREADS : [...THREADS].reverse()) {
          const m = await measure(route, threads, SECONDS, round);
          process.stderr.write(`round ${round} ${route.padEnd(6)} wrk -t${threads}: ${m.mbPerSec.toFixed(0)} MB/s, ${m.reqPerSec.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(1)} ms, server CPU ${(m.serverCpuSeconds / m.seconds).toFixed(2)}\n`);
          runs.push(m);
        }
      }
    }
    const overall = memoryOf(server.pid);

    const pick = (route: Route, threads: number) => summarize(runs.filter((r) => r.route === route && r.threads === threads));
    const table: Record<string, Summary> = {};
    for (const route of ['logits', 'nginx'] as const) for (const t of THREADS) table[`${route}-t${t}`] = pick(route, t);
    const best = (route: Route) => (table[`${route}-t1`].mbPerSec >= table[`${route}-t2`].mbPerSec ? table[`${route}-t1`] : table[`${route}-t2`]);
    const logits = best('logits'), statik = best('nginx');
    const ratio = {
      mbPerSec: logits.mbPerSec / statik.mbPerSec, reqPerSec: logits.reqPerSec / statik.reqPerSec,
      p99: logits.p99Ms / statik.p99Ms, cpuPerRequest: logits.cpuMsPerRequest / statik.cpuMsPerRequest,
    };
    const clientCheck = {
      logitsT2overT1: table['logits-t2'].mbPerSec / table['logits-t1'].mbPerSec,
      nginxT2overT1: table['nginx-t2'].mbPerSec / table['nginx-t1'].mbPerSec,
    };

    // One epoch: batches in order from a copy of the dataset the warm server has never read
    // (new files, new inodes), so no batch was verified before and every GET /logits hashes
    // what it sends. The run is kept shorter than one pass (70% of the batches at the fastest
    // random-access rate seen; in-order reads can be faster), and wrapping is reported.
    const epochRuns: Measured[] = [];
    const fastest = Math.max(...runs.filter((r) => r.route === 'logits').map((r) => r.reqPerSec));
    const epochSeconds = Math.max(1, Math.min(SECONDS, Math.floor((0.7 * batches) / fastest)));
    for (let round = 0; round < ROUNDS; round++) {
      const copyId = `epoch${round}`;
      copyDataset(join(root, DATASET), join(root, copyId), copyId);
      for (const route of (round % 2 === 0 ? ['logits', 'nginx'] : ['nginx', 'logits']) as Route[]) {
        const { target, pid } = targets()[route];
        const prefix = route === 'logits' ? `/logits/${copyId}/` : target.prefix;
        const cpu0 = cpuSecondsOf(pid);
        const run = await runWrk(script, { ...target, prefix, order: 'sequential' }, { threads: 1, connections: CONNECTIONS, seconds: epochSeconds });
        const m: Measured = { ...run, route, round, serverCpuSeconds: cpuSecondsOf(pid) - cpu0 };
        if (route === 'logits' && m.requests > batches) process.stderr.write(`warning: the one-epoch run wrapped (${m.requests} requests > ${batches} batches), so some reads were repeats: raise BENCH_BYTES\n`);
        process.stderr.write(`epoch ${round} ${route.padEnd(6)}: ${m.requests} requests, ${m.mbPerSec.toFixed(0)} MB/s, ${m.reqPerSec.toFixed(0)} req/s, p99 ${m.p99Ms.toFixed(1)} ms\n`);
        epochRuns.push(m);
      }
      rmSync(join(root, copyId), { recursive: true, force: true });
    }
    const epoch = { logits: summarize(epochRuns.filter((r) => r.route === 'logits')), nginx: summarize(epochRuns.filter((r) => r.route === 'nginx')) };
    const epochRatio = { mbPerSec: epoch.logits.mbPerSec / epoch.nginx.mbPerSec, p99: epoch.logits.p99Ms / epoch.nginx.p99Ms, cpuPerRequest: epoch.logits.cpuMsPerRequest / epoch.nginx.cpuMsPerRequest };

    const meanBody = pass.bytes / batches;
    console.log(`\nGET over loopback, ${CONNECTIONS} connections, random batches of ${(meanBody / 1024).toFixed(0)} KiB out of ${batches}, ${ROUNDS} rounds x ${SECONDS} s per row (${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
    console.log('| server                       | wrk threads |   MB/s |  req/s | p99 ms | server CPU ms/req | server CPU busy |');
    console.log('|------------------------------|-------------|--------|--------|--------|-------------------|-----------------|');
    for (const route of ['logits', 'nginx'] as const) {
      for (const t of THREADS) {
        const s = table[`${route}-t${t}`];
        const name = route === 'logits' ? 'GET /logits (logit-cache)' : 'nginx static, 1 worker';
        console.log(`| ${name.padEnd(28)} | ${String(t).padStart(11)} | ${s.mbPerSec.toFixed(0).padStart(6)} | ${s.reqPerSec.toFixed(0).padStart(6)} | ${s.p99Ms.toFixed(1).padStart(6)} | ${s.cpuMsPerRequest.toFixed(3).padStart(17)} | ${s.serverCpuBusy.toFixed(2).padStart(15)} |`);
      }
    }
    for (const route of ['logits', 'nginx'] as const) {
      const e = epoch[route];
      const name = route === 'logits' ? 'GET /logits, one epoch' : 'nginx, one epoch';
      console.log(`| ${name.padEnd(28)} | ${'1'.padStart(11)} | ${e.mbPerSec.toFixed(0).padStart(6)} | ${e.reqPerSec.toFixed(0).padStart(6)} | ${e.p99Ms.toFixed(1).padStart(6)} | ${e.cpuMsPerRequest.toFixed(3).padStart(17)} | ${e.serverCpuBusy.toFixed(2).padStart(15)} |`);
    }
    console.log(`one epoch (each batch once, in order, from files the server never read: every response hashed): ${epochRatio.mbPerSec.toFixed(2)}x MB/s, ${epochRatio.p99.toFixed(2)}x p99, ${epochRatio.cpuPerRequest.toFixed(2)}x CPU per request`);
    console.log(`ratio GET /logits / nginx (best client setting each): ${ratio.mbPerSec.toFixed(2)}x MB/s, ${ratio.reqPerSec.toFixed(2)}x req/s, ${ratio.p99.toFixed(2)}x p99, ${ratio.cpuPerRequest.toFixed(2)}x CPU per request`);
    console.log(`client check (2 wrk threads / 1): GET /logits ${clientCheck.logitsT2overT1.toFixed(2)}x, nginx ${clientCheck.nginxT2overT1.toFixed(2)}x (near 1.00: the client is not the limit)`);
    console.log(`server RSS: idle ${(idle.rss / 2 ** 20).toFixed(0)} MiB, peak after one pass over ${(pass.bytes / 2 ** 20).toFixed(0)} MiB ${(afterPass.peak / 2 ** 20).toFixed(0)} MiB, peak overall ${(overall.peak / 2 ** 20).toFixed(0)} MiB`);

    const out = {
      date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
      serverCli: process.env.BENCH_SERVER_CLI ?? 'dist/cli/logit-cache.js',
      note: 'Machine shared with other jobs; compare the side-by-side ratios, not absolute figures.',
      dataset: { ...SHAPE, codec: 'none', batches, shards: written.manifest.shards.length, shardBytes, meanResponseBytes: meanBody },
      load: { tool: 'wrk', connections: CONNECTIONS, secondsPerRun: SECONDS, rounds: ROUNDS, threads: THREADS, host: '127.0.0.1', loadAverageAtEnd: loadavg() },
      nginx: { workers: 1, sendfile: true },
      fullPass: { bytes: pass.bytes, seconds: pass.seconds, mbPerSec: pass.bytes / pass.seconds / 1e6 },
      summary: table, ratio, clientCheck, epoch, epochRatio,
      rssMiB: { idle: idle.rss / 2 ** 20, peakFullPass: afterPass.peak / 2 ** 20, peakOverall: overall.peak / 2 ** 20 },
      runs, epochRuns,
    };
    const name = process.env.BENCH_RESULT_NAME ?? 'serve';
    writeFileSync(fileURLToPath(new URL(`./results/${name}.json`, import.meta.url)), `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (PROFILE) {
      // Kept outside the repo: profiles are large and machine-specific.
      for (const f of readdirSync(profDir).filter((name) => name.endsWith('.cpuprofile'))) {
        const to = join(tmpdir(), `lc-serve-server-${Date.now()}.cpuprofile`);
        copyFileSync(join(profDir, f), to);
        process.stderr.write(`server CPU profile: ${to}\n`);
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
