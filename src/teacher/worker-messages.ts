// Messages between the pipeline's main thread and the teacher worker (teacher-worker.ts).
// Arrays travel as transferred buffers: a request's ids/lengths and a result's top-k arrays
// change owner, they are never copied.
import type { ContextLength } from './context-length.js';
import type { PreparedModel } from './prepare-model.js';
import type { TeacherSessionOptions } from './session.js';

export interface WorkerInit {
  modelPath: string;
  opts: TeacherSessionOptions;
  /** The model read, checked and given its head by the sender (bytes transferred). */
  prepared: PreparedModel;
  /** Int32Array(1) over shared memory: non-zero once the main thread wants the worker gone. */
  stop: SharedArrayBuffer;
}

export interface RunRequest {
  type: 'run';
  id: number;
  inputIds: Int32Array;
  batch: number;
  seq: number;
  lengths: Int32Array;
}

/** 'end': no session will be opened (the sender could not prepare the model); the thread ends. */
export type ToWorker = RunRequest | { type: 'open'; init: WorkerInit } | { type: 'close' } | { type: 'end' };

export interface ReadyInfo {
  vocabSize: number;
  logitsWidth: number;
  inputNames: string[];
  outputNames: string[];
  contextLength: ContextLength | null;
}

export type FromWorker =
  | { type: 'loaded' }
  | ({ type: 'ready' } & ReadyInfo)
  | { type: 'open-error'; message: string }
  | { type: 'result'; id: number; topkIds: Int32Array; topkLogprobs: Float32Array; tailLogprobs?: Float32Array }
  | { type: 'error'; id: number; message: string; nonFinite: { label: string; sample: number; position: number; value: number } | null }
  | { type: 'closed' };
