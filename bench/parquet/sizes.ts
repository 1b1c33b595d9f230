// Bytes per token on disk (shards + index files) by shard format, for each storage preset and
// for ragged top-p lists: the same batches written as Arrow and as Parquet shards by the real
// DatasetWriter.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { type PresetName, presetSettings } from '../../src/shard/encodings/presets.js';
import { readManifest } from '../../src/shard/manifest.js';
import type { TopkBatch, TopkLayout } from '../../src/shard/types.js';
import { trimTopP } from '../../src/topk/top-p.js';
import { write } from './read-cost.js';

export interface SizeRow { setting: string; arrowBytesPerToken: number; parquetBytesPerToken: number; ratio: number }

function bytesOnDisk(dir: string): number {
  const m = readManifest(dir);
  return m.shards.reduce((a, s) => a + statSync(join(dir, s.file)).size + statSync(join(dir, s.index.file)).size, 0);
}

function trimmed(batches: TopkBatch[], k: number, topP: number, minK: number): TopkBatch[] {
  return batches.map((b) => {
    const t = b.inputIds.length;
    const out: TopkBatch = { ...b, topkIds: b.topkIds.slice(), topkLogprobs: b.topkLogprobs.slice(), topkCounts: new Int32Array(t) };
    trimTopP(out.topkIds, out.topkLogprobs, out.topkCounts!, undefined, 0, t, k, { topP, minK });
    return out;
  });
}

export function sizesByFormat(root: string, k: number, vocabSize: number, batches: TopkBatch[]): SizeRow[] {
  const tokens = batches.reduce((a, b) => a + b.inputIds.length, 0);
  const settings: { name: string; layout: TopkLayout; codec: 'lz4' | 'zstd' | 'none'; zstdLevel?: number; data: TopkBatch[] }[] = [];
  for (const preset of ['fast', 'compact', 'small'] as PresetName[]) {
    const p = presetSettings(preset, k);
    settings.push({
      name: `preset ${preset}`, codec: p.codec, zstdLevel: p.zstdLevel, data: batches,
      layout: { k, vocabSize, values: p.values, ...(p.f16Ranks !== undefined ? { f16Ranks: p.f16Ranks } : {}), ...(p.gridStep !== undefined ? { gridStep: p.gridStep } : {}) },
    });
  }
  settings.push({ name: 'f16, ZSTD 3', codec: 'zstd', layout: { k, vocabSize, values: 'f16' }, data: batches });
  settings.push({ name: 'top-p 0.9 min-k 2, f16, ZSTD 3', codec: 'zstd', layout: { k, vocabSize, values: 'f16', topP: 0.9, minK: 2 }, data: trimmed(batches, k, 0.9, 2) });
  return settings.map((s, i) => {
    const arrow = bytesOnDisk(write(root, `size-${i}-arrow`, { ...s.layout }, s.codec, s.data, s.zstdLevel)) / tokens;
    const parquet = bytesOnDisk(write(root, `size-${i}-parquet`, { ...s.layout, shardFormat: 'parquet' }, s.codec, s.data, s.zstdLevel)) / tokens;
    return { setting: s.name, arrowBytesPerToken: arrow, parquetBytesPerToken: parquet, ratio: parquet / arrow };
  });
}
