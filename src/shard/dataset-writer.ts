// Writes a dataset folder: shard files committed one at a time, each followed by a sidecar in
// .partial/ (what a resumed run or `finalize` trusts), and manifest.json last. Shards can be
// produced in any order and by several workers (worker i owns shards s with s % n == i); a
// killed run leaves only whole shards, and re-running the same command skips them.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Schema } from 'apache-arrow';
import { CodedError } from '../errors.js';
import { indexFileOf } from './index-file.js';
import { finalizeDataset, PARTIAL_DIR, readSidecar, type DatasetMeta, type Sidecar, sidecarPath, type StatSums, zeroSums } from './finalize.js';
import { writeFileAtomic } from './fs-atomic.js';
import { MANIFEST_FILE, type Manifest } from './manifest.js';
import { shardSchema } from './schema.js';
import { ShardWriter } from './shard-writer.js';
import type { CodecName, TopkBatch, TopkLayout } from './types.js';

export { type StatSums } from './finalize.js';
export const RUN_FILE = 'run.json';

export interface DatasetWriterOptions {
  root: string;
  datasetId: string;
  layout: TopkLayout;
  codec: CodecName;
  batchSize: number;
  batchesPerShard: number;
  /** Every setting that changes the output; a resume with other settings is refused. */
  runConfig: Record<string, unknown>;
  overwrite?: boolean;
  /** This process writes the shards s with s % count === index (default: all). */
  worker?: { index: number; count: number };
  /** Teacher and source description, recorded up front so any worker or `finalize` can write the manifest. */
  meta?: Pick<Manifest, 'teacher' | 'source'>;
}

export const shardFileName = (index: number): string => `shards/shard-${String(index).padStart(6, '0')}.arrow`;
// Shard, index and temporary files of shard N all start `shard-NNNNNN.`.
const shardIndexOfFile = (name: string): number => Number(/^shard-(\d{6})\./.exec(name)?.[1] ?? -1);

interface OpenShard { index: number; writer: ShardWriter; sums: StatSums; samples: number; nextSample: number }

export class DatasetWriter {
  readonly dir: string;
  /** The manifest exists and was written with these settings: nothing to do. */
  readonly complete: boolean;
  private readonly done = new Map<number, Sidecar>();
  private readonly schema: Schema;
  private readonly worker: { index: number; count: number };
  private current: OpenShard | null = null;
  private nextSequential = 0;

  constructor(private readonly opts: DatasetWriterOptions) {
    this.dir = join(opts.root, opts.datasetId);
    this.schema = shardSchema(opts.layout);
    this.worker = opts.worker ?? { index: 0, count: 1 };
    const runPath = join(this.dir, RUN_FILE);
    const wanted = JSON.stringify(opts.runConfig);
    if (opts.overwrite) clearDataset(this.dir);
    else {
      // Workers starting together race here: run.json is written before any shard, so a
      // folder with data but no run.json is looked at twice before it is called foreign.
      let had = readIfExists(runPath);
      if (had === null && hasData(this.dir)) had = readIfExists(runPath);
      if (had === null && hasData(this.dir)) {
        throw new CodedError('LC_ERR_DATASET_SETTINGS', `dataset ${this.dir} exists but has no ${RUN_FILE} to compare settings with; use --overwrite to replace it`, { dir: this.dir });
      }
      if (had !== null && had !== wanted) {
        throw new CodedError('LC_ERR_DATASET_SETTINGS', `dataset ${this.dir} was written with other settings (${diffKeys(JSON.parse(had), opts.runConfig)}); use --overwrite to replace it`, { dir: this.dir });
      }
    }
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(runPath, wanted);
    mkdirSync(join(this.dir, 'shards'), { recursive: true });
    mkdirSync(join(this.dir, PARTIAL_DIR), { recursive: true });
    this.complete = existsSync(join(this.dir, MANIFEST_FILE));
    if (!this.complete) this.recover();
    if (opts.meta && !this.complete) this.writeMeta(opts.meta);
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
    if (this.current) throw new Error(`dataset ${this.dir}: shard ${this.current.index} is still open`);
    if (!this.needsShard(index)) throw new Error(`dataset ${this.dir}: shard ${index} is not this worker's to write, or already written`);
    const first = index * this.opts.batchesPerShard * this.opts.batchSize;
    this.current = {
      index, sums: zeroSums(), samples: 0, nextSample: first,
      writer: new ShardWriter(join(this.dir, shardFileName(index)), this.schema, this.opts.layout, this.opts.codec, {
        indexPath: join(this.dir, indexFileOf(shardFileName(index))), firstBatch: index * this.opts.batchesPerShard, firstSample: first,
      }),
    };
    this.nextSequential = index + 1;
  }

  /** Appends the next batch of the open shard (or of the next shard, written in order). */
  append(batch: TopkBatch, sums?: StatSums): void {
    const n = batch.offsets.length - 1;
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
      cur.writer.append(batch);
    } catch (e) {
      // A rejected batch leaves nothing behind: the unfinished shard goes with it.
      this.abort();
      throw e;
    }
    cur.nextSample += n;
    cur.samples += n;
    if (sums) addSums(cur.sums, sums);
    if (cur.writer.batchCount === this.opts.batchesPerShard) this.endShard();
  }

  /** Commits the open shard (a no-op when none is open). */
  endShard(): void {
    const cur = this.current;
    if (!cur) return;
    // Shard, then index, then sidecar: a sidecar vouches for two committed files.
    const result = cur.writer.finish();
    const file = shardFileName(cur.index);
    const sidecar: Sidecar = {
      shard: {
        file,
        firstBatch: cur.index * this.opts.batchesPerShard,
        batchCount: result.batchCount,
        firstSample: cur.nextSample - cur.samples,
        sampleCount: cur.samples,
        tokens: result.tokens,
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
    if (Array.isArray(result)) throw new Error(`dataset ${this.dir}: shards ${result.join(', ')} are not written yet`);
    return result;
  }

  tryFinish(meta?: Pick<Manifest, 'teacher' | 'source'>): Manifest | number[] {
    this.endShard();
    if (meta) this.writeMeta(meta);
    // Shards this process wrote are trusted; others are checked against their sidecars.
    return finalizeDataset(this.dir, { trusted: new Set(this.done.keys()) });
  }

  /** Drops the shard in progress; committed shards stay for a later resume. */
  abort(): void {
    this.current?.writer.abort();
    this.current = null;
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
  private recover(): void {
    const shardsDir = join(this.dir, 'shards');
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

/** A manifest or a committed shard file: the folder holds a dataset, not just empty folders. */
function hasData(dir: string): boolean {
  if (existsSync(join(dir, MANIFEST_FILE))) return true;
  try {
    return readdirSync(join(dir, 'shards')).some((f) => f.endsWith('.arrow'));
  } catch {
    return false;
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
