// The writer's lifecycle on a real folder: overwrite builds beside the served version and
// switches by the manifest rename; every leftover of the format (orphan temporaries, a stale
// .partial/ after a kill between switch and cleanup, old generations) is cleaned by the next
// writer; a run that commits nothing leaves nothing; one writer per folder (lock).
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../src/errors.js';
import { DatasetReader, DatasetWriter, type Manifest, type TopkBatch } from '../../src/shard/index.js';
import { DatasetLock } from '../../src/shard/lock.js';
import { makeBatch } from './make-batch.js';

const root = mkdtempSync(join(tmpdir(), 'lc-lifecycle-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const layout = { k: 4, vocabSize: 500, values: 'f16' as const };
const BATCHES = 5, BATCH_SIZE = 3;

function writer(id: string, runConfig: Record<string, unknown>, overwrite = false): DatasetWriter {
  return new DatasetWriter({ root, datasetId: id, layout, codec: 'lz4', batchSize: BATCH_SIZE, batchesPerShard: 2, runConfig, overwrite, retireGraceMs: 0 });
}

function batchesFor(seed: number): TopkBatch[] {
  return Array.from({ length: BATCHES }, (_, b) => makeBatch({
    lengths: Array.from({ length: BATCH_SIZE }, (_, i) => 1 + ((b * 5 + i * 3 + seed) % 9)), k: layout.k, vocabSize: layout.vocabSize,
    firstSample: b * BATCH_SIZE, seed: seed * 100 + b,
  }));
}

function finish(w: DatasetWriter, batches: TopkBatch[]): Manifest {
  return w.finish({
    teacher: { file: 't.onnx', sha256: 'a'.repeat(64), vocabSize: layout.vocabSize },
    source: { file: 'd.jsonl', sha256: 'b'.repeat(64), samples: BATCHES * BATCH_SIZE, tokens: batches.reduce((a, x) => a + x.inputIds.length, 0) },
  });
}

function writeVersion(id: string, seed: number, overwrite = false): Manifest {
  const w = writer(id, { seed }, overwrite);
  const batches = batchesFor(seed);
  for (const b of batches) w.append(b);
  return finish(w, batches);
}

/** Every file under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
    .filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

async function firstIds(id: string): Promise<number[]> {
  const r = await DatasetReader.open(join(root, id));
  try {
    return Array.from((await r.readBatch(0)).topkIds.slice(0, 8));
  } finally {
    await r.close();
  }
}

describe('overwrite builds beside the served version', () => {
  it('keeps the old manifest and files until the switch, then only the new generation remains', async () => {
    const v1 = writeVersion('ow', 1);
    const dir = join(root, 'ow');
    const oldIds = await firstIds('ow');
    const w = writer('ow', { seed: 2 }, true);
    expect(w.generation).toBe(1);
    const batches = batchesFor(2);
    for (const b of batches.slice(0, 3)) w.append(b);
    // Mid-build: the served version is untouched and still reads.
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toEqual(v1);
    expect(await firstIds('ow')).toEqual(oldIds);
    expect(tree(dir).filter((f) => f.startsWith('shards/g1/')).length).toBeGreaterThan(0);
    for (const b of batches.slice(3)) w.append(b);
    const v2 = finish(w, batches);
    expect(v2.shards.every((s) => s.file.startsWith('shards/g1/') && s.index.file.startsWith('shards/g1/'))).toBe(true);
    expect(await firstIds('ow')).toEqual(Array.from(batches[0].topkIds.slice(0, 8)));
    expect(tree(dir)).toEqual(['manifest.json', 'run.json', ...v2.shards.flatMap((s) => [s.index.file, s.file])].sort());
    // A second overwrite takes the next generation and retires g1.
    const v3 = writeVersion('ow', 3, true);
    expect(v3.shards[0].file).toMatch(/^shards\/g2\//);
    expect(tree(dir).some((f) => f.startsWith('shards/g1/'))).toBe(false);
  });

  it('an overwrite that commits nothing leaves the served version exactly as it was', () => {
    writeVersion('ow0', 1);
    const dir = join(root, 'ow0');
    const before = tree(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]);
    const w = writer('ow0', { seed: 9 }, true);
    w.abort();
    expect(tree(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')])).toEqual(before);
    // And the same settings as the served version still count as complete.
    const again = writer('ow0', { seed: 1 });
    expect(again.complete).toBe(true);
  });
});

describe('leftovers are cleaned by the next writer', () => {
  it('finishes a switch a kill interrupted (stale .partial/, old generation) and creates no .partial/ on a finished dataset', () => {
    writeVersion('kill', 1);
    const dir = join(root, 'kill');
    const saved = join(root, 'kill-v1');
    cpSync(dir, saved, { recursive: true });
    writeVersion('kill', 2, true);
    // Recreate what a kill right after the manifest rename leaves: the old generation's files
    // and the build's .partial/ (it names generation 1, the one the manifest now serves).
    for (const f of tree(saved).filter((f) => f.startsWith('shards/'))) copyFileSync(join(saved, f), join(dir, f));
    mkdirSync(join(dir, '.partial'));
    writeFileSync(join(dir, '.partial', 'build.json'), JSON.stringify({ generation: 1 }));
    writeFileSync(join(dir, '.partial', 'shard-000000.json'), '{}');
    const w = writer('kill', { seed: 2 });
    expect(w.complete).toBe(true);
    expect(existsSync(join(dir, '.partial'))).toBe(false);
    expect(tree(dir).filter((f) => f.startsWith('shards/')).every((f) => f.startsWith('shards/g1/'))).toBe(true);
    // Re-running the finished dataset again touches nothing.
    const before = tree(dir);
    expect(writer('kill', { seed: 2 }).complete).toBe(true);
    expect(tree(dir)).toEqual(before);
  });

  it('removes orphan temporaries of dead processes (and of older versions), keeps a live process\'s', () => {
    writeVersion('tmp', 1);
    const dir = join(root, 'tmp');
    const dead = 2 ** 22 + 12345; // above pid_max on Linux by default: never alive
    const orphans = [`manifest.json.${dead}-0badcafe.tmp`, 'manifest.json.4242.tmp', `shards/shard-000001.arrow.${dead}-12345678.tmp`];
    const live = `run.json.1-abcdef01.tmp`; // pid 1 is alive
    for (const f of [...orphans, live]) writeFileSync(join(dir, f), 'x');
    expect(writer('tmp', { seed: 1 }).complete).toBe(true);
    for (const f of orphans) expect(existsSync(join(dir, f)), f).toBe(false);
    expect(existsSync(join(dir, live))).toBe(true);
  });
});

describe('a run that commits no shard leaves nothing', () => {
  it('removes the folder it created, run.json and .partial/', () => {
    const w = writer('nothing', { seed: 1 });
    w.append(batchesFor(1)[0]);
    w.abort();
    expect(existsSync(join(root, 'nothing'))).toBe(false);
  });

  it('keeps committed shards of a failed run for the resume', () => {
    const w = writer('some', { seed: 1 });
    for (const b of batchesFor(1).slice(0, 3)) w.append(b); // shard 0 (2 batches) commits
    w.abort();
    const again = writer('some', { seed: 1 });
    expect(again.resumeFromBatch).toBe(2);
    again.abort();
  });
});

describe('one writer per dataset', () => {
  const lockFile = (id: string) => join(root, id, '.lock');

  it('refuses while another live process holds the lock, naming it; takes over a dead holder\'s lock', () => {
    writeVersion('locked', 1);
    const holder = { pid: process.ppid, host: hostname(), since: '2026-01-01T00:00:00.000Z', command: 'precompute-logits …' };
    writeFileSync(lockFile('locked'), JSON.stringify(holder));
    let err: unknown;
    try {
      writer('locked', { seed: 1 });
    } catch (e) {
      err = e;
    }
    expect(codeOf(err)).toBe('LC_ERR_DATASET_LOCKED');
    expect((err as Error).message).toContain(`pid ${process.ppid}`);
    expect(JSON.parse(readFileSync(lockFile('locked'), 'utf8'))).toEqual(holder);
    writeFileSync(lockFile('locked'), JSON.stringify({ ...holder, pid: 2 ** 22 + 12345 }));
    expect(writer('locked', { seed: 1 }).complete).toBe(true);
    expect(existsSync(lockFile('locked'))).toBe(false);
  });

  it('cannot tell whether a holder on another host is alive: refuses naming host and lock file', () => {
    mkdirSync(join(root, 'remote'));
    writeFileSync(lockFile('remote'), JSON.stringify({ pid: 1, host: 'elsewhere', since: 'x', command: 'y' }));
    expect(() => DatasetLock.acquire(join(root, 'remote'))).toThrow(/pid 1 on host elsewhere.*delete .*\.lock/);
  });

  it('is held while writing and released at the end', () => {
    const w = writer('held', { seed: 1 });
    expect(JSON.parse(readFileSync(lockFile('held'), 'utf8')).pid).toBe(process.pid);
    const batches = batchesFor(1);
    for (const b of batches) w.append(b);
    finish(w, batches);
    expect(existsSync(lockFile('held'))).toBe(false);
  });
});

describe('finish before every shard is written', () => {
  it('is LC_ERR_INCOMPLETE naming the missing shards, and writes no manifest', () => {
    const w = writer('incomplete', { seed: 9 });
    const batches = batchesFor(9);
    for (const b of batches.slice(0, 2)) w.append(b); // shard 0 only; shards 1 and 2 never come
    let err: unknown;
    try {
      finish(w, batches);
    } catch (e) {
      err = e;
    }
    expect(codeOf(err)).toBe('LC_ERR_INCOMPLETE');
    expect((err as Error).message).toMatch(/shards 1, 2 are not written yet/);
    expect(existsSync(join(root, 'incomplete', 'manifest.json'))).toBe(false);
  });
});
