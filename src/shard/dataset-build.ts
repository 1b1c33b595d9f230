// Writes a dataset folder: shard files committed one at a time, each followed by a sidecar in
// .partial/ (what a resumed run or `finalize` trusts), and manifest.json last. Shards can be
// produced in any order and by several workers (worker i owns shards s with s % n == i); a
// killed run leaves only whole shards, and re-running the same command skips them. One writer
// per folder (and worker slot) holds a lock; `overwrite` builds the new version in a fresh
// generation folder beside the served one and switches by the manifest rename.
//
// This module opens the folder (lock, run.json compare, resume point) without loading
// apache-arrow: the shard files' writers come in through a SinkOpener, given at construction or
// later by useSinks(). DatasetWriter (dataset-writer.ts) is this class with the Arrow/Parquet
// sinks built in; a precompute opens a DatasetBuild before its first teacher call and attaches
// the sinks while the teacher computes (loading Arrow then costs its start-up nothing).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../errors.js';
import { completeSwitch, finalizeDataset, readSidecar, type DatasetMeta, type Sidecar, sidecarPath, type StatSums, zeroSums } from './finalize.js';
import { onInterrupt } from './cleanup.js';
import { writeFileAtomic } from './fs-atomic.js';
import {
  buildGeneration, generationDir, indexFileOf, manifestGeneration, nextGeneration, PARTIAL_DIR, removeOrphanTemporaries, retireUnreferenced,
  SHARDS_DIR, shardFileName, writeBuildGeneration,
} from './generations.js';
import { DatasetLock } from './lock.js';
import { MANIFEST_FILE, type Manifest, readManifest } from './manifest.js';
import type { ShardSink, ShardWriterOptions } from './shard-sink.js';
import { type CodecName, RUN_FILE, type ShardFormat, type TopkBatch, type TopkLayout } from './types.js';

export { type StatSums } from './finalize.js';
export { RUN_FILE };

export interface DatasetWriterOptions {
  root: string;
  datasetId: string;
  layout: TopkLayout;
  codec: CodecName;
  /** ZSTD level when codec is zstd (default 3); changes only the size, so readers never see it. */
  zstdLevel?: number;
  /**
   * Shared prefixes (format 2.5): the least shared length, in tokens, worth referencing; set
   * exactly when layout.sharedPrefixes is (docs/FORMAT.md §4.3). Part of runConfig.
   */
  sharePrefixes?: number;
  /** Writer memory for shared-prefix roots (ShardWriterOptions.sharePrefixRootBytes): tests only. */
  sharePrefixRootBytes?: number;
  batchSize: number;
  batchesPerShard: number;
  /** Every setting that changes the output; a resume with other settings is refused. */
  runConfig: Record<string, unknown>;
  overwrite?: boolean;
  /** This process writes the shards s with s % count === index (default: all). */
  worker?: { index: number; count: number };
  /** Teacher and source description, recorded up front so any worker or `finalize` can write the manifest. */
  meta?: Pick<Manifest, 'teacher' | 'source'>;
  /** After an overwrite's switch, how long the old generation stays (see FinalizeOptions). */
  retireGraceMs?: number;
}

export { shardFileName };

/** Opens the writer of one shard file (shard-sink.ts's openShardWriter with the layout's schema). */
export type SinkOpener = (
  format: ShardFormat, path: string, layout: TopkLayout, codec: CodecName,
  opts: ShardWriterOptions,
) => ShardSink;
// Shard, index and temporary files of shard N all start `shard-NNNNNN.`.
const shardIndexOfFile = (name: string): number => Number(/^shard-(\d{6})\./.exec(name)?.[1] ?? -1);

interface OpenShard { index: number; writer: ShardSink; sums: StatSums; samples: number; nextSample: number }

