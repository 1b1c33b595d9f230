// `logit-cache serve --root DIR [--host 127.0.0.1] [--port 8080] [--token T]`: the only
// place that listens. Exit codes: 0 after a graceful shutdown, 1 on failure, 2 on usage.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = `usage: logit-cache serve --root DIR [--host 127.0.0.1] [--port 8080] [--token T]
                         [--max-open-shards 64] [--catalog-ttl-ms 1000] [--shutdown-timeout-ms 30000]
  --root DIR     folder whose sub-folders are datasets (each with manifest.json)
  --token T      require "Authorization: Bearer T" on every route but /healthz
                 (or set LOGIT_CACHE_TOKEN, which keeps the token out of the process list)`;

const OPTIONS = {
  root: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8080' },
  token: { type: 'string' },
  'max-open-shards': { type: 'string', default: '64' },
  'catalog-ttl-ms': { type: 'string', default: '1000' },
  'shutdown-timeout-ms': { type: 'string', default: '30000' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

function intFlag(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < min || n > max) throw new UsageError(`--${name} ${JSON.stringify(text)}: expected an integer from ${min} to ${max}`);
  return n;
}

interface ServeConfig { root: string; host: string; port: number; token: string | null; maxOpenShards: number; catalogTtlMs: number; shutdownTimeoutMs: number }

function parse(argv: string[]): ServeConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return 'help';
  if (!values.root) throw new UsageError('--root is required');
  let isDir = false;
  try {
    isDir = statSync(values.root).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new UsageError(`--root ${values.root}: not a directory`);
  const token = values.token ?? process.env.LOGIT_CACHE_TOKEN ?? null;
  if (token !== null && !/^[\x21-\x7e]+$/.test(token)) throw new UsageError('--token: must be non-empty printable ASCII without spaces');
  return {
    root: values.root,
    host: values.host,
    port: intFlag('port', values.port, 0, 65535),
    token,
    maxOpenShards: intFlag('max-open-shards', values['max-open-shards'], 1, 1 << 20),
    catalogTtlMs: intFlag('catalog-ttl-ms', values['catalog-ttl-ms'], 0, 86_400_000),
    shutdownTimeoutMs: intFlag('shutdown-timeout-ms', values['shutdown-timeout-ms'], 0, 3_600_000),
  };
}

export async function serveCommand(argv: string[]): Promise<number> {
  let config: ServeConfig | 'help';
  try {
    config = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`logit-cache serve: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cfg = config;
  // Lazy: the server's dependencies load only for this command.
  const { buildApp } = await import('../server/index.js');
  const app = buildApp({
    root: cfg.root, token: cfg.token, maxOpenShards: cfg.maxOpenShards, catalogTtlMs: cfg.catalogTtlMs,
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
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  process.stderr.write(`logit-cache serve: listening on http://${host}:${port} (root ${cfg.root}, auth ${cfg.token ? 'bearer token' : 'off'})\n`);

  return new Promise<number>((resolve) => {
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
}
