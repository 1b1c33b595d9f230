// The server's coded errors: @fastify/error constructors whose codes and HTTP statuses come
// from the one registry (src/errors.ts), so a status is declared once for every layer. The
// codes are a contract with the Python client (clients/python/logit_cache/errors.py).
import createError from '@fastify/error';
import { ERRORS, type ErrorCode } from '../errors.js';
import { DATASET_ID_PATTERN } from '../shard/types.js';

/** The HTTP status the registry gives `code`; a code without one is a programming error here. */
export function httpStatusOf(code: ErrorCode): number {
  const status = ERRORS[code].http;
  if (status === null) throw new Error(`${code} has no HTTP status in src/errors.ts`);
  return status;
}

function coded<C extends ErrorCode, A extends unknown[]>(code: C, message: string) {
  return createError<C, number, A>(code, message, httpStatusOf(code));
}

export const DatasetNotFound = coded<'LC_ERR_DATASET_NOT_FOUND', [string]>(
  'LC_ERR_DATASET_NOT_FOUND', 'dataset "%s" not found (no complete manifest under the root)');
export const BatchNotFound = coded<'LC_ERR_BATCH_NOT_FOUND', [number, string, number]>(
  'LC_ERR_BATCH_NOT_FOUND', 'batch %s not found: dataset "%s" has %s batches');
export const SampleNotFound = coded<'LC_ERR_SAMPLE_NOT_FOUND', [string, string, number]>(
  'LC_ERR_SAMPLE_NOT_FOUND', 'sample %s not found: dataset "%s" has %s samples');
export const BadBatch = coded<'LC_ERR_BAD_BATCH', [string]>(
  'LC_ERR_BAD_BATCH', 'batch %s is not a non-negative integer in canonical form (digits, no leading zeros)');
export const BadDatasetId = coded<'LC_ERR_BAD_DATASET_ID', [string]>(
  'LC_ERR_BAD_DATASET_ID', `dataset id %s must match ${DATASET_ID_PATTERN}`);
export const BadRequest = coded<'LC_ERR_BAD_REQUEST', [string]>('LC_ERR_BAD_REQUEST', '%s');
export const Unauthorized = coded<'LC_ERR_UNAUTHORIZED', [string]>('LC_ERR_UNAUTHORIZED', '%s');
export const RouteNotFound = coded<'LC_ERR_ROUTE_NOT_FOUND', [string, string]>('LC_ERR_ROUTE_NOT_FOUND', 'no route %s %s');
export const NotAcceptable = coded<'LC_ERR_NOT_ACCEPTABLE', [string]>(
  'LC_ERR_NOT_ACCEPTABLE', 'cannot answer Accept: %s; this route serves application/vnd.apache.arrow.stream or application/json');
export const NotReady = coded<'LC_ERR_NOT_READY', [string]>('LC_ERR_NOT_READY', '%s');
/** The message is the ShardCorruptError's, which names the shard, batch and mismatch. */
export const ShardCorrupt = coded<'LC_ERR_SHARD_CORRUPT', [string]>('LC_ERR_SHARD_CORRUPT', '%s');
export const Internal = coded<'LC_ERR_INTERNAL', [string]>('LC_ERR_INTERNAL', '%s');

/** The JSON body of every error response (schemas/http-error.schema.json). */
export interface ErrorBody { code: string; message: string }
