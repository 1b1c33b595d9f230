// Storage benchmark: bytes per token of teacher top-k lists under candidate encodings and codecs,
// at the granularity of the stored batch (the random-access unit: every buffer is compressed on
// its own, as Arrow IPC body compression does), with the fidelity of each lossy encoding against
// the exact float32 values, and the decode time of one batch.
// Teachers: stories260k (real, run through the precompute-logits CLI) and synthetic 32k / 152k.
// Run: LOGIT_CACHE_SHARED=../shared npx tsx bench/storage.ts [--quick]
// Writes bench/results/storage.json and bench/results/storage.svg, prints tables. The preset rows
// are what each preset writes (shared prefixes where it turns them on), each sharing preset also
// with --share-prefixes 0, on whole teachers; Parquet beside Arrow for stories260k at k = 8.
// The full run took 1,401 s on 2026-11-30 on the 2-core machine at load 6-12 (--quick: k = 8 and 128).
// Shared prefixes only (format 2.5; stories260k, k = 8): npx tsx bench/storage.ts --shared
// writes bench/results/storage-shared.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CODECS, type Codec, codecByName, storedSize } from './storage/codecs.js';
import { fidelity, type Fidelity } from './storage/fidelity.js';
import { scatterSvg } from './storage/plot.js';
import {
  baseBuffers, ctxTable, f16Plain, f16Planes, type IdCandidate, idRefs, idsPlain, idsPlanes, q8, rankDelta, STORED_RAW, type ValueCandidate,
} from './storage/candidates.js';
import { measurePreset, type PresetRow } from './storage/presets.js';
import { type AccessRow, distinctSamples, measureAccess, measureShared, type SharedRow } from './storage/shared.js';
import { PRESET_SHARE_PREFIXES, presetSettings } from '../src/shard/encodings/presets.js';
import { measureUnits, type UnitRow } from './storage/units.js';
import { loadTeachers, MAX_K, type TeacherData, truncateK } from './storage/teachers.js';
import type { TopkBatch } from '../src/shard/types.js';

const repo = resolve(import.meta.dirname, '..');
const quick = process.argv.includes('--quick');
const cache = process.env.LOGIT_CACHE_BENCH_CACHE ?? join(tmpdir(), 'lc-storage-cache');

function valueCandidates(k: number): ValueCandidate[] {
  const c: ValueCandidate[] = [f16Plain, f16Planes, rankDelta('k', 0, false), rankDelta('k', 0, true), q8(0.1)];
  if (k <= 8) c.push(q8(0.2));
  if (k <= 8) for (const s of [0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4]) c.push(rankDelta(0, s, true));
  if (k <= 8) c.push(rankDelta(1, 0.2, true));
  if (k > 8) c.push(rankDelta(16, 0.099, true), rankDelta(16, 0.05, true));
  return c;
}
/** Id candidates of one teacher at one k: ctx-table's table comes from the first measured batch (one shard). */
function idCandidates(batches: TopkBatch[], k: number, vocab: number): IdCandidate[] {
  return [idsPlain, idsPlanes, idRefs({ next: true, prev: false }), idRefs({ next: false, prev: true }), idRefs({ next: true, prev: true }), ctxTable(batches[0], k, vocab)];
}

function codecsFor(k: number): Codec[] {
  // zstd-19 (and dictionaries) cost minutes at k > 8 on a shared 2-core machine; the k = 8 rows
  // show what they buy.
  return CODECS.filter((c) => (k <= 8 ? !quick || c.name !== 'zstd-1' : ['lz4', 'zstd-3', 'zstd-9'].includes(c.name)));
}

/** Large k is measured on the leading batches only (about 40k tokens): the cost grows with k. */
function batchesFor(t: TeacherData, k: number): TopkBatch[] {
  const out: TopkBatch[] = [];
  let tokens = 0;
  for (const b of t.batches) {
    if (k > 8 && tokens >= 40_000) break;
    out.push(truncateK(b, MAX_K, k));
    tokens += b.inputIds.length;
  }
  return out;
}

/** Stored bytes of each codec for buffers of every batch; the dictionary is batch 0's buffers. */
function sizes(perBatch: Uint8Array[][], codecs: Codec[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const codec of codecs) {
    let total = 0;
    perBatch.forEach((bufs, b) => bufs.forEach((buf, i) => {
      total += STORED_RAW.has(buf) ? buf.length : storedSize(codec, buf, codec.dict && b > 0 ? perBatch[0][i] : undefined);
    }));
    // A dataset-wide dictionary is stored once (batch 0's buffers, raw).
    if (codec.dict) for (const buf of perBatch[0]) total += buf.length;
    out[codec.name] = total;
  }
  return out;
}

