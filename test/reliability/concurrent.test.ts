// Two identical precompute commands on one dataset folder at once: one writes, the other is
// refused with LC_ERR_DATASET_LOCKED naming the holder, and the result is the valid dataset a
// single run writes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorCode, runCli } from '../cli.js';
import { makeInputs, precomputeArgs, snapshot, startPrecompute } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'lc-concurrent-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('two writers of one dataset', () => {
  it('one is refused with the lock code naming the other; the result verifies and equals a lone run', async () => {
    const inputs = makeInputs(root);
    const lone = await startPrecompute(precomputeArgs(inputs, join(root, 'lone'))).done;
    expect(lone.status, lone.stderr).toBe(0);
    const args = precomputeArgs(inputs, join(root, 'shared'));
    const a = startPrecompute(args), b = startPrecompute(args);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    const results = [{ r: ra, pid: a.child.pid, other: b.child.pid }, { r: rb, pid: b.child.pid, other: a.child.pid }];
    const refused = results.filter((x) => x.r.status !== 0);
    expect(refused.length, `${ra.stderr}\n${rb.stderr}`).toBe(1);
    expect(refused[0].r.status).toBe(1);
    expect(errorCode(refused[0].r.stderr)).toBe('LC_ERR_DATASET_LOCKED');
    expect(refused[0].r.stderr).toContain(`pid ${refused[0].other}`);
    expect(runCli('logit-cache', ['verify', join(root, 'shared', 'd')]).status).toBe(0);
    expect(snapshot(join(root, 'shared', 'd'))).toEqual(snapshot(join(root, 'lone', 'd')));
    console.log(`[concurrent] 2 identical commands: 1 wrote, 1 refused (LC_ERR_DATASET_LOCKED); result byte-identical to a lone run`);
  }, 300_000);
});
