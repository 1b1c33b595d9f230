// A dataset opened through the checked shard reader: the manifest, batch -> shard lookup by
// binary search, a bounded LRU of checked shard indexes and schemas, and a bounded pool of
// open byte sources. The TypeScript reader, verify, inspect and the server all read here.
import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { type ByteSource, HttpRangeSource, type HttpSourceOptions, LocalFileSource } from './byte-source.js';
import { CodedError } from '../errors.js';
import { PathEscapeError, ShardCorruptError } from './errors.js';
import { LeasePool, PromiseLru } from './lease-pool.js';
import { type Manifest, parseManifest, readManifestAsync, type ShardEntry } from './manifest.js';
import { type BatchInfo, checkShardSize, decodeVerified, type ReadOptions, ShardReader, type VerifiedBatch } from './shard-reader.js';
import type { TopkBatch, TopkLayout } from './types.js';
import { SharedPrefixResolver } from './shared-read.js';

/** Opens a file the manifest names (by its relative name) as a byte source. */
export type SourceOpener = (name: string) => Promise<ByteSource>;

/** Caches that may be shared by many datasets (the server shares one set for the whole root). */
export interface ReaderCaches {
  shards: PromiseLru<ShardReader>;
  sources: LeasePool<ByteSource>;
}

export interface CacheLimits {
  /** Shards whose checked index and schema are kept (default 256). */
  maxShards?: number;
  /** Open shard sources (file descriptors) kept for reuse (default 64). */
  maxOpenFiles?: number;
}

export function readerCaches(o: CacheLimits = {}): ReaderCaches {
  return { shards: new PromiseLru(o.maxShards ?? 256), sources: new LeasePool(o.maxOpenFiles ?? 64) };
}

export function layoutOf(m: Manifest): TopkLayout {
  return {
    k: m.topk.k, vocabSize: m.teacher.vocabSize, values: m.topk.values, ...(m.topk.q8Scale ? { q8Scale: m.topk.q8Scale } : {}),
    ...(m.topk.f16Ranks !== undefined ? { f16Ranks: m.topk.f16Ranks } : {}), ...(m.topk.gridStep !== undefined ? { gridStep: m.topk.gridStep } : {}),
    ...(m.topk.tailMass ? { tailMass: true } : {}), ...(m.shardFormat === 'parquet' ? { shardFormat: 'parquet' as const } : {}),
    ...(m.topk.topP !== undefined ? { topP: m.topk.topP, minK: m.topk.minK ?? 1 } : {}), ...(m.topk.ids === 'ctx-table' ? { ids: m.topk.ids } : {}),
    ...(m.topk.sharedPrefixes ? { sharedPrefixes: true } : {}),
  };
}

/** Index of the shard holding `batch` (shards are sorted by firstBatch). */
export function shardIndexOf(m: Manifest, batch: number): number {
  let lo = 0, hi = m.shards.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (m.shards[mid].firstBatch <= batch) lo = mid; else hi = mid - 1;
  }
  return lo;
}

/**
 * The real path of `path`, which must lie strictly inside `baseReal` (itself a real path).
 * Throws PathEscapeError naming only `name`, so nothing about a link's target leaks.
 */
export async function realpathInside(baseReal: string, path: string, name: string, within?: string): Promise<string> {
  const real = await realpath(path);
  if (!real.startsWith(baseReal.endsWith(sep) ? baseReal : baseReal + sep)) throw new PathEscapeError(name, within);
  return real;
}

/** Local files under `dir`, each resolved by realpath and refused unless it stays inside `dir`. */
export function localOpener(dir: string): SourceOpener {
  let base: Promise<string> | null = null;
  return async (name) => {
    base ??= realpath(dir);
    const real = await realpathInside(await base, join(dir, name), name);
    return LocalFileSource.open(real, name);
  };
}

export interface OpenOptions extends CacheLimits {
  /** The dataset folder must resolve inside this folder (the server's root). */
  root?: string;
  caches?: ReaderCaches;
}

