// logit-cache inspect <datasetDir>: what a dataset holds, from its manifest and (with --batches)
// each shard's index, read through the checked reader (hash before parse).
import type { CheckedDataset } from '../shard/checked-dataset.js';
import { folderCommand } from './args.js';

export const inspectCommand = folderCommand(
  'inspect',
  'Usage: logit-cache inspect <datasetDir> [--json] [--batches]',
  {
    json: { type: 'boolean', help: 'print the summary as JSON' },
    batches: { type: 'boolean', help: 'also list every batch from the shard indexes (offset, length, samples, tokens, sha256s), checked first' },
    help: { type: 'boolean', help: 'show this help' },
  },
  async (dir, values) => {
    const { CheckedDataset } = await import('../shard/checked-dataset.js');
    const ds = await CheckedDataset.open(dir, { maxShards: 1, maxOpenFiles: 1 });
    try {
      return await report(ds, Boolean(values.json), Boolean(values.batches));
    } finally {
      await ds.close();
    }
  },
);

interface BatchRow { batch: number; offset: number; length: number; samples: number; tokens: number; messageSha256: string; streamSha256: string }

async function indexRows(ds: CheckedDataset, si: number): Promise<BatchRow[]> {
  const shard = await ds.shard(si);
  const rows: BatchRow[] = [];
  for (let b = shard.entry.firstBatch; b < shard.entry.firstBatch + shard.entry.batchCount; b++) {
    const { batch, offset, length, samples, tokens, messageSha256, streamSha256 } = shard.info(b);
    rows.push({ batch, offset, length, samples, tokens, messageSha256, streamSha256 });
  }
  return rows;
}

/**
 * Shared-prefix datasets: positions taken from an earlier sample vs stored. From the manifest's
 * counts when the writer recorded them (checked against the stored prefix_len by `verify`);
 * for datasets written before, by reading every batch through the checked path.
 */
async function sharedPositions(ds: CheckedDataset): Promise<{ sharedPositions: number; storedPositions: number; sharedFraction: number } | null> {
  if (!ds.layout.sharedPrefixes) return null;
  let shared = 0, stored = 0;
  const recorded = ds.manifest.stats.sharedPositions;
  if (recorded !== undefined) {
    // Every position is either shared or stored: tokenCount counts them all (docs/FORMAT.md §4.3).
    shared = recorded;
    stored = ds.manifest.tokenCount - recorded;
  } else {
    for (let b = 0; b < ds.batchCount; b++) {
      const p = (await ds.sharedPositions(b))!;
      shared += p.shared;
      stored += p.stored;
    }
  }
  return { sharedPositions: shared, storedPositions: stored, sharedFraction: shared + stored > 0 ? shared / (shared + stored) : 0 };
}

async function report(ds: CheckedDataset, json: boolean, batches: boolean): Promise<number> {
  const m = ds.manifest;
  const share = await sharedPositions(ds);
  const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
  const indexBytes = m.shards.reduce((a, s) => a + s.index.bytes, 0);
  const summary = {
    datasetId: m.datasetId, formatVersion: m.formatVersion, samples: m.sampleCount, tokens: m.tokenCount,
    batches: m.batchCount, batchSize: m.batchSize, shards: m.shards.length, shardFormat: m.shardFormat ?? 'arrow', k: m.topk.k, values: m.topk.values,
    indexType: m.topk.indexType, ids: m.topk.ids ?? 'plain', tailMass: m.topk.tailMass === true,
    sharedPrefixes: m.topk.sharedPrefixes === true, ...(share ?? {}),
    ...(m.topk.values === 'rank-delta' ? { f16Ranks: m.topk.f16Ranks ?? m.topk.k, ...(m.topk.gridStep !== undefined ? { gridStep: m.topk.gridStep } : {}) } : {}),
    ...(m.topk.q8Scale !== undefined ? { q8Scale: m.topk.q8Scale } : {}),
    codec: m.codec, bytes, indexBytes, bytesPerToken: m.stats.bytesPerToken,
    teacher: `${m.teacher.file} (vocabulary ${m.teacher.vocabSize}, sha256 ${m.teacher.sha256.slice(0, 12)}…)`,
    source: `${m.source.file} (sha256 ${m.source.sha256.slice(0, 12)}…)`,
    top1Agreement: m.stats.top1Agreement ?? null, meanTopkMass: m.stats.meanTopkMass ?? null,
  };
  if (json) {
    const shardFiles = [];
    for (const [si, s] of m.shards.entries()) {
      shardFiles.push({
        file: s.file, batches: s.batchCount, bytes: s.bytes, index: s.index.file, indexBytes: s.index.bytes,
        ...(batches ? { batchRows: await indexRows(ds, si) } : {}),
      });
    }
    process.stdout.write(`${JSON.stringify({ ...summary, shardFiles })}\n`);
    return 0;
  }
  const rows: [string, string][] = [
    ['dataset', `${m.datasetId} (format ${m.formatVersion})`],
    ['samples', String(m.sampleCount)], ['tokens', String(m.tokenCount)],
    ['batches', `${m.batchCount} x ${m.batchSize} samples`], ['shards', `${m.shards.length} (${summary.shardFormat} files)`],
    ['top-k', `k=${m.topk.k}, values ${valuesText(m.topk)}, ids ${summary.ids} (${m.topk.indexType})${m.topk.topP !== undefined ? `, ragged top-p ${m.topk.topP} (at least ${m.topk.minK}, at most ${m.topk.k} per position)` : ''}`],
    ['tail mass', summary.tailMass ? 'yes (topk_tail_logprob, format 2.1)' : 'no'],
    ['shared prefixes', share ? `yes (format 2.5): ${(100 * share.sharedFraction).toFixed(1)}% of positions (${share.sharedPositions} of ${share.sharedPositions + share.storedPositions}) stored once in an earlier sample of their shard` : 'no'],
    ['codec', m.codec],
    ['bytes', `${bytes} (${m.stats.bytesPerToken.toFixed(2)} per token) + ${indexBytes} in shard indexes`],
    ['teacher', summary.teacher], ['source', summary.source],
    ['top-1 agreement', summary.top1Agreement === null ? 'n/a' : summary.top1Agreement.toFixed(4)],
    ['mean top-k mass', summary.meanTopkMass === null ? 'n/a' : summary.meanTopkMass.toFixed(4)],
  ];
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  process.stdout.write(rows.map(([a, b]) => `${a.padEnd(w)}${b}`).join('\n') + '\n');
  for (const [si, s] of m.shards.entries()) {
    process.stdout.write(`  ${s.file}  batches ${s.firstBatch}..${s.firstBatch + s.batchCount - 1}  ${s.bytes} bytes  index ${s.index.bytes} bytes\n`);
    if (!batches) continue;
    for (const r of await indexRows(ds, si)) {
      process.stdout.write(`    batch ${r.batch}  at ${r.offset}+${r.length}  ${r.samples} samples  ${r.tokens} tokens  sha256 ${r.messageSha256.slice(0, 12)}…  stream ${r.streamSha256.slice(0, 12)}…\n`);
    }
  }
  return 0;
}

/** The value encoding with the parameters that decide its precision. */
function valuesText(t: CheckedDataset['manifest']['topk']): string {
  if (t.values === 'q8') return `q8 (scale ${t.q8Scale})`;
  if (t.values !== 'rank-delta') return t.values;
  const f16 = t.f16Ranks ?? t.k;
  return f16 < t.k ? `rank-delta (f16Ranks ${f16}, gridStep ${t.gridStep})` : `rank-delta (f16Ranks ${f16})`;
}
