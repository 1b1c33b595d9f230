// Starting the teacher worker thread, apart from opening its session: a worker's own start
// (a fresh Node.js instance, ~70 ms of CPU) and its onnxruntime-node load (~60 ms) need no
// option at all, so the CLI starts them as its first act (prestartTeacherWorker) and the
// session's options follow by message once the command line is parsed and checked. Kept free
// of heavy imports: it runs before anything else of the command loads.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

// Built code runs the compiled worker beside this file; from TypeScript sources (tests, tsx
// benches) the .ts worker is loaded through tsx's loader.
const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');

/** A started worker, and whether its modules (onnxruntime-node among them) have loaded. */
export interface StartedWorker {
  worker: Worker;
  /** Resolves when the worker posts 'loaded', or when it exits or fails before that. */
  loaded: Promise<void>;
  /**
   * How the worker ended, if it did before anyone else listened (a prestarted worker whose
   * module load failed): its 'error' / 'exit' events have been emitted already by then.
   */
  ended(): { error: Error | null; code: number | null } | null;
}

let prestarted: StartedWorker | null = null;

export function startTeacherWorker(): StartedWorker {
  // The CommonJS bundle when the build made one beside this file (dist/cli, see bundle.ts).
  const cjs = path.join(path.dirname(here), 'teacher-worker.cjs');
  const file = !fromSource && existsSync(cjs) ? cjs : path.join(path.dirname(here), fromSource ? 'teacher-worker.ts' : 'teacher-worker.js');
  if (!existsSync(file)) throw new Error(`teacher worker ${file} is missing (run npm run build)`);
  let worker: Worker;
  if (!fromSource) worker = new Worker(pathToFileURL(file));
  else {
    // tsx's hooks are registered per thread: a small bootstrap registers them, then loads the worker.
    const require = createRequire(import.meta.url);
    const api = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); })`;
    worker = new Worker(code, { eval: true });
  }
  let end: { error: Error | null; code: number | null } | null = null;
  worker.once('error', (e: Error) => { end = { error: e, code: end?.code ?? null }; });
  worker.once('exit', (code: number) => { end = { error: end?.error ?? null, code }; });
  const loaded = new Promise<void>((resolve) => {
    const onMessage = (m: { type?: string }): void => {
      if (m?.type !== 'loaded') return;
      worker.off('message', onMessage);
      resolve();
    };
    worker.on('message', onMessage);
    worker.once('exit', () => resolve());
    worker.once('error', () => resolve());
  });
  return { worker, loaded, ended: () => end };
}

/** Starts a worker now for the next RemoteTeacher to take (the CLI calls this first thing). */
export function prestartTeacherWorker(): StartedWorker {
  prestarted ??= startTeacherWorker();
  return prestarted;
}

/** The prestarted worker, handed over once; null when none was started. */
export function takePrestartedWorker(): StartedWorker | null {
  const w = prestarted;
  prestarted = null;
  return w;
}

/**
 * Ends a prestarted worker no teacher took (a usage error, --help). It is let finish loading
 * first: onnxruntime-node sets up native state while it loads, which a termination must not cut.
 */
export async function dropPrestartedWorker(): Promise<void> {
  const w = takePrestartedWorker();
  if (!w) return;
  await w.loaded;
  await w.worker.terminate();
}
