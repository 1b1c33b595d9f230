// Which Parquet writer the shards use, by measurement (issue 10 part 2): the same real batches
// (stories260k teacher, k = 8, f16 values, 32 samples per batch) written by each candidate
// to one file per codec, one row group per batch where the writer can. Reported per writer
// and codec: bytes per token, write MB/s (uncompressed Arrow batch bytes per second, the
// writer's own input conversion included; best of BENCH_ROUNDS), which readers open the file
// with which types (pyarrow, polars, DuckDB, via bench/parquet/check_readers.py), row groups,
// and the package's version and release date. pyarrow's own writer is a reference row. Then
// the cost of serving a batch from each shard format (bench/parquet/read-cost.ts), and bytes per
// token by shard format for each preset and for ragged top-p (bench/parquet/sizes.ts).
//   LOGIT_CACHE_SHARED=../shared npx tsx bench/parquet-writers.ts
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RecordBatch, Table, tableToIPC, type DataType } from 'apache-arrow';
import { serializeBatch } from '../src/shard/ipc-framing.js';
import { toRecordBatch } from '../src/shard/record-batch.js';
import { shardSchema } from '../src/shard/schema.js';
import type { TopkBatch, TopkLayout } from '../src/shard/types.js';
import { readCost } from './parquet/read-cost.js';
import { sizesByFormat } from './parquet/sizes.js';
import { CANDIDATES } from './parquet/writers.js';
import { loadTeachers, MAX_K, truncateK } from './storage/teachers.js';

const repo = resolve(import.meta.dirname, '..');
const cache = process.env.LOGIT_CACHE_BENCH_CACHE ?? join(tmpdir(), 'lc-storage-cache');
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const python = process.env.LOGIT_CACHE_PYTHON ?? join(repo, '.venv/bin/python');
const K = 8;
const ZSTD_LEVEL = 3;
const CODECS = ['zstd', 'lz4', 'gzip', 'none'];

/** The Arrow type as check_readers.py's canon() writes it. */
function canon(t: DataType): string {
  const c = t as unknown as { listSize?: number; bitWidth?: number; isSigned?: boolean; precision?: number; children?: { type: DataType }[] };
  if (c.listSize !== undefined) return `fsl${c.listSize}<${canon(c.children![0].type)}>`;
  if (c.children?.length) return `list<${canon(c.children[0].type)}>`;
  if (c.bitWidth !== undefined) return `${c.isSigned ? 'int' : 'uint'}${c.bitWidth}`;
  return ['float16', 'float32', 'float64'][c.precision!];
}

