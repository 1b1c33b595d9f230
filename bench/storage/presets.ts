// The presets through the real writer and reader: file bytes per token (shards + index files),
// write and read throughput, decode time of one batch in TypeScript and in Python
// (pyarrow + logit_cache.encodings; the client's checked reader for shared-prefix datasets), and
// fidelity of what the reader returns. Shared prefixes (format 2.5) are on where the preset turns
// them on, unless the caller asks for another minimum (0: off), so a row is what the preset writes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { DatasetWriter, type PresetName, presetSettings, type TopkBatch } from '../../src/shard/index.js';
import type { ShardFormat } from '../../src/shard/types.js';
import { type Fidelity, fidelity } from './fidelity.js';
import { sharedPositionCount } from './shared.js';
import { MAX_K, type TeacherData, truncateK } from './teachers.js';

const repo = resolve(import.meta.dirname, '../..');

export interface PresetRow {
  teacher: string; k: number; preset: PresetName; settings: string; tokens: number; bytesPerToken: number;
  /** Shard format written. */
  format: ShardFormat;
  /** --share-prefixes of the row (0: off); `settings` holds the rest. */
  sharePrefixes: number;
  /** Fraction of positions not stored, taken from an earlier sample's shared prefix. */
  sharedFraction: number;
  writeMBs: number; readMBs: number; tsDecodeMsPerBatch: number; pyDecodeMsPerBatch: number | null; batchTokens: number; fidelity: Fidelity;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Median ms per batch for pyarrow + logit_cache.encodings (or the plain column) over the dataset.
 * Parquet and shared-prefix datasets go through the client's reader (LogitCacheDataset, per-batch
 * hash off, read in order so owners come from its cache): plain pyarrow sees Parquet row groups
 * and the stored suffixes, not the batches.
 */
function pythonDecodeMs(dir: string, viaClient: boolean): number | null {
  const python = process.env.LOGIT_CACHE_PYTHON ?? join(repo, '.venv/bin/python');
  if (!existsSync(python)) return null;
  const script = `
import json, sys, time, numpy as np, pyarrow as pa, pyarrow.ipc as ipc
from logit_cache import encodings
d = sys.argv[1]; m = json.load(open(d + "/manifest.json")); k = m["topk"]["k"]
def decode(rb):
    ids, lp = encodings.decode_topk(rb, k) if encodings.is_encoded(rb.schema) else (None, None)
    if lp is None:
        rb.column("topk_logprobs").flatten().flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    if ids is None:
        rb.column("topk_ids").flatten().flatten().to_numpy(zero_copy_only=False).astype(np.int64)
times = []
for rep in range(3):
    if sys.argv[2] == "client":
        from logit_cache import LogitCacheDataset
        ds = LogitCacheDataset(d, verify=False)
        for b in range(len(ds)):
            t = time.perf_counter()
            decode(ds.record_batch(b))
            times.append(time.perf_counter() - t)
        ds.close()
        continue
    for s in m["shards"]:
        r = ipc.open_file(pa.memory_map(d + "/" + s["file"]))
        for i in range(r.num_record_batches):
            t = time.perf_counter()
            decode(r.get_batch(i))
            times.append(time.perf_counter() - t)
print(sorted(times)[len(times) // 2] * 1000)
`;
  const r = spawnSync(python, ['-c', script, dir, viaClient ? 'client' : 'plain'], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(repo, 'clients/python') } });
  if (r.status !== 0) throw new Error(`python decode timing failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

export async function measurePreset(t: TeacherData, k: number, preset: PresetName, maxTokens: number, opts: { sharePrefixes?: number; format?: ShardFormat } = {}): Promise<PresetRow> {
  const batches: TopkBatch[] = [];
  let tokens = 0;
  for (const b of t.batches) {
    if (tokens >= maxTokens) break;
    batches.push(truncateK(b, MAX_K, k));
    tokens += b.inputIds.length;
  }
  const { sharePrefixes: presetShare, ...s } = presetSettings(preset, k);
  const share = opts.sharePrefixes ?? presetShare ?? 0;
  const format = opts.format ?? 'arrow';
  const layout = {
    k, vocabSize: t.vocab, values: s.values, ...(s.f16Ranks !== undefined ? { f16Ranks: s.f16Ranks } : {}), ...(s.gridStep !== undefined ? { gridStep: s.gridStep } : {}),
    ...(s.ids ? { ids: s.ids } : {}), ...(share > 0 ? { sharedPrefixes: true } : {}), ...(format === 'parquet' ? { shardFormat: 'parquet' as const } : {}),
  };
  const root = mkdtempSync(join(tmpdir(), 'lc-bench-presets-'));
  try {
    const t0 = performance.now();
    const w = new DatasetWriter({ root, datasetId: 'd', layout, codec: s.codec, zstdLevel: s.zstdLevel, batchSize: 32, batchesPerShard: 64, runConfig: {}, ...(share > 0 ? { sharePrefixes: share } : {}) });
    for (const b of batches) w.append(b);
    const samples = batches.reduce((a, b) => a + b.offsets.length - 1, 0);
    const m = w.finish({ teacher: { file: 't', sha256: '0'.repeat(64), vocabSize: t.vocab }, source: { file: 's', sha256: '0'.repeat(64), samples, tokens } });
    if (m.tokenCount !== tokens) throw new Error(`preset ${preset}: manifest holds ${m.tokenCount} tokens, wrote ${tokens}`);
    const t1 = performance.now();
    const reader = await CheckedDataset.open(join(root, 'd'));
    const decoded = new Float32Array(tokens * k);
    const exact = new Float32Array(tokens * k);
    const per: number[] = [];
    let at = 0;
    for (let b = 0; b < reader.batchCount; b++) {
      const s0 = performance.now();
      const x = await reader.readBatch(b);
      per.push(performance.now() - s0);
      decoded.set(x.topkLogprobs, at);
      exact.set(batches[b].topkLogprobs, at);
      at += x.topkLogprobs.length;
    }
    const t2 = performance.now();
    // After the timed pass: without the manifest's count it reads the stored batches again.
    const shared = share > 0 ? await sharedPositionCount(reader) : 0;
    await reader.close();
    const bytes = m.shards.reduce((a, x) => a + x.bytes + x.index.bytes, 0);
    // Throughput in decoded float32 top-k payload (ids + values, 8 bytes per entry).
    const payload = (tokens * k * 8) / 1e6;
    return {
      teacher: t.name, k, preset, settings: JSON.stringify(s), tokens, bytesPerToken: bytes / tokens, format, sharePrefixes: share, sharedFraction: shared / tokens,
      writeMBs: payload / ((t1 - t0) / 1000), readMBs: payload / ((t2 - t1) / 1000), tsDecodeMsPerBatch: median(per),
      pyDecodeMsPerBatch: pythonDecodeMs(join(root, 'd'), share > 0 || format === 'parquet'), batchTokens: tokens / batches.length, fidelity: fidelity(exact, decoded, k),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function writeJson(path: string, obj: unknown): void {
  writeFileSync(path, JSON.stringify(obj, null, 2) + '\n');
}
