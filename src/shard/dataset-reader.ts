// Opens a dataset folder and returns batches as typed arrays, each read through the checked
// shard reader (index, schema and batch hashes verified before anything is parsed).
import { CheckedDataset, type OpenOptions } from './checked-dataset.js';
import type { Manifest } from './manifest.js';
import type { VerifiedBatch } from './shard-reader.js';
import type { TopkBatch, TopkLayout } from './types.js';

export class DatasetReader {
  private constructor(readonly dir: string, readonly dataset: CheckedDataset) {}

  static async open(dir: string, opts: OpenOptions = {}): Promise<DatasetReader> {
    return new DatasetReader(dir, await CheckedDataset.open(dir, opts));
  }

  get manifest(): Manifest {
    return this.dataset.manifest;
  }

  get layout(): TopkLayout {
    return this.dataset.layout;
  }

  get batchCount(): number {
    return this.dataset.batchCount;
  }

  /** The verified one-batch IPC stream of `batch` (what GET /logits serves). */
  readStream(batch: number): Promise<VerifiedBatch> {
    return this.dataset.readStream(batch);
  }

  readBatch(batch: number): Promise<TopkBatch> {
    return this.dataset.readBatch(batch);
  }

  close(): Promise<void> {
    return this.dataset.close();
  }
}
