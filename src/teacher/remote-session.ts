// A TeacherSession living in a worker thread (teacher-worker.ts). run() posts a request and
// returns at once with a promise, so the caller can queue the next micro-batches and do its
// own work (reading, encoding, writing) while the teacher computes.
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { onStop } from '../interrupt.js';
import { TeacherNonFiniteError } from './errors.js';
import type { ContextLength } from './context-length.js';
import type { TeacherSessionOptions, TopkBatch } from './session.js';
import { prepareTeacherModel, preparedTransfer } from './prepare-model.js';
import type { FromWorker, ReadyInfo, RunRequest, ToWorker, WorkerInit } from './worker-messages.js';
import { startTeacherWorker, takePrestartedWorker } from './worker-start.js';
import { trace } from '../trace.js';

/** What the pipeline needs of a teacher, in-process (TeacherSession) or in a worker. */
export interface TopkTeacher {
  readonly vocabSize: number;
  /** The longest input the graph states it accepts, read when the session was opened. */
  readonly contextLength: ContextLength | null;
  run(inputIds: Int32Array, batch: number, seq: number, lengths: Int32Array): Promise<TopkBatch>;
  dispose(): Promise<void>;
}

interface Pending { resolve(b: TopkBatch): void; reject(e: Error): void }

export class RemoteTeacher implements TopkTeacher {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  private info: ReadyInfo | null = null;
  /** Resolves once the worker's session exists; rejects with its load error. */
  readonly ready: Promise<RemoteTeacher>;
  private closed: Promise<void> | null = null;
  private onClosed: () => void = () => {};
  /**
   * The logits width this thread read from the model while preparing it (null when the
   * preparation failed): the caller need not walk the file again to learn it.
   */
  readonly preparedWidth: number | null = null;

  /**
   * Starts the session creation, in the worker the CLI prestarted (worker-start.ts) or in a
   * new one; await `ready` before run(). The model is read and its head built on this thread
   * (prepare-model.ts); a model the options cannot apply to rejects `ready` with that error.
   * The model's sha256 is not computed (pass `opts.modelSha256` if the session should hold it).
   */
  constructor(readonly modelPath: string, opts: TeacherSessionOptions) {
    const label = path.basename(modelPath);
    const started = takePrestartedWorker() ?? startTeacherWorker();
    const worker = started.worker;
    const sessionOpts = { ...opts, modelSha256: opts.modelSha256 ?? '' };
    // The model is read, checked and given its head here, while the worker is still starting
    // and loading onnxruntime (this thread would only wait for it); the bytes are transferred.
    let prepareError: Error | null = null;
    try {
      const prepared = prepareTeacherModel(modelPath, sessionOpts);
      this.preparedWidth = prepared.width;
      const init: WorkerInit = { modelPath, opts: sessionOpts, prepared, stop: this.stopFlag.buffer as SharedArrayBuffer };
      worker.postMessage({ type: 'open', init } satisfies ToWorker, preparedTransfer(prepared));
      trace('main: open posted');
    } catch (e) {
      // No session to open: the worker ends once it has loaded (a termination could cut
      // onnxruntime-node's native set-up short).
      prepareError = e as Error;
      worker.postMessage({ type: 'end' } satisfies ToWorker);
    }
    this.worker = worker;
    this.exited = started.ended() ? Promise.resolve() : new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.dropStop = onStop(() => this.stop());
    this.ready = new Promise<RemoteTeacher>((resolve, reject) => {
      if (prepareError) reject(prepareError);
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          this.info = m;
          resolve(this);
        } else if (m.type === 'open-error') {
          reject(new Error(m.message));
          void worker.terminate();
        } else if (m.type === 'result' || m.type === 'error') {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (!p) return;
          if (m.type === 'result') p.resolve({ topkIds: m.topkIds, topkLogprobs: m.topkLogprobs, ...(m.tailLogprobs ? { tailLogprobs: m.tailLogprobs } : {}) });
          else if (m.nonFinite) p.reject(new TeacherNonFiniteError(m.nonFinite.label, m.nonFinite.sample, m.nonFinite.position, m.nonFinite.value));
          else p.reject(new Error(m.message));
        } else if (m.type === 'closed') {
          this.onClosed();
        }
      });
      const fail = (e: Error): void => {
        this.failure = e;
        reject(e);
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
        this.onClosed();
      };
      worker.on('error', (e: Error) => fail(new Error(`teacher ${label}: worker failed: ${e.message}`)));
      worker.on('exit', (code) => fail(new Error(`teacher ${label}: worker exited (code ${code})`)));
      // A prestarted worker may have ended before these listeners existed (its load failed).
      const ended = started.ended();
      if (ended?.error) fail(new Error(`teacher ${label}: worker failed: ${ended.error.message}`));
      else if (ended) fail(new Error(`teacher ${label}: worker exited (code ${ended.code})`));
    });
  }

  private readonly worker: Worker;
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private readonly exited: Promise<void>;
  private readonly dropStop: () => void;

  /** For an interrupt: the current call finishes, queued ones are skipped, the thread ends. */
  private stop(): Promise<void> {
    Atomics.store(this.stopFlag, 0, 1);
    this.worker.postMessage({ type: 'close' });
    return this.exited;
  }

  get vocabSize(): number {
    return this.readyInfo().vocabSize;
  }

  get logitsWidth(): number {
    return this.readyInfo().logitsWidth;
  }

  get inputNames(): readonly string[] {
    return this.readyInfo().inputNames;
  }

  get outputNames(): readonly string[] {
    return this.readyInfo().outputNames;
  }

  get contextLength(): ContextLength | null {
    return this.readyInfo().contextLength;
  }

  /** Queues one call. `inputIds` and `lengths` are transferred: the caller loses them. */
  run(inputIds: Int32Array, batch: number, seq: number, lengths: Int32Array): Promise<TopkBatch> {
    this.readyInfo();
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`teacher ${path.basename(this.modelPath)}: session is disposed`));
    const id = this.nextId++;
    const req: RunRequest = { type: 'run', id, inputIds, batch, seq, lengths };
    return new Promise<TopkBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(req, [inputIds.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer]);
    });
  }

  /** Releases the session and ends the worker (after its load, when it was not ready yet). */
  async dispose(): Promise<void> {
    if (this.closed) return this.closed;
    this.dropStop();
    if (!this.info || this.failure) {
      // Not ready: the session may still be loading in native code, which neither termination
      // nor process exit may interrupt (the binding aborts the process). Do not wait for it
      // here (an early error must surface in seconds, not after the load): the worker sees the
      // flag once the load returns, releases the session and ends, and the process exits then.
      // The 'close' covers a session that became ready just now (its 'ready' still on the
      // way): the worker checked the flag before it was set, and would otherwise wait for
      // messages forever, keeping the process alive. Queued behind the open, it ends the thread.
      Atomics.store(this.stopFlag, 0, 1);
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
      this.closed = Promise.resolve();
      return this.closed;
    }
    this.closed = this.closeWorker();
    return this.closed;
  }

  private closeWorker(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.onClosed = resolve;
      this.worker.postMessage({ type: 'close' });
    }).then(() => this.worker.terminate()).then(() => {});
  }

  private readyInfo(): ReadyInfo {
    if (!this.info) throw new Error(`teacher ${path.basename(this.modelPath)}: used before its worker was ready`);
    return this.info;
  }
}
