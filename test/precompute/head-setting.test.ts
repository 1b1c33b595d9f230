// The fused head's formulation is a run setting: it decides the last bits of every stored
// log-probability, so a dataset begun with one head is never continued with another. Runs
// written before the setting existed used the 'blocked' head and carry no "head" key: they are
// continued with that head, not refused.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HEAD } from '../../src/teacher/fuse-head.js';
import { LEGACY_HEAD } from '../../src/teacher/head-mode.js';
import { headToUse } from '../../src/precompute/head.js';
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
    // A recorded head this version does not know is another setting: refused by name.
    const odd = { ...runJson('g'), head: 'other' };
    writeFileSync(join(root, 'out', 'g', 'run.json'), JSON.stringify(odd));
    const refused = run('g');
    expect([refused.status, errorCode(refused.stderr)]).toEqual([1, 'LC_ERR_DATASET_SETTINGS']);
    expect(refused.stderr).toMatch(/head/);
  });

  it('a dataset begun before the setting existed (no "head") is continued with the legacy head', () => {
    // Float32 values keep the last bits the two heads disagree on.
    const f32 = ['--values', 'f32', '--codec', 'none'];
    expect(run('new', f32).status).toBe(0);
    expect(DEFAULT_HEAD).not.toBe(LEGACY_HEAD);
    // What an earlier version leaves after a kill before its first shard: run.json without "head".
    const dir = join(root, 'out', 'old');
    mkdirSync(dir, { recursive: true });
    const older = runJson('new');
    delete older.head;
    writeFileSync(join(dir, 'run.json'), JSON.stringify(older));
    expect(headToUse(join(root, 'out'), 'old', false)).toBe(LEGACY_HEAD);
    expect(headToUse(join(root, 'out'), 'old', true)).toBe(DEFAULT_HEAD); // --overwrite starts afresh
    expect(headToUse(join(root, 'out'), 'none-yet', false)).toBe(DEFAULT_HEAD);
    const resumed = run('old', f32);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(runJson('old')).not.toHaveProperty('head'); // still the legacy run's settings
    // Its shards were computed with another head than the default's (headToUse's legacy one).
    const shard = (id: string) => readFileSync(join(root, 'out', id, 'shards', 'shard-000000.arrow'));
    expect(shard('old').equals(shard('new'))).toBe(false);
  });

  it('is not recorded for host top-k, which has no graph head', () => {
    const r = run('h', ['--topk-on', 'host']);
    expect(r.status, r.stderr).toBe(0);
    expect(runJson('h')).not.toHaveProperty('head');
  });
});
