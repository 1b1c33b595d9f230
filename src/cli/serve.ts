// `logit-cache serve --root DIR [--host 127.0.0.1] [--port 8080] [--token T]`: the only
// place that listens. Exit codes: 0 after a graceful shutdown, 1 on failure, 2 on usage.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../precompute/errors.js';
import { checkInputPath } from './input-path.js';
import { formatHelp, type OptionTable, parseOptions, runCommand } from './args.js';

const USAGE = `Usage: logit-cache serve --root DIR [--host 127.0.0.1] [--port 8080] [--token T] [--reencode-cache-mib 256]

Serves every dataset under --root: GET /logits/:datasetId/:batch (Arrow IPC stream), /datasets,
/healthz, /readyz, /metrics, /openapi.json, and the dataset inspector page at /. Routes and errors: docs/HTTP.md.`;

export const SERVE_OPTIONS = {
  root: { type: 'string', required: true, help: 'folder whose sub-folders are datasets (each with manifest.json)', placeholder: 'dir' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'int', default: 8080, min: 0, max: 65535, help: 'port (0 picks a free one)' },
  token: { type: 'string', help: 'require "Authorization: Bearer T" on every route but /healthz (or set LOGIT_CACHE_TOKEN, which keeps it out of the process list)', placeholder: 'T' },
  'max-open-shards': { type: 'int', default: 64, min: 1, max: 1 << 20, help: 'shard files kept open, least recently used closed first' },
  'reencode-cache-mib': { type: 'int', default: 256, min: 0, max: 1 << 20, help: 'memory (MiB) for batch streams the server re-encodes (Parquet shards, shared-prefix datasets), kept for repeat requests; 0 re-encodes every request' },
  'catalog-ttl-ms': { type: 'int', default: 1000, min: 0, max: 86_400_000, help: "how long a manifest's stat is trusted before it is checked again" },
  tokenizer: { type: 'string', help: "tokenizer.json or JSON token list: the inspector page (/) shows text for datasets stored without one", placeholder: 'file' },
  'shutdown-timeout-ms': { type: 'int', default: 30_000, min: 0, max: 3_600_000, help: 'after SIGTERM, how long in-flight requests may take' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies OptionTable;

interface ServeConfig { root: string; host: string; port: number; token: string | null; maxOpenShards: number; catalogTtlMs: number; shutdownTimeoutMs: number; tokenizer: string | null; reencodeCacheMib: number }

function parse(argv: string[]): ServeConfig | 'help' {
  const { values, positionals } = parseOptions(argv, SERVE_OPTIONS);
  if (values.help) return 'help';
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const root = values.root as string;
  checkInputPath('--root', root, 'directory', 'a folder whose sub-folders are datasets');
  const token = (values.token as string | undefined) ?? process.env.LOGIT_CACHE_TOKEN ?? null;
  if (token !== null && !/^[\x21-\x7e]+$/.test(token)) throw new UsageError('--token: must be non-empty printable ASCII without spaces');
  return {
    root, host: values.host as string, port: values.port as number, token,
    maxOpenShards: values['max-open-shards'] as number, catalogTtlMs: values['catalog-ttl-ms'] as number,
    shutdownTimeoutMs: values['shutdown-timeout-ms'] as number, tokenizer: (values.tokenizer as string | undefined) ?? null,
    reencodeCacheMib: values['reencode-cache-mib'] as number,
  };
}

export async function serveCommand(argv: string[]): Promise<number> {
  return runCommand('logit-cache serve', async () => {
    const config = parse(argv);
    if (config === 'help') {
      process.stdout.write(formatHelp(USAGE, SERVE_OPTIONS));
      return 0;
    }
    return listen(config);
  });
}

async function listen(cfg: ServeConfig): Promise<number> {
  // Lazy: the server's dependencies load only for this command.
  const { buildApp } = await import('../server/index.js');
  let tokenizer = null;
  if (cfg.tokenizer !== null) {
    const { loadTokenizerFile } = await import('../tokenizer/index.js');
    try {
      tokenizer = loadTokenizerFile(cfg.tokenizer);
    } catch (e) {
      throw new UsageError(`--tokenizer: ${(e as Error).message}`);
    }
  }
  const app = buildApp({
    tokenizer,
    root: cfg.root, token: cfg.token, maxOpenShards: cfg.maxOpenShards, catalogTtlMs: cfg.catalogTtlMs,
    reencodeCacheBytes: cfg.reencodeCacheMib * 2 ** 20,
    // Logs go to stderr; stdout stays free for machine-readable output.
    logger: { level: process.env.LOGIT_CACHE_LOG_LEVEL ?? 'info', stream: process.stderr },
  });
  try {
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (e) {
    process.stderr.write(`logit-cache serve: cannot listen on ${cfg.host}:${cfg.port}: ${(e as Error).message}\n`);
    await app.close().catch(() => undefined);
    return 1;
  }
  // Signal handlers before the banner: whoever reads it may send SIGTERM at once.
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.stderr.write(`logit-cache serve: ${signal}: refusing new requests, finishing in-flight ones\n`);
      // A request that never finishes must not keep the process alive forever.
      const timer = setTimeout(() => {
        process.stderr.write(`logit-cache serve: in-flight requests still open after ${cfg.shutdownTimeoutMs} ms; closing connections\n`);
        app.server.closeAllConnections();
      }, cfg.shutdownTimeoutMs);
      timer.unref();
      app.close().then(
        () => { clearTimeout(timer); process.stderr.write('logit-cache serve: stopped\n'); resolve(0); },
        (e: Error) => { clearTimeout(timer); process.stderr.write(`logit-cache serve: error while stopping: ${e.message}\n`); resolve(1); },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  process.stderr.write(`logit-cache serve: listening on http://${host}:${port} (root ${cfg.root}, auth ${cfg.token ? 'bearer token' : 'off'})\n`);
  const datasets = countDatasets(cfg.root);
  process.stderr.write(datasets === 0
    ? `logit-cache serve: no dataset under ${cfg.root} yet (no <dataset-id>/manifest.json); every request for data answers 404 until a precompute commits one there\n`
    : `logit-cache serve: ${datasets} dataset${datasets === 1 ? '' : 's'} under ${cfg.root}\n`);

  return stopped;
}

/** Sub-folders of the root holding a committed manifest (the server checks each one on request). */
function countDatasets(root: string): number {
  try {
    return readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'manifest.json'))).length;
  } catch {
    return 0;
  }
}
