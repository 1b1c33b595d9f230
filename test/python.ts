// Locates the Python with pyarrow that scripts/test-python.sh prepares (.venv), so tests
// that check the contract with training jobs can run it, or skip saying why.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

export const repoRoot = resolve(import.meta.dirname, '..');
export const sharedDir = resolve(repoRoot, '../shared');

export function findPython(): { python: string | null; reason: string } {
  const python = process.env.LOGIT_CACHE_PYTHON ?? join(repoRoot, '.venv/bin/python');
  if (!existsSync(python)) return { python: null, reason: `no Python at ${python}; run scripts/test-python.sh --setup-only or set LOGIT_CACHE_PYTHON` };
  const probe = spawnSync(python, ['-c', 'import pyarrow'], { encoding: 'utf8' });
  if (probe.status !== 0) return { python: null, reason: `${python} cannot import pyarrow: ${probe.stderr.trim().split('\n').pop()}` };
  return { python, reason: '' };
}

/** A Python that can import the client (logit_cache) and torch, or why there is none. */
export function findPythonClient(): { python: string | null; reason: string } {
  const found = findPython();
  if (!found.python) return found;
  const probe = spawnSync(found.python, ['-c', 'import logit_cache, torch'], { encoding: 'utf8' });
  return probe.status === 0 ? found : { python: null, reason: `${found.python} cannot import logit_cache and torch (run scripts/setup-python.sh)` };
}

/** The real teacher in ../shared, or why it is missing. */
export function findStories(): { dir: string | null; reason: string } {
  const dir = join(sharedDir, 'teachers/stories260k');
  return existsSync(join(dir, 'model.onnx')) ? { dir, reason: '' } : { dir: null, reason: `${dir} is absent (tests with the real teacher need ../shared)` };
}

/** Runs Python asynchronously (a server in this same process can answer it meanwhile). */
export function runPythonAsync(python: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(python, args);
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
