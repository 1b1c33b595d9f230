// Request guards that run before routing: refusal during shutdown, then bearer auth.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { NotReady, Unauthorized } from './errors.js';

/** Routes anyone may call, token or not: liveness must not depend on credentials. */
const PUBLIC_ROUTES = new Set(['/healthz']);

/**
 * Constant-time comparison of secrets of any length: both sides are hashed first, so
 * neither the content nor the length of the expected token leaks through timing.
 */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function installShutdownGuard(app: FastifyInstance): { readonly closing: boolean } {
  const state = { closing: false };
  // preClose runs before the listener stops; from here on, requests on kept-alive
  // connections get a coded 503 and the connection is closed after it.
  app.addHook('preClose', async () => {
    state.closing = true;
  });
  app.addHook('onRequest', async (_req, reply) => {
    if (state.closing) {
      reply.header('connection', 'close');
      throw new NotReady('server is shutting down; retry on another replica');
    }
  });
  // Responses finished during shutdown close their connection, so close() need not wait
  // out the keep-alive timeout of connections whose request was in flight.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (state.closing) reply.header('connection', 'close');
    return payload;
  });
  return state;
}

export function installBearerAuth(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url !== undefined && PUBLIC_ROUTES.has(req.routeOptions.url)) return;
    const header = req.headers.authorization;
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match || !tokensEqual(match[1], token)) {
      reply.header('www-authenticate', 'Bearer realm="logit-cache"');
      throw new Unauthorized(header ? 'bearer token does not match' : 'missing Authorization: Bearer <token> header');
    }
  });
}
