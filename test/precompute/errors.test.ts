// Bad input to precompute-logits: each is refused with a message naming the file, line,
// sample, position, flag or output at fault, and the right exit code.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticTeacher } from '../../src/teacher/index.js';
import { decodeModel, encodeModel } from '../../src/teacher/onnx-model.js';
import { cliPath, errorCode, runCli } from '../cli.js';
import { buildProbeModel } from '../teacher/probe-model.js';

/** A file's bytes as hex, or 'dir' (to compare a folder's whole state). */
function readFileSyncOrDir(path: string): string {
  return statSync(path).isDirectory() ? 'dir' : readFileSync(path).toString('hex');
}

const root = mkdtempSync(join(tmpdir(), 'lc-errors-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const VOCAB = 1000;
let model: string;
let nanModel: string;
const good = join(root, 'good.jsonl');

function jsonl(name: string, lines: string[]): string {
  const path = join(root, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const run = (data: string, extra: string[] = [], m = model) =>
  runCli('precompute-logits', ['--model', m, '--data', data, '--out', join(root, 'out'), '--dataset-id', 'd', '--quiet', ...extra]);

beforeAll(() => {
  model = writeSyntheticTeacher(join(root, 'teacher'), { vocabSize: VOCAB, dModel: 16, layers: 1, seed: 3 });
  // A teacher whose embedding row for token 7 is NaN: any sample containing 7 poisons its positions.
  const proto = decodeModel(readFileSync(model), 'nan');
  const embed = proto.graph!.initializer!.find((t) => t.name === 'embed')!;
  const d = 16;
  if (embed.rawData && embed.rawData.length) {
    const raw = new Float32Array(new Uint8Array(embed.rawData).slice().buffer);
    raw.fill(NaN, 7 * d, 8 * d);
    embed.rawData = new Uint8Array(raw.buffer);
  } else {
    for (let i = 7 * d; i < 8 * d; i++) embed.floatData![i] = NaN;
  }
  nanModel = join(root, 'nan.onnx');
  writeFileSync(nanModel, encodeModel(proto));
  const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ input_ids: [1, 10 + i, 20 + i, 30 + i] }));
  writeFileSync(good, lines.join('\n') + '\n');
});

describe('precompute-logits bad input', () => {
  it('names file and line of a malformed JSONL line', () => {
    const data = jsonl('bad-line.jsonl', ['{"input_ids": [1, 2]}', '{"input_ids": [1, 3]}', '{"input_ids": [1, 2,, 3]}']);
    const r = run(data);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('LC_ERR_DATA_INVALID');
    expect(r.stderr).toContain(`${data}:3`);
    expect(existsSync(join(root, 'out', 'd', 'manifest.json'))).toBe(false);
  });

  it('names sample and position of an id outside the vocabulary, and of a negative id', () => {
    const r = run(jsonl('big-id.jsonl', ['{"input_ids": [1, 2]}', '{"input_ids": [1, 2, 5000]}']));
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('LC_ERR_TOKEN_OUT_OF_VOCAB');
    expect(r.stderr).toMatch(/sample 1, position 2/);
    const n = run(jsonl('neg-id.jsonl', ['{"input_ids": [1, -4]}']));
    expect(n.status).toBe(1);
    expect(errorCode(n.stderr)).toBe('LC_ERR_DATA_INVALID');
    expect(n.stderr).toMatch(/neg-id.jsonl:1.*input_ids\[1\]/);
  });

  it('lists the outputs a model has when the logits output is missing', () => {
    const r = run(good, ['--logits-output', 'scores']);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('LC_ERR_TEACHER_INVALID');
    expect(r.stderr).toMatch(/"scores".*logits/);
  });

  it('treats k larger than the vocabulary, and bad flags, as usage errors (exit 2)', () => {
    const r = run(good, ['--top-k', String(VOCAB + 1)]);
    expect(r.status).toBe(2);
    expect(errorCode(r.stderr)).toBe('LC_ERR_USAGE');
    expect(r.stderr).toMatch(/--top-k 1001/);
    const bad = run(good, ['--values', 'f8']);
    expect([bad.status, errorCode(bad.stderr)]).toEqual([2, 'LC_ERR_USAGE']);
    expect(bad.stderr).toContain('--values');
    expect(run(good, ['--batch-size', '0']).status).toBe(2);
    const missing = runCli('precompute-logits', ['--data', good]);
    expect([missing.status, errorCode(missing.stderr)]).toEqual([2, 'LC_ERR_USAGE']);
    expect(missing.stderr).toContain('--model');
  });

  it('names the batch, sample and position of non-finite teacher output', () => {
    const data = jsonl('poison.jsonl', [...Array.from({ length: 9 }, () => '{"input_ids": [1, 2, 3]}'), '{"input_ids": [1, 2, 7, 3]}']);
    const r = run(data, ['--batch-size', '4', '--overwrite'], nanModel);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('LC_ERR_TEACHER_NON_FINITE');
    expect(r.stderr).toMatch(/batch 2, sample 9, position 2/);
  });

  it('refuses other settings into an existing dataset unless --overwrite', () => {
    expect(run(good, ['--overwrite']).status).toBe(0);
    const r = run(good, ['--top-k', '4']);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('LC_ERR_DATASET_SETTINGS');
    expect(r.stderr).toMatch(/k: 8 -> 4.*--overwrite/);
    const o = run(good, ['--top-k', '4', '--overwrite']);
    expect(o.status).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'out', 'd', 'manifest.json'), 'utf8')).topk.k).toBe(4);
  });

  // The folder is opened while the teacher's session is still being created (pipeline.ts): a
  // session that then fails must undo it, leaving no folder and an earlier dataset untouched.
  it('leaves no trace of the dataset folder when the teacher fails after it was opened', () => {
    const tti = join(root, 'tti.onnx');
    writeFileSync(tti, buildProbeModel({ vocabSize: 16, inputs: ['token_type_ids'] }));
    const fresh = runCli('precompute-logits', ['--model', tti, '--data', jsonl('small-ids.jsonl', ['{"input_ids": [1, 2, 3]}']), '--out', join(root, 'tti-out'), '--dataset-id', 'd', '--quiet']);
    expect(fresh.status).toBe(1);
    expect(fresh.stderr).toMatch(/teacher tti\.onnx: model input "token_type_ids" cannot be fed/);
    expect(existsSync(join(root, 'tti-out', 'd'))).toBe(false);
    // Over an existing dataset (other settings, --overwrite): its files stay as they were.
    const out = join(root, 'tti-over');
    const args = ['--data', jsonl('small-ids2.jsonl', ['{"input_ids": [1, 2, 3]}']), '--out', out, '--dataset-id', 'd', '--quiet'];
    expect(runCli('precompute-logits', ['--model', model, ...args]).status).toBe(0);
    const before = Object.fromEntries(readdirSync(join(out, 'd'), { recursive: true }).map((f) => [String(f), readFileSyncOrDir(join(out, 'd', String(f)))]));
    const over = runCli('precompute-logits', ['--model', tti, ...args, '--overwrite']);
    expect(over.status).toBe(1);
    const after = Object.fromEntries(readdirSync(join(out, 'd'), { recursive: true }).map((f) => [String(f), readFileSyncOrDir(join(out, 'd', String(f)))]));
    expect(after).toEqual(before);
  });

  it('names the flag and path of a missing or wrong-kind --model / --data', () => {
    const r = run(good, [], join(root, 'nope.onnx'));
    expect([r.status, errorCode(r.stderr)]).toEqual([2, 'LC_ERR_INPUT_PATH']);
    expect(r.stderr).toContain(`--model ${join(root, 'nope.onnx')}: no such file`);
    const dir = run(good, [], root);
    expect([dir.status, errorCode(dir.stderr)]).toEqual([2, 'LC_ERR_INPUT_PATH']);
    expect(dir.stderr).toContain(`--model ${root}: is a directory`);
    const data = run(join(root, 'missing.jsonl'));
    expect([data.status, errorCode(data.stderr)]).toEqual([2, 'LC_ERR_INPUT_PATH']);
    expect(data.stderr).toContain(`--data ${join(root, 'missing.jsonl')}: no such file`);
  });
});

