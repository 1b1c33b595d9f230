// Dataset ids are folder names under the root; the pattern keeps them from ever naming
// anything else (no separators, no leading dot, bounded length).
export const DATASET_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const DATASET_ID = new RegExp(DATASET_ID_PATTERN);

export const isDatasetId = (id: string): boolean => DATASET_ID.test(id);

/** Batch indexes in URLs are canonical decimal: one spelling per batch, one cache entry. */
export const BATCH_PATTERN = '^(0|[1-9][0-9]{0,15})$';
const BATCH = new RegExp(BATCH_PATTERN);

/** The batch index a path segment names, or null when it is not a canonical safe integer. */
export function parseBatchIndex(text: string): number | null {
  if (!BATCH.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}
