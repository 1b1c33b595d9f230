// Turns committed shards into a dataset: checks that every shard of the dataset has a sidecar
// whose file still matches it, sums the statistics, and writes manifest.json (the commit
// point). Run by the last precompute worker to finish, or by `logit-cache finalize`.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from './checksum.js';
import { MANIFEST_FILE, type Manifest, readManifest, type ShardEntry, writeManifest } from './manifest.js';
import { type CodecName, formatVersionOf, indexTypeFor, type TopkLayout } from './types.js';
import { DEFAULT_Q8_SCALE } from './values.js';
import { isPlaneEncoded, rankDeltaFields } from './encodings/value-planes.js';
import { VERSION } from '../version.js';

export const PARTIAL_DIR = '.partial';

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
  if (!existsSync(path)) throw new Error(`${path}: missing; finalize needs a dataset folder that precompute-logits has started`);
  return JSON.parse(readFileSync(path, 'utf8')) as DatasetMeta;
}

/**
 * Writes the manifest when every shard is committed and returns it; otherwise returns the
 * indices of the shards still missing. `trusted` shards skip the sha256 re-check.
 */
export function finalizeDataset(dir: string, opts: { trusted?: ReadonlySet<number> } = {}): Manifest | number[] {
  if (existsSync(join(dir, MANIFEST_FILE))) return readManifest(dir);
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
  if (missing.length) return existsSync(join(dir, MANIFEST_FILE)) ? readManifest(dir) : missing;
  const manifest = buildManifest(meta, sidecars);
  writeManifest(dir, manifest);
  rmSync(join(dir, PARTIAL_DIR), { recursive: true, force: true });
  return manifest;
}

function buildManifest(meta: DatasetMeta, sidecars: Sidecar[]): Manifest {
  const shards = sidecars.map((s) => s.shard);
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
    generator: { name: 'logit-cache', version: VERSION },
    teacher: meta.teacher,
    source: meta.source,
    topk: {
      k: layout.k, values: layout.values, indexType: indexTypeFor(layout.vocabSize),
      ...(layout.values === 'q8' ? { q8Scale: layout.q8Scale ?? DEFAULT_Q8_SCALE } : {}),
      ...(isPlaneEncoded(layout) ? rankDeltaFields(layout) : {}), ...(layout.tailMass ? { tailMass: true } : {}), temperature: 1,
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
    },
  };
}
