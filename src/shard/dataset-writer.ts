// Writes a whole dataset folder: shards rolled every `batchesPerShard` batches, each
// committed with a sidecar in .partial/ (what a resumed run trusts), and manifest.json
// last. A killed run leaves only whole shards, so re-running continues after the last one.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from './checksum.js';
import { writeFileAtomic } from './fs-atomic.js';
import { MANIFEST_FILE, type Manifest, type ShardEntry, writeManifest } from './manifest.js';
import { shardSchema } from './schema.js';
import { ShardWriter } from './shard-writer.js';
import { type CodecName, FORMAT_VERSION, indexTypeFor, type TopkBatch, type TopkLayout } from './types.js';
import { VERSION } from '../version.js';
import type { Schema } from 'apache-arrow';

export const RUN_FILE = 'run.json';
const PARTIAL_DIR = '.partial';

/** Per-token statistics a shard accumulates; summed over shards for the manifest. */
export interface StatSums { tokens: number; massSum: number; top1Hits: number; top1Count: number }
const zeroSums = (): StatSums => ({ tokens: 0, massSum: 0, top1Hits: 0, top1Count: 0 });

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
}

interface Sidecar { shard: ShardEntry; sums: StatSums }

export const shardFileName = (index: number): string => `shards/shard-${String(index).padStart(6, '0')}.arrow`;

export class DatasetWriter {
  readonly dir: string;
  /** Batches already committed by an earlier run of the same settings. */
  readonly resumeFromBatch: number;
  /** The manifest exists and was written with these settings: nothing to do. */
  readonly complete: boolean;
  private readonly done: Sidecar[];
  private readonly schema: Schema;
  private current: ShardWriter | null = null;
  private currentSums: StatSums = zeroSums();
  private currentSamples = 0;
  private nextSample: number;

  constructor(private readonly opts: DatasetWriterOptions) {
    this.dir = join(opts.root, opts.datasetId);
    this.schema = shardSchema(opts.layout);
    const runPath = join(this.dir, RUN_FILE);
    const wanted = JSON.stringify(opts.runConfig);
    if (opts.overwrite) clearDataset(this.dir);
    else if (existsSync(runPath)) {
      const had = readFileSync(runPath, 'utf8');
      if (had !== wanted) {
        throw new Error(`dataset ${this.dir} was written with other settings (${diffKeys(JSON.parse(had), opts.runConfig)}); use --overwrite to replace it`);
      }
    } else if (existsSync(join(this.dir, MANIFEST_FILE)) || existsSync(join(this.dir, 'shards'))) {
      throw new Error(`dataset ${this.dir} exists but has no ${RUN_FILE} to compare settings with; use --overwrite to replace it`);
    }
    mkdirSync(join(this.dir, 'shards'), { recursive: true });
    mkdirSync(join(this.dir, PARTIAL_DIR), { recursive: true });
    writeFileAtomic(runPath, wanted);
    this.complete = existsSync(join(this.dir, MANIFEST_FILE));
    this.done = this.complete ? [] : recoverShards(this.dir);
    this.resumeFromBatch = this.done.reduce((a, s) => a + s.shard.batchCount, 0);
    this.nextSample = this.done.reduce((a, s) => a + s.shard.sampleCount, 0);
  }

  /** Appends the next batch (index resumeFromBatch + batches appended so far). */
  append(batch: TopkBatch, sums?: StatSums): void {
    const n = batch.offsets.length - 1;
    for (let i = 0; i < n; i++) {
      if (batch.sampleIds[i] !== this.nextSample + i) {
        throw new Error(`dataset ${this.dir}: batch holds sample ${batch.sampleIds[i]} at row ${i}, expected ${this.nextSample + i}`);
      }
    }
    if (!this.current) {
      this.current = new ShardWriter(join(this.dir, shardFileName(this.done.length)), this.schema, this.opts.layout, this.opts.codec);
    }
    try {
      this.current.append(batch);
    } catch (e) {
      // A rejected batch leaves nothing behind: the unfinished shard goes with it.
      this.abort();
      throw e;
    }
    this.nextSample += n;
    this.currentSamples += n;
    if (sums) addSums(this.currentSums, sums);
    if (this.current.batchCount === this.opts.batchesPerShard) this.commitShard();
  }