export class DatasetBuild {
  readonly dir: string;
  /** The manifest exists and was written with these settings: nothing to do. */
  readonly complete: boolean;
  /** Generation folder this build writes (0: shards/, N: shards/gN/); see generations.ts. */
  readonly generation: number;
  private readonly done = new Map<number, Sidecar>();
  private readonly worker: { index: number; count: number };
  private current: OpenShard | null = null;
  private nextSequential = 0;
  private readonly lock: DatasetLock;
  /** What to undo when this run ends without committing a shard. */
  private readonly undo: { createdDir: boolean; previousRun: string | null; startedBuild: boolean };
  private finished = false;
  private readonly dropInterruptUndo: () => void;

  constructor(private readonly opts: DatasetWriterOptions, private sinks: SinkOpener | null = null) {
    this.dir = join(opts.root, opts.datasetId);
    this.worker = opts.worker ?? { index: 0, count: 1 };
    // ctx-table codes exactly k ids per position (docs/FORMAT.md §4.2); ragged lists have fewer.
    if (opts.layout.ids === 'ctx-table' && opts.layout.topP !== undefined) {
      throw new Error(`dataset ${this.dir}: the ctx-table id encoding needs a fixed k per position; ragged top-p layouts store plain ids`);
    }
    if (Boolean(opts.layout.sharedPrefixes) !== (opts.sharePrefixes ?? 0) > 0 || (opts.sharePrefixes !== undefined && !(Number.isInteger(opts.sharePrefixes) && opts.sharePrefixes >= 0))) {
      throw new Error(`dataset ${this.dir}: layout.sharedPrefixes (${Boolean(opts.layout.sharedPrefixes)}) and sharePrefixes (${opts.sharePrefixes}, an integer >= 1 when on) disagree`);
    }
    const createdDir = !existsSync(this.dir);
    mkdirSync(this.dir, { recursive: true });
    try {
      this.lock = DatasetLock.acquire(this.dir, this.worker);
    } catch (e) {
      if (createdDir) rmEmptyDir(this.dir);
      throw e;
    }
    try {
      const state = this.open(createdDir);
      this.complete = state.complete;
      this.generation = state.generation;
      this.undo = state.undo;
    } catch (e) {
      this.lock.release();
      if (createdDir) rmEmptyDir(this.dir);
      throw e;
    }
    this.dropInterruptUndo = onInterrupt(() => this.abort());
    // A finished dataset needs no writer: nothing to hold the lock for.
    if (this.complete) this.close();
  }

  /**
   * Brings the folder to a known state under the lock: finishes a switch a kill interrupted,
   * removes leftovers, checks the settings, and decides which build (generation) to continue.
   */
  private open(createdDir: boolean): { complete: boolean; generation: number; undo: DatasetBuild['undo'] } {
    const { opts, dir } = this;
    const multi = this.worker.count > 1;
    removeOrphanTemporaries(dir, multi);
    const runPath = join(dir, RUN_FILE);
    const wanted = JSON.stringify(this.runConfig);
    let manifest = readManifestIfAny(dir);
    let building = buildGeneration(dir);
    // Killed between the manifest rename and the cleanup: the build is committed already.
    if (manifest && building !== null && building === manifestGeneration(manifest)) {
      completeSwitch(dir, manifest);
      building = null;
    }
    const had = readIfExists(runPath);
    let generation: number;
    if (opts.overwrite) {
      if (building !== null && had === wanted) generation = building; // resume the same overwrite
      else {
        // Drop any other build in progress; the served version (if any) stays until the switch.
        rmSync(join(dir, PARTIAL_DIR), { recursive: true, force: true });
        if (manifest) generation = nextGeneration(dir, manifest);
        else {
          clearDataset(dir);
          generation = 0;
        }
        building = null;
      }
    } else {
      // Workers starting together race here: run.json is written before any shard, so a
      // folder with data but no run.json is looked at twice before it is called foreign.
      let seen = had;
      if (seen === null && hasData(dir)) seen = readIfExists(runPath);
      if (seen === null && hasData(dir)) {
        throw new CodedError('LC_ERR_DATASET_SETTINGS', `dataset ${dir} exists but has no ${RUN_FILE} to compare settings with; use --overwrite to replace it`, { dir });
      }
      if (seen !== null && seen !== wanted) {
        const formatWas = (JSON.parse(seen) as { shardFormat?: ShardFormat }).shardFormat ?? 'arrow';
        if (formatWas !== this.format) {
          throw new CodedError('LC_ERR_DATASET_SETTINGS', `dataset ${dir} holds ${formatWas} shards; this run writes ${this.format} (--shard-format ${this.format}); resume with --shard-format ${formatWas}, or use --overwrite to replace it`, { dir });
        }
        throw new CodedError('LC_ERR_DATASET_SETTINGS', `dataset ${dir} was written with other settings (${diffKeys(JSON.parse(seen), this.runConfig)}); use --overwrite to replace it (the current version is served until the new one commits)`, { dir });
      }
      if (building === null && manifest) {
        retireUnreferenced(dir, manifest, null); // an old generation a kill left behind
        return { complete: true, generation: manifestGeneration(manifest), undo: { createdDir, previousRun: had, startedBuild: false } };
      }
      generation = building ?? 0;
    }
    const startedBuild = building === null;
    writeFileAtomic(runPath, wanted);
    mkdirSync(join(dir, generationDir(generation)), { recursive: true });
    mkdirSync(join(dir, PARTIAL_DIR), { recursive: true });
    if (startedBuild) writeBuildGeneration(dir, generation);
    manifest = readManifestIfAny(dir);
    retireUnreferenced(dir, manifest, generation);
    this.recover(generation);
    if (opts.meta) this.writeMeta(opts.meta);
    return { complete: false, generation, undo: { createdDir, previousRun: had, startedBuild } };
  }

