// The product's main job: dataset → teacher (fused top-k head) → shards + manifest.
// Stored batches are consecutive samples; the teacher sees them regrouped by length within a
// window that never crosses a shard boundary, so a resumed run groups exactly as an
// uninterrupted one and writes the same bytes.
//
// Stages (read → teacher → encode/compress/hash → write), and where each one runs:
//   start-up  the teacher worker creates its ORT session while the main thread scans the
//             dataset (validation, token hash), hashes the model file and opens the dataset
//             folder (the worker was started first thing; the model bytes and the fused head
//             were read and built on the main thread while it started, teacher/prepare-model.ts).
//   read      main thread: samples → stored batches → windows (WINDOW_BATCHES stored batches of
//             one shard), planned into length-sorted micro-batches and posted to the teacher.
//   teacher   worker thread (src/teacher/teacher-worker.ts): runs micro-batches back to back in
//             arrival order; at most QUEUE_WINDOWS windows are queued ahead of the writer, so
//             memory stays bounded and the teacher never waits for reading or writing.
//   encode    main thread, in window order: results are scattered back into stored batches,
//   + write   then DatasetWriter.append encodes (f16/bf16/q8), compresses (LZ4/ZSTD), hashes
//             and writes each batch; a shard is committed when its last batch is in. New value
//             encodings or codecs belong to the writer's encode step (src/shard), not here.
// The writer sees exactly the calls, in exactly the order, of a sequential run; only their
// timing moves. `overlap: false` runs the teacher in-process and one window at a time, the
// reference the tests compare the overlapped output with, byte for byte.
import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
// Only light modules are imported statically: the teacher worker is started before the heavy
// ones (Arrow, the dataset readers, the ONNX protobuf bindings) load, so its ONNX Runtime
// start-up overlaps them. The stages themselves live in stages.ts.
import { lightLogitsWidth } from '../teacher/logits-width.js';
import { RemoteTeacher } from '../teacher/remote-session.js';
import type { TeacherSessionOptions } from '../teacher/session.js';
import { UsageError } from './errors.js';
import { CodedError } from '../errors.js';
import { checkBeforeWriting } from './precheck.js';
import { headToUse } from './head.js';
import { autoInferBatchTokens, type PrecomputeOptions, type PrecomputeSummary, type ProgressEvent } from './options.js';
import type { ScanResult } from './scan.js';
import type { TeacherFeedTuning } from './stages.js';
import { trace } from '../trace.js';

/** Windows posted to the teacher ahead of the one being written. */
const QUEUE_WINDOWS = 2;

export interface PipelineTuning extends TeacherFeedTuning {
  /** Teacher in a worker thread, stages overlapped (default). false: in-process, sequential. */
  overlap?: boolean;
}

