// The datasets under one root. A folder is a dataset exactly when it holds a manifest that
// validates and resolves inside the root; the manifest is re-stat'ed at most once per TTL and
// re-read, re-parsed and re-validated only when its mtime, size or inode change, so a dataset
// appears (or is replaced) without a restart. Every file access here is asynchronous: nothing
// on the request path blocks the event loop.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CodedError } from '../errors.js';
// The shard modules the server reads with, not the package's index (which also loads the
// writer, verify and migrate: start-up time for nothing a server calls).
import { CheckedDataset, layoutOf, localOpener, readerCaches, type ReaderCaches, realpathInside } from '../shard/checked-dataset.js';
import { sha256Hex } from '../shard/checksum.js';
import { type Manifest, MANIFEST_FILE, parseManifest } from '../shard/manifest.js';
import type { TopkLayout } from '../shard/types.js';
import { isDatasetId } from './dataset-id.js';

export interface CatalogOptions {
  root: string;
  /** How long a manifest's stat is trusted before it is checked again. */
  ttlMs?: number;
  /** Open shard files kept for reuse (least recently used beyond this are closed). */
  maxOpenShards?: number;
  /** Shards whose checked index and schema stay cached. */
  maxCachedShards?: number;
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
  /** The checked reader every batch is read through. */
  reader: CheckedDataset;
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
  /** In-flight checks, so a burst of requests for one id stats and parses once. */
  private readonly pending = new Map<string, Promise<Dataset | null>>();
  private readonly caches: ReaderCaches;

  constructor(private readonly opts: CatalogOptions) {
    this.root = opts.root;
    this.ttlMs = opts.ttlMs ?? 1000;
    this.caches = readerCaches({ maxOpenFiles: opts.maxOpenShards ?? 64, maxShards: opts.maxCachedShards ?? 1024 });
  }

  get openShardFiles(): number {
    return this.caches.sources.openCount;
  }

  /** The servable dataset `id`, or null (no folder, no manifest, outside the root, or a manifest that fails validation). */
  get(id: string, now = Date.now()): Promise<Dataset | null> {
    if (!isDatasetId(id)) return Promise.resolve(null);
    const cached = this.entries.get(id);
    if (cached && now - cached.checkedAt < this.ttlMs) return Promise.resolve(cached.dataset);
    let p = this.pending.get(id);
    if (!p) {
      p = this.refresh(id, cached, now).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }

  /** Every folder under the root that is or tries to be a dataset, sorted by id. */
  async list(): Promise<{ datasets: Dataset[]; unavailable: Unavailable[] }> {
    const datasets: Dataset[] = [];
    const unavailable: Unavailable[] = [];
    const names = (await readdir(this.root, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && isDatasetId(d.name))
      .map((d) => d.name)
      .sort();
    for (const id of names) {
      const ds = await this.get(id);
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
  async rootReadable(): Promise<boolean> {
    try {
      if (!(await stat(this.root)).isDirectory()) return false;
      await readdir(this.root);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.caches.sources.close();
    this.caches.shards.clear();
    this.entries.clear();
  }

  private async refresh(id: string, cached: Entry | undefined, now: number): Promise<Dataset | null> {
    const dir = join(this.root, id);
    const path = join(dir, MANIFEST_FILE);
    let stamp: string;
    try {
      const st = await stat(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      // Unknown ids are not remembered, so random probes cannot grow the map.
      this.entries.delete(id);
      cached?.dataset?.reader.forget();
      return null;
    }
    if (cached && cached.stamp === stamp) {
      cached.checkedAt = now;
      return cached.dataset;
    }
    const entry = await this.load(id, dir, path, stamp, now);
    if (entry.reason !== null) this.opts.onUnavailable?.(id, entry.reason);
    // The replaced version's open files and cached indexes go (leased ones when released).
    cached?.dataset?.reader.forget();
    this.entries.set(id, entry);
    return entry.dataset;
  }

  private async load(id: string, dir: string, path: string, stamp: string, now: number): Promise<Entry> {
    try {
      // The folder (a symlink, perhaps) and its manifest must resolve inside the root.
      const dirReal = await realpathInside(await realpath(this.root), dir, id, 'the root');
      await realpathInside(dirReal, path, `${id}/${MANIFEST_FILE}`);
      const text = await readFile(path, 'utf8');
      const manifest = parseManifest(text, path);
      if (manifest.datasetId !== id) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${path}: manifest names dataset "${manifest.datasetId}", folder is "${id}"`, { file: path });
      const bytes = manifest.shards.reduce((a, s) => a + s.bytes, 0);
      const reader = new CheckedDataset(manifest, localOpener(dirReal), `${dirReal}\0${stamp}`, this.caches);
      const dataset: Dataset = {
        id, dir, manifest, layout: layoutOf(manifest), manifestText: text, manifestSha256: sha256Hex(Buffer.from(text)), bytes, reader,
      };
      return { checkedAt: now, stamp, dataset, reason: null };
    } catch (e) {
      return { checkedAt: now, stamp, dataset: null, reason: (e as Error).message };
    }
  }
}
