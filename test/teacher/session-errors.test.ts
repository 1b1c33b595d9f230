import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEACHER_NON_FINITE, TeacherNonFiniteError, TeacherSession, writeSyntheticTeacher } from '../../src/teacher/index.js';
import { haveStories, storiesModel, tempDir } from './helpers.js';
import { buildProbeModel, type ProbeOptions } from './probe-model.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('errors');
});

function probe(name: string, opts: ProbeOptions): string {
  const file = path.join(dir, `${name}.onnx`);
  writeFileSync(file, buildProbeModel(opts));
  return file;
}

describe('feeds follow the inputs the model declares', () => {
  // Two samples, lengths 5 and 3, padded to 5.
  const inputIds = Int32Array.from([1, 7, 8, 9, 10, 1, 7, 8, 0, 0]);
  const lengths = Int32Array.from([5, 3]);

  for (const topkOn of ['graph', 'host'] as const) {
    it(`attention_mask and position_ids reach the model (${topkOn})`, async () => {
      const model = probe('mask-pos', { vocabSize: 64, inputs: ['attention_mask', 'position_ids'], padShift: 32 });
      const s = await TeacherSession.open(model, { k: 2, topkOn });
      expect([...s.inputNames].sort()).toEqual(['attention_mask', 'input_ids', 'position_ids']);
      const out = await s.run(inputIds, 2, 5, lengths);
      await s.dispose();
      // Top-1 id is position_id, plus 32 where the mask is 0.
      const top1 = Array.from({ length: 10 }, (_, i) => out.topkIds[i * 2]);
      expect(top1).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 32 + 3, 32 + 4]);
    });
  }

  it('a model with only input_ids gets only input_ids', async () => {
    const model = probe('plain', { vocabSize: 16 });
    const s = await TeacherSession.open(model, { k: 1 });
    expect(s.inputNames).toEqual(['input_ids']);
    const out = await s.run(inputIds, 2, 5, lengths);
    expect(Array.from(out.topkIds)).toEqual(new Array(10).fill(0));
    await s.dispose();
  });

  it('an input the session cannot fill is named, with the model inputs listed', async () => {
    const model = probe('tti', { vocabSize: 16, inputs: ['attention_mask', 'token_type_ids'] });
    await expect(TeacherSession.open(model, { k: 1 })).rejects.toThrow(
      /input "token_type_ids" cannot be fed .*inputs: input_ids, attention_mask, token_type_ids/,
    );
  });

  it('rejects inconsistent batch arguments', async () => {
    const s = await TeacherSession.open(probe('plain2', { vocabSize: 16 }), { k: 1 });
    await expect(s.run(inputIds, 2, 4, lengths)).rejects.toThrow(/input_ids has 10 tokens, expected batch 2 x seq 4/);
    await expect(s.run(inputIds, 2, 5, Int32Array.from([5, 6]))).rejects.toThrow(/lengths\[1\] = 6 is outside 1..5/);
    await s.dispose();
    await expect(s.run(inputIds, 2, 5, lengths)).rejects.toThrow(/disposed/);
  });
});

describe('non-finite teacher outputs', () => {
  for (const topkOn of ['graph', 'host'] as const) {
    it(`throws TeacherNonFiniteError with sample and position (${topkOn}); pads are ignored`, async () => {
      const model = probe('nan', { vocabSize: 16, nanBelow3: true });
      const s = await TeacherSession.open(model, { k: 4, topkOn });
      // Pad id 0 would be NaN, but only at pad positions: fine.
      await expect(s.run(Int32Array.from([5, 6, 0, 7, 8, 9]), 2, 3, Int32Array.from([2, 3]))).resolves.toBeDefined();
      // Sample 1, position 2 holds id 2 -> NaN at a real position.
      const err = await s.run(Int32Array.from([5, 6, 7, 7, 8, 2]), 2, 3, Int32Array.from([3, 3])).catch((e: unknown) => e);
      await s.dispose();
      expect(err).toBeInstanceOf(TeacherNonFiniteError);
      const e = err as TeacherNonFiniteError;
      expect([e.code, e.sample, e.position]).toEqual([TEACHER_NON_FINITE, 1, 2]);
      const labelled = e.withBatch(41);
      expect(labelled.batchIndex).toBe(41);
      expect(labelled.message).toMatch(/batch 41, sample 1, position 2/);
    });
  }
});

describe('open() errors name what is wrong', () => {
  it('missing logits output lists the outputs the model has', async () => {
    const model = probe('outs', { vocabSize: 16 });
    for (const topkOn of ['graph', 'host'] as const) {
      await expect(TeacherSession.open(model, { k: 1, topkOn, logitsOutput: 'lm_logits' })).rejects.toThrow(
        /outs.onnx: model has no output "lm_logits"; outputs: logits/,
      );
    }
  });

  it.skipIf(!haveStories)('k larger than the vocabulary', async () => {
    await expect(TeacherSession.open(storiesModel, { k: 513 })).rejects.toThrow(/k=513 exceeds the vocabulary size 512/);
    await expect(TeacherSession.open(storiesModel, { k: 8, vocabSize: 600 })).rejects.toThrow(/vocabSize 600 must be in 1..512/);
    await expect(TeacherSession.open(storiesModel, { k: 0 })).rejects.toThrow(/k must be an integer >= 1/);
  });

  it('k larger than a truncated vocabulary', async () => {
    const model = writeSyntheticTeacher(path.join(dir, 'small'), { vocabSize: 100, dModel: 8, layers: 1 });
    await expect(TeacherSession.open(model, { k: 11, vocabSize: 10 })).rejects.toThrow(/k=11 exceeds the vocabulary size 10/);
  });

  it('not an ONNX file', async () => {
    const file = path.join(dir, 'junk.onnx');
    writeFileSync(file, 'definitely not protobuf \xff\xff\xff');
    await expect(TeacherSession.open(file, { k: 1 })).rejects.toThrow(/teacher junk.onnx: /);
  });

  const require = createRequire(import.meta.url);
  const cudaLib = path.join(
    path.dirname(require.resolve('onnxruntime-node/package.json')),
    'bin/napi-v6',
    process.platform,
    process.arch,
    'libonnxruntime_providers_cuda.so',
  );
  it.skipIf(existsSync(cudaLib))('device cuda without the CUDA provider says how to install it', async () => {
    const model = probe('cuda', { vocabSize: 16 });
    await expect(TeacherSession.open(model, { k: 1, device: 'cuda' })).rejects.toThrow(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });
});