export class CheckedDataset {
  readonly layout: TopkLayout;
  private readonly caches: ReaderCaches;
  /** Shared-prefix datasets: resolves stored batches against their owners (recent roots' rows kept, bounded in bytes). */
  private readonly resolver: SharedPrefixResolver | null;
  /** Stored batches read from shard files by shared-prefix resolution (owners included): what random access costs (bench/storage). */
  storedBatchReads = 0;
  private readonly ownsCaches: boolean;

  /**
   * `key` identifies the dataset in shared caches (its folder or URL); `open` resolves the
   * manifest's relative names.
   */
  constructor(readonly manifest: Manifest, private readonly open: SourceOpener, readonly key: string, caches?: ReaderCaches) {
    this.layout = layoutOf(manifest);
    this.resolver = this.layout.sharedPrefixes
      ? new SharedPrefixResolver(this.layout, manifest.batchSize, (batch, memo) => {
        this.storedBatchReads++;
        return this.withShard(batch, (reader, source) => reader.readStored(source, batch, memo));
      })
      : null;
    this.ownsCaches = !caches;
    this.caches = caches ?? readerCaches();
  }

  /** A local dataset folder (manifest read and validated off the event loop). */
  static async open(dir: string, opts: OpenOptions = {}): Promise<CheckedDataset> {
    if (opts.root !== undefined) await realpathInside(await realpath(opts.root), dir, dir.slice(opts.root.length + 1) || dir, 'the root');
    const { manifest } = await readManifestAsync(dir);
    return new CheckedDataset(manifest, localOpener(dir), await realpath(dir), opts.caches ?? readerCaches(opts));
  }

  /** A dataset published over HTTP: `<baseUrl>/manifest.json` and Range reads of its files. */
  static async openUrl(baseUrl: string, opts: CacheLimits & { http?: HttpSourceOptions; caches?: ReaderCaches } = {}): Promise<CheckedDataset> {
    const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    const where = `${base.split('?')[0]}manifest.json`;
    let res: Response, text: string;
    try {
      res = await (opts.http?.fetch ?? fetch)(`${base}manifest.json`, { headers: opts.http?.headers });
      text = await res.text();
    } catch (e) {
      throw new CodedError('LC_ERR_SOURCE_READ', `${where}: ${(e as Error)?.message ?? String(e)}`, { source: where }, { cause: e });
    }
    // 404: no manifest there (not a dataset, or not committed yet); any other status: the server failed us.
    if (res.status === 404) throw new CodedError('LC_ERR_MANIFEST_INVALID', `${where}: answered 404; no manifest, not a dataset or its precompute has not finished`, { file: where });
    if (res.status !== 200) throw new CodedError('LC_ERR_SOURCE_READ', `${where}: answered ${res.status}`, { source: where });
    const manifest = parseManifest(text, where);
    return new CheckedDataset(manifest, (name) => HttpRangeSource.open(base + name, { ...opts.http, name }), base, opts.caches ?? readerCaches(opts));
  }

  get batchCount(): number {
    return this.manifest.batchCount;
  }

  /** The checked reader of shard `si` (index and schema verified once, then cached). */
  shard(si: number): Promise<ShardReader> {
    const entry = this.manifest.shards[si];
    return this.caches.shards.get(this.shardKey(entry), async () => {
      const lease = await this.caches.sources.acquire(this.sourceKey(entry), () => this.openShardSource(entry));
      try {
        const indexSource = await this.openChecked(entry, entry.index.file);
        try {
          return await ShardReader.open(entry, { layout: this.layout, batchSize: this.manifest.batchSize, isLastShard: si === this.manifest.shards.length - 1 }, lease.value, indexSource);
        } finally {
          await indexSource.close();
        }
      } catch (e) {
        this.caches.sources.discard(this.sourceKey(entry));
        throw asCorrupt(e, entry);
      } finally {
        lease.release();
      }
    });
  }

  /** The checked index row of `batch`: sizes, counts and both hashes, without reading the batch. */
  async info(batch: number): Promise<BatchInfo> {
    this.checkBatch(batch);
    return (await this.shard(shardIndexOf(this.manifest, batch))).info(batch);
  }

