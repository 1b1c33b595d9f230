// The CLI starts the teacher worker before it knows the session's options
// (src/teacher/worker-start.ts); a RemoteTeacher takes that worker later. These check the
// handover: a prestarted worker opens the session it is sent, one that ended before it was
// taken fails the teacher's `ready` at once (never a hang), and an unused one is ended.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RemoteTeacher } from '../../src/teacher/remote-session.js';
import { writeSyntheticTeacher } from '../../src/teacher/index.js';
import { dropPrestartedWorker, prestartTeacherWorker, takePrestartedWorker } from '../../src/teacher/worker-start.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-worker-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = writeSyntheticTeacher(dir, { vocabSize: 64, dModel: 8, layers: 1, seed: 3 }, 'tiny.onnx');

describe('prestarted teacher worker', () => {
  it('is taken by the next RemoteTeacher, which opens its session there and runs it', async () => {
    const started = prestartTeacherWorker();
    await started.loaded;
    const remote = new RemoteTeacher(model, { k: 4 });
    expect(takePrestartedWorker()).toBeNull(); // the teacher took it
    await remote.ready;
    expect(remote.vocabSize).toBe(64);
    const out = await remote.run(Int32Array.of(1, 2, 3), 1, 3, Int32Array.of(3));
    expect(out.topkIds.length).toBe(3 * 4);
    await remote.dispose();
  });

  // Without the check a teacher would wait for a 'ready' that never comes: bounded here.
  it('fails the teacher at once when it ended before it was taken', { timeout: 15_000 }, async () => {
    const started = prestartTeacherWorker();
    await started.loaded;
    await started.worker.terminate();
    expect(started.ended()).not.toBeNull();
    const remote = new RemoteTeacher(model, { k: 4 });
    await expect(remote.ready).rejects.toThrow(/tiny\.onnx: worker exited/);
    await remote.dispose();
  });

  it('is ended when no teacher takes it', async () => {
    const started = prestartTeacherWorker();
    await dropPrestartedWorker();
    expect(started.ended()?.code).not.toBeUndefined();
    expect(takePrestartedWorker()).toBeNull();
  });
});
