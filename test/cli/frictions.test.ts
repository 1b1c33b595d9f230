// The rough edges a first-time user hit (issue 12 item 6), each checked on the built commands
// or the real server: help without required flags, an empty root said out loud, coded 431s,
// finalize and Ctrl-C telling the user to re-run the precompute command.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { writeSyntheticTeacher } from '../../src/teacher/index.js';
import { cliPath, errorCode, runCli } from '../cli.js';

const root = mkdtempSync(join(tmpdir(), 'lc-frictions-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts the built command; resolves with its stderr once `pattern` appears in it. */
function startUntil(args: string[], pattern: RegExp, cli: 'logit-cache' | 'precompute-logits' = 'logit-cache') {
  const child = spawn(process.execPath, [cliPath(cli), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const seen = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not seen ${pattern}; stderr: ${stderr}`)), 30_000);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (pattern.test(stderr)) { clearTimeout(timer); resolve(stderr); }
    });
  });
  return { child, seen, exited, stderr: () => stderr };
}

describe('serve', () => {
  it('prints its help for --help, though --root is required', () => {
    const r = runCli('logit-cache', ['serve', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: logit-cache serve --root DIR/);
    expect(r.stdout).toContain('--max-open-shards');
    const missing = runCli('logit-cache', ['serve']);
    expect([missing.status, errorCode(missing.stderr)]).toEqual([2, 'LC_ERR_USAGE']);
  });

  it('says on stderr that a root holds no dataset yet', async () => {
    const empty = mkdtempSync(join(root, 'empty-'));
    const s = startUntil(['serve', '--root', empty, '--port', '0'], /no dataset under/);
    try {
      expect(await s.seen).toContain(`no dataset under ${empty} yet`);
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    }
  });

  it('answers oversized headers with 431 and a {code, message} body', async () => {
    const app = buildApp({ root });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as { port: number };
      const raw = await new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`));
        let text = '';
        sock.on('data', (c) => (text += c.toString()));
        sock.on('close', () => resolve(text));
        sock.on('error', (e) => (text ? resolve(text) : reject(e)));
      });
      expect(raw).toMatch(/^HTTP\/1\.1 431 /);
      const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
      expect(body).toEqual({ code: 'LC_ERR_HEADERS_TOO_LARGE', message: expect.any(String) });
    } finally {
      await app.close();
    }
  });
});

describe('an interrupted precompute', () => {
  let model: string, data: string;
  beforeAll(() => {
    model = writeSyntheticTeacher(join(root, 'teacher'), { vocabSize: 2000, dModel: 32, layers: 2, seed: 9 });
    data = join(root, 'data.jsonl');
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ input_ids: Array.from({ length: 48 + (i % 17) }, (_, j) => (i * 31 + j * 7) % 2000) }));
    writeFileSync(data, lines.join('\n') + '\n');
  });

  it('Ctrl-C exits 130 saying to re-run, leaves only committed shards; finalize says to re-run the precompute', async () => {
    const out = join(root, 'out');
    const args = ['--model', model, '--data', data, '--out', out, '--dataset-id', 'd', '--batch-size', '4', '--batches-per-shard', '1', '--quiet'];
    const s = startUntil(args, /$^/, 'precompute-logits');
    s.seen.catch(() => undefined);
    const partial = join(out, 'd', '.partial');
    // Interrupt once the first shards are committed (their sidecars exist).
    const t0 = Date.now();
    while (Date.now() - t0 < 60_000 && !(existsSync(partial) && readdirSync(partial).filter((f) => f.startsWith('shard-')).length >= 2)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    s.child.kill('SIGINT');
    expect(await s.exited).toBe(130);
    expect(errorCode(s.stderr())).toBe('LC_ERR_INTERRUPTED');
    expect(s.stderr()).toContain('re-run the same command to resume');
    const shards = readdirSync(join(out, 'd', 'shards'));
    expect(shards.length).toBeGreaterThan(0);
    expect(shards.every((f) => /^shard-\d{6}\.(idx\.)?arrow$/.test(f))).toBe(true);
    expect(existsSync(join(out, 'd', 'manifest.json'))).toBe(false);

    const f = runCli('logit-cache', ['finalize', join(out, 'd')]);
    expect([f.status, errorCode(f.stderr)]).toEqual([1, 'LC_ERR_INCOMPLETE']);
    expect(f.stderr).toContain('re-run the precompute command');
    expect(JSON.parse(f.stdout).complete).toBe(false);

    const resumed = runCli('precompute-logits', args);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).resumedFromBatch).toBe(shards.filter((f) => !f.includes('.idx.')).length);
    expect(runCli('logit-cache', ['verify', join(out, 'd')]).status).toBe(0);
  });
});
