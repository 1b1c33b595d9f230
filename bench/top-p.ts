// Ragged top-p lists (precompute-logits --top-p P --min-k M, format 2.3) against fixed k: how
// many entries a position keeps (mean, p99), what that costs on disk, and how much probability
// mass it captures. K = 32 (the most kept), M = 1, P in {0.9, 0.95, 0.99}; fixed k = 8 and 32 beside.
// Teachers: stories260k (real) and the synthetic 32k teacher, their exact float32 top-128 written
// once by the real precompute-logits CLI (bench/storage/teachers.ts), top-32 = its leading ranks.
// Every row is a real dataset written by DatasetWriter (f16 values with lz4 = the default preset,
// and with zstd-3; plus the compact preset: rank deltas, ZSTD 19), trimmed by the same trimTopP
// precompute runs; bytes/token is the manifest's (files, framing and input ids included).
// Second table, the layout question: Megatron-LM's --logits-save-top-p keeps the same smallest
// prefix reaching P (floor --logits-save-top-p-min-k) but stores each microbatch densely, its K
// dimension cut to the largest kept count in the microbatch and shorter rows filled with
// sentinels, then zstd. Here both layouts of the same kept entries (uint16 ids + f16 values, the
// batch as the unit) are compressed with zstd-3: dense-to-batch-max vs ragged (values + uint8 counts).
// Run: LOGIT_CACHE_SHARED=../shared npx tsx bench/top-p.ts   (writes bench/results/top-p.json)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatasetWriter, type CodecName, presetSettings, type TopkBatch, type TopkLayout } from '../src/shard/index.js';
import { float32ToFloat16 } from '../src/shard/float16.js';
import { trimTopP } from '../src/topk/top-p.js';
import { codecByName } from './storage/codecs.js';
import { loadTeachers, MAX_K, truncateK } from './storage/teachers.js';

const repo = resolve(import.meta.dirname, '..');
const cache = process.env.LOGIT_CACHE_BENCH_CACHE ?? join(tmpdir(), 'lc-top-p-cache');
const K = 32;
const TOP_PS = [0.9, 0.95, 0.99];
/** Storage settings per column of the table: the default preset's, ZSTD 3, and the compact preset's (rank deltas, ZSTD 19). */
interface Storage { name: string; codec: CodecName; zstdLevel?: number; compact?: boolean }
const STORAGES: Storage[] = [{ name: 'lz4', codec: 'lz4' }, { name: 'zstd', codec: 'zstd', zstdLevel: 3 }, { name: 'compact', codec: 'zstd', zstdLevel: 19, compact: true }];

interface Config { name: string; k: number; topP?: number }
const CONFIGS: Config[] = [{ name: 'fixed k=8', k: 8 }, { name: 'fixed k=32', k: K }, ...TOP_PS.map((p) => ({ name: `top-p ${p}`, k: K, topP: p }))];

interface Row {
  teacher: string; config: string; k: number; topP: number | null; positions: number;
  meanKept: number; p50Kept: number; p99Kept: number; maxKept: number; atMaxFraction: number;
  meanCapturedMass: number; bytesPerToken: Record<string, number>;
}
interface LayoutRow { teacher: string; topP: number; denseToBatchMaxBytesPerToken: number; raggedBytesPerToken: number; arrowOffsetsBytesPerToken: number; meanBatchMaxKept: number }

