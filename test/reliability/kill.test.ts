// kill -9 at random points of a precompute, then the same command again: the result is byte
// for byte the uninterrupted run's, and nothing else is left in the folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../src/teacher/prng.js';
import { runCli } from '../cli.js';
import { type Inputs, makeInputs, precomputeArgs, snapshot, startPrecompute } from './helpers.js';

const KILLS = Number(process.env.LOGIT_CACHE_KILL_PROBES ?? 4);
const root = mkdtempSync(join(tmpdir(), 'lc-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let inputs: Inputs, reference: Record<string, string>, referenceMs: number;

beforeAll(async () => {
  inputs = makeInputs(root);
  const t0 = performance.now();
  const r = await startPrecompute(precomputeArgs(inputs, join(root, 'ref'))).done;
  referenceMs = performance.now() - t0;
  expect(r.status, r.stderr).toBe(0);
  reference = snapshot(join(root, 'ref', 'd'));
}, 120_000);

describe('kill -9 during a precompute', () => {
  it(`resumes to the byte-identical dataset after ${KILLS} kills at random points`, async () => {
    const rng = createRng(20261130);
    const points: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      const out = join(root, `k${i}`);
      const args = precomputeArgs(inputs, out);
      // Kill somewhere in the run (startup and scan included), at a seeded random time.
      const at = Math.floor(rng.uniform() * referenceMs);
      const run = startPrecompute(args);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), at);
      const killed = await run.done;
      clearTimeout(timer);
      points.push(`${at} ms (${killed.signal ?? `exit ${killed.status}`})`);
      const resumed = runCli('precompute-logits', args);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(snapshot(join(out, 'd'))).toEqual(reference);
      expect(runCli('logit-cache', ['verify', join(out, 'd')]).status).toBe(0);
    }
    console.log(`[kill] reference run ${Math.round(referenceMs)} ms; kill points: ${points.join(', ')}; every resume byte-identical`);
  }, 600_000);
});
