// The read → teacher → encode/compress/hash → write stages of precompute (see pipeline.ts for
// how they overlap). Loaded by pipeline.ts after the teacher worker has been started.
import { basename } from 'node:path';
// Direct module imports, not ../data/index.js: its re-exports would load the Arrow and Parquet readers.
import { batchSamples } from '../data/batch.js';
import { packMicroBatch, planInference } from '../data/plan.js';
import { readSamples } from '../data/read-samples.js';
import type { Sample } from '../data/sample.js';
// Direct module imports, not ../shard/index.js: its re-exports would load the readers, verify and migrate.
// DatasetBuild opens the folder without apache-arrow; the shard writers (dataset-writer.ts,
// which loads Arrow) are imported once the first window is on its way to the teacher.
import { DatasetBuild } from '../shard/dataset-build.js';
import { rankDeltaFields } from '../shard/encodings/value-planes.js';
import { type Manifest, prepareManifestValidator, readManifest } from '../shard/manifest.js';
import { fullyShared, PrefixChooser, type PrefixRefs, rootPositionsCap } from '../shard/shared-prefix.js';
import type { TopkLayout } from '../shard/types.js';
import { CodedError } from '../errors.js';
import { isInterrupted } from '../interrupt.js';
import { TeacherNonFiniteError } from '../teacher/errors.js';
import { DEFAULT_HEAD } from '../teacher/head-mode.js';
import { headSetting } from './head.js';
import type { TopkTeacher } from '../teacher/remote-session.js';
import { allocateBatch, batchSums, type PendingBatch, scatterRow } from './assemble.js';
import type { TopPSettings } from '../topk/top-p.js';
import type { PrecomputeOptions, PrecomputeSummary, ProgressEvent } from './options.js';
import type { ScanResult } from './scan.js';
import { trace } from '../trace.js';

/** Stored batches the teacher may regroup together (more = less padding, more memory). */
const WINDOW_BATCHES = 8;

/** One window on its way through the stages. */
interface Job {
  /** Shard to begin before this window's batches are appended, or -1. */
  begin: number;
  /** Index one past the window's last stored batch (for progress). */
  batchEnd: number;
  result: Promise<PendingBatch[]>;
}

/**
 * Opens (or continues) the dataset folder for this run: what DatasetBuild checks and writes
 * needs the model's vocabulary and hash and the scan, not the session, so the pipeline opens
 * it while the teacher's session is still being created. Whoever opens it aborts it (undoing
 * everything it wrote) if the run fails before runWithTeacher takes it over.
 */
export function openDataset(opts: PrecomputeOptions, vocabSize: number, modelSha256: string, scan: ScanResult): { writer: DatasetBuild; layout: TopkLayout } {
  const layout: TopkLayout = {
    k: opts.k, vocabSize, values: opts.values, ...(opts.values === 'q8' ? { q8Scale: opts.q8Scale ?? 0.1 } : {}),
    ...(opts.values === 'rank-delta' ? rankDeltaFields({ k: opts.k, vocabSize, values: opts.values, f16Ranks: opts.f16Ranks, gridStep: opts.gridStep }) : {}),
    ...(opts.tailMass ? { tailMass: true } : {}), ...(opts.shardFormat === 'parquet' ? { shardFormat: 'parquet' as const } : {}),
    ...(opts.topP !== undefined ? { topP: opts.topP, minK: opts.minK ?? 1 } : {}), ...(opts.ids === 'ctx-table' ? { ids: 'ctx-table' as const } : {}),
    ...(opts.sharePrefixes ? { sharedPrefixes: true } : {}),
  };
  const writer = new DatasetBuild({
    root: opts.out, datasetId: opts.datasetId, layout, codec: opts.codec, zstdLevel: opts.zstdLevel, batchSize: opts.batchSize,
    // run.json records it (DatasetBuild adds it when on), so a resume with another N is refused.
    ...(opts.sharePrefixes ? { sharePrefixes: opts.sharePrefixes } : {}),
    batchesPerShard: opts.batchesPerShard, overwrite: opts.overwrite, worker: opts.worker,
    meta: {
      teacher: { file: basename(opts.model), sha256: modelSha256, vocabSize, logitsOutput: opts.logitsOutput ?? 'logits', topkOn: opts.topkOn },
      source: { file: basename(opts.data), sha256: scan.sha256, samples: scan.samples, tokens: scan.tokens, maxSeqLen: opts.maxSeqLen ?? null },
    },
    runConfig: {
      teacherSha256: modelSha256, sourceSha256: scan.sha256, k: opts.k, values: opts.values, q8Scale: layout.q8Scale ?? null,
      ...(opts.values === 'rank-delta' ? { f16Ranks: layout.f16Ranks, gridStep: layout.gridStep ?? null } : {}), ...(opts.zstdLevel ? { zstdLevel: opts.zstdLevel } : {}),
      // Present only when on, so runs from before the flag existed still resume; a run with and
      // one without it never share a dataset.
      ...(opts.tailMass ? { tailMass: true } : {}), ...(opts.ids === 'ctx-table' ? { ids: 'ctx-table' } : {}),
      ...(layout.topP !== undefined ? { topP: layout.topP, minK: layout.minK } : {}),
      // Likewise only when not the default arrow; resume refuses the other format by name.
      ...(opts.shardFormat === 'parquet' ? { shardFormat: 'parquet' } : {}),
      codec: opts.codec, batchSize: opts.batchSize, batchesPerShard: opts.batchesPerShard, maxSeqLen: opts.maxSeqLen ?? null,
      inferBatchTokens: opts.inferBatchTokens, topkOn: opts.topkOn, vocabSize, logitsOutput: opts.logitsOutput ?? 'logits',
      // The fused head's formulation decides the last bits of every log-probability: recorded
      // so a dataset is never continued with another head (head.ts picks the recorded one).
      ...(opts.topkOn === 'graph' ? headSetting(opts.head ?? DEFAULT_HEAD) : {}),
      column: opts.column ?? 'input_ids',
    },
  });
  trace('main: writer open');
  return { writer, layout };
}