  /** Commits the last shard and writes the manifest: the dataset's commit point. */
  finish(meta: Pick<Manifest, 'teacher' | 'source'>): Manifest {
    if (this.current) this.commitShard();
    const shards = this.done.map((s) => s.shard);
    const totals = zeroSums();
    for (const s of this.done) addSums(totals, s.sums);
    const tokenCount = shards.reduce((a, s) => a + s.tokens, 0);
    const bytes = shards.reduce((a, s) => a + s.bytes, 0);
    const { layout } = this.opts;
    const manifest: Manifest = {
      formatVersion: FORMAT_VERSION,
      datasetId: this.opts.datasetId,
      generator: { name: 'logit-cache', version: VERSION },
      teacher: meta.teacher,
      source: meta.source,
      topk: {
        k: layout.k, values: layout.values, indexType: indexTypeFor(layout.vocabSize),
        ...(layout.values === 'q8' ? { q8Scale: layout.q8Scale } : {}), temperature: 1,
      },
      codec: this.opts.codec,
      batchSize: this.opts.batchSize,
      batchesPerShard: this.opts.batchesPerShard,
      batchCount: shards.reduce((a, s) => a + s.batchCount, 0),
      sampleCount: shards.reduce((a, s) => a + s.sampleCount, 0),
      tokenCount,
      shards,
      stats: {
        bytesPerToken: tokenCount ? bytes / tokenCount : 0,
        meanTopkMass: totals.tokens ? totals.massSum / totals.tokens : null,
        top1Agreement: totals.top1Count ? totals.top1Hits / totals.top1Count : null,
      },
    };
    writeManifest(this.dir, manifest);
    rmSync(join(this.dir, PARTIAL_DIR), { recursive: true, force: true });
    return manifest;
  }

  /** Drops the shard in progress; committed shards stay for a later resume. */
  abort(): void {
    this.current?.abort();
    this.current = null;
  }

  private commitShard(): void {
    const writer = this.current!;
    const index = this.done.length;
    const result = writer.finish();
    const firstBatch = this.done.reduce((a, s) => a + s.shard.batchCount, 0);
    const shard: ShardEntry = {
      file: shardFileName(index),
      firstBatch,
      batchCount: result.batches.length,
      firstSample: this.nextSample - this.currentSamples,
      sampleCount: this.currentSamples,
      tokens: result.batches.reduce((a, b) => a + b.tokens, 0),
      bytes: result.bytes,
      sha256: result.sha256,
      schemaLength: result.schemaLength,
      batches: result.batches,
    };
    const sidecar: Sidecar = { shard, sums: this.currentSums };
    writeFileAtomic(join(this.dir, PARTIAL_DIR, `shard-${String(index).padStart(6, '0')}.json`), JSON.stringify(sidecar));
    this.done.push(sidecar);
    this.current = null;
    this.currentSums = zeroSums();
    this.currentSamples = 0;
  }
}

function addSums(into: StatSums, d: StatSums): void {
  into.tokens += d.tokens; into.massSum += d.massSum; into.top1Hits += d.top1Hits; into.top1Count += d.top1Count;
}

/** Keeps the longest run of shards 0,1,2… whose sidecar and file agree; removes the rest. */
function recoverShards(dir: string): Sidecar[] {
  const kept: Sidecar[] = [];
  for (;;) {
    const side = join(dir, PARTIAL_DIR, `shard-${String(kept.length).padStart(6, '0')}.json`);
    if (!existsSync(side)) break;
    const s = JSON.parse(readFileSync(side, 'utf8')) as Sidecar;
    const file = join(dir, s.shard.file);
    if (!existsSync(file) || statSync(file).size !== s.shard.bytes || sha256File(file) !== s.shard.sha256) break;
    kept.push(s);
  }
  const keep = new Set(kept.map((s) => s.shard.file.slice('shards/'.length)));
  for (const f of readdirSync(join(dir, 'shards'), { withFileTypes: false }) as string[]) {
    if (!keep.has(f)) rmSync(join(dir, 'shards', f), { force: true });
  }
  for (const f of readdirSync(join(dir, PARTIAL_DIR)) as string[]) {
    if (!keep.has(f.replace(/\.json$/, '.arrow'))) rmSync(join(dir, PARTIAL_DIR, f), { force: true });
  }
  return kept;
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
