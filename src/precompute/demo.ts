// Synthetic inputs: a deterministic transformer-shaped teacher of any vocabulary and a token
// dataset for it, generated on the spot. The embedded default (`--demo`) and the benchmarks
// use them, so the main command needs no outside file.
import { closeSync, existsSync, mkdirSync, openSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeAll } from '../shard/fs-atomic.js';
import { syntheticSamples, writeSyntheticTeacher } from '../teacher/index.js';

export interface SyntheticInputs { model: string; data: string }

export interface SyntheticInputOptions {
  vocabSize: number;
  samples: number;
  minLen: number;
  maxLen: number;
  seed: number;
  dModel?: number;
  layers?: number;
}

export const DEMO: SyntheticInputOptions = { vocabSize: 32000, dModel: 64, layers: 2, samples: 256, minLen: 16, maxLen: 256, seed: 7 };

/** Writes (once) `synthetic-<V>.onnx` and `synthetic-<V>.jsonl` under `dir`; returns their paths. */
export function writeSyntheticInputs(dir: string, o: SyntheticInputOptions): SyntheticInputs {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, `synthetic-${o.vocabSize}.onnx`);
  const data = join(dir, `synthetic-${o.vocabSize}.jsonl`);
  if (!existsSync(model)) writeSyntheticTeacher(dir, { vocabSize: o.vocabSize, dModel: o.dModel ?? 64, layers: o.layers ?? 2, seed: o.seed }, `synthetic-${o.vocabSize}.onnx`);
  if (!existsSync(data)) {
    const tmp = `${data}.tmp`;
    const fd = openSync(tmp, 'w');
    let id = 0;
    for (const ids of syntheticSamples({ count: o.samples, minLen: o.minLen, maxLen: o.maxLen, vocabSize: o.vocabSize, seed: o.seed })) {
      writeAll(fd, Buffer.from(`${JSON.stringify({ id: id++, input_ids: Array.from(ids) })}\n`));
    }
    closeSync(fd);
    renameSync(tmp, data);
  }
  return { model, data };
}