  /**
   * Batch `batch` as a verified one-batch IPC stream. Shared-prefix datasets (format 2.5):
   * the resolved batch's stream, built and checked by shared-read.ts.
   */
  async readStream(batch: number, opts?: ReadOptions): Promise<VerifiedBatch> {
    this.checkBatch(batch);
    if (this.resolver) {
      const entry = this.manifest.shards[shardIndexOf(this.manifest, batch)];
      try {
        return await this.resolver.readStream(batch, this.shardKey(entry), opts);
      } catch (e) {
        this.caches.shards.delete(this.shardKey(entry));
        this.resolver.forget();
        throw asCorrupt(e, entry, batch);
      }
    }
    return this.withShard(batch, (reader, source) => reader.read(source, batch, opts));
  }

  /**
   * Shared-prefix datasets: how many of the batch's positions are stored and how many are
   * taken from an owner (its stored prefix_len), read through the checked path; null otherwise.
   */
  async sharedPositions(batch: number): Promise<{ stored: number; shared: number } | null> {
    this.checkBatch(batch);
    if (!this.resolver) return null;
    const { refs, offsets } = await this.resolver.refs(batch);
    let shared = 0;
    for (let i = 0; i < refs.len.length; i++) shared += refs.len[i];
    return { stored: offsets[offsets.length - 1] - shared, shared };
  }

  /** Reads through the checked reader of `batch`'s shard; a failure drops that shard's cached index and source. */
  private async withShard<T>(batch: number, read: (reader: ShardReader, source: ByteSource) => Promise<T>): Promise<T> {
    const entry = this.manifest.shards[shardIndexOf(this.manifest, batch)];
    const reader = await this.shard(shardIndexOf(this.manifest, batch));
    const lease = await this.caches.sources.acquire(this.sourceKey(entry), () => this.openShardSource(entry));
    try {
      return await read(reader, lease.value);
    } catch (e) {
      // A shard found corrupt is re-opened and re-checked by the next read, not trusted from cache.
      this.caches.sources.discard(this.sourceKey(entry));
      this.caches.shards.delete(this.shardKey(entry));
      throw asCorrupt(e, entry, batch);
    } finally {
      lease.release();
    }
  }

  /** Batch `batch` decoded to typed arrays (verified, then decoded). */
  async readBatch(batch: number): Promise<TopkBatch> {
    return decodeVerified(await this.readStream(batch), this.layout);
  }

  /** Opens a manifest-named file through this dataset's opener, errors naming only `name`. */
  async openChecked(entry: ShardEntry, name: string): Promise<ByteSource> {
    try {
      return await this.open(name);
    } catch (e) {
      const detail = e instanceof PathEscapeError ? 'resolves outside the dataset folder; refused'
        : (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new ShardCorruptError(entry.file, null, `cannot open ${name}: ${detail}`);
    }
  }

  /** Drops every cached index and open source of this dataset's shards. */
  forget(): void {
    this.resolver?.forget();
    for (const entry of this.manifest.shards) {
      this.caches.shards.delete(this.shardKey(entry));
      this.caches.sources.discard(this.sourceKey(entry));
    }
  }

  async close(): Promise<void> {
    if (this.ownsCaches) {
      this.caches.sources.close();
      this.caches.shards.clear();
    } else this.forget();
  }

  private async openShardSource(entry: ShardEntry): Promise<ByteSource> {
    const source = await this.openChecked(entry, entry.file);
    try {
      checkShardSize(source, entry);
    } catch (e) {
      await source.close();
      throw e;
    }
    return source;
  }

  private checkBatch(batch: number): void {
    if (!Number.isInteger(batch) || batch < 0 || batch >= this.manifest.batchCount) {
      throw new RangeError(`batch ${batch} is out of range: dataset ${this.manifest.datasetId} has ${this.manifest.batchCount} batches`);
    }
  }

  // The content hashes make a rewritten dataset's shards new keys: nothing stale is reused.
  private shardKey(e: ShardEntry): string {
    return `${this.key}\0${e.file}\0${e.sha256}\0${e.index.sha256}`;
  }

  private sourceKey(e: ShardEntry): string {
    return `${this.key}\0${e.file}\0${e.sha256}`;
  }
}

function asCorrupt(e: unknown, entry: ShardEntry, batch: number | null = null): Error {
  if (e instanceof ShardCorruptError || e instanceof RangeError) return e;
  return new ShardCorruptError(entry.file, batch, (e as Error).message);
}
