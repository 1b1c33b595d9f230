// A damaged, truncated, foreign or escaping dataset is refused with a clear error naming the
// shard, never partial data: by the checked reader and by verify.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { DatasetReader, DatasetWriter, decodeIndex, encodeIndex, type Manifest, ShardCorruptError, type ShardIndex, verifyDataset } from '../../src/shard/index.js';
import { writeFixture } from './fixture.js';
import { indexRows } from './index-rows.js';
import { makeBatch } from './make-batch.js';

let root: string;
beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'lc-integrity-')); });
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A valid one-column Arrow IPC file: the right container holding the wrong table. */
function encodeIndexWithColumns(): Uint8Array {
  return tableToIPC(tableFromArrays({ x: new Int32Array([1, 2, 3]) }), 'file');
}

function flipByte(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] ^= 0x5a;
  writeFileSync(path, bytes);
}

/** Every batch read through a fresh reader: the problems each one raised, by batch. */
async function readAll(dir: string, m: Manifest): Promise<Map<number, Error>> {
  const reader = await DatasetReader.open(dir);
  const errors = new Map<number, Error>();
  for (let b = 0; b < m.batchCount; b++) {
    try {
      await reader.readBatch(b);
    } catch (e) {
      errors.set(b, e as Error);
    }
  }
  await reader.close();
  return errors;
}

