// logit-cache inspect <datasetDir>: what a dataset holds, from its manifest.
import { folderCommand } from './args.js';

export const inspectCommand = folderCommand(
  'inspect',
  'Usage: logit-cache inspect <datasetDir> [--json]',
  {
    json: { type: 'boolean', help: 'print the summary as JSON' },
    help: { type: 'boolean', help: 'show this help' },
  },
  async (dir, values) => {
    const { readManifest } = await import('../shard/manifest.js');
    const m = readManifest(dir);
    const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
    const summary = {
      datasetId: m.datasetId, formatVersion: m.formatVersion, samples: m.sampleCount, tokens: m.tokenCount,
      batches: m.batchCount, batchSize: m.batchSize, shards: m.shards.length, k: m.topk.k, values: m.topk.values,
      indexType: m.topk.indexType, codec: m.codec, bytes, bytesPerToken: m.stats.bytesPerToken,
      teacher: `${m.teacher.file} (vocabulary ${m.teacher.vocabSize}, sha256 ${m.teacher.sha256.slice(0, 12)}…)`,
      source: `${m.source.file} (sha256 ${m.source.sha256.slice(0, 12)}…)`,
      top1Agreement: m.stats.top1Agreement ?? null, meanTopkMass: m.stats.meanTopkMass ?? null,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...summary, shardFiles: m.shards.map((s) => ({ file: s.file, batches: s.batchCount, bytes: s.bytes })) })}\n`);
      return 0;
    }
    const rows: [string, string][] = [
      ['dataset', `${m.datasetId} (format ${m.formatVersion})`],
      ['samples', String(m.sampleCount)], ['tokens', String(m.tokenCount)],
      ['batches', `${m.batchCount} x ${m.batchSize} samples`], ['shards', String(m.shards.length)],
      ['top-k', `k=${m.topk.k}, values ${m.topk.values}, ids ${m.topk.indexType}`], ['codec', m.codec],
      ['bytes', `${bytes} (${m.stats.bytesPerToken.toFixed(2)} per token)`],
      ['teacher', summary.teacher], ['source', summary.source],
      ['top-1 agreement', summary.top1Agreement === null ? 'n/a' : summary.top1Agreement.toFixed(4)],
      ['mean top-k mass', summary.meanTopkMass === null ? 'n/a' : summary.meanTopkMass.toFixed(4)],
    ];
    const w = Math.max(...rows.map((r) => r[0].length)) + 2;
    process.stdout.write(rows.map(([a, b]) => `${a.padEnd(w)}${b}`).join('\n') + '\n');
    for (const s of m.shards) process.stdout.write(`  ${s.file}  batches ${s.firstBatch}..${s.firstBatch + s.batchCount - 1}  ${s.bytes} bytes\n`);
    return 0;
  },
);
