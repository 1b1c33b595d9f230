// GET /datasets (summaries) and GET /datasets/:datasetId (the manifest, byte for byte).
import type { FastifyInstance } from 'fastify';
import type { Dataset } from '../catalog.js';
import { DATASET_ID_PATTERN } from '../dataset-id.js';
import { DatasetNotFound, NotReady } from '../errors.js';
import { etagMatches } from '../negotiate.js';
import { ref } from '../schemas.js';

const errorResponse = (description: string) => ({ description, ...ref('http-error') });

function summary(ds: Dataset) {
  const m = ds.manifest;
  return {
    datasetId: ds.id, formatVersion: m.formatVersion, batchCount: m.batchCount, sampleCount: m.sampleCount,
    tokenCount: m.tokenCount, batchSize: m.batchSize, k: m.topk.k, values: m.topk.values, indexType: m.topk.indexType,
    codec: m.codec, bytes: ds.bytes, manifestSha256: ds.manifestSha256,
    teacher: { file: m.teacher.file, sha256: m.teacher.sha256, vocabSize: m.teacher.vocabSize },
  };
}

export async function datasetRoutes(app: FastifyInstance): Promise<void> {
  app.get('/datasets', {
    schema: {
      summary: 'Datasets under the root',
      response: { 200: { description: 'Servable datasets and unservable manifests', ...ref('http-datasets') }, 401: errorResponse('LC_ERR_UNAUTHORIZED'), 503: errorResponse('LC_ERR_NOT_READY: the root cannot be read') },
    },
  }, async () => {
    let listed;
    try {
      listed = await app.catalog.list();
    } catch (e) {
      throw new NotReady(`cannot list root ${app.catalog.root}: ${(e as Error).message}`);
    }
    const root = app.catalog.root;
    return {
      datasets: listed.datasets.map(summary),
      // Reasons name files; the root itself is the operator's business, not the client's.
      unavailable: listed.unavailable.map((u) => ({ datasetId: u.datasetId, reason: u.reason.split(root).join('<root>') })),
    };
  });

  app.get<{ Params: { datasetId: string } }>('/datasets/:datasetId', {
    schema: {
      summary: 'A dataset\'s manifest.json, exactly as stored',
      description: 'Validated against schemas/manifest.schema.json before it is ever served. ETag is the sha256 of the file; it can change when a dataset is rewritten, so it is revalidated (no-cache).',
      params: { type: 'object', required: ['datasetId'], properties: { datasetId: { type: 'string', pattern: DATASET_ID_PATTERN } } },
      response: {
        200: { description: 'manifest.json (see schemas/manifest.schema.json)', content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } },
        304: { description: 'Not modified', type: 'null' },
        400: errorResponse('LC_ERR_BAD_DATASET_ID'),
        401: errorResponse('LC_ERR_UNAUTHORIZED'),
        404: errorResponse('LC_ERR_DATASET_NOT_FOUND'),
      },
    },
  }, async (req, reply) => {
    const ds = await app.catalog.get(req.params.datasetId);
    if (!ds) throw new DatasetNotFound(req.params.datasetId);
    const etag = `"${ds.manifestSha256}"`;
    reply.header('etag', etag).header('cache-control', 'no-cache');
    if (etagMatches(req.headers['if-none-match'], etag)) return reply.code(304).send();
    // A string body bypasses the serializer: the client gets the stored bytes.
    return reply.type('application/json; charset=utf-8').send(ds.manifestText);
  });
}