const quantile = (sorted: Int32Array, q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** A copy of a K-wide batch, trimmed at topP (counts filled), or untouched for fixed k. */
function prepare(b: TopkBatch, c: Config): TopkBatch {
  const x = truncateK(b, MAX_K, c.k);
  if (c.topP === undefined) return x;
  const tokens = x.inputIds.length;
  const out: TopkBatch = { ...x, topkIds: Uint32Array.from(x.topkIds), topkLogprobs: x.topkLogprobs.slice(), topkCounts: new Int32Array(tokens) };
  trimTopP(out.topkIds, out.topkLogprobs, out.topkCounts!, undefined, 0, tokens, c.k, { topP: c.topP, minK: 1 });
  return out;
}

function writeDataset(root: string, id: string, layout: TopkLayout, st: Storage, batches: TopkBatch[], vocab: number): number {
  const compact = st.compact ? presetSettings('compact', layout.k) : null;
  const l: TopkLayout = compact ? { ...layout, values: compact.values, f16Ranks: compact.f16Ranks, ...(compact.gridStep !== undefined ? { gridStep: compact.gridStep } : {}) } : layout;
  const w = new DatasetWriter({ root, datasetId: id, layout: l, codec: st.codec, zstdLevel: st.zstdLevel, batchSize: 32, batchesPerShard: 1000, runConfig: {}, overwrite: true });
  for (const b of batches) w.append(b);
  const m = w.finish({
    teacher: { file: 'bench.onnx', sha256: '0'.repeat(64), vocabSize: vocab },
    source: { file: 'bench.jsonl', sha256: '0'.repeat(64), samples: batches.reduce((a, b) => a + b.offsets.length - 1, 0), tokens: batches.reduce((a, b) => a + b.inputIds.length, 0) },
  });
  return m.stats.bytesPerToken;
}

/** The same kept entries in the two layouts, zstd-3 per batch, top-k payload only. */
function layoutBytes(batches: TopkBatch[], k: number): { dense: number; ragged: number; offsets: number; meanBatchMax: number } {
  const zstd = codecByName('zstd-3');
  let dense = 0, ragged = 0, offsets = 0, maxSum = 0;
  for (const b of batches) {
    const tokens = b.inputIds.length;
    const counts = b.topkCounts!;
    let max = 0, kept = 0;
    for (let t = 0; t < tokens; t++) { max = Math.max(max, counts[t]); kept += counts[t]; }
    maxSum += max;
    const dIds = new Uint16Array(tokens * max).fill(0xffff);
    const dVals = new Float32Array(tokens * max).fill(-1e4);
    const rIds = new Uint16Array(kept), rVals = new Float32Array(kept), rCounts = new Uint8Array(tokens);
    let o = 0;
    for (let t = 0; t < tokens; t++) {
      rCounts[t] = counts[t];
      for (let r = 0; r < counts[t]; r++) {
        dIds[t * max + r] = rIds[o] = b.topkIds[t * k + r];
        dVals[t * max + r] = rVals[o] = b.topkLogprobs[t * k + r];
        o++;
      }
    }
    const size = (a: Uint8Array | Uint16Array) => zstd.compress(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).length;
    dense += size(dIds) + size(float32ToFloat16(dVals));
    ragged += size(rIds) + size(float32ToFloat16(rVals)) + size(rCounts);
    // What the Arrow file pays instead of the uint8 counts: int32 inner offsets in each of the
    // two top-k columns (ids, values), each compressed on its own.
    const inner = new Int32Array(tokens + 1);
    for (let t = 0; t < tokens; t++) inner[t + 1] = inner[t] + counts[t];
    offsets += 2 * size(new Uint8Array(inner.buffer));
  }
  return { dense, ragged, offsets, meanBatchMax: maxSum / batches.length };
}

async function main(): Promise<void> {
  const teachers = await loadTeachers(cache, ['stories260k', 'synthetic-32k']);
  const out = mkdtempSync(join(tmpdir(), 'lc-top-p-bench-'));
  const rows: Row[] = [];
  const layouts: LayoutRow[] = [];
  try {
    for (const t of teachers) {
      for (const c of CONFIGS) {
        const batches = t.batches.map((b) => prepare(b, c));
        const kept = new Int32Array(t.tokens);
        let o = 0, mass = 0;
        for (const b of batches) {
          for (let p = 0; p < b.inputIds.length; p++) {
            const n = b.topkCounts ? b.topkCounts[p] : c.k;
            kept[o++] = n;
            for (let r = 0; r < n; r++) mass += Math.exp(b.topkLogprobs[p * c.k + r]);
          }
        }
        const meanKept = kept.reduce((a, v) => a + v, 0) / kept.length;
        const atMax = kept.reduce((a, v) => a + (v === c.k ? 1 : 0), 0) / kept.length;
        kept.sort();
        const layout: TopkLayout = { k: c.k, vocabSize: t.vocab, values: 'f16', ...(c.topP !== undefined ? { topP: c.topP, minK: 1 } : {}) };
        const bytesPerToken: Record<string, number> = {};
        for (const st of STORAGES) bytesPerToken[st.name] = writeDataset(out, `${t.name}-${c.k}-${c.topP ?? 'fixed'}-${st.name}`, layout, st, batches, t.vocab);
        rows.push({
          teacher: t.name, config: c.name, k: c.k, topP: c.topP ?? null, positions: kept.length, meanKept, p50Kept: quantile(kept, 0.5),
          p99Kept: quantile(kept, 0.99), maxKept: kept[kept.length - 1], atMaxFraction: atMax, meanCapturedMass: mass / kept.length, bytesPerToken,
        });
        if (c.topP !== undefined) {
          const l = layoutBytes(batches, c.k);
          layouts.push({
            teacher: t.name, topP: c.topP, denseToBatchMaxBytesPerToken: l.dense / t.tokens, raggedBytesPerToken: l.ragged / t.tokens,
            arrowOffsetsBytesPerToken: l.offsets / t.tokens, meanBatchMaxKept: l.meanBatchMax,
          });
        }
        process.stderr.write(`top-p: ${t.name} ${c.name} done\n`);
      }
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }

  console.log(`\nRagged top-p vs fixed k (K = ${K}, min-k 1, f16 values; bytes/token of the written dataset)\n`);
  console.log('| teacher | config | mean k | p50 k | p99 k | at K | captured mass | B/token lz4 | B/token zstd-3 | zstd vs fixed 8 | zstd vs fixed 32 | B/token compact |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const fixed = (k: number) => rows.find((x) => x.teacher === r.teacher && x.config === `fixed k=${k}`)!.bytesPerToken.zstd;
    console.log(`| ${r.teacher} | ${r.config} | ${r.meanKept.toFixed(2)} | ${r.p50Kept} | ${r.p99Kept} | ${(100 * r.atMaxFraction).toFixed(1)}% | ${r.meanCapturedMass.toFixed(4)} | ${r.bytesPerToken.lz4.toFixed(1)} | ${r.bytesPerToken.zstd.toFixed(1)} | ${(r.bytesPerToken.zstd / fixed(8)).toFixed(2)}x | ${(r.bytesPerToken.zstd / fixed(K)).toFixed(2)}x | ${r.bytesPerToken.compact.toFixed(1)} |`);
  }
  console.log('\nLayout of the same kept entries (top-k payload only, uint16 ids + f16 values, zstd-3 per stored batch of 32 samples)\n');
  console.log('| teacher | P | mean batch-max k | dense to batch max (Megatron-style) B/token | ragged + uint8 counts B/token | ragged / dense | Arrow int32 inner offsets (2 columns) B/token |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const l of layouts) {
    console.log(`| ${l.teacher} | ${l.topP} | ${l.meanBatchMaxKept.toFixed(1)} | ${l.denseToBatchMaxBytesPerToken.toFixed(2)} | ${l.raggedBytesPerToken.toFixed(2)} | ${(l.raggedBytesPerToken / l.denseToBatchMaxBytesPerToken).toFixed(2)} | ${l.arrowOffsetsBytesPerToken.toFixed(2)} |`);
  }
  const result = {
    bench: 'top-p', date: new Date().toISOString(), k: K, minK: 1, topPs: TOP_PS,
    storages: STORAGES.map((st) => ({ ...st, settings: st.compact ? presetSettings('compact', K) : { values: 'f16', codec: st.codec, zstdLevel: st.zstdLevel } })),
    note: 'machine shared with other jobs (2 cores, 5 parallel sessions); sizes are deterministic, no timings reported',
    teachers: teachers.map((t) => ({ name: t.name, vocab: t.vocab, tokens: t.tokens })), rows, layouts,
  };
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/top-p.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log('\nwrote bench/results/top-p.json');
}

await main();