interface PartRow { teacher: string; k: number; tokens: number; part: 'values' | 'ids' | 'base'; encoding: string; bytesPerToken: Record<string, number>; fidelity?: Fidelity }

function measureTeacher(t: TeacherData, k: number, log: (r: PartRow) => void): PartRow[] {
  const batches = batchesFor(t, k);
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  const codecs = codecsFor(k);
  const perTok = (s: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(s).map(([c, v]) => [c, v / tokens]));
  const rows: PartRow[] = [{ teacher: t.name, k, tokens, part: 'base', encoding: 'sample_id, input_ids, offsets', bytesPerToken: perTok(sizes(batches.map(baseBuffers), codecs)) }];
  log(rows[0]);
  for (const v of valueCandidates(k)) {
    const enc = batches.map((b) => v.encode(b.topkLogprobs, k));
    const exact = new Float32Array(tokens * k);
    const decoded = new Float32Array(tokens * k);
    let at = 0;
    batches.forEach((b, i) => {
      exact.set(b.topkLogprobs, at);
      decoded.set(v.decode(enc[i], k, b.topkLogprobs.length), at);
      at += b.topkLogprobs.length;
    });
    rows.push({ teacher: t.name, k, tokens, part: 'values', encoding: v.name, bytesPerToken: perTok(sizes(enc, codecs)), fidelity: fidelity(exact, decoded, k) });
    log(rows[rows.length - 1]);
  }
  for (const c of idCandidates(batches, k, t.vocab)) {
    const enc = batches.map((b) => c.encode(b, k, t.vocab));
    batches.forEach((b, i) => {
      const got = c.decode(enc[i], b, k, t.vocab);
      for (let j = 0; j < got.length; j++) if (got[j] !== b.topkIds[j]) throw new Error(`${c.name}: id ${j} of batch ${i} decoded to ${got[j]}, stored ${b.topkIds[j]}`);
    });
    rows.push({ teacher: t.name, k, tokens, part: 'ids', encoding: c.name, bytesPerToken: perTok(sizes(enc, codecs)) });
    log(rows[rows.length - 1]);
  }
  return rows;
}

