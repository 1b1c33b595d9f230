// The inspector's only way to read cached data: one decoded batch through the catalog's
// public methods, checked exactly as GET /logits checks it. Kept to this one function so a
// change of the catalog's read API touches one place.
import { decodeBatch, type TopkBatch } from '../../shard/index.js';
import type { Catalog, Dataset } from '../catalog.js';

export async function readDecodedBatch(catalog: Catalog, ds: Dataset, batch: number): Promise<TopkBatch> {
  const { entry } = catalog.locate(ds, batch);
  const read = await catalog.withShard(ds, batch, (shard) => shard.readBatch(batch, entry));
  return decodeBatch(read.bytes, ds.layout, batch);
}
