// buildApp(opts): the whole HTTP surface, never listening (the serve command listens,
// tests use app.inject()).
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { catalogPlugin } from './catalog-plugin.js';
import { clientErrorHandler, installErrorHandling, sendError } from './error-handler.js';
import { BadRequest } from './errors.js';
import { installBearerAuth, installShutdownGuard } from './guards.js';
import { lazySchemaController } from './lazy-compilers.js';
import { Metrics } from './metrics.js';
import { datasetRoutes } from './routes/datasets.js';
import { logitsRoutes } from './routes/logits.js';
import { opsRoutes } from './routes/ops.js';
import { uiRoutes } from './routes/ui.js';
import type { LoadedTokenizer } from '../tokenizer/index.js';
import { addBodySchemas } from './schemas.js';
import { recordOpenApi } from './openapi.js';
import { StreamCache } from './stream-cache.js';

/** Default memory for re-encoded batch streams (`serve --reencode-cache-mib`). */
export const DEFAULT_REENCODE_CACHE_BYTES = 256 << 20;

export interface AppOptions {
  /** Folder whose sub-folders are datasets. */
  root: string;
  /** When set, every route but /healthz needs `Authorization: Bearer <token>`. */
  token?: string | null;
  /** How long a manifest's stat is trusted (ms); 0 checks on every request. */
  catalogTtlMs?: number;
  /** Open shard files kept for reuse. */
  maxOpenShards?: number;
  logger?: FastifyServerOptions['logger'];
  /** `serve --tokenizer`: the inspector page shows text for datasets stored without a tokenizer. */
  tokenizer?: LoadedTokenizer | null;
  /**
   * Bytes of re-encoded batch streams (Parquet shards, shared-prefix datasets) kept for repeat
   * requests, least recently used dropped first; 0 re-encodes every request.
   */
  reencodeCacheBytes?: number;
}

export function buildApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? false,
    // Per-request info lines would dominate the log at thousands of batches a second.
    logController: new LogController({ disableRequestLogging: true }),
    // Long ids must reach validation (400), not fall out of the router as a 404.
    routerOptions: { maxParamLength: 16384 },
    // Our own guard answers with a coded 503 during shutdown.
    return503OnClosing: false,
    clientErrorHandler,
    // Route schemas compile on first use, not before listening.
    schemaController: lazySchemaController(),
    frameworkErrors: (err, _req, reply) => {
      sendError(reply, new BadRequest(err.message));
    },
  });
  const streams = new StreamCache(opts.reencodeCacheBytes ?? DEFAULT_REENCODE_CACHE_BYTES);
  const metrics = new Metrics(() => (app.hasDecorator('catalog') ? app.catalog.openShardFiles : 0), () => streams.stats());

  installErrorHandling(app);
  addBodySchemas(app);
  // Before any route is added: it records them for the document.
  const openapi = recordOpenApi(app, { token: opts.token });
  app.register(catalogPlugin, { root: opts.root, ttlMs: opts.catalogTtlMs, maxOpenShards: opts.maxOpenShards });

  const shutdown = installShutdownGuard(app);
  if (opts.token) installBearerAuth(app, opts.token);
  app.addHook('onResponse', async (req, reply) => {
    const sent = req.method === 'HEAD' ? 0 : Number(reply.getHeader('content-length') ?? 0);
    metrics.observe(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, reply.elapsedTime / 1000, sent);
  });

  app.register(logitsRoutes(streams));
  app.addHook('onClose', async () => streams.clear());
  app.register(datasetRoutes);
  app.register(opsRoutes(metrics, shutdown, openapi));
  app.register(uiRoutes({ tokenizer: opts.tokenizer }));
  return app;
}