describe('integrity', () => {
  it('passes verify on an intact dataset, with index files beside the shards', async () => {
    const { dir, manifest } = writeFixture({ root });
    expect(manifest.formatVersion).toBe('2.0');
    for (const s of manifest.shards) {
      expect(s.index.file).toBe(s.file.replace(/\.arrow$/, '.idx.arrow'));
      expect(readFileSync(join(dir, s.index.file)).length).toBe(s.index.bytes);
      expect(s).not.toHaveProperty('batches');
    }
    const report = await verifyDataset(dir);
    expect(report.problems).toEqual([]);
    expect(report.checked).toBe(manifest.batchCount);
  });

  it('catches a flipped byte inside a batch, naming shard and batch', async () => {
    const { dir, manifest } = writeFixture({ root });
    const shard = manifest.shards[1];
    const row = indexRows(dir, manifest)[shard.firstBatch + 1];
    flipByte(join(dir, shard.file), row.offset + row.length - 3);
    const batch = shard.firstBatch + 1;
    const reader = await DatasetReader.open(dir);
    await expect(reader.readBatch(batch)).rejects.toThrow(ShardCorruptError);
    await expect(reader.readBatch(batch)).rejects.toThrow(new RegExp(`${shard.file} batch ${batch}: sha256`));
    await expect(reader.readBatch(0)).resolves.toBeTruthy();
    await reader.close();
    const report = await verifyDataset(dir);
    expect(report.problems.some((p) => p.shard === shard.file && p.batch === batch)).toBe(true);
    expect(report.problems.some((p) => p.shard === shard.file && p.batch === null && /sha256/.test(p.message))).toBe(true);
  });

  it('catches a truncated shard in the reader and in verify', async () => {
    const { dir, manifest } = writeFixture({ root });
    const shard = manifest.shards[0];
    truncateSync(join(dir, shard.file), shard.bytes - 100);
    const reader = await DatasetReader.open(dir);
    await expect(reader.readBatch(0)).rejects.toThrow(/truncated/);
    await reader.close();
    const report = await verifyDataset(dir);
    expect(report.problems.map((p) => p.shard)).toContain(shard.file);
  });

  describe('a corrupted index is refused before it is parsed', () => {
    const cases: [string, (dir: string, m: Manifest) => void, RegExp][] = [
      ['a flipped byte', (dir, m) => flipByte(join(dir, m.shards[0].index.file), 40), /index shards\/shard-000000\.idx\.arrow sha256 [0-9a-f]{64} does not match manifest/],
      ['truncation', (dir, m) => truncateSync(join(dir, m.shards[0].index.file), m.shards[0].index.bytes - 1), /index shards\/shard-000000\.idx\.arrow is \d+ bytes, manifest says/],
      ['another shard\'s index', (dir, m) => writeFileSync(join(dir, m.shards[0].index.file), readFileSync(join(dir, m.shards[1].index.file))), /index shards\/shard-000000\.idx\.arrow (sha256|is \d+ bytes)/],
      ['a missing index', (dir, m) => rmSync(join(dir, m.shards[0].index.file)), /cannot open shards\/shard-000000\.idx\.arrow: ENOENT/],
    ];
    for (const [name, damage, message] of cases) {
      it(name, async () => {
        // Equal-sized shards, so a swapped index has the right size and only its hash differs.
        const { dir, manifest } = writeFixture({ root, batches: 4, batchesPerShard: 2, seqLen: () => 5 });
        damage(dir, manifest);
        const errors = await readAll(dir, manifest);
        expect([...errors.keys()]).toEqual([0, 1]); // shard 1 still reads
        for (const e of errors.values()) {
          expect(e).toBeInstanceOf(ShardCorruptError);
          expect(e.message).toMatch(/^shard shards\/shard-000000\.arrow: /);
          expect(e.message).toMatch(message);
        }
        const report = await verifyDataset(dir);
        expect(report.problems.length).toBeGreaterThan(0);
        expect(report.problems.every((p) => p.shard === 'shards/shard-000000.arrow')).toBe(true);
        expect(report.problems.some((p) => message.test(p.message))).toBe(true);
        expect(report.checked).toBe(2);
      });
    }
  });

  it('verify reports an Arrow footer that disagrees with the index (what pyarrow would read)', async () => {
    const { dir, manifest } = writeFixture({ root });
    const shard = manifest.shards[0];
    const path = join(dir, shard.file);
    const bytes = readFileSync(path);
    const row1 = indexRows(dir, manifest)[1];
    // Block 1's offset as stored in the footer (int64 LE), after the last batch.
    const needle = Buffer.alloc(8);
    needle.writeBigInt64LE(BigInt(row1.offset));
    const at = bytes.indexOf(needle, row1.offset + row1.length);
    expect(at).toBeGreaterThan(0);
    bytes.writeBigInt64LE(BigInt(row1.offset + 8), at);
    writeFileSync(path, bytes);
    // A manifest that vouches for the changed file: only the footer check can notice.
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.shards[0].sha256 = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const report = await verifyDataset(dir);
    expect(report.problems).toEqual([{ shard: shard.file, batch: null, message: `footer block 1 at ${row1.offset + 8}+${row1.length} differs from index row 1 at ${row1.offset}+${row1.length}` }]);
    expect(report.checked).toBe(manifest.batchCount);
  });

  describe('an index whose hash matches but whose rows do not agree with the manifest is refused', () => {
    // Each case rewrites shard 0's index and the manifest's hash of it, so only the invariants can object.
    const cases: [string, (ix: ShardIndex) => void, RegExp][] = [
      ['rows out of order', (ix) => { [ix.offset[0], ix.offset[1]] = [ix.offset[1], ix.offset[0]]; }, /row 0: offset \d+, expected \d+/],
      ['a message running past the file', (ix) => { ix.length[1] += 1e6; }, /row 1: message at \d+\+\d+ does not fit the \d+-byte shard/],
      ['a short middle batch', (ix) => { ix.samples[0] -= 1; ix.samples[1] += 1; }, /row 0: 3 samples; batchSize is 4/],
      ['token sums that disagree', (ix) => { ix.tokens[1] += 1; }, /rows sum to 8 samples\/\d+ tokens, manifest says 8\/\d+/],
      ['another shard\'s first batch', (ix) => { ix.firstBatch = 2; }, /starts at batch 2 sample 0, manifest says batch 0 sample 0/],
      ['a missing row', (ix) => { ix.rows = 1; }, /has 1 rows, manifest says 2 batches/],
    ];
    for (const [name, damage, message] of cases) {
      it(name, async () => {
        const { dir, manifest } = writeFixture({ root });
        const shard = manifest.shards[0];
        const ix = decodeIndex(readFileSync(join(dir, shard.index.file)), shard.file, shard.index.file);
        damage(ix);
        const bytes = encodeIndex(ix);
        writeFileSync(join(dir, shard.index.file), bytes);
        const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
        m.shards[0].index = { ...m.shards[0].index, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
        writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
        const errors = await readAll(dir, manifest);
        expect([...errors.keys()]).toEqual([0, 1]);
        expect(errors.get(0)!.message).toMatch(/^shard shards\/shard-000000\.arrow: index shards\/shard-000000\.idx\.arrow /);
        expect(errors.get(0)!.message).toMatch(message);
      });
    }
  });

  it('refuses an index that is not an index (hash vouched for) with LC_ERR_SHARD_CORRUPT naming the shard and index', async () => {
    const { dir, manifest } = writeFixture({ root });
    const shard = manifest.shards[0];
    const cases: [string, Uint8Array, RegExp][] = [
      ['not Arrow at all', Buffer.from('this is not an Arrow file, whatever its hash says'), /^shard shards\/shard-000000\.arrow: /],
      // A well-formed Arrow file of the wrong shape: our own column check must object, not a crash.
      ['an Arrow file with other columns', encodeIndexWithColumns(), /^shard shards\/shard-000000\.arrow: index shards\/shard-000000\.idx\.arrow: index columns are x, expected offset, /],
    ];
    for (const [name, bytes, message] of cases) {
      writeFileSync(join(dir, shard.index.file), bytes);
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
      m.shards[0].index = { ...m.shards[0].index, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      const errors = await readAll(dir, manifest);
      expect([...errors.keys()], name).toEqual([0, 1]);
      const e = errors.get(0) as ShardCorruptError;
      expect(e, name).toBeInstanceOf(ShardCorruptError);
      expect(e.code, name).toBe('LC_ERR_SHARD_CORRUPT');
      expect(e.message, name).toMatch(message);
      // Called directly, the decoder raises the same coded error.
      let direct: unknown;
      try {
        decodeIndex(bytes, shard.file, shard.index.file);
      } catch (err) {
        direct = err;
      }
      expect((direct as ShardCorruptError)?.code, name).toBe('LC_ERR_SHARD_CORRUPT');
    }
  });

  it('refuses a schema message that differs from its manifest hash, before parsing it', async () => {
    const { dir, manifest } = writeFixture({ root });
    flipByte(join(dir, manifest.shards[0].file), 8 + 20);
    const errors = await readAll(dir, manifest);
    expect(errors.get(0)?.message).toMatch(/^shard shards\/shard-000000\.arrow: schema message sha256 [0-9a-f]{64} does not match manifest/);
    expect(errors.has(manifest.shards[1].firstBatch)).toBe(false);
  });

  it('refuses a missing or invalid manifest, a 1.x one (naming migrate) and a newer major version', async () => {
    await expect(DatasetReader.open(join(root, 'nothing'))).rejects.toThrow(/no manifest/);
    const { dir } = writeFixture({ root });
    const path = join(dir, 'manifest.json');
    const good = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, '{ not json');
    await expect(DatasetReader.open(dir)).rejects.toThrow(/manifest.json: invalid JSON/);
    writeFileSync(path, JSON.stringify({ ...good, batchCount: good.batchCount + 1 }));
    await expect(DatasetReader.open(dir)).rejects.toThrow(/manifest says/);
    writeFileSync(path, JSON.stringify({ ...good, codec: 'gzip' }));
    await expect(DatasetReader.open(dir)).rejects.toThrow(/schemas\/manifest.schema.json.*codec/);
    writeFileSync(path, JSON.stringify({ ...good, formatVersion: '1.0' }));
    await expect(DatasetReader.open(dir)).rejects.toMatchObject({
      code: 'LC_ERR_FORMAT_MIGRATE', message: expect.stringContaining(`logit-cache migrate ${dir}`),
    });
    writeFileSync(path, JSON.stringify({ ...good, formatVersion: '3.0' }));
    await expect(DatasetReader.open(dir)).rejects.toMatchObject({
      code: 'LC_ERR_FORMAT_VERSION', message: expect.stringMatching(/format version 3.0 is newer than this reader \(reads 2.x\)/),
    });
    expect((await verifyDataset(dir)).problems[0].message).toMatch(/newer/);
  });
});

describe('paths stay inside the dataset folder', () => {
  it('refuses a shard or index symlinked elsewhere, naming only the manifest name', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'lc-outside-'));
    try {
      const { dir, manifest } = writeFixture({ root });
      const shard = manifest.shards[0];
      // A perfect copy outside: the content would pass every hash, so only containment refuses it.
      writeFileSync(join(outside, 'copy.arrow'), readFileSync(join(dir, shard.file)));
      rmSync(join(dir, shard.file));
      symlinkSync(join(outside, 'copy.arrow'), join(dir, shard.file));
      const errors = await readAll(dir, manifest);
      expect([...errors.keys()]).toEqual([0, 1]);
      for (const e of errors.values()) {
        expect(e.message).toBe('shard shards/shard-000000.arrow: cannot open shards/shard-000000.arrow: resolves outside the dataset folder; refused');
      }
      const report = await verifyDataset(dir);
      expect(report.problems.every((p) => !p.message.includes(outside))).toBe(true);
      expect(report.problems.some((p) => p.shard === shard.file && /outside the dataset folder/.test(p.message))).toBe(true);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a dataset folder that resolves outside the root it was opened under', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'lc-outside-'));
    try {
      writeFixture({ root: outside, datasetId: 'evil' });
      mkdirSync(join(root, 'r'));
      symlinkSync(join(outside, 'evil'), join(root, 'r', 'evil'));
      await expect(DatasetReader.open(join(root, 'r', 'evil'), { root: join(root, 'r') })).rejects.toMatchObject({
        code: 'LC_ERR_PATH_OUTSIDE_ROOT', message: 'evil: resolves outside the root; refused',
      });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('writer refuses bad batches and leaves nothing behind', () => {
  const layout = { k: 4, vocabSize: 100, values: 'f16' as const };
  const cases: [string, (b: ReturnType<typeof makeBatch>) => void, RegExp][] = [
    ['lengths that disagree', (b) => { b.offsets[b.offsets.length - 1] += 1; }, /offsets end at/],
    ['log-probabilities not descending', (b) => { b.topkLogprobs[4 * 3 + 2] = 0; }, /sample 0, position 3: log-probabilities not descending/],
    ['a log-probability above 0', (b) => { b.topkLogprobs[4 * 5] = 0.5; }, /sample 0, position 5: log-probability 0.5 at rank 0 is above 0/],
    ['NaN', (b) => { b.topkLogprobs[4 * 7 + 1] = NaN; }, /sample 1, position 1: log-probability at rank 1 is NaN/],
    ['an id outside the vocabulary', (b) => { b.topkIds[4 * 6 + 3] = 100; }, /sample 1, position 0: top-k id 100 \(rank 3\) is outside/],
    ['an input id outside the vocabulary', (b) => { b.inputIds[2] = -1; }, /sample 0, position 2: input id -1/],
    ['a k that differs from the dataset', (b) => { b.topkIds = b.topkIds.subarray(0, b.topkIds.length - 4); }, /expected 10 tokens x k=4/],
  ];
  for (const [name, damage, message] of cases) {
    it(name, () => {
      const w = new DatasetWriter({ root, datasetId: 'bad', layout, codec: 'lz4', batchSize: 2, batchesPerShard: 4, runConfig: {} });
      const b = makeBatch({ lengths: [6, 4], k: 4, vocabSize: 100, firstSample: 0, seed: 3 });
      damage(b);
      expect(() => w.append(b)).toThrow(message);
      expect(readdirSync(join(root, 'bad', 'shards'))).toEqual([]);
      expect(existsSync(join(root, 'bad', 'manifest.json'))).toBe(false);
    });
  }

  it('refuses to resume with other settings unless overwriting', () => {
    writeFixture({ root, datasetId: 'same' });
    const opts = { root, datasetId: 'same', layout, codec: 'lz4' as const, batchSize: 2, batchesPerShard: 4 };
    expect(() => new DatasetWriter({ ...opts, runConfig: { k: 4 } })).toThrow(/written with other settings.*--overwrite/);
    const w = new DatasetWriter({ ...opts, runConfig: { k: 4 }, overwrite: true });
    expect(w.resumeFromBatch).toBe(0);
    // The old version stays served until the new one commits (in its own generation folder).
    expect(existsSync(join(root, 'same', 'manifest.json'))).toBe(true);
    expect(w.generation).toBe(1);
    w.abort();
  });
});

describe('versioning', () => {
  it('reads a newer minor version with fields it does not know', async () => {
    const { dir } = writeFixture({ root });
    const path = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    m.shards[0].futureShardField = 1;
    writeFileSync(path, JSON.stringify({ ...m, formatVersion: '2.7', futureField: { x: 1 } }));
    const reader = await DatasetReader.open(dir);
    expect((await reader.readBatch(0)).sampleIds.length).toBe(4);
    await reader.close();
  });
});

describe('generation folders', () => {
  it('reads and verifies a dataset whose shards live in shards/g<N>/', async () => {
    const { dir, manifest, batches } = writeFixture({ root, batches: 5, batchesPerShard: 2 });
    mkdirSync(join(dir, 'shards', 'g7'));
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    for (const s of m.shards) {
      for (const f of [s.file, s.index.file]) renameSync(join(dir, f), join(dir, f.replace('shards/', 'shards/g7/')));
      s.file = s.file.replace('shards/', 'shards/g7/');
      s.index.file = s.index.file.replace('shards/', 'shards/g7/');
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const reader = await DatasetReader.open(dir);
    for (let b = 0; b < manifest.batchCount; b++) expect(Array.from((await reader.readBatch(b)).inputIds)).toEqual(Array.from(batches[b].inputIds));
    await reader.close();
    expect((await verifyDataset(dir)).problems).toEqual([]);
    // The index must sit beside its shard, in the same generation.
    m.shards[0].index.file = 'shards/shard-000000.idx.arrow';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    await expect(DatasetReader.open(dir)).rejects.toThrow(/index file shards\/shard-000000\.idx\.arrow, expected shards\/g7\/shard-000000\.idx\.arrow/);
  });
});

describe('batch sizes', () => {
  it('refuses a batch larger than batchSize, a manifest whose non-last shard is short, and an index with a short middle batch', async () => {
    const layout = { k: 2, vocabSize: 100, values: 'f32' as const };
    const w = new DatasetWriter({ root, datasetId: 'sizes', layout, codec: 'none', batchSize: 2, batchesPerShard: 4, runConfig: {} });
    expect(() => w.append(makeBatch({ lengths: [1, 1, 1], k: 2, vocabSize: 100, firstSample: 0, seed: 1 }))).toThrow(/holds 1..2 samples, got 3/);
    const { dir } = writeFixture({ root, datasetId: 'short', batches: 5, batchSize: 4, batchesPerShard: 3 });
    const path = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(path, 'utf8'));
    m.shards[0].sampleCount -= 1;
    m.shards[1].sampleCount += 1;
    writeFileSync(path, JSON.stringify(m));
    await expect(DatasetReader.open(dir)).rejects.toThrow(/shards\[0\].*11 samples in 3 batches; every batch but the last holds batchSize \(4\)/);
  });
});
