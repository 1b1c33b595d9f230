import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { tokensEqual } from '../../src/server/guards.js';
import { tempRoot, writeDataset } from './fixture.js';

let root: string, cleanup: () => void;
beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  writeDataset(root, { datasetId: 'demo' });
});
afterEach(() => cleanup());

const ROUTES = ['/logits/demo/0', '/logits/demo/0?format=json', '/datasets', '/datasets/demo', '/readyz', '/metrics', '/openapi.json', '/nowhere', '/logits/demo/99', '/logits/..%2F/x'];

describe('bearer auth', () => {
  it('answers 401 LC_ERR_UNAUTHORIZED on every route but /healthz without the right token', async () => {
    const app = buildApp({ root, token: 's3cret-token' });
    for (const url of ROUTES) {
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cret-toke', 'Bearer s3cret-token-', 'Basic czNjcmV0LXRva2Vu', 's3cret-token']) {
        const res = await app.inject({ url, headers: authorization ? { authorization } : {} });
        expect(res.statusCode, `${url} ${authorization}`).toBe(401);
        expect(res.json()).toEqual({ code: 'LC_ERR_UNAUTHORIZED', message: expect.any(String) });
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    await app.close();
  });

  it('lets the right token through (scheme case-insensitive)', async () => {
    const app = buildApp({ root, token: 's3cret-token' });
    for (const authorization of ['Bearer s3cret-token', 'bearer s3cret-token']) {
      const res = await app.inject({ url: '/logits/demo/0', headers: { authorization } });
      expect(res.statusCode).toBe(200);
    }
    const notFound = await app.inject({ url: '/logits/demo/99', headers: { authorization: 'Bearer s3cret-token' } });
    expect(notFound.json().code).toBe('LC_ERR_BATCH_NOT_FOUND');
    await app.close();
  });

  it('needs no token when none is configured', async () => {
    const app = buildApp({ root });
    expect((await app.inject({ url: '/datasets' })).statusCode).toBe(200);
    await app.close();
  });

  it('compares tokens of any length without throwing', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('', 'abc')).toBe(false);
    expect(tokensEqual('abc'.repeat(1000), 'abc')).toBe(false);
  });
});
