// The CLI's main thread reads the model and builds its head (prepare-model.ts) while the
// teacher worker starts, and hands the bytes over by transfer. These check that a session
// opened from handed-over bytes computes exactly what one that read the file itself computes,
// that the handover moves the buffer instead of copying it, and that a failure on either side
// of the overlap (the main thread's checks, the worker's session) fails the teacher's `ready`
// clearly, naming the model file, and never leaves a worker running.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MessageChannel, type Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { RemoteTeacher } from '../../src/teacher/remote-session.js';
import { prepareTeacherModel, preparedTransfer, type PreparedModel } from '../../src/teacher/prepare-model.js';
import { TeacherSession, writeSyntheticTeacher, type TeacherSessionOptions, type TopkBatch } from '../../src/teacher/index.js';
import { prestartTeacherWorker } from '../../src/teacher/worker-start.js';
import { haveStories, padBatch, readStories, storiesModel, tempDir } from './helpers.js';
import { buildProbeModel } from './probe-model.js';

const dir = tempDir('prepare');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tiny = writeSyntheticTeacher(dir, { vocabSize: 64, dModel: 8, layers: 1, seed: 11 }, 'tiny.onnx');

/** `p` as the worker receives it: through a real MessagePort, its bytes in the transfer list. */
async function handOver(p: PreparedModel): Promise<PreparedModel> {
  const { port1, port2 } = new MessageChannel();
  const got = new Promise<PreparedModel>((resolve) => port2.once('message', (m: PreparedModel) => resolve(m)));
  port1.postMessage(p, preparedTransfer(p));
  const out = await got;
  port1.close();
  return out;
}

