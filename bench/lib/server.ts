// The server under test, started exactly as a user starts it (`logit-cache serve` from the
// built dist/), in its own process so its memory and CPU are measured alone.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** BENCH_SERVER_CLI runs another build (e.g. main's, built elsewhere) through the same benchmark. */
const CLI = process.env.BENCH_SERVER_CLI ?? join(REPO, 'dist', 'cli', 'logit-cache.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than any file in src/, so the bench never measures stale code. */
export function ensureBuilt(): void {
  if (process.env.BENCH_SERVER_CLI) return;
  let built = 0;
  try {
    built = statSync(CLI).mtimeMs;
  } catch { /* not built */ }
  if (built >= newestMtime(join(REPO, 'src'))) return;
  process.stderr.write('dist/ is missing or older than src/: npm run build\n');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO, stdio: 'inherit' });
}

export interface Server {
  base: string;
  pid: number;
  /** Milliseconds from spawn to the "listening" line. */
  listeningMs: number;
  stop(): Promise<void>;
}

export interface ServerOptions {
  maxOpenShards?: number;
  /** Directory for `node --cpu-prof` output (written when the server exits). */
  cpuProfDir?: string;
  nodeArgs?: string[];
  /** More `logit-cache serve` flags (e.g. --reencode-cache-mib). */
  serveArgs?: string[];
}

export async function startServer(root: string, opts: ServerOptions = {}): Promise<Server> {
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [])];
  const args = [...nodeArgs, CLI, 'serve', '--root', root, '--port', '0', '--max-open-shards', String(opts.maxOpenShards ?? 64), ...(opts.serveArgs ?? [])];
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOGIT_CACHE_LOG_LEVEL: 'warn' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stderr! });
  const base = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]);
      else process.stderr.write(`[server] ${line}\n`);
    });
    child.once('exit', (code) => reject(new Error(`logit-cache serve exited with ${code} before listening`)));
  });
  const listeningMs = performance.now() - t0;
  return {
    base, pid: child.pid!, listeningMs,
    stop: async () => { child.kill('SIGTERM'); await exited; },
  };
}
