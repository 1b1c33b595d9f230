// Serving during an --overwrite: a real `logit-cache serve` process is polled in a loop over
// every batch while the dataset is recomputed with other settings. Never a 404 or a 5xx; the
// old bytes until the switch, the new bytes after it (never old again), the new at the end.
// Also with --preset compact (shared prefixes, format 2.5), whose batches the server re-encodes
// and keeps in its stream cache: the cache must not answer the old bytes after the switch.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetReader } from '../../src/shard/index.js';
import { cliPath } from '../cli.js';
import { spawn } from 'node:child_process';
import { makeInputs, precomputeArgs, startPrecompute } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'lc-overwrite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function streamShas(dir: string): Promise<string[]> {
  const r = await DatasetReader.open(dir);
  try {
    const out: string[] = [];
    for (let b = 0; b < r.batchCount; b++) out.push(createHash('sha256').update((await r.readStream(b)).stream).digest('hex'));
    return out;
  } finally {
    await r.close();
  }
}

describe('serving during --overwrite', () => {
  it.each([
    ['plain Arrow shards', 'plain', [] as string[]],
    ['shared prefixes (re-encoded, cached)', 'compact', ['--preset', 'compact']],
  ])('%s: answers every poll with the old bytes until the switch and the new ones after, never 404 or 5xx', async (_name, dir, settings) => {
    const inputs = makeInputs(join(root, dir));
    const out = join(root, dir, 'out');
    const first = await startPrecompute(precomputeArgs(inputs, out, ['--top-k', '8', ...settings])).done;
    expect(first.status, first.stderr).toBe(0);
    const oldShas = await streamShas(join(out, 'd'));

    const server = spawn(process.execPath, [cliPath('logit-cache'), 'serve', '--root', out, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOGIT_CACHE_LOG_LEVEL: 'warn' } });
    let serverErr = '';
    const base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${serverErr}`)), 30_000);
      server.stderr!.on('data', (c: Buffer) => {
        serverErr += c.toString();
        const m = /listening on (http:\/\/[^ ]+)/.exec(serverErr);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
    });
    try {
      const overwrite = startPrecompute(precomputeArgs(inputs, out, ['--top-k', '4', ...settings, '--overwrite']));
      let finished = false;
      void overwrite.done.then(() => (finished = true));
      const seen: { batch: number; status: number; sha: string; t: number }[] = [];
      const t0 = performance.now();
      // Poll every batch in turn until the overwrite has exited and one more full round is done.
      let extraRounds = 2;
      while (extraRounds > 0) {
        if (finished) extraRounds--;
        for (let b = 0; b < oldShas.length; b++) {
          const res = await fetch(`${base}/logits/d/${b}`);
          const body = Buffer.from(await res.arrayBuffer());
          seen.push({ batch: b, status: res.status, sha: createHash('sha256').update(body).digest('hex'), t: performance.now() - t0 });
        }
      }
      const result = await overwrite.done;
      expect(result.status, result.stderr).toBe(0);
      const newShas = await streamShas(join(out, 'd'));
      expect(newShas.length).toBe(oldShas.length);
      expect(newShas.some((s, i) => s !== oldShas[i])).toBe(true);

      const bad = seen.filter((s) => s.status !== 200);
      expect(bad, JSON.stringify(bad.slice(0, 5))).toEqual([]);
      // Each answer is the old or the new version of its batch; once a batch has been seen new,
      // every later answer for any batch is new (one switch, no flapping).
      let switched = -1;
      seen.forEach((s, i) => {
        const isOld = s.sha === oldShas[s.batch], isNew = s.sha === newShas[s.batch];
        expect(isOld || isNew, `poll ${i} batch ${s.batch}`).toBe(true);
        if (isNew && switched < 0) switched = i;
        if (switched >= 0) expect(isNew, `poll ${i} batch ${s.batch} old after the switch at poll ${switched}`).toBe(true);
      });
      expect(switched).toBeGreaterThan(0); // old bytes were served while the new version was built
      if (dir === 'compact') {
        // The polls were answered from the stream cache too, both versions (each one built once).
        const metrics = await (await fetch(`${base}/metrics`)).text();
        const counter = (name: string) => Number(new RegExp(`^logit_cache_reencode_cache_${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
        expect(counter('hits_total')).toBeGreaterThan(0);
        expect(counter('misses_total')).toBeGreaterThanOrEqual(2 * oldShas.length);
      }
      const last = seen.slice(-oldShas.length);
      expect(last.every((s) => s.sha === newShas[s.batch])).toBe(true);
      console.log(`[overwrite ${dir}] ${seen.length} requests over ${Math.round(seen[seen.length - 1].t)} ms: 0 non-200, old bytes for the first ${switched}, new after the switch at ${Math.round(seen[switched].t)} ms`);
    } finally {
      server.kill('SIGTERM');
    }
  }, 300_000);
});