  /** The settings run.json records: the caller's, plus the shared-prefix length when on (only then, so older runs still resume). */
  private get runConfig(): Record<string, unknown> {
    const n = this.opts.sharePrefixes ?? 0;
    return n > 0 ? { ...this.opts.runConfig, sharePrefixes: n } : this.opts.runConfig;
  }

  /** Supplies the shard writers (before the first beginShard or append). */
  useSinks(sinks: SinkOpener): void {
    this.sinks = sinks;
  }

  /** Batches committed by earlier runs (in shards this writer will skip). */
  get resumeFromBatch(): number {
    let n = 0;
    for (const s of this.done.values()) n += s.shard.batchCount;
    return n;
  }

  /** True when shard `index` is this worker's and not yet committed. */
  needsShard(index: number): boolean {
    return index % this.worker.count === this.worker.index && !this.done.has(index);
  }

  /** Starts shard `index`; its batches follow with append(). */
  beginShard(index: number): void {
    // Misuse of the writer API (the precompute never does this): a bug, so LC_ERR_INTERNAL on purpose.
    if (this.current) throw new Error(`dataset ${this.dir}: shard ${this.current.index} is still open`);
    if (!this.needsShard(index)) throw new Error(`dataset ${this.dir}: shard ${index} is not this worker's to write, or already written`);
    if (!this.sinks) throw new Error(`dataset ${this.dir}: no shard writers attached (useSinks)`);
    const first = index * this.opts.batchesPerShard * this.opts.batchSize;
    this.current = {
      index, sums: zeroSums(), samples: 0, nextSample: first,
      writer: this.sinks(this.format, join(this.dir, this.shardFile(index)), this.opts.layout, this.opts.codec, {
        indexPath: join(this.dir, indexFileOf(this.shardFile(index))), firstBatch: index * this.opts.batchesPerShard, firstSample: first,
        zstdLevel: this.opts.zstdLevel, ...(this.opts.sharePrefixes ? { sharePrefixes: this.opts.sharePrefixes, sharePrefixRootBytes: this.opts.sharePrefixRootBytes } : {}),
      }),
    };
    this.nextSequential = index + 1;
  }

