// One registry of coded errors: status and code travel together, and the codes are a
// contract with the Python client (clients/python/logit_cache/reader_http.py).
import createError from '@fastify/error';
import { DATASET_ID_PATTERN } from '../shard/types.js';

export const DatasetNotFound = createError<'LC_ERR_DATASET_NOT_FOUND', 404, [string]>(
  'LC_ERR_DATASET_NOT_FOUND', 'dataset "%s" not found (no complete manifest under the root)', 404);
export const BatchNotFound = createError<'LC_ERR_BATCH_NOT_FOUND', 404, [number, string, number]>(
  'LC_ERR_BATCH_NOT_FOUND', 'batch %s not found: dataset "%s" has %s batches', 404);
export const BadBatch = createError<'LC_ERR_BAD_BATCH', 400, [string]>(
  'LC_ERR_BAD_BATCH', 'batch %s is not a non-negative integer in canonical form (digits, no leading zeros)', 400);
export const BadDatasetId = createError<'LC_ERR_BAD_DATASET_ID', 400, [string]>(
  'LC_ERR_BAD_DATASET_ID', `dataset id %s must match ${DATASET_ID_PATTERN}`, 400);
export const BadRequest = createError<'LC_ERR_BAD_REQUEST', 400, [string]>(
  'LC_ERR_BAD_REQUEST', '%s', 400);
export const Unauthorized = createError<'LC_ERR_UNAUTHORIZED', 401, [string]>(
  'LC_ERR_UNAUTHORIZED', '%s', 401);
export const RouteNotFound = createError<'LC_ERR_ROUTE_NOT_FOUND', 404, [string, string]>(
  'LC_ERR_ROUTE_NOT_FOUND', 'no route %s %s', 404);
export const NotAcceptable = createError<'LC_ERR_NOT_ACCEPTABLE', 406, [string]>(
  'LC_ERR_NOT_ACCEPTABLE', 'cannot answer Accept: %s; this route serves application/vnd.apache.arrow.stream or application/json', 406);
export const NotReady = createError<'LC_ERR_NOT_READY', 503, [string]>(
  'LC_ERR_NOT_READY', '%s', 503);
/** The message is the ShardCorruptError's, which names the shard, batch and mismatch. */
export const ShardCorrupt = createError<'LC_ERR_SHARD_CORRUPT', 500, [string]>(
  'LC_ERR_SHARD_CORRUPT', '%s', 500);
export const Internal = createError<'LC_ERR_INTERNAL', 500, [string]>(
  'LC_ERR_INTERNAL', '%s', 500);

/** The JSON body of every error response (schemas/http-error.schema.json). */
export interface ErrorBody { code: string; message: string }
