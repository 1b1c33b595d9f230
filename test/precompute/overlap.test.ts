// The overlapped pipeline (teacher in a worker thread, windows queued ahead of the writer)
// writes exactly the bytes of the sequential in-process path: same shards, same manifest.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { precompute, type PrecomputeOptions } from '../../src/precompute/index.js';
import { writeSyntheticInputs } from '../../src/precompute/demo.js';

const root = mkdtempSync(join(tmpdir(), 'lc-overlap-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function digest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(name);
      else out.set(name, createHash('sha256').update(readFileSync(join(dir, name))).digest('hex'));
    }
  };
  walk('');
  return out;
}

describe('overlapped stages', () => {
  it('write byte-identical datasets to the sequential path, over several shards and windows', async () => {
    const { model, data } = writeSyntheticInputs(join(root, 'in'), { vocabSize: 3001, dModel: 32, layers: 1, samples: 150, minLen: 1, maxLen: 90, seed: 12 });
    const base: PrecomputeOptions = {
      model, data, out: '', datasetId: 'syn', k: 6, values: 'f16', codec: 'lz4', batchSize: 4, batchesPerShard: 11,
      inferBatchTokens: 200, topkOn: 'graph', device: 'cpu', overwrite: false,
    };
    const seq = await precompute({ ...base, out: join(root, 'seq') }, () => {}, { overlap: false });
    const events: string[] = [];
    const ovl = await precompute({ ...base, out: join(root, 'ovl') }, (e) => events.push(e.type), { overlap: true });
    // 150 samples / 4 = 38 batches in 4 shards; windows of 8 batches cut at shard ends.
    expect(seq).toMatchObject({ batches: 38, shards: 4, complete: true, computedTokens: seq.tokens });
    expect(ovl).toMatchObject({ batches: 38, shards: 4, complete: true, computedTokens: seq.tokens, top1Agreement: seq.top1Agreement });
    const a = digest(join(root, 'seq', 'syn'));
    const b = digest(join(root, 'ovl', 'syn'));
    expect(a.size).toBeGreaterThanOrEqual(5); // manifest + 4 shards (+ run config)
    expect([...b.entries()].sort()).toEqual([...a.entries()].sort());
    // Windows: 8 + 3 batches in each of the three full shards, 5 in the last one.
    expect(events.filter((t) => t === 'batch').length).toBe(7);

    // Host top-k through the worker too: same bytes as its sequential run.
    const hostSeq = await precompute({ ...base, topkOn: 'host', out: join(root, 'hseq') }, () => {}, { overlap: false });
    const hostOvl = await precompute({ ...base, topkOn: 'host', out: join(root, 'hovl') }, () => {}, { overlap: true });
    expect(hostOvl.tokens).toBe(hostSeq.tokens);
    expect([...digest(join(root, 'hovl', 'syn')).entries()].sort()).toEqual([...digest(join(root, 'hseq', 'syn')).entries()].sort());
  });

  it('a teacher error in the worker aborts the run and leaves no manifest', async () => {
    const { model, data } = writeSyntheticInputs(join(root, 'in2'), { vocabSize: 500, dModel: 16, layers: 1, samples: 20, minLen: 2, maxLen: 20, seed: 3 });
    await expect(precompute({
      model, data, out: join(root, 'bad'), datasetId: 'x', k: 4, values: 'f16', codec: 'lz4', batchSize: 4, batchesPerShard: 2,
      topkOn: 'graph', device: 'cpu', overwrite: false, logitsOutput: 'nope',
    })).rejects.toThrow(/no output "nope"/);
    expect(() => readFileSync(join(root, 'bad', 'x', 'manifest.json'))).toThrow();
  });
});
