// Serving benchmark: GET /logits (slice + sha256 verify per request) against the same
// bytes served as static files by a minimal fs-stream route in the same server process.
// Builds ~1 GiB of synthetic shards, runs the server in a child process so its RSS is
// measured alone, reads every batch once (peak RSS), then autocannon on loopback for a
// bounded time per route. Writes bench/results/serve.json.   npx tsx bench/serve.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/server/index.js';
import { DatasetReader, DatasetWriter, type Manifest } from '../src/shard/index.js';
import { makeBatch } from '../test/shard/make-batch.js';

const TARGET_BYTES = Number(process.env.BENCH_BYTES ?? 1 << 30);
/** Seconds of load per route, split over ROUNDS interleaved runs so drift on a shared machine hits both. */
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 30);
const ROUNDS = 3;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const SHAPE = { batchSize: 32, seqLen: 512, k: 8, vocabSize: 151_936, values: 'f16' as const, codec: 'none' as const, batchesPerShard: 64 };
const ARROW = 'application/vnd.apache.arrow.stream';
const DATASET = 'bench';

interface CannonResult {
  requests: { average: number; total: number };
  throughput: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number; errors: number; timeouts: number; duration: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

// ---- child: the server under test ------------------------------------------------------

async function runServer(root: string, staticDir: string): Promise<void> {
  const app = buildApp({ root, maxOpenShards: 64 });
  let peak = 0;
  const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
  setInterval(sample, 20).unref();
  // The baseline: the same bytes, pre-sliced into files, streamed with no checks at all.
  app.get<{ Params: { batch: string } }>('/static/:batch', {
    schema: { params: { type: 'object', properties: { batch: { type: 'string', pattern: '^[0-9]+$' } } } },
  }, async (req, reply) => {
    const path = join(staticDir, `${req.params.batch}.arrow`);
    const st = await stat(path);
    return reply.type(ARROW).header('content-length', st.size).send(createReadStream(path));
  });
  app.get<{ Querystring: { reset?: string } }>('/__bench/rss', async (req) => {
    sample();
    const out = { rss: process.memoryUsage().rss, peak };
    if (req.query.reset) peak = process.memoryUsage().rss;
    return out;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

// ---- parent: data, load, report ---------------------------------------------------------

function buildDataset(root: string): Manifest {
  const approxBatch = SHAPE.batchSize * SHAPE.seqLen * (SHAPE.k * 6 + 4);
  const batches = Math.max(1, Math.round(TARGET_BYTES / approxBatch));
  const writer = new DatasetWriter({
    root, datasetId: DATASET, layout: { k: SHAPE.k, vocabSize: SHAPE.vocabSize, values: SHAPE.values },
    codec: SHAPE.codec, batchSize: SHAPE.batchSize, batchesPerShard: SHAPE.batchesPerShard, runConfig: { bench: true },
  });
  const lengths = Array(SHAPE.batchSize).fill(SHAPE.seqLen);
  for (let b = 0; b < batches; b++) {
    writer.append(makeBatch({ lengths, k: SHAPE.k, vocabSize: SHAPE.vocabSize, firstSample: b * SHAPE.batchSize, seed: b + 1 }));
  }
  const tokens = batches * SHAPE.batchSize * SHAPE.seqLen;
  return writer.finish({
    teacher: { file: 'synthetic.onnx', sha256: '0'.repeat(64), vocabSize: SHAPE.vocabSize },
    source: { file: 'synthetic.jsonl', sha256: '0'.repeat(64), samples: batches * SHAPE.batchSize, tokens },
  });
}

/** Writes each batch's response body to its own file: what a static file server would hold. */
async function sliceStatic(root: string, staticDir: string, m: Manifest): Promise<string[]> {
  mkdirSync(staticDir, { recursive: true });
  const reader = await DatasetReader.open(join(root, DATASET));
  const shas: string[] = [];
  for (let b = 0; b < m.batchCount; b++) {
    const v = await reader.readStream(b);
    writeFileSync(join(staticDir, `${b}.arrow`), v.stream);
    shas.push(v.info.streamSha256);
  }
  await reader.close();
  return shas;
}

async function startServer(root: string, staticDir: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--server', root, staticDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  return { child, base: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
}

const rss = async (base: string, reset = false) => (await (await fetch(`${base}/__bench/rss${reset ? '?reset=1' : ''}`)).json()) as { rss: number; peak: number };

/** Reads every batch once through GET /logits, checking status, length and checksum header. */
async function fullPass(base: string, m: Manifest, streamShas: string[]): Promise<{ seconds: number; bytes: number }> {
  const shaOf = (b: number) => streamShas[b];
  let next = 0, bytes = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let b = next++; b < m.batchCount; b = next++) {
      const res = await fetch(`${base}/logits/${DATASET}/${b}`);
      const body = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200 || res.headers.get('x-logit-cache-stream-sha256') !== shaOf(b)) throw new Error(`batch ${b}: HTTP ${res.status}`);
      bytes += body.length;
    }
  }));
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

