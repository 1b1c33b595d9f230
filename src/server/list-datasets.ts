// The catalog's listing as routes answer it: an unreadable root is a coded 503, and the
// reasons a dataset is not served name its files but never the root's own path.
import type { Catalog, Dataset } from './catalog.js';
import { NotReady } from './errors.js';

export async function listForClients(catalog: Catalog): Promise<{ datasets: Dataset[]; unavailable: { datasetId: string; reason: string }[] }> {
  let listed;
  try {
    listed = await catalog.list();
  } catch (e) {
    throw new NotReady(`cannot list root ${catalog.root}: ${(e as Error).message}`);
  }
  const root = catalog.root;
  return {
    datasets: listed.datasets,
    unavailable: listed.unavailable.map((u) => ({ datasetId: u.datasetId, reason: u.reason.split(root).join('<root>') })),
  };
}