export async function precompute(
  opts: PrecomputeOptions, onProgress: (e: ProgressEvent) => void = () => {}, tuning: PipelineTuning = {},
): Promise<PrecomputeSummary> {
  const started = performance.now();
  const overlap = tuning.overlap ?? true;
  if (!existsSync(opts.model)) throw new CodedError('LC_ERR_INPUT_PATH', `teacher ${opts.model}: no such file`, { path: opts.model });
  // A continued dataset keeps the head it was begun with (head.ts).
  if (opts.topkOn !== 'host') opts = { ...opts, head: opts.head ?? headToUse(opts.out, opts.datasetId, opts.overwrite) };
  const sessionOpts: TeacherSessionOptions = {
    k: opts.k, topkOn: opts.topkOn, vocabSize: opts.vocabSize, logitsOutput: opts.logitsOutput, device: opts.device, threads: opts.threads,
    ...(opts.tailMass ? { tailMass: true } : {}), ...(opts.head ? { lse: opts.head } : {}),
  };
  // Start-up stage: session creation (worker), dataset scan and model hash run side by side.
  const remote = overlap ? new RemoteTeacher(opts.model, sessionOpts) : null;
  trace('main: worker started');
  remote?.ready.catch(() => {}); // awaited below; an earlier error must not leave it unhandled
  try {
    const vocabSize = await modelVocabSize(opts, remote?.preparedWidth ?? null);
    if (opts.k > vocabSize) throw new UsageError(`--top-k ${opts.k} is larger than the teacher's vocabulary (${vocabSize})`);
    opts = { ...opts, inferBatchTokens: opts.inferBatchTokens ?? autoInferBatchTokens(vocabSize) };
    const modelHash = remote ? hashFile(opts.model) : null;
    modelHash?.catch(() => {});
    const stages = await import('./stages.js');
    trace('main: stages loaded');
    const scan = await scanOrThrow(opts, vocabSize, onProgress);
    trace('main: scan done');
    if (remote) {
      // A single worker opens the folder while the session is still being created (the main
      // thread only waits then); a failure before the run takes it over undoes what it wrote.
      // Several workers share the folder and never undo in it: they open it only once the
      // teacher is ready and the input checked, so such a failure leaves nothing behind.
      const sha = await modelHash!;
      let dataset = (opts.worker?.count ?? 1) === 1 ? stages.openDataset(opts, vocabSize, sha, scan) : null;
      try {
        await remote.ready;
        trace('main: teacher ready');
        await checkBeforeWriting(opts, remote, scan);
        trace('main: precheck done');
      } catch (e) {
        dataset?.writer.abort();
        throw e;
      }
      dataset ??= stages.openDataset(opts, vocabSize, sha, scan);
      return await stages.runWithTeacher(opts, remote, dataset, scan, started, onProgress, QUEUE_WINDOWS, tuning);
    }
    const { TeacherSession } = await import('../teacher/session.js');
    const session = await TeacherSession.open(opts.model, sessionOpts);
    try {
      await checkBeforeWriting(opts, session, scan);
      return await stages.runWithTeacher(opts, session, stages.openDataset(opts, vocabSize, session.modelSha256, scan), scan, started, onProgress, 0, tuning);
    } finally {
      await session.dispose();
    }
  } finally {
    trace('main: run finished');
    await remote?.dispose();
    trace('main: teacher disposed');
  }
}

async function scanOrThrow(opts: PrecomputeOptions, vocabSize: number, onProgress: (e: ProgressEvent) => void): Promise<ScanResult> {
  const { scanDataset } = await import('./scan.js');
  const readOpts = { format: opts.format, column: opts.column, maxSeqLen: opts.maxSeqLen };
  const scan = await scanDataset(opts.data, readOpts, vocabSize, (samples, tokens) => onProgress({ type: 'scan', samples, tokens }));
  if (scan.samples === 0) throw new CodedError('LC_ERR_DATA_EMPTY', `dataset ${opts.data}: no samples`, { file: opts.data });
  return scan;
}

/** sha256 of a file, streamed (the reads overlap the scan and the session creation). */
async function hashFile(file: string): Promise<string> {
  // node:crypto (~7 ms to load) is loaded here, after the worker's 'open' was posted, not with
  // this module, which loads on the main thread's way to that message.
  const { createHash } = await import('node:crypto');
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => h.update(chunk))
      .on('error', (e) => reject(new Error(`teacher ${file}: cannot read for hashing: ${e.message}`)))
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** `preparedWidth`: the width the teacher's preparation read from the same file, if it succeeded. */
async function modelVocabSize(opts: PrecomputeOptions, preparedWidth: number | null): Promise<number> {
  const label = basename(opts.model);
  const output = opts.logitsOutput ?? 'logits';
  // The wire-format walk answers for every ordinary model without loading the ONNX bindings;
  // anything it does not recognize goes through the full decode, whose errors say what is wrong.
  // When the teacher was prepared, its width is what the walk would return (the same output,
  // checked as a float tensor; prepare-model.ts), in the walk's range: the file is not walked again.
  let width = preparedWidth !== null && Number.isSafeInteger(preparedWidth) && preparedWidth > 0 && preparedWidth < 2 ** 31
    ? preparedWidth : lightLogitsWidth(opts.model, output, label);
  if (width === undefined) width = (await import('../teacher/inspect.js')).inspectTeacher(opts.model, output).logitsWidth;
  width ??= opts.vocabSize;
  if (width === undefined) throw new UsageError(`teacher ${label}: logits have no fixed vocabulary dimension; pass --vocab-size`);
  return opts.vocabSize ?? width;
}