  /**
   * Appends the next batch of the open shard (or of the next shard, written in order).
   * `sums` may be a function of the batch as written: with `unsetShared` (ShardSink.append) the
   * writer fills fully shared samples' positions, and their statistics are known only after.
   */
  append(batch: TopkBatch, sums?: StatSums | ((written: TopkBatch) => StatSums), unsetShared?: Uint8Array): void {
    const n = batch.offsets.length - 1;
    // The batcher makes these; a caller breaking them is a bug (LC_ERR_INTERNAL on purpose).
    if (n < 1 || n > this.opts.batchSize) throw new Error(`dataset ${this.dir}: a batch holds 1..${this.opts.batchSize} samples, got ${n}`);
    const expected = this.current ? this.current.nextSample : this.nextSequential * this.opts.batchesPerShard * this.opts.batchSize;
    for (let i = 0; i < n; i++) {
      if (batch.sampleIds[i] !== expected + i) {
        throw new Error(`dataset ${this.dir}: batch holds sample ${batch.sampleIds[i]} at row ${i}, expected ${expected + i}`);
      }
    }
    if (!this.current) this.beginShard(this.nextSequential);
    const cur = this.current!;
    try {
      cur.writer.append(batch, unsetShared);
    } catch (e) {
      // A rejected batch leaves nothing behind: the unfinished shard goes with it.
      this.dropShard();
      throw e;
    }
    cur.nextSample += n;
    cur.samples += n;
    if (sums) addSums(cur.sums, typeof sums === 'function' ? sums(batch) : sums);
    if (cur.writer.batchCount === this.opts.batchesPerShard) this.endShard();
  }

  /** Commits the open shard (a no-op when none is open). */
  endShard(): void {
    const cur = this.current;
    if (!cur) return;
    // Shard, then index, then sidecar: a sidecar vouches for two committed files.
    const result = cur.writer.finish();
    const file = this.shardFile(cur.index);
    const sidecar: Sidecar = {
      shard: {
        file,
        firstBatch: cur.index * this.opts.batchesPerShard,
        batchCount: result.batchCount,
        firstSample: cur.nextSample - cur.samples,
        sampleCount: cur.samples,
        tokens: result.tokens,
        // Shared prefixes: recorded so readers need not decode every batch to count them (docs/FORMAT.md §6.1).
        ...(result.sharedPositions !== undefined ? { sharedPositions: result.sharedPositions } : {}),
        bytes: result.bytes,
        sha256: result.sha256,
        schemaLength: result.schemaLength,
        schemaSha256: result.schemaSha256,
        index: { file: indexFileOf(file), ...result.index },
      },
      sums: cur.sums,
    };
    writeFileAtomic(sidecarPath(this.dir, cur.index), JSON.stringify(sidecar));
    this.done.set(cur.index, sidecar);
    this.current = null;
  }

  /**
   * Commits the open shard and, when every shard of the dataset is committed (by this or any
   * worker), writes the manifest and returns it; otherwise returns the missing shard indices.
   */
  finish(meta?: Pick<Manifest, 'teacher' | 'source'>): Manifest {
    const result = this.tryFinish(meta);
    if (Array.isArray(result)) throw new CodedError('LC_ERR_INCOMPLETE', `dataset ${this.dir}: shards ${result.join(', ')} are not written yet`, { dir: this.dir, missing: result });
    return result;
  }

  tryFinish(meta?: Pick<Manifest, 'teacher' | 'source'>): Manifest | number[] {
    try {
      this.endShard();
      if (meta) this.writeMeta(meta);
      // Shards this process wrote are trusted; others are checked against their sidecars.
      return finalizeDataset(this.dir, { trusted: new Set(this.done.keys()), retireGraceMs: this.opts.retireGraceMs });
    } finally {
      this.close();
    }
  }

  /**
   * Ends a failed or interrupted run: drops the shard in progress and keeps committed shards
   * for a later resume. A run that leaves no committed shard leaves nothing at all: its build
   * folder, .partial/, run.json (the previous one comes back) and the folder if it made it.
   */
  abort(): void {
    this.dropShard();
    if (this.finished) return;
    if (this.done.size === 0 && this.worker.count === 1 && !this.complete) this.undoBuild();
    this.close();
  }

  private get format(): ShardFormat {
    return this.opts.layout.shardFormat ?? 'arrow';
  }

  private shardFile(index: number): string {
    return shardFileName(index, this.generation, this.format);
  }

