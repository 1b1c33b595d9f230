// The datasets under one root. A folder is a dataset exactly when it holds a manifest that
// validates; the manifest is re-stat'ed at most once per TTL and re-parsed only when its
// mtime, size or inode change, so a dataset appears (or is replaced) without a restart.
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import {
  type BatchEntry, layoutOf, type Manifest, MANIFEST_FILE, parseManifest, ShardCorruptError, type ShardEntry,
  shardIndexOf, sha256Hex, type TopkLayout,
} from '../shard/index.js';
import { isDatasetId } from './dataset-id.js';
import { OpenShard } from './open-shard.js';
import { ShardPool } from './shard-pool.js';

export interface CatalogOptions {
  root: string;
  /** How long a manifest's stat is trusted before it is checked again. */
  ttlMs?: number;
  /** Open shard files kept for reuse (least recently used beyond this are closed). */
  maxOpenShards?: number;
  /** Told once per manifest version that cannot be served, with the reason. */
  onUnavailable?: (datasetId: string, reason: string) => void;
}

export interface Dataset {
  id: string;
  dir: string;
  manifest: Manifest;
  layout: TopkLayout;
  /** manifest.json exactly as stored, for GET /datasets/:id. */
  manifestText: string;
  manifestSha256: string;
  /** Sum of shard sizes. */
  bytes: number;
}

export interface Unavailable { datasetId: string; reason: string }

interface Entry {
  checkedAt: number;
  stamp: string;
  dataset: Dataset | null;
  reason: string | null;
}

export class Catalog {
  readonly root: string;
  private readonly ttlMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly pool: ShardPool<OpenShard>;

  constructor(private readonly opts: CatalogOptions) {
    this.root = opts.root;
    this.ttlMs = opts.ttlMs ?? 1000;
    this.pool = new ShardPool(opts.maxOpenShards ?? 64);
  }

  get openShardFiles(): number {
    return this.pool.openCount;
  }

  /** The servable dataset `id`, or null (no folder, no manifest, or a manifest that fails validation). */
  get(id: string, now = Date.now()): Dataset | null {
    if (!isDatasetId(id)) return null;
    const cached = this.entries.get(id);
    if (cached && now - cached.checkedAt < this.ttlMs) return cached.dataset;
    const dir = join(this.root, id);
    const path = join(dir, MANIFEST_FILE);
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      // Unknown ids are not remembered, so random probes cannot grow the map.
      this.entries.delete(id);
      return null;
    }
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (cached && cached.stamp === stamp) {
      cached.checkedAt = now;
      return cached.dataset;
    }
    const entry = loadEntry(id, dir, path, stamp, now);
    if (entry.reason !== null) this.opts.onUnavailable?.(id, entry.reason);
    this.entries.set(id, entry);
    return entry.dataset;
  }

  /** Every folder under the root that is or tries to be a dataset, sorted by id. */
  list(): { datasets: Dataset[]; unavailable: Unavailable[] } {
    const datasets: Dataset[] = [];
    const unavailable: Unavailable[] = [];
    const names = readdirSync(this.root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && isDatasetId(d.name))
      .map((d) => d.name)
      .sort();
    for (const id of names) {
      const ds = this.get(id);
      if (ds) datasets.push(ds);
      else {
        const reason = this.entries.get(id)?.reason;
        // A folder without a manifest is a precompute in progress (or not ours): not listed.
        if (reason) unavailable.push({ datasetId: id, reason });
      }
    }
    return { datasets, unavailable };
  }

  /** Whether the root can be listed now. */
  rootReadable(): boolean {
    try {
      return statSync(this.root).isDirectory() && (readdirSync(this.root), true);
    } catch {
      return false;
    }
  }

  /** The manifest entries of `batch` (which must be below the batch count). */
  locate(ds: Dataset, batch: number): { shard: ShardEntry; entry: BatchEntry } {
    const shard = ds.manifest.shards[shardIndexOf(ds.manifest, batch)];
    return { shard, entry: shard.batches[batch - shard.firstBatch] };
  }

  /**
   * Runs `use` with the open shard holding `batch` (opened or reused from the pool),
   * leased until the promise settles, so eviction meanwhile cannot close it. A shard
   * found corrupt is dropped from the pool, so the next request re-opens and re-checks it.
   */
  async withShard<R>(ds: Dataset, batch: number, use: (shard: OpenShard, entry: BatchEntry) => Promise<R>): Promise<R> {
    const { shard, entry } = this.locate(ds, batch);
    const path = join(ds.dir, shard.file);
    // The shard's identity is its content: a rewritten dataset gets fresh descriptors.
    const key = `${path}\0${shard.sha256}\0${shard.bytes}`;
    const lease = this.pool.acquire(key, () => new OpenShard(path, shard, ds.layout));
    try {
      return await use(lease.value, entry);
    } catch (e) {
      if (e instanceof ShardCorruptError) this.pool.discard(key);
      throw e;
    } finally {
      lease.release();
    }
  }

  close(): void {
    this.pool.close();
    this.entries.clear();
  }
}

function loadEntry(id: string, dir: string, path: string, stamp: string, now: number): Entry {
  try {
    const text = readFileSync(path, 'utf8');
    const manifest = parseManifest(text, path);
    if (manifest.datasetId !== id) throw new Error(`${path}: manifest names dataset "${manifest.datasetId}", folder is "${id}"`);
    const bytes = manifest.shards.reduce((a, s) => a + s.bytes, 0);
    const dataset: Dataset = { id, dir, manifest, layout: layoutOf(manifest), manifestText: text, manifestSha256: sha256Hex(Buffer.from(text)), bytes };
    return { checkedAt: now, stamp, dataset, reason: null };
  } catch (e) {
    return { checkedAt: now, stamp, dataset: null, reason: (e as Error).message };
  }
}