function exitOf(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

const same = (a: TopkBatch, b: TopkBatch): void => {
  expect(Buffer.from(a.topkIds.buffer, a.topkIds.byteOffset, a.topkIds.byteLength).equals(Buffer.from(b.topkIds.buffer, b.topkIds.byteOffset, b.topkIds.byteLength))).toBe(true);
  expect(Buffer.from(a.topkLogprobs.buffer, a.topkLogprobs.byteOffset, a.topkLogprobs.byteLength).equals(Buffer.from(b.topkLogprobs.buffer, b.topkLogprobs.byteOffset, b.topkLogprobs.byteLength))).toBe(true);
  expect(a.tailLogprobs === undefined).toBe(b.tailLogprobs === undefined);
  if (a.tailLogprobs && b.tailLogprobs) expect(Array.from(a.tailLogprobs)).toEqual(Array.from(b.tailLogprobs));
};

const cases: { name: string; model: () => string; opts: TeacherSessionOptions; samples: () => Int32Array[] }[] = [
  { name: 'synthetic, graph head', model: () => tiny, opts: { k: 5 }, samples: () => [Int32Array.of(1, 5, 9, 2, 7), Int32Array.of(3, 4, 60)] },
  { name: 'synthetic, graph head with tail mass', model: () => tiny, opts: { k: 3, tailMass: true }, samples: () => [Int32Array.of(1, 5, 9, 2), Int32Array.of(8)] },
  { name: 'synthetic, host top-k', model: () => tiny, opts: { k: 4, topkOn: 'host' }, samples: () => [Int32Array.of(2, 3, 4), Int32Array.of(63, 0, 1, 2)] },
  ...(haveStories ? [{ name: 'stories260k, graph head', model: () => storiesModel, opts: { k: 8 }, samples: () => readStories(6) }] : []),
];

describe('a model prepared on another thread', () => {
  for (const c of cases) {
    it(`opens a session that computes what the file itself gives (${c.name})`, async () => {
      const model = c.model();
      const p = prepareTeacherModel(model, c.opts);
      const bytes = p.bytes;
      const received = await handOver(p);
      // Moved, not copied: the sender's buffer is detached by the transfer.
      if (bytes) expect(bytes.buffer.byteLength).toBe(0);
      const fromBytes = await TeacherSession.open(model, c.opts, received);
      const fromFile = await TeacherSession.open(model, c.opts);
      try {
        expect(fromBytes.modelSha256).toBe(createHash('sha256').update(readFileSync(model)).digest('hex'));
        expect(fromBytes.modelSha256).toBe(fromFile.modelSha256);
        expect(fromBytes.vocabSize).toBe(fromFile.vocabSize);
        expect(fromBytes.contextLength).toEqual(fromFile.contextLength);
        expect([...fromBytes.outputNames]).toEqual([...fromFile.outputNames]);
        const b = padBatch(c.samples(), 256);
        same(await fromBytes.run(b.inputIds, b.batch, b.seq, b.lengths), await fromFile.run(b.inputIds, b.batch, b.seq, b.lengths));
      } finally {
        await fromBytes.dispose();
        await fromFile.dispose();
      }
    });
  }

  it('keeps a sha256 the caller passes instead of hashing', () => {
    expect(prepareTeacherModel(tiny, { k: 2, modelSha256: '' }).modelSha256).toBe('');
  });

  it('gives a worker teacher the outputs of an in-process session', async () => {
    const opts = { k: 6, tailMass: true };
    const remote = new RemoteTeacher(tiny, opts);
    const local = await TeacherSession.open(tiny, opts);
    try {
      await remote.ready;
      const b = padBatch([Int32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(9, 8, 7)], 64);
      const want = await local.run(b.inputIds, b.batch, b.seq, b.lengths);
      same(await remote.run(b.inputIds.slice(), b.batch, b.seq, b.lengths.slice()), want);
    } finally {
      await remote.dispose();
      await local.dispose();
    }
  });
});

describe('a failure during the overlap', () => {
  it("fails the teacher at once when this thread's checks refuse the model, and the worker ends", { timeout: 15_000 }, async () => {
    const started = prestartTeacherWorker();
    const exited = exitOf(started.worker);
    const remote = new RemoteTeacher(tiny, { k: 100 });
    await expect(remote.ready).rejects.toThrow(/teacher tiny\.onnx: k=100 exceeds the vocabulary size 64/);
    await remote.dispose();
    expect(await exited).toBe(0); // no worker left waiting for a session that never comes
  });

  it('names the model file it cannot read', { timeout: 15_000 }, async () => {
    const started = prestartTeacherWorker();
    const exited = exitOf(started.worker);
    const missing = path.join(dir, 'gone.onnx');
    const remote = new RemoteTeacher(missing, { k: 2 });
    await expect(remote.ready).rejects.toThrow(/gone\.onnx/);
    await remote.dispose();
    expect(await exited).toBe(0);
  });

  it("fails the teacher, naming the file, when the worker's session cannot be opened from the handed-over bytes", { timeout: 15_000 }, async () => {
    const model = path.join(dir, 'tti.onnx');
    writeFileSync(model, buildProbeModel({ vocabSize: 16, inputs: ['token_type_ids'] }));
    const started = prestartTeacherWorker();
    const exited = exitOf(started.worker);
    const remote = new RemoteTeacher(model, { k: 1 });
    await expect(remote.ready).rejects.toThrow(/teacher tti\.onnx: model input "token_type_ids" cannot be fed/);
    await remote.dispose();
    await exited; // the failed worker is terminated
  });

  // An early error on the main thread (say, a dataset written with other settings) disposes a
  // teacher whose 'ready' may already be on its way: the worker then checked the stop flag
  // before it was set. The main thread is held here (its event loop blocked) well past the
  // tiny model's open, so 'ready' is queued but not handled when dispose() runs.
  it('leaves no worker behind when disposed while its ready message is still queued', { timeout: 20_000 }, async () => {
    const started = prestartTeacherWorker();
    const exited = exitOf(started.worker);
    const remote = new RemoteTeacher(tiny, { k: 2 });
    remote.ready.catch(() => {});
    const until = Date.now() + 4000;
    while (Date.now() < until) { /* the worker loads and opens its session meanwhile */ }
    await remote.dispose();
    expect(await exited).toBe(0);
  });
});
