// Disk full on a real small filesystem: a tmpfs mounted for the test (when root), else a file
// size limit (ulimit -f), else skipped with the reason. The failure is coded and names the file,
// leaves no temporary file, and after space is freed the same command resumes to the
// byte-identical dataset. With a tmpfs, the manifest write itself is also made to fail.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/errors.js';
import { DatasetWriter } from '../../src/shard/index.js';
import { makeBatch } from '../shard/make-batch.js';
import { cliPath, errorCode, runCli } from '../cli.js';
import { type Inputs, makeInputs, precomputeArgs, snapshot, startPrecompute } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'lc-diskfull-'));
const mnt = join(root, 'mnt');
let mounted = false;

function tryMount(size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  mkdirSync(mnt, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]).status === 0;
}
const remount = (size: string) => execFileSync('mount', ['-o', `remount,size=${size}`, mnt]);

beforeAll(() => {
  mounted = tryMount('256k');
  if (!mounted) console.log('[disk-full] no tmpfs (not root, or mount refused): using ulimit -f instead');
});
afterAll(() => {
  if (mounted) spawnSync('umount', [mnt]);
  rmSync(root, { recursive: true, force: true });
});

/** Every file left under `dir` whose name says it is temporary. */
const temporaries = (dir: string) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp')) : []);

describe('disk full during a precompute', () => {
  let inputs: Inputs, reference: Record<string, string>;
  beforeAll(async () => {
    inputs = makeInputs(root, 160);
    const r = await startPrecompute(precomputeArgs(inputs, join(root, 'ref'), ['--values', 'f32', '--codec', 'none'])).done;
    expect(r.status, r.stderr).toBe(0);
    reference = snapshot(join(root, 'ref', 'd'));
  }, 120_000);

  it('fails with LC_ERR_WRITE_FAILED naming the file, leaves no temporary, and resumes byte-identical', () => {
    const out = mounted ? mnt : join(root, 'limited');
    const args = precomputeArgs(inputs, out, ['--values', 'f32', '--codec', 'none']);
    const full = mounted
      ? runCli('precompute-logits', args)
      : (() => {
        const r = spawnSync('bash', ['-c', 'ulimit -f 64; exec "$@"', 'bash', process.execPath, cliPath('precompute-logits'), ...args], { encoding: 'utf8' });
        return { status: r.status, stderr: r.stderr, stdout: r.stdout };
      })();
    expect(full.status, full.stderr).toBe(1);
    expect(errorCode(full.stderr)).toBe('LC_ERR_WRITE_FAILED');
    expect(full.stderr).toMatch(mounted ? /no space left on the device/ : /file too large/);
    expect(full.stderr).toMatch(/shards\/shard-\d{6}\.(idx\.)?arrow|\.json/);
    expect(temporaries(join(out, 'd'))).toEqual([]);
    expect(existsSync(join(out, 'd', 'manifest.json'))).toBe(false);
    if (mounted) remount('64m');
    const resumed = runCli('precompute-logits', args);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).resumedFromBatch).toBeGreaterThan(0);
    expect(snapshot(join(out, 'd'))).toEqual(reference);
    console.log(`[disk-full] ${mounted ? 'tmpfs 256 KiB' : 'ulimit -f 64'}: refused with LC_ERR_WRITE_FAILED, resumed byte-identical`);
    if (mounted) rmSync(join(mnt, 'd'), { recursive: true, force: true });
  }, 300_000);

  it.skipIf(process.getuid?.() !== 0)('a full disk at the manifest write names manifest.json, leaves no manifest.json.*.tmp, and finishes on the next run', () => {
    expect(mounted).toBe(true);
    remount('64m');
    const layout = { k: 4, vocabSize: 500, values: 'f32' as const };
    const batches = Array.from({ length: 4 }, (_, b) => makeBatch({ lengths: [30, 20], k: 4, vocabSize: 500, firstSample: b * 2, seed: b }));
    const meta = {
      teacher: { file: 't.onnx', sha256: 'a'.repeat(64), vocabSize: 500 },
      source: { file: 'd.jsonl', sha256: 'b'.repeat(64), samples: 8, tokens: 200 },
    };
    const opts = { root: mnt, datasetId: 'm', layout, codec: 'none' as const, batchSize: 2, batchesPerShard: 2, runConfig: { x: 1 }, meta };
    const w = new DatasetWriter(opts);
    for (const b of batches) w.append(b); // both shards commit (2 batches each)
    // Fill what is left, so the next file to grow is the manifest's temporary.
    const filler = openSync(join(mnt, 'filler'), 'w');
    const chunk = Buffer.alloc(64 << 10);
    try {
      for (;;) writeSync(filler, chunk);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    try {
      for (;;) writeSync(filler, chunk, 0, 1);
    } catch {
      // the last bytes of the last page
    }
    closeSync(filler);
    let err: unknown;
    try {
      w.tryFinish();
    } catch (e) {
      err = e;
    }
    expect(codeOf(err)).toBe('LC_ERR_WRITE_FAILED');
    expect((err as Error).message).toContain(join(mnt, 'm', 'manifest.json'));
    expect((err as Error).message).toMatch(/no space left/);
    expect(temporaries(join(mnt, 'm'))).toEqual([]);
    rmSync(join(mnt, 'filler'));
    const again = new DatasetWriter(opts);
    expect(again.resumeFromBatch).toBe(4);
    const m = again.tryFinish();
    expect(Array.isArray(m)).toBe(false);
    expect(existsSync(join(mnt, 'm', '.partial'))).toBe(false);
  }, 120_000);
});
