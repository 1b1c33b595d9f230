// Every error leaves as {code, message} with the status its code implies. Validation
// failures are mapped to the contract's codes; anything unexpected becomes a 500 whose
// body says nothing of the stack (the log keeps the details).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { CodedError as ProjectError, ERRORS, type ErrorCode } from '../errors.js';
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
  // A coded error from another layer (src/errors.ts) takes the status the registry gives it.
  if (err instanceof ProjectError && ERRORS[err.code].http !== null) return Object.assign(err, { statusCode: ERRORS[err.code].http! });
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

/**
 * Errors Node's HTTP parser raises before there is a request (headers too large, timeout,
 * malformed request line) get the same {code, message} body as every other error, instead of
 * Fastify's default body.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message]: [ErrorCode, string] = err.code === 'HPE_HEADER_OVERFLOW'
    ? ['LC_ERR_HEADERS_TOO_LARGE', 'request headers exceed the server limit']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ['LC_ERR_REQUEST_TIMEOUT', 'the request was not received in time']
      : ['LC_ERR_BAD_REQUEST', `malformed HTTP request (${err.code ?? 'parse error'})`];
  const status = ERRORS[code].http!;
  const body = JSON.stringify({ code, message } satisfies ErrorBody);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
