// The main thread's wire-format read of the logits width must agree with the full decode
// (inspectTeacher) wherever it answers, and hand anything unusual back to it (undefined).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectTeacher } from '../../src/teacher/inspect.js';
import { lightLogitsWidth } from '../../src/teacher/logits-width.js';
import { decodeModel, encodeModel } from '../../src/teacher/onnx-model.js';
import { writeSyntheticTeacher } from '../../src/teacher/synthetic.js';
import { haveStories, storiesModel, tempDir } from './helpers.js';

describe('lightLogitsWidth', () => {
  it('agrees with inspectTeacher on synthetic teachers, inline and external weights', () => {
    const dir = tempDir('lc-width-');
    for (const [i, opts] of [{ vocabSize: 777 }, { vocabSize: 151936, dModel: 8, layers: 1 }, { vocabSize: 300, externalData: true }].entries()) {
      const file = writeSyntheticTeacher(path.join(dir, String(i)), opts);
      const width = lightLogitsWidth(file, 'logits', 'm');
      expect(width).toBe(opts.vocabSize);
      expect(width).toBe(inspectTeacher(file).logitsWidth);
    }
  });

  it.skipIf(!haveStories)('agrees with inspectTeacher on stories260k', () => {
    expect(lightLogitsWidth(storiesModel, 'logits', 'stories')).toBe(inspectTeacher(storiesModel).logitsWidth);
  });

  it('answers undefined for a missing output or a non-float one, null for a symbolic last dim', () => {
    const dir = tempDir('lc-width-');
    const file = writeSyntheticTeacher(path.join(dir, 'a'), { vocabSize: 50 });
    expect(lightLogitsWidth(file, 'scores', 'm')).toBeUndefined();
    const proto = decodeModel(new Uint8Array(readFileSync(file)), 'm');
    const tensor = proto.graph!.output![0].type!.tensorType!;
    const dims = tensor.shape!.dim!;
    dims[dims.length - 1] = { dimParam: 'vocab' } as (typeof dims)[number];
    const symbolic = path.join(dir, 'symbolic.onnx');
    writeFileSync(symbolic, encodeModel(proto));
    expect(lightLogitsWidth(symbolic, 'logits', 'm')).toBeNull();
    expect(inspectTeacher(symbolic).logitsWidth).toBeNull();
    tensor.elemType = 7; // int64
    const ints = path.join(dir, 'ints.onnx');
    writeFileSync(ints, encodeModel(proto));
    expect(lightLogitsWidth(ints, 'logits', 'm')).toBeUndefined();
  });
});
