import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { serveCommand } from '../../src/cli/serve.js';
import { tempRoot, writeDataset } from './fixture.js';
import { indexRows } from '../shard/index-rows.js';

let root: string, cleanup: () => void;
beforeEach(() => ({ root, cleanup } = tempRoot()));
afterEach(() => cleanup());

describe('serveCommand usage errors', () => {
  it.each([
    [[], '--root'],
    [['--root'], '--root'],
    [['--root', '/definitely/not/here'], '--root'],
    [['--port', 'http'], '--port'],
    [['--port', '70000'], '--port'],
    [['--max-open-shards', '0'], '--max-open-shards'],
    [['--bogus'], '--bogus'],
    [['--token', 'has space'], '--token'],
    [['--reencode-cache-mib=-1'], '--reencode-cache-mib'],
    [['--reencode-cache-mib', 'lots'], '--reencode-cache-mib'],
  ])('%j exits 2 naming %s', async (args, flag) => {
    const withRoot = args.includes('--root') ? args : ['--root', root, ...args];
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await serveCommand(args.length === 0 ? [] : withRoot)).toBe(2);
      expect(String(err.mock.calls[0]?.[0])).toContain(flag);
    } finally {
      err.mockRestore();
    }
  });
});

describe('serve as a process', () => {
  it('listens, logs its URL to stderr, serves with LOGIT_CACHE_TOKEN, and exits 0 on SIGTERM', async () => {
    const m = writeDataset(root, { datasetId: 'demo' });
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./serve-child.ts', import.meta.url)), '--root', root, '--port', '0', '--reencode-cache-mib', '3'], {
      env: { ...process.env, LOGIT_CACHE_TOKEN: 'envtok', LOGIT_CACHE_LOG_LEVEL: 'warn' },
      cwd: join(fileURLToPath(new URL('.', import.meta.url)), '..', '..'),
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL logged; stderr: ${stderr}`)), 20_000);
        child.stderr.on('data', () => {
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
          if (match) { clearTimeout(timer); resolve(match[1]); }
        });
      });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/datasets`)).status).toBe(401);
      const res = await fetch(`${url}/logits/demo/1`, { headers: { authorization: 'Bearer envtok' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-logit-cache-batch-sha256')).toBe(indexRows(join(root, 'demo'), m)[1].sha256);
      await res.arrayBuffer();
      // --reencode-cache-mib reaches the server: 3 MiB of re-encoded streams.
      const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer envtok' } })).text();
      expect(metrics).toMatch(/^logit_cache_reencode_cache_capacity_bytes 3145728$/m);
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(3000); // idle keep-alive connections do not hold it open
      expect(stderr).toMatch(/SIGTERM/);
      expect(stderr).toMatch(/stopped/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});
