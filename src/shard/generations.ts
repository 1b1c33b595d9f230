// Where a build's shards go, and how the folder is brought back to exactly what the format
// names. A dataset's first build writes shards/shard-N.arrow (generation 0); `--overwrite`
// builds the new version in a fresh generation folder shards/g<N>/ beside the served one,
// switches by the manifest rename, and only then retires the old generation. Anything in the
// folder that neither the manifest nor the build in progress names is a leftover (a kill
// between the switch and the cleanup, a temporary file of a dead process) and is removed by
// the next writer.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TEMP_SUFFIX, writeFileAtomic } from './fs-atomic.js';
import { isProcessAlive } from './lock.js';
import type { Manifest } from './manifest.js';
import type { ShardFormat } from './types.js';

export const PARTIAL_DIR = '.partial';
export const SHARDS_DIR = 'shards';
/** In .partial/: which generation the build in progress writes. */
const BUILD_FILE = 'build.json';

export const generationDir = (generation: number): string => (generation === 0 ? SHARDS_DIR : `${SHARDS_DIR}/g${generation}`);

export const shardFileName = (index: number, generation = 0, format: ShardFormat = 'arrow'): string =>
  `${generationDir(generation)}/shard-${String(index).padStart(6, '0')}.${format === 'parquet' ? 'parquet' : 'arrow'}`;

/** Generation of a manifest path (`shards/g3/shard-000000.arrow` -> 3, `shards/shard-…` -> 0). */
/** A shard's index file name (the index is Arrow IPC whatever the shard format). */
export const indexFileOf = (shardFile: string): string => shardFile.replace(/\.(arrow|parquet)$/, '.idx.arrow');

export function generationOfFile(file: string): number {
  const m = /^shards\/g(\d+)\//.exec(file);
  return m ? Number(m[1]) : 0;
}

export function manifestGeneration(m: Manifest): number {
  return m.shards.length ? generationOfFile(m.shards[0].file) : 0;
}

/** The generation of the build in progress (its .partial/ folder), or null when none is. */
export function buildGeneration(dir: string): number | null {
  const partial = join(dir, PARTIAL_DIR);
  if (!existsSync(partial)) return null;
  try {
    const g = (JSON.parse(readFileSync(join(partial, BUILD_FILE), 'utf8')) as { generation?: unknown }).generation;
    if (Number.isInteger(g) && (g as number) >= 0) return g as number;
  } catch {
    // written before generations existed, or never: such a build writes generation 0
  }
  // An empty .partial/ (left by older versions on a finished dataset) is no build.
  return readdirSync(partial).length ? 0 : null;
}

export function writeBuildGeneration(dir: string, generation: number): void {
  writeFileAtomic(join(dir, PARTIAL_DIR, BUILD_FILE), JSON.stringify({ generation }));
}

/** The generation a new build beside `m` takes: above every generation present. */
export function nextGeneration(dir: string, m: Manifest | null): number {
  let top = m ? manifestGeneration(m) : 0;
  for (const g of generationFolders(dir)) top = Math.max(top, g);
  return top + 1;
}

function generationFolders(dir: string): number[] {
  const shards = join(dir, SHARDS_DIR);
  if (!existsSync(shards)) return [];
  return readdirSync(shards, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^g\d{1,9}$/.test(e.name))
    .map((e) => Number(e.name.slice(1)));
}

/**
 * Removes from shards/ every file and generation folder that is neither named by `m` nor
 * inside the generation `building` (the build in progress, whose files recover() sorts out).
 * Returns how many entries were removed.
 */
export function retireUnreferenced(dir: string, m: Manifest | null, building: number | null): number {
  const shards = join(dir, SHARDS_DIR);
  if (!existsSync(shards)) return 0;
  const named = new Set<string>();
  for (const s of m?.shards ?? []) {
    named.add(s.file);
    if (s.index?.file) named.add(s.index.file);
  }
  const keptGenerations = new Set<number>();
  if (m) keptGenerations.add(manifestGeneration(m));
  if (building !== null) keptGenerations.add(building);
  let removed = 0;
  const sweep = (rel: string, wholeFolderKept: boolean) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (rel !== SHARDS_DIR || !/^g\d{1,9}$/.test(e.name)) continue; // not the format's: not ours to delete
        const g = Number(e.name.slice(1));
        if (!keptGenerations.has(g)) {
          rmSync(join(dir, path), { recursive: true, force: true });
          removed++;
        } else sweep(path, g === building);
        continue;
      }
      if (wholeFolderKept || named.has(path) || !/^shard-\d{6}\./.test(e.name)) continue;
      rmSync(join(dir, path), { force: true });
      removed++;
    }
  };
  sweep(SHARDS_DIR, building === 0);
  return removed;
}

/** pid embedded in a temporary name (`<target>.<pid>-<hex>.tmp`), or null. */
function tempPid(name: string): number | null {
  const m = /\.(\d+)-[0-9a-f]{8}\.tmp$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Removes temporary files (manifest.json.*.tmp, sidecar and shard temporaries) that no live
 * writer owns: their process is gone, or (when other workers may run on other machines and
 * their pids mean nothing here) they are older than an hour. Also the `.tmp` names of
 * versions before unique names (`manifest.json.<pid>.tmp`, `shard-N.arrow.tmp`).
 */
export function removeOrphanTemporaries(dir: string, sharedWithOtherMachines: boolean): number {
  let removed = 0;
  const hourAgo = Date.now() - 3600_000;
  const sweep = (folder: string, depth: number) => {
    if (!existsSync(folder)) return;
    for (const e of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, e.name);
      if (e.isDirectory()) {
        if (depth < 2 && (e.name === SHARDS_DIR || e.name === PARTIAL_DIR || /^g\d{1,9}$/.test(e.name))) sweep(path, depth + 1);
        continue;
      }
      if (!e.name.endsWith('.tmp')) continue;
      const pid = TEMP_SUFFIX.test(e.name) ? tempPid(e.name) : null;
      const ownerGone = pid === null || pid === process.pid || !isProcessAlive(pid);
      let old = true;
      if (sharedWithOtherMachines) {
        try {
          old = statSync(path).mtimeMs < hourAgo;
        } catch {
          continue;
        }
      }
      if (ownerGone && (old || pid === process.pid)) {
        rmSync(path, { force: true });
        removed++;
      }
    }
  };
  sweep(dir, 0);
  return removed;
}

/** Blocks the thread for `ms` (the writer is synchronous; this runs once, after a switch). */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
