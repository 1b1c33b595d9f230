// GET /logits/:datasetId/:batch: one record batch as a one-batch Arrow IPC stream sliced
// from the shard file (or as JSON for debugging). Batches are immutable, so responses
// carry a strong ETag, the sha256 of the exact stream, and may be cached for a year.
import type { FastifyInstance } from 'fastify';
import { decodeVerified } from '../../shard/shard-reader.js';
import { batchToJson } from '../batch-json.js';
import { BATCH_PATTERN, DATASET_ID_PATTERN, parseBatchIndex } from '../dataset-id.js';
import { quote } from '../error-handler.js';
import { BadBatch, BatchNotFound, DatasetNotFound, NotAcceptable } from '../errors.js';
import { ARROW_STREAM, type BatchFormat, chooseFormat, etagMatches, JSON_TYPE } from '../negotiate.js';
import { BodyPool } from '../body-pool.js';
import { ref } from '../schemas.js';
import type { StreamCache } from '../stream-cache.js';
import type { TopkLayout } from '../../shard/types.js';
import { VerifiedBatches } from '../verified-batches.js';

export const SHA_HEADER = 'x-logit-cache-batch-sha256';
export const STREAM_SHA_HEADER = 'x-logit-cache-stream-sha256';
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Idle response buffers kept for reuse (those in flight are bounded by open connections). */
const BODY_POOL_BYTES = 64 << 20;
/** Shard files whose verified batches are remembered: one bit per batch each. */
const VERIFIED_FILES = 100_000;

interface Params { datasetId: string; batch: string }
interface Query { format?: BatchFormat }

const errorResponse = (description: string) => ({ description, ...ref('http-error') });

/** Datasets whose served stream is built per request rather than sliced from the file. */
const reencoded = (layout: TopkLayout): boolean => layout.shardFormat === 'parquet' || layout.sharedPrefixes === true;

/** A buffer of its own (not a pool slab's slice): a cached stream may live for hours. */
const ownBuffer = (length: number): Uint8Array => Buffer.allocUnsafeSlow(length);

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** `streams` keeps re-encoded Arrow bodies (stream-cache.ts); plain Arrow shards are read from the file as before. */
export const logitsRoutes = (streams: StreamCache) => async (app: FastifyInstance): Promise<void> => {
  // Response bodies are reused once sent; batches hashed once are not hashed again while
  // their file is unchanged (docs/HTTP.md, "What a 200 guarantees").
  const bodies = new BodyPool(BODY_POOL_BYTES);
  const memo = new VerifiedBatches(VERIFIED_FILES);
  const alloc = (length: number) => bodies.acquire(length);
  app.get<{ Params: Params; Querystring: Query }>('/logits/:datasetId/:batch', {
    schema: {
      summary: 'One cached batch as an Arrow IPC stream (or JSON)',
      description: 'The body is the shard\'s schema message, the batch\'s record-batch message and an end-of-stream marker, '
        + 'byte for byte as stored (Parquet shards and shared-prefix datasets: the verified batch re-encoded as that stream, '
        + `kept in memory for repeat requests). ${STREAM_SHA_HEADER} is the sha256 of the whole body (also the ETag); `
        + `${SHA_HEADER} is the sha256 of the record-batch message (body[S : len-8], S = the schema message length, `
        + '8 + L rounded as stored, L = int32 LE at body[4:8]). Both come from the shard\'s checked index.',
      params: {
        type: 'object',
        required: ['datasetId', 'batch'],
        properties: {
          datasetId: { type: 'string', pattern: DATASET_ID_PATTERN },
          batch: { type: 'string', pattern: BATCH_PATTERN, description: 'Batch index, canonical decimal.' },
        },
      },
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { format: { type: 'string', enum: ['arrow', 'json'], description: 'Overrides the Accept header.' } },
      },
      response: {
        200: {
          description: 'The batch',
          headers: {
            etag: { type: 'string', description: '"<stream sha256>" (Arrow) or "<stream sha256>.json" (JSON)' },
            [STREAM_SHA_HEADER]: { type: 'string', description: 'sha256 of the one-batch Arrow stream (the Arrow body)' },
            [SHA_HEADER]: { type: 'string', description: 'sha256 of the record-batch message inside it' },
          },
          content: {
            [ARROW_STREAM]: { schema: { type: 'string', format: 'binary' } },
            [JSON_TYPE]: { schema: ref('http-batch') },
          },
        },
        304: { description: 'Not modified (If-None-Match matched the ETag)', type: 'null' },
        400: errorResponse('LC_ERR_BAD_BATCH, LC_ERR_BAD_DATASET_ID or LC_ERR_BAD_REQUEST'),
        401: errorResponse('LC_ERR_UNAUTHORIZED'),
        404: errorResponse('LC_ERR_DATASET_NOT_FOUND or LC_ERR_BATCH_NOT_FOUND'),
        406: errorResponse('LC_ERR_NOT_ACCEPTABLE'),
        500: errorResponse('LC_ERR_SHARD_CORRUPT: the stored bytes disagree with the manifest or index; none were sent'),
      },
    },
  }, async (req, reply) => {
    const { datasetId } = req.params;
    const ds = await app.catalog.get(datasetId);
    if (!ds) throw new DatasetNotFound(datasetId);
    const batch = parseBatchIndex(req.params.batch);
    if (batch === null) throw new BadBatch(quote(req.params.batch));
    if (batch >= ds.manifest.batchCount) throw new BatchNotFound(batch, datasetId, ds.manifest.batchCount);
    const format = chooseFormat(req.query.format, req.headers.accept);
    if (!format) throw new NotAcceptable(quote(req.headers.accept));

    // The shard's index and schema are checked (hash before parse) when its first batch is asked for.
    const info = await ds.reader.info(batch);
    const etag = format === 'arrow' ? `"${info.streamSha256}"` : `"${info.streamSha256}.json"`;
    const cacheHeaders = { etag, 'cache-control': IMMUTABLE, vary: 'Accept', [SHA_HEADER]: info.messageSha256, [STREAM_SHA_HEADER]: info.streamSha256 };
    if (etagMatches(req.headers['if-none-match'], etag)) return reply.code(304).headers(cacheHeaders).send();
    // The batch's bytes are hashed after they leave the file (or vouched for by an earlier
    // hash of the same unchanged file), and a mismatch throws before any byte is sent.
    const arrow = format === 'arrow';
    if (arrow && streams.enabled && reencoded(ds.layout)) {
      // Keyed by the hash the current index holds; what is built is checked against it first.
      const stream = await streams.get(info.streamSha256, async () => asBuffer((await ds.reader.readStream(batch, { memo, alloc: ownBuffer })).stream));
      return reply.headers(cacheHeaders).type(ARROW_STREAM).send(stream);
    }
    const read = await ds.reader.readStream(batch, { memo, alloc: arrow ? alloc : undefined });
    reply.headers(cacheHeaders);
    if (arrow) {
      // 'finish' means the kernel holds every byte; an aborted response never gives its buffer back.
      reply.raw.once('finish', () => bodies.release(read.stream as Buffer));
      return reply.type(ARROW_STREAM).send(read.stream);
    }
    return reply.type(JSON_TYPE).send(batchToJson(datasetId, batch, info, ds.layout, decodeVerified(read, ds.layout)));
  });
};