async function cannon(base: string, prefix: string, batches: number, seconds: number): Promise<CannonResult> {
  const result = await autocannon({
    url: base, connections: CONNECTIONS, duration: seconds,
    requests: [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: `${prefix}${Math.floor(Math.random() * batches)}` }) }],
  });
  if (result.non2xx || result.errors) throw new Error(`${prefix}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result;
}

interface Summary { mbPerSec: number; reqPerSec: number; p50Ms: number; p99Ms: number; requests: number; seconds: number; rounds: number[] }

/** Throughput is averaged over rounds; latency percentiles take the worst round (conservative). */
function summary(rs: CannonResult[]): Summary {
  const mean = (f: (r: CannonResult) => number) => rs.reduce((a, r) => a + f(r), 0) / rs.length;
  return {
    mbPerSec: mean((r) => r.throughput.average) / 1e6, reqPerSec: mean((r) => r.requests.average),
    p50Ms: Math.max(...rs.map((r) => r.latency.p50)), p99Ms: Math.max(...rs.map((r) => r.latency.p99)),
    requests: rs.reduce((a, r) => a + r.requests.total, 0), seconds: rs.reduce((a, r) => a + r.duration, 0),
    rounds: rs.map((r) => r.throughput.average / 1e6),
  };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'lc-bench-serve-'));
  const root = join(tmp, 'root'), staticDir = join(tmp, 'static');
  let server: ChildProcess | null = null;
  try {
    let t = performance.now();
    const m = buildDataset(root);
    const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
    process.stderr.write(`built ${m.batchCount} batches in ${m.shards.length} shards, ${(bytes / 2 ** 20).toFixed(0)} MiB, in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    t = performance.now();
    const streamShas = await sliceStatic(root, staticDir, m);
    process.stderr.write(`sliced static copies in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    const started = await startServer(root, staticDir);
    server = started.child;
    const { base } = started;
    const idle = await rss(base, true);
    const pass = await fullPass(base, m, streamShas);
    const afterPass = await rss(base);
    process.stderr.write(`full pass: ${(pass.bytes / 2 ** 20).toFixed(0)} MiB in ${pass.seconds.toFixed(1)} s, server peak RSS ${(afterPass.peak / 2 ** 20).toFixed(0)} MiB\n`);
    const runs: { logits: CannonResult[]; static: CannonResult[] } = { logits: [], static: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which route goes first so neither always inherits the other's warm state.
      const order = round % 2 === 0 ? (['logits', 'static'] as const) : (['static', 'logits'] as const);
      for (const route of order) {
        const prefix = route === 'logits' ? `/logits/${DATASET}/` : '/static/';
        runs[route].push(await cannon(base, prefix, m.batchCount, DURATION_S / ROUNDS));
      }
    }
    const logits = summary(runs.logits);
    const statik = summary(runs.static);
    const overall = await rss(base);
    const ratio = { mbPerSec: logits.mbPerSec / statik.mbPerSec, reqPerSec: logits.reqPerSec / statik.reqPerSec, p99: logits.p99Ms / statik.p99Ms };

    const row = (name: string, s: Summary) => `| ${name.padEnd(26)} | ${s.mbPerSec.toFixed(0).padStart(6)} | ${s.reqPerSec.toFixed(0).padStart(6)} | ${String(s.p99Ms).padStart(7)} |`;
    console.log(`\nGET over loopback, ${CONNECTIONS} connections, ${DURATION_S} s per route in ${ROUNDS} interleaved rounds, random batches of ${(pass.bytes / m.batchCount / 1e3).toFixed(0)} kB (${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'})`);
    console.log('| route                      |   MB/s |  req/s | p99 ms  |');
    console.log('|----------------------------|--------|--------|---------|');
    console.log(row('/logits (slice + verify)', logits));
    console.log(row('/static (fs stream)', statik));
    console.log(`| ratio logits/static        | ${ratio.mbPerSec.toFixed(2).padStart(6)} | ${ratio.reqPerSec.toFixed(2).padStart(6)} | ${ratio.p99.toFixed(2).padStart(7)} |`);
    console.log(`server RSS: idle ${(idle.rss / 2 ** 20).toFixed(0)} MiB, peak while serving all ${(pass.bytes / 2 ** 20).toFixed(0)} MiB once ${(afterPass.peak / 2 ** 20).toFixed(0)} MiB, peak overall ${(overall.peak / 2 ** 20).toFixed(0)} MiB`);

    const out = {
      date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
      dataset: { ...SHAPE, batches: m.batchCount, shards: m.shards.length, shardBytes: bytes, meanResponseBytes: pass.bytes / m.batchCount },
      load: { connections: CONNECTIONS, durationSecondsPerRoute: DURATION_S, rounds: ROUNDS, host: '127.0.0.1', loadAverageAtEnd: loadavg() },
      fullPass: { bytes: pass.bytes, seconds: pass.seconds, mbPerSec: pass.bytes / pass.seconds / 1e6 },
      logits, static: statik, ratio,
      rssMiB: { idle: idle.rss / 2 ** 20, peakFullPass: afterPass.peak / 2 ** 20, peakOverall: overall.peak / 2 ** 20 },
    };
    writeFileSync(fileURLToPath(new URL('./results/serve.json', import.meta.url)), `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    server?.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--server') await runServer(process.argv[3], process.argv[4]);
else await main();
