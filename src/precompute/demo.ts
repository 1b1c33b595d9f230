// The embedded default: a deterministic synthetic teacher with a realistic vocabulary and a
// synthetic token dataset, generated on the spot so the main command needs no outside file.
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { syntheticSamples, writeSyntheticTeacher } from '../teacher/index.js';

export interface DemoInputs { model: string; data: string }

export const DEMO = { vocabSize: 32000, dModel: 64, layers: 2, samples: 256, minLen: 16, maxLen: 256, seed: 7 } as const;

/** Writes (once) the demo teacher and dataset under `dir`; returns their paths. */
export async function prepareDemoInputs(dir: string): Promise<DemoInputs> {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, `synthetic-${DEMO.vocabSize}.onnx`);
  const data = join(dir, 'synthetic.jsonl');
  if (!existsSync(model)) writeSyntheticTeacher(dir, { vocabSize: DEMO.vocabSize, dModel: DEMO.dModel, layers: DEMO.layers, seed: DEMO.seed }, `synthetic-${DEMO.vocabSize}.onnx`);
  if (!existsSync(data)) {
    const tmp = `${data}.tmp`;
    const out = createWriteStream(tmp);
    let id = 0;
    for (const ids of syntheticSamples({ count: DEMO.samples, minLen: DEMO.minLen, maxLen: DEMO.maxLen, vocabSize: DEMO.vocabSize, seed: DEMO.seed })) {
      if (!out.write(`${JSON.stringify({ id: id++, input_ids: Array.from(ids) })}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const { renameSync } = await import('node:fs');
    renameSync(tmp, data);
  }
  return { model, data };
}