describe('a write failure mid-run (disk full, file size limit)', () => {
  it('fails cleanly, keeps committed shards, and a later run resumes to a verified dataset', () => {
    // Samples grow, so later shards are larger; a per-file size limit (ulimit -f, in KiB) makes
    // the write of a later shard fail exactly as a full disk would.
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ input_ids: [1, ...Array.from({ length: 4 * (i + 1) - 1 }, (_, j) => 3 + ((i * 31 + j * 7) % 900))] }));
    const data = jsonl('growing.jsonl', lines);
    const out = join(root, 'full');
    const args = ['--model', model, '--data', data, '--out', out, '--dataset-id', 'd', '--batch-size', '4', '--batches-per-shard', '1', '--values', 'f32', '--codec', 'none', '--quiet'];
    const limited = spawnSync('bash', ['-c', 'ulimit -f 8; exec "$@"', 'bash', process.execPath, cliPath('precompute-logits'), ...args], { encoding: 'utf8' });
    expect(limited.status).toBe(1);
    expect(limited.stderr).toMatch(/shard-0000\d\d\.arrow/);
    expect(errorCode(limited.stderr)).toBe('LC_ERR_WRITE_FAILED');
    expect(existsSync(join(out, 'd', 'manifest.json'))).toBe(false);
    const kept = readdirSync(join(out, 'd', 'shards'));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((f) => f.endsWith('.arrow'))).toBe(true);
    // Each committed shard has its index beside it (format 2.0).
    const shards = kept.filter((f) => !f.endsWith('.idx.arrow'));
    expect(kept.filter((f) => f.endsWith('.idx.arrow')).map((f) => f.replace('.idx', ''))).toEqual(shards);

    const resumed = runCli('precompute-logits', args);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.stdout).resumedFromBatch).toBe(shards.length);
    expect(runCli('logit-cache', ['verify', join(out, 'd'), '--quiet']).status).toBe(0);
  });
});