  private dropShard(): void {
    this.current?.writer.abort();
    this.current = null;
  }

  /** Releases the lock; the writer is done. */
  private close(): void {
    if (this.finished) return;
    this.finished = true;
    this.dropInterruptUndo?.();
    this.lock.release();
  }

  private undoBuild(): void {
    const { dir } = this;
    rmSync(join(dir, PARTIAL_DIR), { recursive: true, force: true });
    if (this.generation > 0) rmSync(join(dir, generationDir(this.generation)), { recursive: true, force: true });
    else if (!existsSync(join(dir, MANIFEST_FILE))) rmSync(join(dir, SHARDS_DIR), { recursive: true, force: true });
    const runPath = join(dir, RUN_FILE);
    if (this.undo.previousRun === null) rmSync(runPath, { force: true });
    else writeFileAtomic(runPath, this.undo.previousRun);
    if (this.undo.createdDir) {
      this.lock.release();
      rmEmptyDir(dir);
    }
  }

  private writeMeta(meta: Pick<Manifest, 'teacher' | 'source'>): void {
    const { layout, codec, batchSize, batchesPerShard, datasetId } = this.opts;
    const full: DatasetMeta = { datasetId, layout, codec, batchSize, batchesPerShard, teacher: meta.teacher, source: meta.source };
    writeFileAtomic(join(this.dir, PARTIAL_DIR, 'meta.json'), JSON.stringify(full));
  }

  /**
   * Keeps every shard whose sidecar and file agree (the sidecar is written only after the
   * shard's rename, so it vouches for a whole file); removes this worker's other shard files,
   * temporary ones included, and leaves other workers' files alone.
   */
  private recover(generation: number): void {
    const shardsDir = join(this.dir, generationDir(generation));
    for (const f of readdirSync(shardsDir)) {
      const index = shardIndexOfFile(f);
      if (index < 0 || index % this.worker.count !== this.worker.index) continue;
      const side = readSidecar(this.dir, index);
      const own = side ? [side.sidecar.shard.file, side.sidecar.shard.index.file].map((p) => p.slice('shards/'.length)) : [];
      if (side?.valid && own.includes(f)) this.done.set(index, side.sidecar);
      else rmSync(join(shardsDir, f), { force: true });
    }
    for (const f of readdirSync(join(this.dir, PARTIAL_DIR))) {
      const index = Number(/^shard-(\d{6})\.json$/.exec(f)?.[1] ?? -1);
      if (index >= 0 && index % this.worker.count === this.worker.index && !this.done.has(index)) rmSync(join(this.dir, PARTIAL_DIR, f), { force: true });
    }
  }
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A manifest or a committed shard file (any generation): the folder holds a dataset, not just empty folders. */
function hasData(dir: string): boolean {
  if (existsSync(join(dir, MANIFEST_FILE))) return true;
  try {
    return readdirSync(join(dir, SHARDS_DIR), { recursive: true }).some((f) => /\.(arrow|parquet)$/.test(String(f)));
  } catch {
    return false;
  }
}

function readManifestIfAny(dir: string): Manifest | null {
  return existsSync(join(dir, MANIFEST_FILE)) ? readManifest(dir) : null;
}

/** Removes `dir` if it is empty (a folder this run created and left nothing in). */
function rmEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or gone: either way nothing of ours is left
  }
}

function addSums(into: StatSums, d: StatSums): void {
  into.tokens += d.tokens; into.massSum += d.massSum; into.top1Hits += d.top1Hits; into.top1Count += d.top1Count;
}

function clearDataset(dir: string): void {
  // Manifest first: from that instant no reader treats the folder as a dataset.
  rmSync(join(dir, MANIFEST_FILE), { force: true });
  for (const p of ['shards', PARTIAL_DIR, RUN_FILE]) rmSync(join(dir, p), { recursive: true, force: true });
}

function diffKeys(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const diff = [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return diff.map((k) => `${k}: ${JSON.stringify(a[k])} -> ${JSON.stringify(b[k])}`).join(', ');
}
