// The inspector's only way to read cached data: one decoded batch through the dataset's
// checked reader, verified exactly as GET /logits verifies it. Kept to this one function so
// a change of the read API touches one place.
import type { TopkBatch } from '../../shard/index.js';
import type { Dataset } from '../catalog.js';

export function readDecodedBatch(ds: Dataset, batch: number): Promise<TopkBatch> {
  return ds.reader.readBatch(batch);
}
