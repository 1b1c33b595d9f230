// Dataset ids belong to the format (src/shard); the server only re-exports them.
export { DATASET_ID_PATTERN, isDatasetId } from '../shard/types.js';

/** Batch indexes in URLs are canonical decimal: one spelling per batch, one cache entry. */
export const BATCH_PATTERN = '^(0|[1-9][0-9]{0,15})$';
const BATCH = new RegExp(BATCH_PATTERN);

/** The batch index a path segment names, or null when it is not a canonical safe integer. */
export function parseBatchIndex(text: string): number | null {
  if (!BATCH.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}