/** Median wall time to decompress and decode one batch (values + ids), in ms. */
function decodeMs(t: TeacherData, k: number, v: ValueCandidate, ids: IdCandidate, codec: Codec): number {
  const batches = batchesFor(t, k);
  const stored = batches.map((b) => ({ v: v.encode(b.topkLogprobs, k).map((x) => codec.compress(x)), i: ids.encode(b, k, t.vocab).map((x) => codec.compress(x)) }));
  const times: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    batches.forEach((b, i) => {
      const t0 = performance.now();
      v.decode(stored[i].v.map((x) => codec.decompress(x)), k, b.topkLogprobs.length);
      ids.decode(stored[i].i.map((x) => codec.decompress(x)), b, k, t.vocab);
      times.push(performance.now() - t0);
    });
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

interface Target { name: string; k: number; maxBytes: number; ok(f: Fidelity): boolean; rule: string }
const TARGETS: Target[] = [
  { name: 'compact', k: 8, maxBytes: 14, rule: 'all ranks f16-exact, BiLD rel. error <= 1e-4', ok: (f) => f.f16Ranks === 8 && f.bildRelError <= 1e-4 },
  { name: 'small', k: 8, maxBytes: 8, rule: 'BiLD rel. error <= 1e-2', ok: (f) => f.bildRelError <= 1e-2 },
  { name: 'k128', k: 128, maxBytes: 150, rule: 'top 16 f16-exact, rest within 0.05 nats', ok: (f) => f.f16Ranks >= 16 && f.maxAbsByBand['16-31'] <= 0.05 && f.maxAbsByBand['32-127'] <= 0.05 },
];

interface Combo { teacher: string; k: number; values: string; ids: string; codec: string; bytesPerToken: number; parts: { base: number; ids: number; values: number }; fidelity: Fidelity }

/** Every value candidate with the smallest id encoding and the base, per codec. */
function combos(rows: PartRow[]): Combo[] {
  const out: Combo[] = [];
  const groups = new Map<string, PartRow[]>();
  for (const r of rows) groups.set(`${r.teacher}/${r.k}`, [...(groups.get(`${r.teacher}/${r.k}`) ?? []), r]);
  for (const g of groups.values()) {
    const base = g.find((r) => r.part === 'base')!;
    for (const codec of Object.keys(base.bytesPerToken)) {
      const ids = g.filter((r) => r.part === 'ids').sort((a, b) => a.bytesPerToken[codec] - b.bytesPerToken[codec])[0];
      for (const v of g.filter((r) => r.part === 'values')) {
        const parts = { base: base.bytesPerToken[codec], ids: ids.bytesPerToken[codec], values: v.bytesPerToken[codec] };
        out.push({ teacher: v.teacher, k: v.k, values: v.encoding, ids: ids.encoding, codec, bytesPerToken: parts.base + parts.ids + parts.values, parts, fidelity: v.fidelity! });
      }
    }
  }
  return out;
}

const fmt = (x: number): string => (x === 0 ? '0' : x < 1e-3 ? x.toExponential(1) : x.toPrecision(3));

async function main(): Promise<void> {
  const started = Date.now();
  const teachers = await loadTeachers(cache);
  const ks = quick ? [8, 128] : [8, 32, 128];
  const codecNames = CODECS.map((c) => c.name);
  console.log('\n### Parts, bytes per token (each buffer of each batch compressed on its own)\n');
  console.log(`| teacher | k | part | encoding | ${codecNames.join(' | ')} | f16 ranks | max abs err by rank band | BiLD rel. err | KL top-k |`);
  console.log(`| --- | ---: | --- | --- | ${codecNames.map(() => '---:').join(' | ')} | ---: | --- | ---: | ---: |`);
  const log = (r: PartRow): void => {
    const f = r.fidelity;
    console.log(`| ${r.teacher} | ${r.k} | ${r.part} | ${r.encoding} | ${codecNames.map((c) => (r.bytesPerToken[c] === undefined ? '' : r.bytesPerToken[c].toFixed(2))).join(' | ')} | ${f ? f.f16Ranks : ''} | ${f ? Object.entries(f.maxAbsByBand).map(([b, e]) => `${b}: ${fmt(e)}`).join(', ') : ''} | ${f ? fmt(f.bildRelError) : ''} | ${f ? fmt(f.klTopk) : ''} |`);
  };
  const rows: PartRow[] = [];
  for (const k of ks) for (const t of teachers) {
    console.error(`storage: ${t.name} k=${k}`);
    rows.push(...measureTeacher(t, k, log));
  }
  const all = combos(rows);

  console.log('\n### Targets: smallest combination meeting each (total = base + best ids + values)\n');
  console.log('| target | rule | teacher | values | ids | codec | bytes/token | base/ids/values | BiLD rel. err | max abs err | decode ms/batch |');
  console.log('| --- | --- | --- | --- | --- | --- | ---: | --- | ---: | --- | ---: |');
  const winners: (Combo & { target: string; meets: boolean; decodeMsPerBatch: number })[] = [];
  for (const target of TARGETS) for (const t of teachers) {
    const cands = all.filter((c) => c.teacher === t.name && c.k === target.k && target.ok(c.fidelity)).sort((a, b) => a.bytesPerToken - b.bytesPerToken);
    // Dictionaries are the one thing pyarrow cannot decode by itself: prefer the best without.
    const best = cands.find((c) => !c.codec.includes('dict')) ?? cands[0];
    if (!best) { console.log(`| ${target.name} | ${target.rule} | ${t.name} | (none) | | | | | | | |`); continue; }
    const vc = valueCandidates(target.k).find((v) => v.name === best.values)!;
    const ic = idCandidates(batchesFor(t, target.k), target.k, t.vocab).find((c) => c.name === best.ids)!;
    const ms = decodeMs(t, target.k, vc, ic, codecByName(best.codec));
    winners.push({ ...best, target: target.name, meets: best.bytesPerToken <= target.maxBytes, decodeMsPerBatch: ms });
    console.log(`| ${target.name} (<= ${target.maxBytes}) | ${target.rule} | ${t.name} | ${best.values} | ${best.ids} | ${best.codec} | ${best.bytesPerToken.toFixed(2)}${best.bytesPerToken <= target.maxBytes ? '' : ' (over)'} | ${fmt(best.parts.base)}/${fmt(best.parts.ids)}/${fmt(best.parts.values)} | ${fmt(best.fidelity.bildRelError)} | ${Object.values(best.fidelity.maxAbsByBand).map(fmt).join(', ')} | ${ms.toFixed(2)} |`);
  }

  console.log('\n### Larger compression units (k = 8, zstd-19): n stored batches per unit; reading one batch decodes the whole unit\n');
  console.log('| teacher | batches per unit | part | bytes/token | ms to read one batch |');
  console.log('| --- | ---: | --- | ---: | ---: |');
  const units: UnitRow[] = [];
  for (const t of teachers.filter((x) => x.batches.length >= 4)) {
    const bs = batchesFor(t, 8);
    const rowsU = measureUnits(t.name, bs, 8, t.vocab, quick ? [1, 4] : [1, 2, 4], [
      { name: 'ids planes', ids: () => idsPlanes }, { name: 'ids ctx-table', ids: (first) => ctxTable(first, 8, t.vocab) },
      { name: 'values f16 rank-delta planes', values: rankDelta('k', 0, true) }, { name: 'values grid 0.3 rank-delta planes', values: rankDelta(0, 0.3, true) },
    ], codecByName('zstd-19'));
    for (const r of rowsU) console.log(`| ${r.teacher} | ${r.batchesPerUnit} | ${r.part} | ${r.bytesPerToken.toFixed(2)} | ${r.msPerBatchRead.toFixed(2)} |`);
    units.push(...rowsU);
  }

  console.log('\n### Presets through the real writer and readers (file bytes = shards + index files; each sharing preset also with --share-prefixes 0)\n');
  console.log('| teacher | k | preset | format | --share-prefixes | positions shared | bytes/token | f16 ranks | max abs err by rank band | BiLD rel. err | KL top-k | write MB/s | read MB/s | TS ms/batch | Python ms/batch | tokens/batch |');
  console.log('| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const presetRows: PresetRow[] = [];
  for (const k of ks) for (const t of teachers) for (const preset of ['fast', 'compact', 'small'] as const) {
    if (k > 8 && preset === 'small') continue;
    // What the preset writes, then the same without shared prefixes where it turns them on.
    const shares = presetSettings(preset, k).sharePrefixes ? [undefined, 0] : [undefined];
    // Parquet at k = 8 on stories260k only: the bench/parquet-writers run covers the writer choice.
    const formats = k === 8 && t.name === 'stories260k' ? ['arrow', 'parquet'] as const : ['arrow'] as const;
    for (const format of formats) for (const sharePrefixes of shares) {
      // Whole teachers at every k (stories260k's 143k tokens at k = 128 take about a minute).
      const r = await measurePreset(t, k, preset, Infinity, { sharePrefixes, format });
      presetRows.push(r);
      const f = r.fidelity;
      console.log(`| ${r.teacher} | ${k} | ${preset} | ${r.format} | ${r.sharePrefixes} | ${(100 * r.sharedFraction).toFixed(1)}% | ${r.bytesPerToken.toFixed(2)} | ${f.f16Ranks} | ${Object.entries(f.maxAbsByBand).map(([b, e]) => `${b}: ${fmt(e)}`).join(', ')} | ${fmt(f.bildRelError)} | ${fmt(f.klTopk)} | ${r.writeMBs.toFixed(0)} | ${r.readMBs.toFixed(0)} | ${r.tsDecodeMsPerBatch.toFixed(2)} | ${r.pyDecodeMsPerBatch === null ? 'n/a' : r.pyDecodeMsPerBatch.toFixed(2)} | ${r.batchTokens.toFixed(0)} |`);
    }
  }

  const points = all.filter((c) => c.k === 8 && ['lz4', 'zstd-3', 'zstd-19'].includes(c.codec)).map((c) => ({ x: c.bytesPerToken, y: c.fidelity.bildRelError, series: `${c.teacher} ${c.codec}`, label: `${c.values} + ${c.ids}` }));
  // The presets as written (real files, Arrow), with and without shared prefixes.
  for (const r of presetRows.filter((x) => x.k === 8 && x.format === 'arrow')) {
    points.push({ x: r.bytesPerToken, y: r.fidelity.bildRelError, series: `${r.teacher} presets${r.sharePrefixes ? ', shared' : ''}`, label: `${r.preset}, --share-prefixes ${r.sharePrefixes}` });
  }
  const svg = scatterSvg(points.filter((p) => p.series.startsWith('stories') || teachers.every((t) => t.name !== 'stories260k')), {
    title: 'k = 8: bytes per token against teacher-led BiLD relative error', xLabel: 'bytes per token (stored batch of 32 samples)', yLabel: 'teacher-led BiLD relative error', yFloor: 1e-7,
    targets: [{ x: 14, y: 1e-4, label: 'compact: ≤14 B, ≤1e-4' }, { x: 8, y: 1e-2, label: 'small: ≤8 B, ≤1e-2' }],
  });
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/storage.svg'), svg);
  writeFileSync(join(repo, 'bench/results/storage.json'), JSON.stringify({
    bench: 'storage', date: new Date().toISOString(), node: process.version, quick, seconds: (Date.now() - started) / 1000,
    note: 'Sizes model Arrow IPC body compression (each buffer alone, 8-byte length prefix, 8-byte padding); record batch metadata (~0.1 B/token) not counted. Machine shared with other jobs: decode times are indicative.',
    teachers: teachers.map((t) => ({ name: t.name, vocab: t.vocab, tokens: t.tokens, batches: t.batches.length })),
    targets: TARGETS.map(({ name, k, maxBytes, rule }) => ({ name, k, maxBytes, rule })), winners, presets: presetRows, units, parts: rows,
  }, null, 2) + '\n');
  console.error(`storage: done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote bench/results/storage.json and storage.svg`);
}

/**
 * Shared prefixes (format 2.5) on stories260k at k = 8: compact and small with and without them,
 * on every sample and on the distinct samples only, then random and in-order access.
 */
async function sharedMain(): Promise<void> {
  const started = Date.now();
  const teachers = (await loadTeachers(cache, ['stories260k'])).filter((t) => t.name === 'stories260k');
  if (teachers.length === 0) {
    console.error('storage --shared: stories260k is absent (set LOGIT_CACHE_SHARED); nothing measured');
    return;
  }
  const t = teachers[0];
  const k = 8;
  const all = t.batches.map((b) => truncateK(b, MAX_K, k));
  const distinct = distinctSamples(all, k);
  const rows: SharedRow[] = [];
  console.log('\n### Shared prefixes (format 2.5), stories260k, k = 8, real writer and reader (file bytes = shards + index files)\n');
  console.log('| input | samples | tokens | preset | --share-prefixes | bytes/token | positions shared | f16 ranks | BiLD rel. err | write MB/s |');
  console.log('| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [input, batches] of [['all samples', all], ['distinct samples', distinct]] as const) {
    for (const preset of ['compact', 'small'] as const) {
      for (const share of [0, PRESET_SHARE_PREFIXES]) {
        const r = await measureShared(t, input, batches, k, preset, share);
        rows.push(r);
        console.log(`| ${input} | ${r.samples} | ${r.tokens} | ${preset} | ${share} | ${r.bytesPerToken.toFixed(2)} | ${(100 * r.sharedFraction).toFixed(1)}% | ${r.fidelity.f16Ranks} | ${fmt(r.fidelity.bildRelError)} | ${r.writeMBs.toFixed(1)} |`);
      }
    }
  }
  const access: AccessRow[] = [];
  console.log('\n### Random access with shared prefixes (stories260k, k = 8, batches of 32 samples)\n');
  console.log('| preset | --share-prefixes | reads | stored batches read per batch | ms per batch read |');
  console.log('| --- | ---: | --- | ---: | ---: |');
  for (const preset of ['compact', 'small'] as const) {
    for (const share of [0, PRESET_SHARE_PREFIXES]) {
      for (const r of await measureAccess(t, all, k, preset, share, quick ? 30 : 100)) {
        access.push(r);
        console.log(`| ${preset} | ${share} | ${r.pattern} (${r.reads}) | ${r.batchesReadPerBatch.toFixed(2)} | ${r.msPerBatch.toFixed(2)} |`);
      }
    }
  }
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/storage-shared.json'), JSON.stringify({
    bench: 'storage --shared', date: new Date().toISOString(), node: process.version, quick, seconds: (Date.now() - started) / 1000,
    note: 'Real DatasetWriter/CheckedDataset; bytes are whole files (shards + indexes) over all tokens. Random reads drop every reader cache first (cold). Machine shared with other jobs: times are indicative.',
    teacher: { name: t.name, vocab: t.vocab, tokens: t.tokens, samples: all.reduce((a, b) => a + b.offsets.length - 1, 0), distinctSamples: distinct.reduce((a, b) => a + b.offsets.length - 1, 0) },
    rows, access,
  }, null, 2) + '\n');
  console.error(`storage --shared: done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote bench/results/storage-shared.json`);
}

await (process.argv.includes('--shared') ? sharedMain() : main());
