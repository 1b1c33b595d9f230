// End-to-end precompute throughput: the whole pipeline (scan, teacher, encode, write) with the
// fused top-k head against host top-k over full logits, on the real stories260k teacher and on
// a synthetic 152k-vocabulary teacher. Modes alternate within each round, on the same data.
// Run: npx tsx bench/precompute.ts [--rounds 2]   (writes bench/results/precompute.json, prints a table)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { precompute, type PrecomputeSummary } from '../src/precompute/index.js';
import { writeSyntheticInputs } from '../src/precompute/demo.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '2' } } });
const rounds = Number(args.rounds);
const repo = resolve(import.meta.dirname, '..');
const stories = resolve(repo, '../shared/teachers/stories260k');
const work = mkdtempSync(join(tmpdir(), 'lc-bench-precompute-'));

function synthetic(vocab: number, samples: number) {
  const { model, data } = writeSyntheticInputs(join(work, `syn-${vocab}`), { vocabSize: vocab, samples, minLen: 64, maxLen: 256, seed: 5 });
  return { name: 'synthetic-152k', model, data, vocab };
}

const teachers = [
  { name: 'stories260k', model: join(stories, 'model.onnx'), data: join(stories, 'stories.jsonl'), vocab: 512 },
  synthetic(152064, 24),
];

interface Row { teacher: string; vocab: number; topkOn: string; tokens: number; tokensPerSec: number[]; bytesPerToken: number; top1Agreement: number | null }
const rows = new Map<string, Row>();

for (let round = 0; round < rounds; round++) {
  for (const t of teachers) {
    for (const topkOn of (round % 2 ? ['host', 'graph'] : ['graph', 'host']) as ('graph' | 'host')[]) {
      const s: PrecomputeSummary = await precompute({
        model: t.model, data: t.data, out: work, datasetId: `${t.name}-${topkOn}`, k: 8, values: 'f16', codec: 'lz4',
        batchSize: 32, batchesPerShard: 64, topkOn, device: 'cpu', overwrite: true,
      });
      const key = `${t.name}/${topkOn}`;
      const row = rows.get(key) ?? { teacher: t.name, vocab: t.vocab, topkOn, tokens: s.tokens, tokensPerSec: [], bytesPerToken: s.bytesPerToken, top1Agreement: s.top1Agreement };
      row.tokensPerSec.push(s.tokensPerSec);
      rows.set(key, row);
      process.stderr.write(`round ${round} ${key}: ${s.tokensPerSec.toFixed(0)} tok/s\n`);
    }
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const out = [...rows.values()].map((r) => ({ ...r, medianTokensPerSec: median(r.tokensPerSec) }));
mkdirSync(join(repo, 'bench/results'), { recursive: true });
writeFileSync(join(repo, 'bench/results/precompute.json'), JSON.stringify({ bench: 'precompute', date: new Date().toISOString(), node: process.version, k: 8, values: 'f16', codec: 'lz4', rounds, rows: out }, null, 2) + '\n');
console.log('| teacher | vocab | top-k on | tokens | tokens/s (median) | fused / host | bytes/token |');
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: |');
for (const r of out) {
  const host = out.find((x) => x.teacher === r.teacher && x.topkOn === 'host')!;
  console.log(`| ${r.teacher} | ${r.vocab} | ${r.topkOn} | ${r.tokens} | ${r.medianTokensPerSec.toFixed(0)} | ${(r.medianTokensPerSec / host.medianTokensPerSec).toFixed(2)}x | ${r.bytesPerToken.toFixed(2)} |`);
}
rmSync(work, { recursive: true, force: true });
