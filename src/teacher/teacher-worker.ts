// The teacher stage of the pipeline, in its own thread. onnxruntime-node runs a session
// synchronously on the calling thread, so a session on the main thread would stall dataset
// reading and the encode/compress/hash/write stage for the whole of every call; here it owns
// this thread, and requests queue up in the port while it computes. The worker starts before
// its options are known (worker-start.ts): it loads, posts 'loaded', and opens the session
// when the 'open' message brings the options and the model, already read and given its head
// by the sender (prepare-model.ts) while this thread was starting.
import { parentPort } from 'node:worker_threads';
import { TeacherNonFiniteError } from './errors.js';
import { TeacherSession } from './session.js';
import { trace } from '../trace.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-messages.js';

const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
let stopFlag: Int32Array<ArrayBufferLike> = new Int32Array(1);

let session: TeacherSession | null = null;
// One call at a time, in arrival order: each request waits for the previous one.
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: ToWorker) => {
  // 'end' comes instead of 'open', once this thread has loaded (messages wait for that).
  if (m.type === 'end') process.exit(0);
  chain = chain.then(() => (m.type === 'open' ? open(m.init) : handle(m)));
});

async function handle(m: Exclude<ToWorker, { type: 'open' } | { type: 'end' }>): Promise<void> {
  if (m.type === 'close') {
    await session?.dispose();
    session = null;
    post({ type: 'closed' });
    // Asked to stop (an interrupt): end this thread now that no native call is running.
    if (Atomics.load(stopFlag, 0) !== 0) process.exit(0);
    return;
  }
  if (Atomics.load(stopFlag, 0) !== 0) {
    // Queued calls are skipped once a stop is asked for, so the 'close' behind them comes soon.
    post({ type: 'error', id: m.id, message: 'teacher stopped (interrupted)', nonFinite: null });
    return;
  }
  try {
    const out = await session!.run(m.inputIds, m.batch, m.seq, m.lengths);
    if (m.id === 0) trace('worker: first call done');
    // ORT's output arrays are ordinary ArrayBuffers owned by JS: transferable, no copy.
    const tail = out.tailLogprobs;
    post({ type: 'result', id: m.id, topkIds: out.topkIds, topkLogprobs: out.topkLogprobs, ...(tail ? { tailLogprobs: tail } : {}) }, [
      out.topkIds.buffer as ArrayBuffer,
      out.topkLogprobs.buffer as ArrayBuffer,
      ...(tail ? [tail.buffer as ArrayBuffer] : []),
    ]);
  } catch (e) {
    const nonFinite = e instanceof TeacherNonFiniteError ? { label: e.label, sample: e.sample, position: e.position, value: e.value } : null;
    post({ type: 'error', id: m.id, message: (e as Error).message, nonFinite });
  }
}

trace('worker: modules loaded');
post({ type: 'loaded' });

async function open(init: WorkerInit): Promise<void> {
  stopFlag = new Int32Array(init.stop);
  try {
    session = await TeacherSession.open(init.modelPath, init.opts, init.prepared);
    if (Atomics.load(stopFlag, 0) !== 0) {
      // Disposed while loading (the run failed early): nothing will be asked of this session.
      await session.dispose();
      process.exit(0);
    }
    trace('worker: session ready');
    post({
      type: 'ready', vocabSize: session.vocabSize, logitsWidth: session.logitsWidth,
      inputNames: [...session.inputNames], outputNames: [...session.outputNames], contextLength: session.contextLength,
    });
  } catch (e) {
    post({ type: 'open-error', message: (e as Error).message });
  }
}
