// Every error leaves as {code, message} with the status its code implies. Validation
// failures are mapped to the contract's codes; anything unexpected becomes a 500 whose
// body says nothing of the stack (the log keeps the details).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ShardCorruptError } from '../shard/errors.js';
import { BadBatch, BadDatasetId, BadRequest, type ErrorBody, Internal, RouteNotFound, ShardCorrupt } from './errors.js';

type CodedError = Error & { code: string; statusCode: number };

/** Quotes a client-supplied value for a message, cut short when absurdly long. */
export function quote(value: unknown): string {
  const s = String(value);
  return s.length > 80 ? `${JSON.stringify(s.slice(0, 80))}… (${s.length} characters)` : JSON.stringify(s);
}

function fromValidation(err: FastifyError, req: FastifyRequest): CodedError {
  const paths = (err.validation ?? []).map((v) => v.instancePath);
  if (err.validationContext === 'params') {
    const params = req.params as Record<string, unknown>;
    if (paths.includes('/datasetId')) return new BadDatasetId(quote(params.datasetId));
    if (paths.includes('/batch')) return new BadBatch(quote(params.batch));
  }
  return new BadRequest(`${err.validationContext ?? 'request'}: ${err.message}`);
}

function classify(err: FastifyError, req: FastifyRequest): CodedError {
  if (err.validation) return fromValidation(err, req);
  if (err instanceof ShardCorruptError) {
    // Clients learn which shard and batch, not where the server keeps its files.
    const root = req.server.hasDecorator('catalog') ? req.server.catalog.root : null;
    return new ShardCorrupt(root ? err.message.split(root).join('<root>') : err.message);
  }
  const status = err.statusCode ?? 500;
  if (typeof err.code === 'string' && err.code.startsWith('LC_ERR_') && status >= 400) return err as CodedError;
  // Fastify's own client errors (bad content type, body too large, malformed URL...).
  if (status >= 400 && status < 500) return Object.assign(new BadRequest(err.message), { statusCode: status });
  return new Internal(`internal error (request ${req.id}); details are in the server log`);
}

export function sendError(reply: FastifyReply, err: CodedError): FastifyReply {
  // An error must never be cached as if it were the immutable batch.
  reply.removeHeader('etag');
  reply.removeHeader('x-logit-cache-batch-sha256');
  reply.removeHeader('x-logit-cache-stream-sha256');
  reply.header('cache-control', 'no-store');
  const body: ErrorBody = { code: err.code, message: err.message };
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(body);
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const coded = classify(err, req);
    if (coded.statusCode >= 500) req.log.error({ err }, coded.message);
    return sendError(reply, coded);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new RouteNotFound(req.method, quote(req.url))));
}
