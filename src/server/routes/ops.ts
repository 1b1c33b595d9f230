// Operational routes: liveness, readiness, Prometheus metrics and the OpenAPI document.
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';
import { NotReady } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { ref } from '../schemas.js';

const errorResponse = (description: string) => ({ description, ...ref('http-error') });

export function opsRoutes(metrics: Metrics, shutdown: { readonly closing: boolean }, openapi: () => Promise<unknown>) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/healthz', {
      schema: { summary: 'Liveness: the process answers (no token needed)', response: { 200: { description: 'Alive', ...ref('http-health') } } },
    }, async () => ({ status: 'ok', version: VERSION }));

    app.get('/readyz', {
      schema: {
        summary: 'Readiness: the root is readable and the server is not shutting down',
        response: { 200: { description: 'Ready', ...ref('http-health') }, 401: errorResponse('LC_ERR_UNAUTHORIZED'), 503: errorResponse('LC_ERR_NOT_READY') },
      },
    }, async () => {
      if (shutdown.closing) throw new NotReady('server is shutting down');
      if (!(await app.catalog.rootReadable())) throw new NotReady(`root ${app.catalog.root} is not a readable directory`);
      return { status: 'ready', version: VERSION };
    });

    app.get('/metrics', {
      schema: {
        summary: 'Prometheus metrics',
        response: { 200: { description: 'Text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }, 401: errorResponse('LC_ERR_UNAUTHORIZED') },
      },
    }, async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()));

    app.get('/openapi.json', {
      schema: {
        summary: 'This API as an OpenAPI 3.1 document, generated from the route schemas',
        response: { 200: { description: 'OpenAPI document', content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } } }, 401: errorResponse('LC_ERR_UNAUTHORIZED') },
      },
    }, async (_req, reply) => reply.type('application/json; charset=utf-8').send(JSON.stringify(await openapi())));
  };
}
