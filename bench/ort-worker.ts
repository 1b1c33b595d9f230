// The start-up floor of any teacher that keeps its ONNX Runtime session in a worker thread
// (as precompute-logits does, so the stages overlap): the main thread only starts a
// worker_threads Worker, which loads onnxruntime-node and creates the session of the model
// with the session options TeacherSession and bench/bare-teacher.ts use; "ready" is printed
// when the worker reports it. No project code at all. bench/precompute.ts runs it as program
// "ort-worker": ort-worker / ort (the same creation on the main thread) is the least a
// worker-thread teacher pays for its thread (a second Node.js instance booting), and project /
// ort-worker is what the project's own start-up adds on top of that.
// Built by bench/precompute.ts into dist/bench/ort-worker.cjs (CommonJS, onnxruntime-node
// external): the worker loads onnxruntime-node through require(), as the project's CommonJS
// worker bundle does (the cheaper of Node's two loaders).
// Run: node dist/bench/ort-worker.cjs <model.onnx> [threads]
// Prints "ready <seconds since this script started>" on stderr.
import { createRequire } from 'node:module';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';

interface Data { model: string; threads: string | undefined; script: string }

if (isMainThread) {
  const t0 = performance.now();
  const [model, threads] = process.argv.slice(2);
  const worker = new Worker(process.argv[1], { workerData: { model, threads, script: process.argv[1] } satisfies Data });
  worker.once('error', (e: Error) => {
    process.stderr.write(`ort-worker: ${e.message}\n`);
    process.exit(1);
  });
  worker.once('message', () => {
    process.stderr.write(`ready ${(performance.now() - t0) / 1000}\n`);
    // The worker releases the session and ends; the process exits with it.
    worker.postMessage('release');
  });
} else {
  const { model, threads, script } = workerData as Data;
  // Required here, not imported at the top: the main thread must not load onnxruntime-node.
  const ort = createRequire(script)('onnxruntime-node') as typeof Ort;
  const options: Ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', interOpNumThreads: 1, logSeverityLevel: 3 };
  if (threads) options.intraOpNumThreads = Number(threads);
  void ort.InferenceSession.create(model, options).then((session) => {
    parentPort!.postMessage('ready');
    parentPort!.once('message', () => void session.release().then(() => process.exit(0)));
  });
}
