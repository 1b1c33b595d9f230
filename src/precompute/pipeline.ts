// The product's main job: dataset → teacher (fused top-k head) → shards + manifest.
// Stored batches are consecutive samples; the teacher sees them regrouped by length within a
// window that never crosses a shard boundary, so a resumed run groups exactly as an
// uninterrupted one and writes the same bytes.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { batchSamples, packMicroBatch, planInference, readSamples, type Sample } from '../data/index.js';
import { DatasetWriter, type Manifest, readManifest, type TopkLayout } from '../shard/index.js';
import { inspectTeacher, TeacherNonFiniteError, TeacherSession } from '../teacher/index.js';
import { allocateBatch, type PendingBatch, scatterRow } from './assemble.js';
import { UsageError } from './errors.js';
import { CodedError } from '../errors.js';
import { checkBeforeWriting } from './precheck.js';
import { autoInferBatchTokens, type PrecomputeOptions, type PrecomputeSummary, type ProgressEvent } from './options.js';
import { type ScanResult, scanDataset } from './scan.js';

/** Stored batches the teacher may regroup together (more = less padding, more memory). */
const WINDOW_BATCHES = 8;

export async function precompute(opts: PrecomputeOptions, onProgress: (e: ProgressEvent) => void = () => {}): Promise<PrecomputeSummary> {
  const started = performance.now();
  const vocabSize = modelVocabSize(opts);
  if (opts.k > vocabSize) throw new UsageError(`--top-k ${opts.k} is larger than the teacher's vocabulary (${vocabSize})`);
  opts = { ...opts, inferBatchTokens: opts.inferBatchTokens ?? autoInferBatchTokens(vocabSize) };
  const readOpts = { format: opts.format, column: opts.column, maxSeqLen: opts.maxSeqLen };
  const scan = await scanDataset(opts.data, readOpts, vocabSize, (samples, tokens) => onProgress({ type: 'scan', samples, tokens }));
  if (scan.samples === 0) throw new CodedError('LC_ERR_DATA_EMPTY', `dataset ${opts.data}: no samples`, { file: opts.data });

  const session = await TeacherSession.open(opts.model, {
    k: opts.k, topkOn: opts.topkOn, vocabSize: opts.vocabSize, logitsOutput: opts.logitsOutput, device: opts.device, threads: opts.threads,
  });
  try {
    await checkBeforeWriting(opts, session, scan);
    return await runWithSession(opts, session, scan, started, onProgress);
  } finally {
    await session.dispose();
  }
}

