// precompute-logits --preset, end to end through the built CLI on a small synthetic teacher:
// each preset writes the encoding it promises, the low-level flags override it, flags that
// cannot apply are usage errors naming the flag, and the stored values keep the promised error.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticInputs } from '../../src/precompute/demo.js';
import { DatasetReader } from '../../src/shard/index.js';
import { runCli } from '../cli.js';

const root = mkdtempSync(join(tmpdir(), 'lc-preset-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let inputs: { model: string; data: string };
beforeAll(() => {
  inputs = writeSyntheticInputs(join(root, 'inputs'), { vocabSize: 1000, dModel: 16, layers: 1, samples: 24, minLen: 4, maxLen: 60, seed: 3 });
});

const run = (id: string, ...args: string[]) =>
  runCli('precompute-logits', ['--model', inputs.model, '--data', inputs.data, '--out', join(root, 'out'), '--dataset-id', id, '--quiet', '--batch-size', '8', ...args]);
const manifestOf = (id: string) => JSON.parse(readFileSync(join(root, 'out', id, 'manifest.json'), 'utf8'));

async function values(id: string): Promise<Float32Array[]> {
  const r = await DatasetReader.open(join(root, 'out', id));
  const out: Float32Array[] = [];
  for (let b = 0; b < r.batchCount; b++) out.push((await r.readBatch(b)).topkLogprobs.slice());
  await r.close();
  return out;
}

describe('precompute-logits --preset', () => {
  it('fast is today\'s default; compact and small write rank-delta with ZSTD and keep their promised error', async () => {
    for (const [id, args] of [['fast', []], ['exact', ['--values', 'f32', '--codec', 'none']], ['compact', ['--preset', 'compact']], ['small', ['--preset', 'small']]] as const) {
      const r = run(id, ...args);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    expect(manifestOf('fast').topk).toMatchObject({ values: 'f16' });
    expect(manifestOf('fast').codec).toBe('lz4');
    expect(manifestOf('compact').topk).toMatchObject({ values: 'rank-delta', f16Ranks: 8 });
    expect(manifestOf('compact').topk.gridStep).toBeUndefined();
    expect(manifestOf('compact').codec).toBe('zstd');
    expect(manifestOf('small').topk).toMatchObject({ values: 'rank-delta', f16Ranks: 0, gridStep: 0.3, ids: 'ctx-table' });
    expect(manifestOf('compact').topk.ids).toBe('ctx-table');
    // compact and small store shared prefixes of >= 32 tokens once per shard (format 2.5), recorded in run.json.
    expect(manifestOf('compact').formatVersion).toBe('2.5');
    expect(manifestOf('compact').topk.sharedPrefixes).toBe(true);
    expect(manifestOf('small').topk.sharedPrefixes).toBe(true);
    expect(JSON.parse(readFileSync(join(root, 'out', 'compact', 'run.json'), 'utf8')).sharePrefixes).toBe(32);
    expect(manifestOf('fast').topk.sharedPrefixes).toBeUndefined();
    expect(manifestOf('fast').topk.ids).toBeUndefined();
    const ids = async (id: string) => {
      const r = await DatasetReader.open(join(root, 'out', id));
      const out: number[] = [];
      for (let b = 0; b < r.batchCount; b++) out.push(...(await r.readBatch(b)).topkIds);
      await r.close();
      return out;
    };
    // ctx-table ids come back exactly: the same ids the plain column of the fast preset holds.
    const plainIds = await ids('fast');
    expect(plainIds.length).toBe(manifestOf('fast').tokenCount * 8);
    expect(await ids('compact')).toEqual(plainIds);
    expect(await ids('small')).toEqual(plainIds);
    const [fast, exact, compact, small] = await Promise.all(['fast', 'exact', 'compact', 'small'].map(values));
    let checked = 0;
    fast.forEach((f, b) => {
      // compact at k = 8 keeps every rank at float16 precision: the very values f16 stores.
      expect(Array.from(compact[b], (x) => x + 0)).toEqual(Array.from(f, (x) => x + 0));
      for (let i = 0; i < f.length; i++) {
        expect(Math.abs(small[b][i] - exact[b][i])).toBeLessThanOrEqual(0.15 + 1e-5);
        checked++;
      }
    });
    expect(checked).toBe(manifestOf('exact').tokenCount * 8);
  });

  it('compact above k = 16 keeps the top 16 ranks at float16 and the rest on a 0.099 grid; flags (--ids too) override the preset', () => {
    expect(run('c32', '--preset', 'compact', '--top-k', '32').status).toBe(0);
    expect(manifestOf('c32').topk).toMatchObject({ values: 'rank-delta', f16Ranks: 16, gridStep: 0.099 });
    expect(run('c32b', '--preset', 'compact', '--top-k', '32', '--f16-ranks', '4', '--grid-step', '0.05', '--zstd-level', '3').status).toBe(0);
    expect(manifestOf('c32b').topk).toMatchObject({ f16Ranks: 4, gridStep: 0.05 });
    expect(run('small-lz4', '--preset', 'small', '--codec', 'lz4').status).toBe(0);
    expect(manifestOf('small-lz4').codec).toBe('lz4');
    expect(manifestOf('small-lz4').topk).toMatchObject({ values: 'rank-delta', f16Ranks: 0, gridStep: 0.3 });
    expect(run('compact-plain', '--preset', 'compact', '--ids', 'plain', '--share-prefixes', '0').status).toBe(0);
    expect(manifestOf('compact-plain').topk.ids).toBeUndefined();
    expect(manifestOf('compact-plain').topk.sharedPrefixes).toBeUndefined();
    expect(manifestOf('compact-plain').formatVersion).toBe('2.0');
    expect(run('fast-shared', '--share-prefixes', '4').status).toBe(0);
    expect(manifestOf('fast-shared').topk).toMatchObject({ values: 'f16', sharedPrefixes: true });
    expect(manifestOf('fast-shared').formatVersion).toBe('2.5');
  });

  it('refuses flags that cannot apply, naming them (exit 2)', () => {
    for (const [args, msg] of [
      [['--values', 'f16', '--f16-ranks', '2'], /--f16-ranks and --grid-step apply to --values rank-delta, not f16/],
      [['--values', 'rank-delta', '--f16-ranks', '3'], /--f16-ranks 3 < --top-k 8 needs --grid-step/],
      [['--values', 'rank-delta', '--f16-ranks', '9', '--grid-step', '0.1'], /--f16-ranks 9 is more than --top-k 8/],
      [['--codec', 'lz4', '--zstd-level', '5'], /--zstd-level applies to --codec zstd, not lz4/],
      [['--preset', 'tiny'], /--preset/],
    ] as const) {
      const r = run('bad', ...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});
