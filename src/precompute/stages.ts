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
import type { TopkLayout } from '../shard/types.js';
import { CodedError } from '../errors.js';
import { isInterrupted } from '../interrupt.js';
import { TeacherNonFiniteError } from '../teacher/errors.js';
import { DEFAULT_HEAD } from '../teacher/head-mode.js';
import { headSetting } from './head.js';
import type { TopkTeacher } from '../teacher/remote-session.js';
import { allocateBatch, type PendingBatch, scatterRow } from './assemble.js';
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

/** Runs the teacher over the dataset into `writer` (from openDataset, taken over: aborted on failure). */
export async function runWithTeacher(
  opts: PrecomputeOptions, teacher: TopkTeacher, { writer, layout }: { writer: DatasetBuild; layout: TopkLayout }, scan: ScanResult, started: number,
  onProgress: (e: ProgressEvent) => void, queueWindows: number,
): Promise<PrecomputeSummary> {
  const readOpts = { format: opts.format, column: opts.column, maxSeqLen: opts.maxSeqLen };
  const jobs: Job[] = [];
  try {
    if (teacher.vocabSize !== layout.vocabSize) {
      throw new Error(`teacher ${basename(opts.model)}: the session's vocabulary ${teacher.vocabSize} differs from the ${layout.vocabSize} read from the graph`);
    }
    if (writer.complete) return summarize(readManifest(writer.dir), writer.dir, 0, started, 0, true);
    const resumed = writer.resumeFromBatch;
    const totalBatches = Math.ceil(scan.samples / opts.batchSize);
    trace('main: start');
    onProgress({ type: 'start', totalBatches, totalTokens: scan.tokens, resumeFromBatch: writer.resumeFromBatch });
    const runner = new WindowRunner(teacher, opts, layout.topP !== undefined ? { topP: layout.topP, minK: layout.minK! } : null);
    let batchIndex = 0;
    let writing = -1;
    let beginPending = -1;
    let window: Sample[][] = [];
    let computed = 0;
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
        writer.append(p.batch, p.sums);
        computed += p.batch.inputIds.length;
        doneTokens += p.batch.inputIds.length;
      }
      const seconds = (performance.now() - started) / 1000;
      const rate = computed / seconds;
      onProgress({
        type: 'batch', done: job.batchEnd, total: totalBatches, tokens: doneTokens, totalTokens: scan.tokens, seconds,
        tokensPerSec: rate, etaSeconds: rate > 0 ? (scan.tokens - doneTokens) / rate : null,
      });
    };
    // Read stage hands a full window to the teacher, then lets the writer catch up to the queue bound.
    const flush = async (): Promise<void> => {
      const result = runner.start(window, batchIndex - window.length);
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
        shards: Math.ceil(totalBatches / opts.batchesPerShard), computedTokens: computed, seconds, tokensPerSec: seconds > 0 ? computed / seconds : 0,
        bytesPerToken: 0, top1Agreement: null, meanTopkMass: null, resumedFromBatch: resumed, alreadyComplete: false, complete: false, pendingShards: result,
      };
    }
    return summarize(result, writer.dir, computed, started, resumed, false);
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** Runs the teacher over a window of stored batches, regrouped by length. */
class WindowRunner {
  constructor(private readonly teacher: TopkTeacher, private readonly opts: PrecomputeOptions, private readonly topP: TopPSettings | null) {}

  /**
   * Posts every micro-batch of the window to the teacher at once (a worker teacher queues
   * them) and resolves with the window's stored batches once all results are scattered.
   */
  start(window: Sample[][], firstBatch: number): Promise<PendingBatch[]> {
    const k = this.opts.k;
    const pending = window.map((samples) => allocateBatch(samples, k, this.opts.tailMass === true, this.topP !== null));
    const flat: Int32Array[] = [];
    const owner: [number, number][] = [];
    window.forEach((samples, b) => samples.forEach((s, i) => { flat.push(s.inputIds); owner.push([b, i]); }));
    const lengths = Int32Array.from(flat, (ids) => ids.length);
    const calls: Promise<void>[] = [];
    for (const micro of planInference(lengths, this.opts.inferBatchTokens!)) {
      if (micro.seqLen === 0) continue; // only empty samples: nothing to predict
      // Fresh arrays per call (no buffer reuse): a worker teacher takes ownership of them.
      const rows = micro.rows.length;
      const packed = packMicroBatch(flat, micro);
      const call = this.teacher.run(packed.ids, rows, micro.seqLen, packed.lengths).then(
        (out) => {
          for (let r = 0; r < rows; r++) {
            const [b, i] = owner[micro.rows[r]];
            scatterRow(pending[b], i, out.topkIds, out.topkLogprobs, r, micro.seqLen, k, out.tailLogprobs, this.topP);
          }
        },
        (e: unknown) => {
          if (!(e instanceof TeacherNonFiniteError)) throw e;
          const [b, i] = owner[micro.rows[e.sample]];
          const sample = window[b][i].sampleId;
          throw new TeacherNonFiniteError(basename(this.opts.model), sample, e.position, e.value, firstBatch + b);
        },
      );
      call.catch(() => {}); // Promise.all below reports the first failure
      calls.push(call);
    }
    return Promise.all(calls).then(() => pending);
  }
}

function summarize(m: Manifest, dir: string, computed: number, started: number, resumed: number, already: boolean): PrecomputeSummary {
  const seconds = (performance.now() - started) / 1000;
  return {
    datasetId: m.datasetId, dir, samples: m.sampleCount, tokens: m.tokenCount, batches: m.batchCount, shards: m.shards.length,
    computedTokens: computed, seconds, tokensPerSec: seconds > 0 ? computed / seconds : 0, bytesPerToken: m.stats.bytesPerToken,
    top1Agreement: m.stats.top1Agreement ?? null, meanTopkMass: m.stats.meanTopkMass ?? null, resumedFromBatch: resumed, alreadyComplete: already,
    complete: true, pendingShards: [],
  };
}

/** Ctrl-C stops the teacher first (src/interrupt.ts); nothing more is written or committed meanwhile. */
function stopIfInterrupted(): void {
  if (isInterrupted()) throw new CodedError('LC_ERR_INTERRUPTED', 'precompute interrupted; committed shards are kept');
}
