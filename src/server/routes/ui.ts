// The dataset inspector: the page at / and /ui/... (one HTML shell; the browser routes),
// its files under /ui/assets/, and the JSON it reads under /ui/api/. Auth is the app's
// (every route but /healthz needs the bearer token when one is set).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Manifest } from '../../shard/index.js';
import { type LoadedTokenizer, tokenizerRefOf } from '../../tokenizer/index.js';
import type { Dataset } from '../catalog.js';
import { DATASET_ID_PATTERN } from '../dataset-id.js';
import { DatasetNotFound, NotReady, RouteNotFound, SampleNotFound } from '../errors.js';
import { listForClients } from '../list-datasets.js';
import { etagMatches } from '../negotiate.js';
import { type Asset, loadAssets } from '../ui/assets.js';
import { readDecodedBatch } from '../ui/batch-source.js';
import { rowOf, sampleView } from '../ui/sample.js';
import { computeStats, DEFAULT_BUDGET, type DatasetStats, type StatsBudget } from '../ui/stats.js';
import { TokenizerCache } from '../ui/tokenizers.js';


export interface UiOptions {
  /** `serve --tokenizer`: shows ids of datasets stored without their own tokenizer. */
  tokenizer?: LoadedTokenizer | null;
  /** Built page files (default dist/ui/static). */
  assetsDir?: string;
  statsBudget?: StatsBudget;
}

const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const SAMPLE_PATTERN = '^(0|[1-9][0-9]{0,15})$';
const idParam = { type: 'object', required: ['datasetId'], properties: { datasetId: { type: 'string', pattern: DATASET_ID_PATTERN } } } as const;

function settings(ds: Dataset) {
  const m: Manifest = ds.manifest;
  const tok = tokenizerRefOf(m);
  return {
    datasetId: ds.id, formatVersion: m.formatVersion, batchCount: m.batchCount, sampleCount: m.sampleCount, tokenCount: m.tokenCount,
    batchSize: m.batchSize, batchesPerShard: m.batchesPerShard, shardCount: m.shards.length, bytes: ds.bytes,
    k: m.topk.k, values: m.topk.values, indexType: m.topk.indexType, q8Scale: m.topk.q8Scale ?? null, codec: m.codec,
    teacher: m.teacher, source: m.source, stats: m.stats, generator: m.generator,
    tokenizer: tok ? { kind: tok.kind, file: tok.file, sha256: tok.sha256, vocabSize: tok.vocabSize } : null,
  };
}

export function uiRoutes(opts: UiOptions = {}) {
  return async function ui(app: FastifyInstance): Promise<void> {
    const assets = loadAssets(opts.assetsDir);
    const tokenizers = new TokenizerCache(opts.tokenizer ?? null);
    const budget = opts.statsBudget ?? DEFAULT_BUDGET;
    // Statistics per manifest version, computed once; concurrent first views share one scan.
    const stats = new Map<string, Promise<DatasetStats>>();

    const dataset = async (id: string): Promise<Dataset> => {
      const ds = await app.catalog.get(id);
      if (!ds) throw new DatasetNotFound(id);
      return ds;
    };

    const sendAsset = (req: FastifyRequest, reply: FastifyReply, name: string) => {
      if (!assets) throw new NotReady('the inspector page is not built: run npm run build');
      const a: Asset | undefined = assets.get(name);
      if (!a) return reply.code(404).type('text/plain; charset=utf-8').send(`no file ${name}`);
      reply.header('etag', a.etag).header('cache-control', 'no-cache').header('vary', 'Accept-Encoding').type(a.type);
      // The page may load nothing but this server's files (inline style attributes colour tokens).
      if (name === 'index.html') reply.header('content-security-policy', CSP);
      if (etagMatches(req.headers['if-none-match'], a.etag)) return reply.code(304).send();
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(a.gzip);
      return reply.send(a.body);
    };

    const page = { schema: { hide: true } };
    app.get('/', page, (req, reply) => sendAsset(req, reply, 'index.html'));
    app.get('/ui', page, (req, reply) => sendAsset(req, reply, 'index.html'));
    app.get('/ui/*', page, (req, reply) => sendAsset(req, reply, 'index.html'));
    app.get<{ Params: { name: string } }>('/ui/assets/:name', page, (req, reply) => sendAsset(req, reply, req.params.name));
    // Unknown API paths are errors in JSON, not the page shell that /ui/* answers.
    app.get('/ui/api/*', page, async (req) => {
      throw new RouteNotFound(req.method, req.url);
    });

    app.get('/ui/api/datasets', { schema: { summary: 'Inspector: settings and totals of every dataset' } }, async () => {
      const listed = await listForClients(app.catalog);
      return {
        serveTokenizer: opts.tokenizer ? { kind: opts.tokenizer.kind, sha256: opts.tokenizer.sha256, vocabSize: opts.tokenizer.vocabSize } : null,
        datasets: listed.datasets.map(settings),
        unavailable: listed.unavailable,
      };
    });

    app.get<{ Params: { datasetId: string } }>('/ui/api/datasets/:datasetId/stats', {
      schema: { summary: 'Inspector: chart data from an even spread of batches (budgeted), cached per manifest', params: idParam },
    }, async (req) => {
      const ds = await dataset(req.params.datasetId);
      const key = `${ds.id}\0${ds.manifestSha256}`;
      let p = stats.get(key);
      if (!p) {
        p = computeStats(ds.manifest, (b) => readDecodedBatch(ds, b), budget);
        if (stats.size >= 64) stats.delete(stats.keys().next().value as string);
        stats.set(key, p);
        // A failed scan (a corrupt shard) is not remembered: the next view tries again.
        p.catch(() => stats.delete(key));
      }
      return { datasetId: ds.id, budget, ...(await p) };
    });

    app.get<{ Params: { datasetId: string; sampleId: string } }>('/ui/api/datasets/:datasetId/samples/:sampleId', {
      schema: {
        summary: 'Inspector: one sample with its top-k per position and display text for every id',
        params: { type: 'object', required: ['datasetId', 'sampleId'], properties: { ...idParam.properties, sampleId: { type: 'string', pattern: SAMPLE_PATTERN } } },
      },
    }, async (req) => {
      const ds = await dataset(req.params.datasetId);
      const sampleId = Number(req.params.sampleId);
      if (sampleId >= ds.manifest.sampleCount) throw new SampleNotFound(req.params.sampleId, ds.id, ds.manifest.sampleCount);
      // Batch b holds samples [b*batchSize, (b+1)*batchSize) (docs/FORMAT.md §2).
      const batch = Math.floor(sampleId / ds.manifest.batchSize);
      const decoded = await readDecodedBatch(ds, batch);
      const row = rowOf(decoded, sampleId);
      if (row < 0) throw new SampleNotFound(req.params.sampleId, ds.id, ds.manifest.sampleCount);
      return sampleView(ds, batch, decoded, row, tokenizers.for(ds));
    });
  };
}
