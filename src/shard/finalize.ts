// Turns committed shards into a dataset: checks that every shard of the dataset has a sidecar
// whose file still matches it, sums the statistics, and writes manifest.json (the commit
// point). Run by the last precompute worker to finish, or by `logit-cache finalize`.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { sha256File } from './checksum.js';
import { MANIFEST_FILE, type Manifest, readManifest, type ShardEntry, writeManifest } from './manifest.js';
import { type CodecName, DEFAULT_Q8_SCALE, formatVersionOf, indexTypeFor, type TopkLayout } from './types.js';
import { isPlaneEncoded, rankDeltaFields } from './encodings/value-planes.js';
import { VERSION } from '../version.js';
import { CodedError } from '../errors.js';
import { PARTIAL_DIR, retireUnreferenced, sleepSync } from './generations.js';

export { PARTIAL_DIR };

/** Per-token statistics a shard accumulates; summed over shards for the manifest. */
export interface StatSums { tokens: number; massSum: number; top1Hits: number; top1Count: number }
export const zeroSums = (): StatSums => ({ tokens: 0, massSum: 0, top1Hits: 0, top1Count: 0 });

export interface Sidecar { shard: ShardEntry; sums: StatSums }

/** What the manifest needs beyond the shards; recorded in .partial/meta.json by precompute. */
export interface DatasetMeta extends Pick<Manifest, 'teacher' | 'source'> {
  datasetId: string;
  layout: TopkLayout;
  codec: CodecName;
  batchSize: number;
  batchesPerShard: number;
}

export const sidecarPath = (dir: string, index: number): string => join(dir, PARTIAL_DIR, `shard-${String(index).padStart(6, '0')}.json`);

/** The sidecar of shard `index`, and whether its file exists with the recorded size and sha256. */
export function readSidecar(dir: string, index: number, checkHash = true): { sidecar: Sidecar; valid: boolean } | null {
  const path = sidecarPath(dir, index);
  if (!existsSync(path)) return null;
  let sidecar: Sidecar;
  try {
    sidecar = JSON.parse(readFileSync(path, 'utf8')) as Sidecar;
  } catch {
    return null; // a sidecar is written atomically; an unreadable one is treated as absent
  }
  // A sidecar from before format 2.0 names no index: its shard is written again.
  const { shard } = sidecar;
  if (!shard?.index?.file) return { sidecar, valid: false };
  const intact = (rel: string, bytes: number, sha: string): boolean => {
    const file = join(dir, rel);
    return existsSync(file) && statSync(file).size === bytes && (!checkHash || sha256File(file) === sha);
  };
  const valid = intact(shard.file, shard.bytes, shard.sha256) && intact(shard.index.file, shard.index.bytes, shard.index.sha256);
  return { sidecar, valid };
}

export function readMeta(dir: string): DatasetMeta {
  const path = join(dir, PARTIAL_DIR, 'meta.json');
  if (!existsSync(path)) throw new CodedError('LC_ERR_INPUT_PATH', `${path}: missing; finalize needs a dataset folder that precompute-logits has started`, { path });
  return JSON.parse(readFileSync(path, 'utf8')) as DatasetMeta;
}

export interface FinalizeOptions {
  /** Shards whose files this process wrote: their sha256 is not recomputed. */
  trusted?: ReadonlySet<number>;
  /**
   * After the manifest switches to a new generation, how long the old one stays on disk before
   * it is deleted, so servers that cached the old manifest (catalog TTL, 1 s by default) see the
   * new one before the old files go. Default: $LOGIT_CACHE_RETIRE_GRACE_MS or 2000.
   */
  retireGraceMs?: number;
}

export function defaultRetireGraceMs(): number {
  const env = Number(process.env.LOGIT_CACHE_RETIRE_GRACE_MS);
  return Number.isFinite(env) && env >= 0 ? env : 2000;
}

/**
 * Writes the manifest when every shard of the build in progress is committed and returns it;
 * otherwise returns the indices of the shards still missing. With no build in progress, the
 * committed manifest is returned. The manifest rename is the switch: the previous version is
 * served until it, then its files are retired (after the grace period).
 */
