/**
 * Dataset read benchmark: Parquet library comparison (hyparquet vs parquetjs-lite) side by
 * side on the same files, our readers on every format, and inference padding on stories.
 *
 *   npx tsx bench/read-dataset.ts            # JSON → bench/results/read-dataset.json, table → stdout
 *
 * Data: stories.jsonl repeated to about 1M tokens (synthetic lengths/ids when the shared
 * folder is absent). Parquet files come from parquetjs-lite and, when a Python with pyarrow is
 * found (LOGIT_CACHE_PYTHON or the project .venv), from pyarrow, the writer behind most
 * published datasets. "ok" means the token-stream hash of what a reader returned equals the
 * hash of the source samples.
 */

import { createReadStream, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetMetadataAsync, parquetRead, asyncBufferFromFile } from 'hyparquet';
import parquet from 'parquetjs-lite';
import { paddingStats, planConsecutive, planInference, readSamples, tokenStreamHasher } from '../src/data/index.js';
// Fixture writers are shared with the tests rather than written twice.
import { haveStories, pyarrowPython, storiesIds, storiesPath, tempDir, writeArrow, writeJsonl, writeParquetLite, writeWithPyarrow } from '../test/data/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TARGET_TOKENS = 1_000_000;
const RUNS = 5;

async function sourceSamples(): Promise<{ samples: number[][]; origin: string }> {
  let base: number[][];
  let origin: string;
  if (haveStories) {
    base = await storiesIds();
    origin = 'stories.jsonl repeated';
  } else {
    let state = 7;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
    base = Array.from({ length: 576 }, () => Array.from({ length: 16 + (next() % 241) }, () => next() % 512));
    origin = 'synthetic (stories.jsonl not found)';
  }
  const samples: number[][] = [];
  let tokens = 0;
  while (tokens < TARGET_TOKENS) {
    const s = base[samples.length % base.length];
    samples.push(s);
    tokens += s.length;
  }
  return { samples, origin };
}

interface Run {
  samples: number;
  tokens: number;
  hash: string;
  firstSampleMs: number;
  /** How the library hands rows back, before any adapter of ours. */
  rawShape?: string;
}

type Reader = (file: string) => Promise<Run>;

/** Our reader (hyparquet underneath for Parquet): ids validated into Int32Arrays. */
const oursReader: Reader = async (file) => {
  const t0 = performance.now();
  let firstSampleMs = 0;
  const h = tokenStreamHasher();
  let samples = 0;
  let tokens = 0;
  for await (const s of readSamples(file)) {
    if (samples === 0) firstSampleMs = performance.now() - t0;
    h.update(s.inputIds);
    samples++;
    tokens += s.inputIds.length;
  }
  return { samples, tokens, hash: h.digest(), firstSampleMs };
};

function describeShape(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? 'array' : `${typeof v[0]}[]`;
  if (v && typeof v === 'object') {
    const list = (v as { list?: Array<Record<string, unknown>> }).list;
    if (Array.isArray(list)) {
      const el = list[0] ? Object.values(list[0])[0] : undefined;
      return `{list:[{element}]} with ${typeof el} elements`;
    }
  }
  return typeof v;
}

/** Shared adapter: any array-ish row of number|bigint|string → checked Int32Array. */
function toIds(values: ArrayLike<unknown>): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const n = Number(values[i]);
    if (!(n >= 0 && n < 2 ** 31 && Number.isInteger(n))) throw new Error(`bad id ${String(values[i])}`);
    out[i] = n;
  }
  return out;
}

/** The obvious JSONL alternative to our byte scanner: node:readline + JSON.parse per line. */
const jsonParseReader: Reader = async (file) => {
  const t0 = performance.now();
  let firstSampleMs = 0;
  const h = tokenStreamHasher();
  let samples = 0;
  let tokens = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const ids = toIds((JSON.parse(line) as { input_ids: number[] }).input_ids);
    if (samples === 0) firstSampleMs = performance.now() - t0;
    h.update(ids);
    samples++;
    tokens += ids.length;
  }
  return { samples, tokens, hash: h.digest(), firstSampleMs };
};

/** hyparquet used directly, row group by row group: isolates library cost from ours. */
const hyparquetRaw: Reader = async (file) => {
  const t0 = performance.now();
  let firstSampleMs = 0;
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  const h = tokenStreamHasher();
  let samples = 0;
  let tokens = 0;
  let rawShape = '';
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows: unknown[] = [];
    await parquetRead({ file: buffer, metadata, columns: ['input_ids'], rowStart: start, rowEnd: end, onChunk: (c) => { for (let i = 0; i < c.columnData.length; i++) rows.push(c.columnData[i]); } });
    for (const row of rows) {
      if (samples === 0) { firstSampleMs = performance.now() - t0; rawShape = describeShape(row); }
      const ids = toIds(row as ArrayLike<unknown>);
      h.update(ids);
      samples++;
      tokens += ids.length;
    }
    start = end;
  }
  return { samples, tokens, hash: h.digest(), firstSampleMs, rawShape };
};