/** What tests and benchmarks may change in how the teacher is fed (never the output). */
export interface TeacherFeedTuning {
  /**
   * Shared prefixes: keep fully shared samples from the teacher (default true), whose positions
   * the writer copies from their owners. false feeds them as before the skip existed: what the
   * tests and bench/precompute-skip.ts compare with (the output is the same bytes either way).
   */
  skipShared?: boolean;
  /** Called with the unpadded row lengths of every teacher call, before it is made (tests count what the teacher is fed). */
  onTeacherRun?: (lengths: Int32Array) => void;
}

/** Runs the teacher over the dataset into `writer` (from openDataset, taken over: aborted on failure). */
export async function runWithTeacher(
  opts: PrecomputeOptions, teacher: TopkTeacher, { writer, layout }: { writer: DatasetBuild; layout: TopkLayout }, scan: ScanResult, started: number,
  onProgress: (e: ProgressEvent) => void, queueWindows: number, tuning: TeacherFeedTuning = {},
): Promise<PrecomputeSummary> {
  const readOpts = { format: opts.format, column: opts.column, maxSeqLen: opts.maxSeqLen };
  const jobs: Job[] = [];
  try {
    if (teacher.vocabSize !== layout.vocabSize) {
      throw new Error(`teacher ${basename(opts.model)}: the session's vocabulary ${teacher.vocabSize} differs from the ${layout.vocabSize} read from the graph`);
    }
    if (writer.complete) return summarize(readManifest(writer.dir), writer.dir, 0, 0, started, 0, true);
    const resumed = writer.resumeFromBatch;
    const totalBatches = Math.ceil(scan.samples / opts.batchSize);
    trace('main: start');
    onProgress({ type: 'start', totalBatches, totalTokens: scan.tokens, resumeFromBatch: writer.resumeFromBatch });
    // The writer's choice of references, made ahead (the same chooser, deterministic in input_ids).
    // Not with tail mass: ONNX Runtime's log-sum-exp over the masked vocabulary (the tail) moves
    // in its last float32 bit when a micro-batch has fewer rows (measured on the synthetic
    // teacher; the top-k log-probabilities do not), so skipping rows would change the bytes.
    const share = (tuning.skipShared ?? true) && opts.sharePrefixes && !layout.tailMass ? { minLength: opts.sharePrefixes, cap: rootPositionsCap(layout) } : null;
    const runner = new WindowRunner(teacher, opts, layout.topP !== undefined ? { topP: layout.topP, minK: layout.minK! } : null, share, tuning.onTeacherRun);
    let batchIndex = 0;
    let writing = -1;
    let beginPending = -1;
    let window: Sample[][] = [];
    /** Tokens the teacher ran on (fully shared samples are not), and dataset tokens written by this run. */
    let computed = 0;
    let written = 0;
    let doneTokens = 0;
    let validatorReady = false;
    let sinks: Promise<void> | null = null;

    // Encode + write stage: the oldest window's results, appended in order.
    const complete = async (job: Job): Promise<void> => {
      const pending = await job.result;
      if (computed === 0) trace('main: first window back');
      stopIfInterrupted();
      await sinks;
      if (job.begin >= 0) writer.beginShard(job.begin);
      for (const p of pending) {
        // Statistics once the writer has filled the skipped samples, in plan order.
        writer.append(p.batch, () => batchSums(p, opts.k), p.skippedTokens > 0 ? p.skipped : undefined);
        computed += p.batch.inputIds.length - p.skippedTokens;
        written += p.batch.inputIds.length;
        doneTokens += p.batch.inputIds.length;
      }
      const seconds = (performance.now() - started) / 1000;
      // Dataset tokens per second: what the remaining tokens take, skipped samples included.
      const rate = written / seconds;
      onProgress({
        type: 'batch', done: job.batchEnd, total: totalBatches, tokens: doneTokens, totalTokens: scan.tokens, seconds,
        tokensPerSec: rate, etaSeconds: rate > 0 ? (scan.tokens - doneTokens) / rate : null,
      });
    };
    // Read stage hands a full window to the teacher, then lets the writer catch up to the queue bound.
    const flush = async (): Promise<void> => {
      const result = runner.start(window, batchIndex - window.length, beginPending >= 0);
      result.catch(() => {}); // awaited in complete(); an earlier failure must not leave it unhandled
      jobs.push({ begin: beginPending, batchEnd: batchIndex, result });
      // The main thread waits for the teacher's first results anyway: load the shard writers
      // (apache-arrow) and compile the manifest schema now, not before the first teacher call
      // (start-up) nor after the last batch (the run's tail).
      if (!validatorReady) {
        validatorReady = true;
        sinks = import('../shard/dataset-writer.js').then((m) => writer.useSinks(m.shardSinksFor(layout)));
        sinks.catch(() => {}); // awaited in complete()
        await sinks;
        trace('main: shard writers loaded');
        prepareManifestValidator();
      }
      beginPending = -1;
      window = [];
      while (jobs.length > queueWindows) await complete(jobs.shift()!);
    };
    for await (const stored of batchSamples(readSamples(opts.data, readOpts), opts.batchSize)) {
      const shard = Math.floor(batchIndex / opts.batchesPerShard);
      if (batchIndex % opts.batchesPerShard === 0) {
        writing = writer.needsShard(shard) ? shard : -1;
        if (writing >= 0) beginPending = shard;
      }
      batchIndex++;
      // Shards already committed, or another worker's, are read past without the teacher.
      if (writing !== shard) {
        doneTokens += stored.reduce((a, s) => a + s.inputIds.length, 0);
        continue;
      }
      window.push(stored);
      if (window.length === WINDOW_BATCHES || batchIndex % opts.batchesPerShard === 0) await flush();
    }
    if (window.length) await flush();
    while (jobs.length) await complete(jobs.shift()!);
    stopIfInterrupted();
    trace('main: all written');
    const result = writer.tryFinish();
    if (Array.isArray(result)) {
      const seconds = (performance.now() - started) / 1000;
      return {
        datasetId: opts.datasetId, dir: writer.dir, samples: scan.samples, tokens: scan.tokens, batches: totalBatches,
        shards: Math.ceil(totalBatches / opts.batchesPerShard), computedTokens: computed, seconds, tokensPerSec: seconds > 0 ? written / seconds : 0,
        bytesPerToken: 0, top1Agreement: null, meanTopkMass: null, resumedFromBatch: resumed, alreadyComplete: false, complete: false, pendingShards: result,
      };
    }
    return summarize(result, writer.dir, computed, written, started, resumed, false);
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** Runs the teacher over a window of stored batches, regrouped by length. */
class WindowRunner {
  /** Shared prefixes: the writer's chooser for the current shard, run ahead of it. */
  private chooser: PrefixChooser | null = null;

  constructor(
    private readonly teacher: TopkTeacher, private readonly opts: PrecomputeOptions, private readonly topP: TopPSettings | null,
    private readonly share: { minLength: number; cap: number } | null, private readonly onRun?: (lengths: Int32Array) => void,
  ) {}

  /**
   * Posts every micro-batch of the window to the teacher at once (a worker teacher queues
   * them) and resolves with the window's stored batches once all results are scattered.
   * `newShard`: the window is the first of a shard (the chooser starts afresh, as the writer's).
   */
  start(window: Sample[][], firstBatch: number, newShard: boolean): Promise<PendingBatch[]> {
    const k = this.opts.k;
    const pending = window.map((samples) => allocateBatch(samples, k, this.opts.tailMass === true, this.topP !== null));
    const flat: Int32Array[] = [];
    const owner: [number, number][] = [];
    window.forEach((samples, b) => samples.forEach((s, i) => { flat.push(s.inputIds); owner.push([b, i]); }));
    const skip = this.fullyShared(pending, flat.length, newShard);
    const lengths = Int32Array.from(flat, (ids) => ids.length);
    const calls: Promise<void>[] = [];
    // The plan is made over every sample, skipped or not, and a micro-batch keeps its seqLen
    // when rows are dropped: the teacher sees each remaining row in the shape it always did.
    for (const micro of planInference(lengths, this.opts.inferBatchTokens!)) {
      for (const r of micro.rows) pending[owner[r][0]].order.push(owner[r][1]);
      if (micro.seqLen === 0) continue; // only empty samples: nothing to predict
      const kept = skip ? micro.rows.filter((r) => skip[r] === 0) : micro.rows;
      if (kept.length === 0) continue;
      // Fresh arrays per call (no buffer reuse): a worker teacher takes ownership of them.
      const rows = kept.length;
      const packed = packMicroBatch(flat, { rows: kept, seqLen: micro.seqLen });
      this.onRun?.(packed.lengths);
      const call = this.teacher.run(packed.ids, rows, micro.seqLen, packed.lengths).then(
        (out) => {
          for (let r = 0; r < rows; r++) {
            const [b, i] = owner[kept[r]];
            scatterRow(pending[b], i, out.topkIds, out.topkLogprobs, r, micro.seqLen, k, out.tailLogprobs, this.topP);
          }
        },
        (e: unknown) => {
          if (!(e instanceof TeacherNonFiniteError)) throw e;
          const [b, i] = owner[kept[e.sample]];
          const sample = window[b][i].sampleId;
          throw new TeacherNonFiniteError(basename(this.opts.model), sample, e.position, e.value, firstBatch + b);
        },
      );
      call.catch(() => {}); // Promise.all below reports the first failure
      calls.push(call);
    }
    return Promise.all(calls).then(() => pending);
  }

  /**
   * Per sample of the window (in order), 1 when it is shared in full: the writer's choice for
   * these batches, made here by the same chooser over the same input ids in the same order (and
   * the same memory cap), so exactly the samples the writer will fill from their owners.
   */
  private fullyShared(pending: PendingBatch[], samples: number, newShard: boolean): Uint8Array | null {
    if (!this.share) return null;
    if (newShard || !this.chooser) this.chooser = new PrefixChooser(this.share.minLength, this.share.cap);
    const skip = new Uint8Array(samples);
    let at = 0;
    for (const p of pending) {
      const n = p.batch.offsets.length - 1;
      const refs: PrefixRefs = { sample: new Float64Array(n), len: new Int32Array(n) };
      this.chooser.choose(p.batch, refs);
      for (let i = 0; i < n; i++, at++) {
        if (!fullyShared(p.batch.offsets, refs, i)) continue;
        skip[at] = 1;
        p.skipped[i] = 1;
        p.skippedTokens += refs.len[i];
      }
    }
    return skip;
  }
}

/** `computed`: tokens the teacher ran on; `written`: dataset tokens this run wrote (the throughput's). */
function summarize(m: Manifest, dir: string, computed: number, written: number, started: number, resumed: number, already: boolean): PrecomputeSummary {
  const seconds = (performance.now() - started) / 1000;
  return {
    datasetId: m.datasetId, dir, samples: m.sampleCount, tokens: m.tokenCount, batches: m.batchCount, shards: m.shards.length,
    computedTokens: computed, seconds, tokensPerSec: seconds > 0 ? written / seconds : 0, bytesPerToken: m.stats.bytesPerToken,
    top1Agreement: m.stats.top1Agreement ?? null, meanTopkMass: m.stats.meanTopkMass ?? null, resumedFromBatch: resumed, alreadyComplete: already,
    complete: true, pendingShards: [],
  };
}

/** Ctrl-C stops the teacher first (src/interrupt.ts); nothing more is written or committed meanwhile. */
function stopIfInterrupted(): void {
  if (isInterrupted()) throw new CodedError('LC_ERR_INTERRUPTED', 'precompute interrupted; committed shards are kept');
}