export function finalizeDataset(dir: string, opts: FinalizeOptions = {}): Manifest | number[] {
  if (!existsSync(join(dir, PARTIAL_DIR, 'meta.json')) && existsSync(join(dir, MANIFEST_FILE))) return readManifest(dir);
  let meta: DatasetMeta;
  try {
    meta = readMeta(dir);
  } catch (e) {
    // Another worker may have finalized between our two checks.
    if (existsSync(join(dir, MANIFEST_FILE))) return readManifest(dir);
    throw e;
  }
  const totalBatches = Math.ceil(meta.source.samples / meta.batchSize);
  const shardCount = Math.ceil(totalBatches / meta.batchesPerShard);
  const sidecars: Sidecar[] = [];
  const missing: number[] = [];
  for (let s = 0; s < shardCount; s++) {
    const side = readSidecar(dir, s, !opts.trusted?.has(s));
    if (side?.valid) sidecars.push(side.sidecar);
    else missing.push(s);
  }
  // Another worker may have finalized meanwhile (and removed .partial/).
  if (missing.length) return !existsSync(join(dir, PARTIAL_DIR, 'meta.json')) && existsSync(join(dir, MANIFEST_FILE)) ? readManifest(dir) : missing;
  const manifest = buildManifest(meta, sidecars);
  writeManifest(dir, manifest);
  completeSwitch(dir, manifest, opts.retireGraceMs ?? defaultRetireGraceMs());
  return manifest;
}

/**
 * What follows a manifest switch: the files of other generations are deleted (after the grace
 * period when there are any) and the build's .partial/ goes. Also run by the next writer when a
 * kill came between the switch and this cleanup.
 */
export function completeSwitch(dir: string, manifest: Manifest, graceMs = 0): void {
  if (graceMs > 0 && hasOtherGenerations(dir, manifest)) sleepSync(graceMs);
  retireUnreferenced(dir, manifest, null);
  rmSync(join(dir, PARTIAL_DIR), { recursive: true, force: true });
}

function hasOtherGenerations(dir: string, manifest: Manifest): boolean {
  const named = new Set(manifest.shards.flatMap((s) => [s.file, s.index.file]));
  const shards = join(dir, 'shards');
  if (!existsSync(shards)) return false;
  return readdirSync(shards, { recursive: true, withFileTypes: true })
    .some((e) => e.isFile() && /^shard-\d{6}\.(idx\.arrow|arrow|parquet)$/.test(e.name) && !named.has(relative(dir, join(e.parentPath, e.name)).split(sep).join('/')));
}

function buildManifest(meta: DatasetMeta, sidecars: Sidecar[]): Manifest {
  // Shared-position counts are recorded in every shard or none: a build resumed from sidecars
  // written before the counts were (or a worker of an older version) leaves them out, and
  // readers count by decoding, as for any older dataset.
  const counted = meta.layout.sharedPrefixes === true && sidecars.every((s) => Number.isInteger(s.shard.sharedPositions));
  const shards = sidecars.map((s): ShardEntry => {
    if (counted || s.shard.sharedPositions === undefined) return s.shard;
    const { sharedPositions: _, ...rest } = s.shard;
    return rest;
  });
  const totals = zeroSums();
  for (const s of sidecars) {
    totals.tokens += s.sums.tokens; totals.massSum += s.sums.massSum; totals.top1Hits += s.sums.top1Hits; totals.top1Count += s.sums.top1Count;
  }
  const tokenCount = shards.reduce((a, s) => a + s.tokens, 0);
  const bytes = shards.reduce((a, s) => a + s.bytes, 0);
  const { layout } = meta;
  return {
    formatVersion: formatVersionOf(layout),
    datasetId: meta.datasetId,
    ...(layout.shardFormat === 'parquet' ? { shardFormat: 'parquet' as const } : {}),
    generator: { name: 'logit-cache', version: VERSION },
    teacher: meta.teacher,
    source: meta.source,
    topk: {
      k: layout.k, values: layout.values, indexType: indexTypeFor(layout.vocabSize),
      ...(layout.values === 'q8' ? { q8Scale: layout.q8Scale ?? DEFAULT_Q8_SCALE } : {}),
      ...(isPlaneEncoded(layout) ? rankDeltaFields(layout) : {}), ...(layout.tailMass ? { tailMass: true } : {}),
      ...(layout.topP !== undefined ? { topP: layout.topP, minK: layout.minK } : {}), ...(layout.ids === 'ctx-table' ? { ids: layout.ids } : {}),
      ...(layout.sharedPrefixes ? { sharedPrefixes: true } : {}), temperature: 1,
    },
    codec: meta.codec,
    batchSize: meta.batchSize,
    batchesPerShard: meta.batchesPerShard,
    batchCount: shards.reduce((a, s) => a + s.batchCount, 0),
    sampleCount: shards.reduce((a, s) => a + s.sampleCount, 0),
    tokenCount,
    shards,
    stats: {
      bytesPerToken: tokenCount ? bytes / tokenCount : 0,
      meanTopkMass: totals.tokens ? totals.massSum / totals.tokens : null,
      top1Agreement: totals.top1Count ? totals.top1Hits / totals.top1Count : null,
      ...(counted ? { sharedPositions: shards.reduce((a, s) => a + s.sharedPositions!, 0) } : {}),
    },
  };
}
