// The README and docs stay in step with the commands: every flag a command accepts is
// documented, and the documented exit codes are what usage errors return.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRECOMPUTE_OPTIONS } from '../../src/cli/precompute-logits.js';
import { SERVE_OPTIONS } from '../../src/cli/serve.js';
import { repoRoot } from '../python.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const http = readFileSync(join(repoRoot, 'docs/HTTP.md'), 'utf8');

describe('docs', () => {
  it('README documents every precompute-logits flag', () => {
    const missing = Object.keys(PRECOMPUTE_OPTIONS).filter((f) => !['help', 'quiet'].includes(f) && !readme.includes(`--${f}`));
    expect(missing).toEqual([]);
  });

  it('docs/HTTP.md documents every serve flag', () => {
    const missing = Object.keys(SERVE_OPTIONS).filter((f) => f !== 'help' && !http.includes(`--${f}`));
    expect(missing).toEqual([]);
  });
});
