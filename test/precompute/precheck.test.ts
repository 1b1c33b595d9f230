// Checks before anything is written: a sample longer than the teacher's context is refused
// with a coded message naming the sample and --max-seq-len and leaves no folder behind; empty
// samples (allowed by docs/FORMAT.md) are stored with empty lists and never reach the teacher.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetReader } from '../../src/shard/index.js';
import { declaredContextLength } from '../../src/teacher/context-length.js';
import { RemoteTeacher, writeSyntheticTeacher } from '../../src/teacher/index.js';
import { errorCode, runCli } from '../cli.js';
import { sharedDir } from '../python.js';
import { SHORT_CONTEXT, writeShortContextTeacher } from './short-context-model.js';

const root = mkdtempSync(join(tmpdir(), 'lc-precheck-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const stories = join(sharedDir, 'teachers/stories260k/model.onnx');
const haveStories = existsSync(stories);
if (!haveStories) console.log(`skipping the context-length tests: ${stories} not found`);
let synthetic: string;

function jsonl(name: string, samples: number[][]): string {
  const path = join(root, name);
  writeFileSync(path, samples.map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
  return path;
}

const run = (model: string, data: string, id: string, extra: string[] = []) =>
  runCli('precompute-logits', ['--model', model, '--data', data, '--out', join(root, 'out'), '--dataset-id', id, '--quiet', ...extra]);

beforeAll(() => {
  synthetic = writeSyntheticTeacher(join(root, 'teacher'), { vocabSize: 300, dModel: 16, layers: 1, seed: 5 });
});

describe('context length', () => {
  it.skipIf(!haveStories)("reads the stories teacher's 512-token context from its RoPE tables", () => {
    expect(declaredContextLength(stories)).toMatchObject({ tokens: 512 });
    // The synthetic teacher has no position table: its graph states no limit.
    expect(declaredContextLength(synthetic)).toBeNull();
  });

  it.skipIf(!haveStories)('the teacher worker reads the same context while opening its session (the main thread does not)', async () => {
    const remote = new RemoteTeacher(stories, { k: 8 });
    try {
      await remote.ready;
      expect(remote.contextLength).toEqual(declaredContextLength(stories));
    } finally {
      await remote.dispose();
    }
  });

  it.skipIf(!haveStories)('refuses a sample longer than the context before writing anything, naming it and --max-seq-len', () => {
    const ids = (n: number, seed: number) => [1, ...Array.from({ length: n - 1 }, (_, i) => 3 + ((i * 13 + seed) % 500))];
    const data = jsonl('long.jsonl', [ids(20, 1), ids(700, 2), ids(40, 3), ids(600, 4)]);
    const r = run(stories, data, 'long');
    expect([r.status, errorCode(r.stderr)]).toEqual([2, 'LC_ERR_SEQ_TOO_LONG']);
    expect(r.stderr).toMatch(/sample 1 has 700 tokens \(and 1 more sample longer than 512\)/);
    expect(r.stderr).toContain('--max-seq-len 512');
    expect(existsSync(join(root, 'out', 'long'))).toBe(false);
    // The corrected command is not blocked by anything the refused one left.
    const ok = run(stories, data, 'long', ['--max-seq-len', '512']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ samples: 4, tokens: 20 + 512 + 40 + 512, complete: true });
  });
  it('finds a context the graph does not state by running the teacher, and names it', () => {
    const model = writeShortContextTeacher(join(root, 'short.onnx'));
    expect(declaredContextLength(model)).toBeNull();
    const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7 + 3) % 300);
    const data = jsonl('short.jsonl', [ids(10), ids(SHORT_CONTEXT), ids(57), ids(12)]);
    const r = run(model, data, 'short');
    expect([r.status, errorCode(r.stderr)]).toEqual([2, 'LC_ERR_SEQ_TOO_LONG']);
    expect(r.stderr).toMatch(/sample 2 has 57 tokens, more than the 40-token context/);
    expect(r.stderr).toContain(`--max-seq-len ${SHORT_CONTEXT}`);
    expect(existsSync(join(root, 'out', 'short'))).toBe(false);
    const ok = run(model, data, 'short', ['--max-seq-len', String(SHORT_CONTEXT)]);
    expect(ok.status, ok.stderr).toBe(0);
  });
});

describe('empty samples', () => {
  it('stores them with empty lists and never feeds them to the teacher', async () => {
    const samples = [[1, 2, 3], [], [4, 5], [], [], [6, 7, 8, 9], []];
    const data = jsonl('empty.jsonl', samples);
    const r = run(synthetic, data, 'empty', ['--batch-size', '3', '--top-k', '4']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ samples: 7, tokens: 9, batches: 3 });
    const reader = await DatasetReader.open(join(root, 'out', 'empty'));
    const lengths: number[] = [];
    for (let b = 0; b < reader.batchCount; b++) {
      const batch = await reader.readBatch(b);
      for (let i = 0; i + 1 < batch.offsets.length; i++) lengths.push(batch.offsets[i + 1] - batch.offsets[i]);
      expect(batch.topkIds.length).toBe(batch.inputIds.length * 4);
    }
    await reader.close();
    expect(lengths).toEqual(samples.map((s) => s.length));
  });

  it('accepts a dataset of only empty samples (the teacher never runs)', () => {
    const r = run(synthetic, jsonl('all-empty.jsonl', [[], []]), 'all-empty');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ samples: 2, tokens: 0 });
  });
});