function release(pkg: string | null): { version: string; released: string | null } | null {
  if (!pkg) return null;
  const version = (JSON.parse(readFileSync(join(repo, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  // One registry look-up per package: when was the installed version published.
  const r = spawnSync('npm', ['view', pkg, 'time', '--json'], { encoding: 'utf8', timeout: 30_000 });
  let released: string | null = null;
  try {
    released = (JSON.parse(r.stdout) as Record<string, string>)[version]?.slice(0, 10) ?? null;
  } catch { /* offline: reported as unknown */ }
  return { version, released };
}

async function main(): Promise<void> {
  const teachers = await loadTeachers(cache, ['stories260k']);
  if (!teachers.length) {
    console.log('parquet-writers: the stories260k teacher is absent (set LOGIT_CACHE_SHARED); nothing measured');
    return;
  }
  const t = teachers[0];
  const layout: TopkLayout = { k: K, vocabSize: t.vocab, values: 'f16', shardFormat: 'parquet' };
  const schema = shardSchema(layout);
  const batches: TopkBatch[] = t.batches.map((b) => truncateK(b, MAX_K, K));
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  const rbs = batches.map((b) => toRecordBatch(schema, layout, b));
  const inputBytes = rbs.reduce((a, rb) => a + serializeBatch(rb, null).batchBytes.length, 0);
  const out = join(tmpdir(), `lc-parquet-writers-${process.pid}`);
  mkdirSync(out, { recursive: true });
  const arrowFile = join(out, 'batches.arrow');
  writeFileSync(arrowFile, tableToIPC(new Table(schema, rbs as RecordBatch[]), 'file'));

  interface Row { writer: string; codec: string; file: string; bytes: number; seconds: number; error?: string }
  const rows: Row[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const c of CANDIDATES) {
      for (const codec of CODECS.filter((x) => c.codecs.includes(x))) {
        const file = join(out, `${c.name.replace(/[^a-z0-9]+/gi, '-')}-${codec}.parquet`);
        rmSync(file, { force: true });
        rmSync(`${file}.idx.arrow`, { force: true });
        let row = rows.find((r) => r.writer === c.name && r.codec === codec);
        if (!row) rows.push((row = { writer: c.name, codec, file, bytes: 0, seconds: Infinity }));
        const t0 = performance.now();
        try {
          await c.write({ batches, schema, layout, path: file, codec, zstdLevel: ZSTD_LEVEL });
        } catch (e) {
          row.error = (e as Error).message.slice(0, 200);
          continue;
        }
        row.seconds = Math.min(row.seconds, (performance.now() - t0) / 1000);
        row.bytes = statSync(file).size;
      }
    }
  }
  const written = rows.filter((r) => !r.error && !r.writer.startsWith('arrow'));
  const expected = Object.fromEntries(schema.fields.map((f) => [f.name, canon(f.type)]));
  const job = {
    files: written.map((r) => r.file), expected,
    reference: { arrowFile, outDir: out, codecs: ['zstd', 'lz4', 'none'], batchSize: batches[0].offsets.length - 1, zstdLevel: ZSTD_LEVEL, rounds },
  };
  const py = spawnSync(python, [join(repo, 'bench/parquet/check_readers.py')], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (py.status !== 0) throw new Error(`check_readers.py failed: ${py.stderr}`);
  const checked = JSON.parse(py.stdout) as { files: Record<string, Record<string, { ok: boolean | null; rowGroups?: number; typesMatch?: boolean; error?: string }>>; reference: { codec: string; path: string; bytes: number; seconds: number }[] };
  for (const ref of checked.reference) rows.push({ writer: 'pyarrow 25 write_table (reference, Python)', codec: ref.codec, file: ref.path, bytes: ref.bytes, seconds: ref.seconds });

  const releases = new Map(CANDIDATES.map((c) => [c.name, release(c.pkg)]));
  const results = rows.map((r) => {
    const cand = CANDIDATES.find((c) => c.name === r.writer);
    const readers = checked.files[r.file] ?? null;
    return {
      writer: r.writer, codec: r.codec, bytesPerToken: r.error ? null : r.bytes / tokens, writeMBps: r.error ? null : inputBytes / 1e6 / r.seconds,
      tokensPerSec: r.error ? null : tokens / r.seconds, rowGroups: readers?.pyarrow?.rowGroups ?? null, batches: batches.length,
      pyarrowTypes: readers?.pyarrow?.typesMatch ?? null, readers: readers && Object.fromEntries(Object.entries(readers).map(([k, v]) => [k, v.ok ? 'ok' : v.ok === null ? 'missing' : `fails: ${v.error}`])),
      streaming: cand?.streaming ?? 'no (whole table)', package: releases.get(r.writer) ?? null, ...(r.error ? { error: r.error } : {}),
    };
  });
  const reads = await readCost(out, layout, ['zstd', 'lz4'], batches, rounds);
  const sizes = sizesByFormat(out, K, t.vocab, batches);
  const report = {
    bench: 'parquet-writers', date: new Date().toISOString(), teacher: 'stories260k', k: K, values: 'f16', zstdLevel: ZSTD_LEVEL, tokens, batches: batches.length,
    inputMB: inputBytes / 1e6, rounds, loadavg: loadavg()[0], note: 'shared 2-core machine under load from parallel sessions: MB/s are indicative, sizes exact',
    results, readStream: reads, sizesByFormat: sizes,
  };
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/parquet-writers.json'), `${JSON.stringify(report, null, 2)}\n`);
  const fmt = (x: number | null, d: number) => (x === null ? '-' : x.toFixed(d));
  console.log(`stories260k k=${K} f16, ${tokens} tokens in ${batches.length} batches, best of ${rounds}, load average ${loadavg()[0].toFixed(1)}`);
  console.log('| writer | codec | B/token | write MB/s | row groups | pyarrow types | polars | duckdb | version (released) |');
  console.log('| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- |');
  for (const r of results) {
    const rd = (k: string) => (r.readers?.[k] === undefined ? '-' : r.readers[k] === 'ok' ? 'ok' : r.readers[k].startsWith('fails') ? 'fails' : r.readers[k]);
    console.log(`| ${r.writer} | ${r.codec} | ${r.error ? `error: ${r.error.slice(0, 60)}` : fmt(r.bytesPerToken, 2)} | ${fmt(r.writeMBps, 1)} | ${r.rowGroups ?? '-'}/${r.batches} | ${r.pyarrowTypes === null ? '-' : r.pyarrowTypes ? 'exact' : 'differ'} | ${rd('polars')} | ${rd('duckdb')} | ${r.package ? `${r.package.version} (${r.package.released ?? '?'})` : '-'} |`);
  }
  console.log('\nGET /logits cost: one batch read as the served stream through the checked reader (ms per batch, best round)');
  console.log('| codec | Arrow shards | Parquet shards | ratio |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of reads) console.log(`| ${r.codec} | ${r.arrowMsPerBatch.toFixed(2)} | ${r.parquetMsPerBatch.toFixed(2)} | ${r.ratio.toFixed(1)}x |`);
  console.log('\nBytes per token on disk (shards + index files) by shard format, same batches');
  console.log('| setting | Arrow shards | Parquet shards | ratio |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of sizes) console.log(`| ${r.setting} | ${r.arrowBytesPerToken.toFixed(2)} | ${r.parquetBytesPerToken.toFixed(2)} | ${r.ratio.toFixed(3)} |`);
  rmSync(out, { recursive: true, force: true });
}

await main();