/** parquetjs-lite's cursor, with the adapter its output needs (3-level lists, string values). */
const parquetjsLite: Reader = async (file) => {
  const t0 = performance.now();
  let firstSampleMs = 0;
  const reader = await parquet.ParquetReader.openFile(file);
  try {
    const field = reader.getSchema().fields.input_ids;
    // 3-level lists (pyarrow) must be requested by leaf path; 2-level (its own writer) by name.
    const leaf = field.fields ? Object.values(field.fields as Record<string, { fields: Record<string, { name: string }> }>)[0] : undefined;
    const leafName = leaf ? Object.keys(leaf.fields)[0] : undefined;
    const columns = leaf && leafName ? [['input_ids', Object.keys(field.fields)[0], leafName]] : ['input_ids'];
    const cursor = reader.getCursor(columns);
    const h = tokenStreamHasher();
    let samples = 0;
    let tokens = 0;
    let rawShape = '';
    for (let rec = await cursor.next(); rec; rec = await cursor.next()) {
      const v = rec.input_ids;
      if (samples === 0) { firstSampleMs = performance.now() - t0; rawShape = describeShape(v); }
      let values: ArrayLike<unknown> = v ?? [];
      if (!Array.isArray(v) && v && Array.isArray(v.list)) values = v.list.map((e: Record<string, unknown>) => Object.values(e)[0]);
      const ids = toIds(values);
      h.update(ids);
      samples++;
      tokens += ids.length;
    }
    return { samples, tokens, hash: h.digest(), firstSampleMs, rawShape };
  } finally {
    await reader.close();
  }
};

interface Row {
  file: string;
  writer: string;
  reader: string;
  ok: boolean;
  error?: string;
  rawShape?: string;
  medianMs?: number;
  tokensPerSec?: number;
  firstSampleMs?: number;
}

/**
 * Time several readers on one file. Rounds interleave the readers so a busy machine (shared CI,
 * other jobs) slows them alike; each reader gets a warm-up run first (JIT, page cache).
 */
async function measureFile(
  file: string,
  writer: string,
  readers: ReadonlyArray<[string, Reader]>,
  wantHash: string,
): Promise<Row[]> {
  const rows: Row[] = readers.map(([name]) => ({ file: path.basename(file), writer, reader: name, ok: false }));
  const times: number[][] = readers.map(() => []);
  const last: Array<Run | undefined> = readers.map(() => undefined);
  for (let round = 0; round <= RUNS; round++) {
    for (let i = 0; i < readers.length; i++) {
      if (rows[i].error) continue;
      try {
        const t0 = performance.now();
        last[i] = await readers[i][1](file);
        if (round > 0) times[i].push(performance.now() - t0);
      } catch (e) {
        rows[i].error = String((e as Error)?.message ?? e).slice(0, 120);
      }
    }
  }
  readers.forEach((_, i) => {
    const run = last[i];
    const row = rows[i];
    if (row.error || !run) return;
    const sorted = [...times[i]].sort((a, b) => a - b);
    row.ok = run.hash === wantHash;
    if (!row.ok) row.error = `hash mismatch (${run.samples} samples, ${run.tokens} tokens)`;
    row.rawShape = run.rawShape;
    row.medianMs = sorted[Math.floor(sorted.length / 2)];
    row.tokensPerSec = run.tokens / (row.medianMs / 1000);
    row.firstSampleMs = run.firstSampleMs;
  });
  return rows;
}

const { samples, origin } = await sourceSamples();
const tokens = samples.reduce((a, s) => a + s.length, 0);
const ref = tokenStreamHasher();
for (const s of samples) ref.update(Int32Array.from(s));
const wantHash = ref.digest();
const dir = tempDir('lc-bench-read-');
const ROW_GROUP = 512;

const parquetFiles: Array<{ file: string; writer: string }> = [];
const lite = path.join(dir, 'lite-plain.parquet');
await writeParquetLite(lite, samples, { rowGroupSize: ROW_GROUP });
parquetFiles.push({ file: lite, writer: 'parquetjs-lite, UNCOMPRESSED, repeated int32' });
const liteSnappy = path.join(dir, 'lite-snappy.parquet');
await writeParquetLite(liteSnappy, samples, { rowGroupSize: ROW_GROUP, compression: 'SNAPPY' });
parquetFiles.push({ file: liteSnappy, writer: 'parquetjs-lite, SNAPPY, repeated int32' });
if (pyarrowPython) {
  const variants: Array<[string, string, string, Record<string, unknown>]> = [
    ['py-default.parquet', 'pyarrow defaults (format 2.6, snappy, dictionary), list<int32>', 'pa.list_(pa.int32())', {}],
    ['py-v1.parquet', 'pyarrow version=1.0 (snappy, dictionary), list<int32>', 'pa.list_(pa.int32())', { version: '1.0' }],
    ['py-v1-plain.parquet', 'pyarrow version=1.0, no dictionary, uncompressed, list<int32>', 'pa.list_(pa.int32())', { version: '1.0', use_dictionary: false, compression: 'none' }],
    ['py-zstd-int64.parquet', 'pyarrow zstd, list<int64>', 'pa.list_(pa.int64())', { compression: 'zstd' }],
  ];
  writeWithPyarrow(pyarrowPython, variants.map(([name, , listType, args]) => ({
    file: path.join(dir, name), samples, kind: 'parquet' as const, listType, parquetArgs: { row_group_size: ROW_GROUP, ...args },
  })));
  for (const [name, writer] of variants) parquetFiles.push({ file: path.join(dir, name), writer });
}