async function runWithSession(
  opts: PrecomputeOptions, session: TeacherSession, scan: ScanResult, started: number, onProgress: (e: ProgressEvent) => void,
): Promise<PrecomputeSummary> {
  const readOpts = { format: opts.format, column: opts.column, maxSeqLen: opts.maxSeqLen };
  const layout: TopkLayout = { k: opts.k, vocabSize: session.vocabSize, values: opts.values, ...(opts.values === 'q8' ? { q8Scale: opts.q8Scale ?? 0.1 } : {}) };
  const writer = new DatasetWriter({
    root: opts.out, datasetId: opts.datasetId, layout, codec: opts.codec, batchSize: opts.batchSize,
    batchesPerShard: opts.batchesPerShard, overwrite: opts.overwrite, worker: opts.worker,
    meta: {
      teacher: { file: basename(opts.model), sha256: session.modelSha256, vocabSize: session.vocabSize, logitsOutput: opts.logitsOutput ?? 'logits', topkOn: opts.topkOn },
      source: { file: basename(opts.data), sha256: scan.sha256, samples: scan.samples, tokens: scan.tokens, maxSeqLen: opts.maxSeqLen ?? null },
    },
    runConfig: {
      teacherSha256: session.modelSha256, sourceSha256: scan.sha256, k: opts.k, values: opts.values, q8Scale: layout.q8Scale ?? null,
      codec: opts.codec, batchSize: opts.batchSize, batchesPerShard: opts.batchesPerShard, maxSeqLen: opts.maxSeqLen ?? null,
      inferBatchTokens: opts.inferBatchTokens, topkOn: opts.topkOn, vocabSize: session.vocabSize, logitsOutput: opts.logitsOutput ?? 'logits',
      column: opts.column ?? 'input_ids',
    },
  });
  try {
    if (writer.complete) return summarize(readManifest(writer.dir), writer.dir, 0, started, 0, true);
    const resumed = writer.resumeFromBatch;
    const totalBatches = Math.ceil(scan.samples / opts.batchSize);
    onProgress({ type: 'start', totalBatches, totalTokens: scan.tokens, resumeFromBatch: writer.resumeFromBatch });
    const runner = new WindowRunner(session, opts);
    let batchIndex = 0;
    let writing = -1;
    let window: Sample[][] = [];
    let computed = 0;
    let doneTokens = 0;
    const flush = async () => {
      const first = batchIndex - window.length;
      const pending = await runner.run(window, first);
      for (const p of pending) {
        writer.append(p.batch, p.sums);
        computed += p.batch.inputIds.length;
      }
      doneTokens += pending.reduce((a, p) => a + p.batch.inputIds.length, 0);
      const seconds = (performance.now() - started) / 1000;
      const rate = computed / seconds;
      onProgress({
        type: 'batch', done: batchIndex, total: totalBatches, tokens: doneTokens, totalTokens: scan.tokens, seconds,
        tokensPerSec: rate, etaSeconds: rate > 0 ? (scan.tokens - doneTokens) / rate : null,
      });
      window = [];
    };
    for await (const stored of batchSamples(readSamples(opts.data, readOpts), opts.batchSize)) {
      const shard = Math.floor(batchIndex / opts.batchesPerShard);
      if (batchIndex % opts.batchesPerShard === 0) {
        writing = writer.needsShard(shard) ? shard : -1;
        if (writing >= 0) writer.beginShard(shard);
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
  private readonly buffers: { ids?: Int32Array; lengths?: Int32Array } = {};
  constructor(private readonly session: TeacherSession, private readonly opts: PrecomputeOptions) {}

  async run(window: Sample[][], firstBatch: number): Promise<PendingBatch[]> {
    const k = this.opts.k;
    const pending = window.map((samples) => allocateBatch(samples, k));
    const flat: Int32Array[] = [];
    const owner: [number, number][] = [];
    window.forEach((samples, b) => samples.forEach((s, i) => { flat.push(s.inputIds); owner.push([b, i]); }));
    const lengths = Int32Array.from(flat, (ids) => ids.length);
    for (const micro of planInference(lengths, this.opts.inferBatchTokens!)) {
      if (micro.seqLen === 0) continue; // only empty samples: nothing to predict
      const packed = packMicroBatch(flat, micro, this.buffers);
      // Keep the larger buffers packMicroBatch had to allocate, so later calls reuse them.
      if (packed.ids.buffer !== this.buffers.ids?.buffer) this.buffers.ids = packed.ids;
      if (packed.lengths.buffer !== this.buffers.lengths?.buffer) this.buffers.lengths = packed.lengths;
      let out;
      try {
        out = await this.session.run(packed.ids, micro.rows.length, micro.seqLen, packed.lengths);
      } catch (e) {
        if (!(e instanceof TeacherNonFiniteError)) throw e;
        const [b, i] = owner[micro.rows[e.sample]];
        const sample = window[b][i].sampleId;
        throw new TeacherNonFiniteError(basename(this.opts.model), sample, e.position, e.value, firstBatch + b);
      }
      for (let r = 0; r < micro.rows.length; r++) {
        const [b, i] = owner[micro.rows[r]];
        scatterRow(pending[b], i, out.topkIds, out.topkLogprobs, r, micro.seqLen, k);
      }
    }
    return pending;
  }
}

function modelVocabSize(opts: PrecomputeOptions): number {
  const label = basename(opts.model);
  if (!existsSync(opts.model)) throw new CodedError('LC_ERR_INPUT_PATH', `teacher ${opts.model}: no such file`, { path: opts.model });
  const width = inspectTeacher(opts.model, opts.logitsOutput ?? 'logits').logitsWidth ?? opts.vocabSize;
  if (width === undefined) throw new UsageError(`teacher ${label}: logits have no fixed vocabulary dimension; pass --vocab-size`);
  return opts.vocabSize ?? width;
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
