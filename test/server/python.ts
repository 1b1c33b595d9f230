// Locates the Python with pyarrow the cross-language tests use, or says why there is none.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.LOGIT_CACHE_PYTHON ?? fileURLToPath(new URL('../../.venv/bin/python', import.meta.url));

/** null when Python and pyarrow are usable, else the reason to skip. */
export function pythonSkipReason(): string | null {
  if (!existsSync(PYTHON)) return `no Python at ${PYTHON} (set LOGIT_CACHE_PYTHON)`;
  const r = spawnSync(PYTHON, ['-c', 'import pyarrow'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} cannot import pyarrow: ${r.stderr.trim().split('\n').pop()}`;
}