const parquetRows: Row[] = [];
const parquetReaders: Array<[string, Reader]> = [
  ['readSamples (hyparquet)', oursReader],
  ['hyparquet raw', hyparquetRaw],
  ['parquetjs-lite', parquetjsLite],
];
for (const { file, writer } of parquetFiles) parquetRows.push(...(await measureFile(file, writer, parquetReaders, wantHash)));

const otherFiles = [
  { file: path.join(dir, 'data.jsonl'), writer: 'JSON.stringify, with a text field' },
  { file: path.join(dir, 'data.arrow'), writer: 'apache-arrow IPC file, list<int32>, batches of 512' },
  { file: path.join(dir, 'data.arrows'), writer: 'apache-arrow IPC stream, list<int32>, batches of 512' },
];
if (haveStories) {
  // The real lines, text field included: what the JSONL scanner is meant to skip cheaply.
  const lines = readFileSync(storiesPath, 'utf8').split('\n').filter((l) => l.trim() !== '');
  writeFileSync(otherFiles[0].file, samples.map((_, i) => lines[i % lines.length]).join('\n') + '\n');
  otherFiles[0].writer = 'stories.jsonl lines repeated (id, input_ids, text)';
} else {
  writeJsonl(otherFiles[0].file, samples);
}
writeArrow(otherFiles[1].file, samples, { batchRows: ROW_GROUP });
writeArrow(otherFiles[2].file, samples, { batchRows: ROW_GROUP, format: 'stream' });
const formatRows: Row[] = [];
for (const { file, writer } of otherFiles) {
  const readers: Array<[string, Reader]> = [['readSamples', oursReader]];
  if (file.endsWith('.jsonl')) readers.push(['readline + JSON.parse (baseline)', jsonParseReader]);
  formatRows.push(...(await measureFile(file, writer, readers, wantHash)));
}

// Inference padding: length-grouped plan vs consecutive rows under the same token budget.
const lengths = samples.slice(0, haveStories ? 576 : samples.length).map((s) => s.length);
const padding = [1024, 4096, 16384].map((budget) => {
  const grouped = paddingStats(lengths, planInference(lengths, budget));
  const consecutive = paddingStats(lengths, planConsecutive(lengths, budget));
  return { budget, groupedPaddingRatio: grouped.paddingRatio, consecutivePaddingRatio: consecutive.paddingRatio, groupedBatches: grouped.batches, consecutiveBatches: consecutive.batches };
});

const result = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  data: { origin, samples: samples.length, tokens, rowGroupRows: ROW_GROUP, runs: RUNS, pyarrow: pyarrowPython ? 'yes' : 'absent' },
  parquet: parquetRows,
  formats: formatRows,
  padding: { samples: lengths.length, rows: padding },
};
rmSync(dir, { recursive: true, force: true });
writeFileSync(path.join(here, 'results/read-dataset.json'), JSON.stringify(result, null, 2) + '\n');

const fmt = (n: number | undefined, d = 0) => (n === undefined ? '-' : n.toFixed(d));
console.log(`data: ${origin}, ${samples.length} samples, ${tokens} tokens; median of ${RUNS} interleaved runs after a warm-up; first sample ms is from the last run\n`);
console.log('| file | writer | reader | ok | ms | Mtok/s | first sample ms | rows come back as |');
console.log('|---|---|---|---|---:|---:|---:|---|');
for (const r of [...parquetRows, ...formatRows]) {
  console.log(`| ${r.file} | ${r.writer} | ${r.reader} | ${r.ok ? 'yes' : `NO: ${r.error}`} | ${fmt(r.medianMs)} | ${fmt(r.tokensPerSec && r.tokensPerSec / 1e6, 2)} | ${fmt(r.firstSampleMs, 1)} | ${r.rawShape ?? ''} |`);
}
console.log(`\npadding on ${lengths.length} samples (rows × seqLen spent on pad ids):`);
console.log('| budget tokens | grouped | consecutive | micro-batches grouped / consecutive |');
console.log('|---:|---:|---:|---|');
for (const p of padding) {
  console.log(`| ${p.budget} | ${(p.groupedPaddingRatio * 100).toFixed(2)}% | ${(p.consecutivePaddingRatio * 100).toFixed(2)}% | ${p.groupedBatches} / ${p.consecutiveBatches} |`);
}
