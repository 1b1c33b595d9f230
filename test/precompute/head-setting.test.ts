// The fused head's formulation is a run setting: it decides the last bits of every stored
// log-probability, so a dataset begun with one head is never continued with another. Runs
// written before the setting existed used the 'blocked' head and carry no "head" key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HEAD } from '../../src/teacher/fuse-head.js';
import { syntheticSamples, writeSyntheticTeacher } from '../../src/teacher/index.js';
import { errorCode, runCli } from '../cli.js';

const root = mkdtempSync(join(tmpdir(), 'lc-head-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let model: string;
let data: string;

beforeAll(() => {
  model = writeSyntheticTeacher(join(root, 'teacher'), { vocabSize: 300, dModel: 16, layers: 1, seed: 9 });
  data = join(root, 'd.jsonl');
  const samples = [...syntheticSamples({ count: 12, minLen: 4, maxLen: 20, vocabSize: 300, seed: 3 })];
  writeFileSync(data, samples.map((s) => JSON.stringify({ input_ids: Array.from(s) })).join('\n') + '\n');
});

const run = (id: string, extra: string[] = []) =>
  runCli('precompute-logits', ['--model', model, '--data', data, '--out', join(root, 'out'), '--dataset-id', id, '--quiet', '--top-k', '4', ...extra]);
const runJson = (id: string) => JSON.parse(readFileSync(join(root, 'out', id, 'run.json'), 'utf8')) as Record<string, unknown>;

describe('the fused head as a run setting', () => {
  it('is recorded for graph top-k, and a run recorded under another head is refused, not continued', () => {
    const r = run('g');
    expect(r.status, r.stderr).toBe(0);
    expect(runJson('g').head).toBe(DEFAULT_HEAD);
    // The same settings are the same run: already complete.
    expect(JSON.parse(run('g').stdout)).toMatchObject({ alreadyComplete: true });
    // What an earlier version wrote: the same settings without "head" (its head was 'blocked').
    const older = runJson('g');
    delete older.head;
    writeFileSync(join(root, 'out', 'g', 'run.json'), JSON.stringify(older));
    const refused = run('g');
    expect([refused.status, errorCode(refused.stderr)]).toEqual([1, 'LC_ERR_DATASET_SETTINGS']);
    expect(refused.stderr).toMatch(/head/);
  });

  it('is not recorded for host top-k, which has no graph head', () => {
    const r = run('h', ['--topk-on', 'host']);
    expect(r.status, r.stderr).toBe(0);
    expect(runJson('h')).not.toHaveProperty('head');
  });
});
