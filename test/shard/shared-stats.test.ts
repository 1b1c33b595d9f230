// Shared-position counts recorded at write time (manifest shards[].sharedPositions and
// stats.sharedPositions, docs/FORMAT.md §6.1): they equal what the stored prefix_len say, a
// resume and a two-worker run record the same, `inspect` answers from them without reading a
// batch (and still decodes for a dataset written before them), the hashed index confirms them
// on every shard open, and `verify` catches a count that disagrees with the shards.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorCode, runCli } from '../cli.js';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { sidecarPath } from '../../src/shard/finalize.js';
import { parseManifest } from '../../src/shard/manifest.js';
import { DatasetWriter, decodeIndex, encodeIndex, type Manifest, sha256Hex, type TopkLayout, verifyDataset } from '../../src/shard/index.js';
import { causalBatch, samplesWithSharedPrefixes } from './causal-batch.js';
import { causalOptionsOf, writeSharedSet } from './shared-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'lc-shared-stats-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VOCAB = 500;
const samples = samplesWithSharedPrefixes(70, 11, VOCAB);
const BATCH = 6, PER_SHARD = 3;
const META = {
  teacher: { file: 'teacher.onnx', sha256: 'a'.repeat(64), vocabSize: VOCAB },
  source: { file: 'data.jsonl', sha256: 'b'.repeat(64), samples: samples.length, tokens: samples.reduce((a, s) => a + s.length, 0) },
};

/** Per shard, Σ prefix_len of its batches as the checked reader decodes them. */
async function decodedCounts(dir: string): Promise<number[]> {
  const ds = await CheckedDataset.open(dir);
  try {
    return await Promise.all(ds.manifest.shards.map(async (s) => {
      let n = 0;
      for (let b = s.firstBatch; b < s.firstBatch + s.batchCount; b++) n += (await ds.sharedPositions(b))!.shared;
      return n;
    }));
  } finally {
    await ds.close();
  }
}

const readJson = (path: string): Manifest => JSON.parse(readFileSync(path, 'utf8')) as Manifest;
const editManifest = (dir: string, edit: (m: Manifest) => void): void => {
  const m = readJson(join(dir, 'manifest.json'));
  edit(m);
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
};
/** The manifest as a writer from before the counts wrote it. */
const withoutCounts = (m: Manifest): void => {
  for (const s of m.shards) delete s.sharedPositions;
  delete m.stats.sharedPositions;
};
const inspectJson = (dir: string) => {
  const r = runCli('logit-cache', ['inspect', dir, '--json']);
  return { ...r, out: r.status === 0 ? JSON.parse(r.stdout) as Record<string, unknown> : null };
};

describe('recorded shared-position counts', () => {
  const layouts: [string, TopkLayout][] = [
    ['arrow f16', { k: 4, vocabSize: VOCAB, values: 'f16' }],
    ['arrow ctx-table rank-delta ragged', { k: 6, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 6, topP: 0.9, minK: 2 }],
    ['parquet ctx-table tail mass', { k: 4, vocabSize: VOCAB, values: 'rank-delta', f16Ranks: 4, ids: 'ctx-table', tailMass: true, shardFormat: 'parquet' }],
  ];
  layouts.forEach(([name, layout], li) => {
    it(`equal the stored prefix_len, shard by shard (${name})`, async () => {
      const { dir, manifest } = writeSharedSet({ root, datasetId: `counts-${li}`, layout, codec: 'zstd', samples, batchSize: BATCH, batchesPerShard: PER_SHARD, sharePrefixes: 6 });
      const decoded = await decodedCounts(dir);
      expect(manifest.shards.map((s) => s.sharedPositions)).toEqual(decoded);
      expect(manifest.stats.sharedPositions).toBe(decoded.reduce((a, n) => a + n, 0));
      // Something to count, and in more than one shard (else a per-shard mix-up would pass).
      expect(decoded.filter((n) => n > 0).length).toBeGreaterThan(1);
      expect(readJson(join(dir, 'manifest.json'))).toEqual(manifest);
      // The same counts under each index's hash.
      expect(manifest.shards.map((e) => decodeIndex(readFileSync(join(dir, e.index.file)), e.file, e.index.file).sharedPositions)).toEqual(decoded);
    });
  });

  it('are left out of a dataset without shared prefixes (its manifest is what it was)', () => {
    const { dir, manifest } = writeSharedSet({ root, datasetId: 'plain', layout: { k: 4, vocabSize: VOCAB, values: 'f16' }, codec: 'lz4', samples, batchSize: BATCH, batchesPerShard: PER_SHARD, sharePrefixes: 0 });
    expect(manifest.shards.every((s) => !('sharedPositions' in s))).toBe(true);
    expect('sharedPositions' in manifest.stats).toBe(false);
    expect(manifest.shards.every((e) => !('sharedPositions' in decodeIndex(readFileSync(join(dir, e.index.file)), e.file, e.index.file)))).toBe(true);
  });
});

describe('counts through resume and several workers', () => {
  const layout: TopkLayout = { k: 4, vocabSize: VOCAB, values: 'f16', sharedPrefixes: true };
  const batches = Math.ceil(samples.length / BATCH);
  const batchOf = (b: number) => causalBatch(samples.slice(b * BATCH, (b + 1) * BATCH), b * BATCH, causalOptionsOf(layout));
  const open = (datasetId: string, worker?: { index: number; count: number }) => new DatasetWriter({
    root, datasetId, layout, codec: 'lz4', batchSize: BATCH, batchesPerShard: PER_SHARD, runConfig: {}, sharePrefixes: 6, meta: META, ...(worker ? { worker } : {}),
  });
  /** Writes every shard `w` still needs. */
  const writeOwn = (w: DatasetWriter): void => {
    for (let s = 0; s * PER_SHARD < batches; s++) {
      if (!w.needsShard(s)) continue;
      w.beginShard(s);
      for (let b = s * PER_SHARD; b < Math.min(batches, (s + 1) * PER_SHARD); b++) w.append(batchOf(b));
      w.endShard();
    }
  };
  const text = (id: string) => readFileSync(join(root, id, 'manifest.json'), 'utf8').replace(`"datasetId": "${id}"`, '"datasetId": ""');
  let reference: Manifest;

  it('a resumed run and two workers write the manifest of one uninterrupted run, byte for byte', async () => {
    const one = open('one');
    writeOwn(one);
    reference = one.finish();
    expect(reference.stats.sharedPositions).toBeGreaterThan(0);
    expect(reference.shards.map((s) => s.sharedPositions)).toEqual(await decodedCounts(join(root, 'one')));

    // Killed in the middle of shard 2: shards 0 and 1 are committed (their counts in sidecars).
    const first = open('resumed');
    for (let b = 0; b < 2 * PER_SHARD + 1; b++) first.append(batchOf(b));
    first.abort();
    const again = open('resumed');
    expect(again.resumeFromBatch).toBe(2 * PER_SHARD);
    writeOwn(again);
    again.finish();
    expect(text('resumed')).toBe(text('one'));

    // Two workers: shards 0, 2, 4 and 1, 3; the second to finish writes the manifest.
    const w0 = open('workers', { index: 0, count: 2 });
    writeOwn(w0);
    expect(w0.tryFinish()).toEqual([1, 3]);
    const w1 = open('workers', { index: 1, count: 2 });
    writeOwn(w1);
    w1.finish();
    expect(text('workers')).toBe(text('one'));
  });

  it('a build resumed from a sidecar without a count (an older writer\'s) records counts in no shard, and inspect counts by decoding', async () => {
    const first = open('old-sidecar');
    for (let b = 0; b < PER_SHARD; b++) first.append(batchOf(b));
    first.abort();
    const side = JSON.parse(readFileSync(sidecarPath(join(root, 'old-sidecar'), 0), 'utf8')) as { shard: { sharedPositions?: number } };
    expect(side.shard.sharedPositions).toBe(reference.shards[0].sharedPositions);
    delete side.shard.sharedPositions;
    writeFileSync(sidecarPath(join(root, 'old-sidecar'), 0), JSON.stringify(side));
    const again = open('old-sidecar');
    expect(again.resumeFromBatch).toBe(PER_SHARD);
    writeOwn(again);
    const m = again.finish();
    expect(m.shards.some((s) => 'sharedPositions' in s)).toBe(false);
    expect('sharedPositions' in m.stats).toBe(false);
    expect(inspectJson(join(root, 'old-sidecar')).out).toMatchObject({ sharedPositions: reference.stats.sharedPositions, storedPositions: reference.tokenCount - reference.stats.sharedPositions! });
  });
});

describe('inspect and verify with recorded counts', () => {
  const layout: TopkLayout = { k: 4, vocabSize: VOCAB, values: 'f16' };
  const write = (id: string) => writeSharedSet({ root, datasetId: id, layout, codec: 'none', samples, batchSize: BATCH, batchesPerShard: PER_SHARD, sharePrefixes: 6 });

  it('inspect answers from the manifest without reading a batch: it still answers with a batch damaged, which verify refuses', async () => {
    const { dir, manifest } = write('damaged');
    const before = inspectJson(dir);
    expect(before.status).toBe(0);
    expect(before.out).toMatchObject({ sharedPositions: manifest.stats.sharedPositions, storedPositions: manifest.tokenCount - manifest.stats.sharedPositions! });
    const text = runCli('logit-cache', ['inspect', dir]);
    expect(text.stdout).toMatch(new RegExp(`shared prefixes +yes \\(format 2\\.5\\): [0-9.]+% of positions \\(${manifest.stats.sharedPositions} of ${manifest.tokenCount}\\)`));
    // Damage the body of batch 4 (shard 1): the last byte of its record-batch message.
    const ds = await CheckedDataset.open(dir);
    const info = await ds.info(4);
    await ds.close();
    const file = join(dir, info.shard.file);
    const bytes = readFileSync(file);
    bytes[info.offset + info.length - 1] ^= 0x5a;
    writeFileSync(file, bytes);
    const after = inspectJson(dir);
    expect(after.stderr).toBe('');
    expect(after.out).toEqual(before.out);
    const v = runCli('logit-cache', ['verify', dir, '--quiet']);
    expect(v.status).toBe(1);
    expect(v.stderr).toMatch(/FAIL shards\/shard-000001\.arrow batch 4: .*sha256/);
    // The same damage with a manifest from before the counts: inspect falls back to reading every batch, and hits it.
    editManifest(dir, withoutCounts);
    const old = runCli('logit-cache', ['inspect', dir, '--json']);
    expect(old.status).toBe(1);
    expect(errorCode(old.stderr)).toBe('LC_ERR_SHARD_CORRUPT');
    expect(old.stderr).toMatch(/shard-000001\.arrow/);
  });

  it('a manifest from before the counts still inspects (by decoding) to the same numbers, and verifies', async () => {
    const { dir, manifest } = write('old-manifest');
    const recorded = inspectJson(dir).out;
    editManifest(dir, withoutCounts);
    const decoded = inspectJson(dir);
    expect(decoded.stderr).toBe('');
    expect(decoded.out).toEqual(recorded);
    expect(decoded.out).toMatchObject({ sharedPositions: manifest.stats.sharedPositions });
    expect((await verifyDataset(dir)).problems).toEqual([]);
  });

  it('a count the index does not confirm refuses the shard on open (verify and every read), naming it, with LC_ERR_SHARD_CORRUPT', async () => {
    const { dir, manifest } = write('tampered');
    expect((await verifyDataset(dir)).problems).toEqual([]);
    // Consistent with the manifest's own sums, so only the hashed index (or the decoded shards) can tell.
    editManifest(dir, (m) => { m.shards[1].sharedPositions! += 1; m.stats.sharedPositions! += 1; });
    const v = runCli('logit-cache', ['verify', dir, '--quiet']);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain(`FAIL shards/shard-000001.arrow: shard shards/shard-000001.arrow: index shards/shard-000001.idx.arrow records ${manifest.shards[1].sharedPositions} shared positions, manifest says ${manifest.shards[1].sharedPositions! + 1}`);
    expect(errorCode(v.stderr)).toBe('LC_ERR_SHARD_CORRUPT');
    const ds = await CheckedDataset.open(dir);
    try {
      await ds.readBatch(0); // shard 0 is untouched
      await expect(ds.readBatch(PER_SHARD)).rejects.toMatchObject({ code: 'LC_ERR_SHARD_CORRUPT', message: expect.stringContaining('shard-000001.arrow') });
    } finally {
      await ds.close();
    }
  });

  it('verify refuses a count that disagrees with the decoded shards even when the index says the same, naming the shard, with LC_ERR_SHARD_CORRUPT', async () => {
    const { dir, manifest } = write('tampered-index');
    // Index and manifest both say one more, every hash fixed up: only decoding every batch can tell.
    const entry = manifest.shards[1];
    const ix = decodeIndex(readFileSync(join(dir, entry.index.file)), entry.file, entry.index.file);
    expect(ix.sharedPositions).toBe(entry.sharedPositions);
    const bytes = encodeIndex({ ...ix, sharedPositions: entry.sharedPositions! + 1 });
    writeFileSync(join(dir, entry.index.file), bytes);
    editManifest(dir, (m) => {
      m.shards[1].index = { ...m.shards[1].index, bytes: bytes.length, sha256: sha256Hex(bytes) };
      m.shards[1].sharedPositions! += 1;
      m.stats.sharedPositions! += 1;
    });
    const v = runCli('logit-cache', ['verify', dir, '--quiet']);
    expect(v.status).toBe(1);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: false, problems: 1, checked: manifest.batchCount });
    expect(v.stderr).toContain(`FAIL shards/shard-000001.arrow: manifest records ${entry.sharedPositions! + 1} shared positions for this shard, its batches' prefix_len sum to ${entry.sharedPositions}`);
    expect(errorCode(v.stderr)).toBe('LC_ERR_SHARD_CORRUPT');
  });

  it('the manifest checks refuse counts that do not add up, are missing from a shard, exceed their tokens or are not integers', () => {
    const { dir, manifest } = write('invariants');
    const path = join(dir, 'manifest.json');
    const refuse = (edit: (m: Manifest) => void, message: RegExp) => {
      const m = structuredClone(manifest);
      edit(m);
      expect(() => parseManifest(JSON.stringify(m), path)).toThrow(expect.objectContaining({ code: 'LC_ERR_MANIFEST_INVALID', message: expect.stringMatching(message) }));
    };
    refuse((m) => { m.shards[0].sharedPositions! += 1; }, /stats\.sharedPositions \d+, but the shards record \d+/);
    refuse((m) => { delete m.stats.sharedPositions; }, /stats\.sharedPositions absent/);
    refuse((m) => { delete m.shards[2].sharedPositions; }, /recorded in \d+ of \d+ shards/);
    refuse((m) => { const d = m.shards[0].tokens + 1 - m.shards[0].sharedPositions!; m.shards[0].sharedPositions! += d; m.stats.sharedPositions! += d; }, /shards\[0\] \(shards\/shard-000000\.arrow\): sharedPositions \d+ is more than its \d+ tokens/);
    refuse((m) => { m.shards[0].sharedPositions = -1; }, /sharedPositions/);
    refuse((m) => { (m.stats as Record<string, unknown>).sharedPositions = 1.5; }, /sharedPositions/);
    // And the CLI (its bundled validator compiled at build time) refuses the same.
    editManifest(dir, (m) => { m.shards[0].sharedPositions! += 1; });
    const r = runCli('logit-cache', ['inspect', dir, '--json']);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('LC_ERR_MANIFEST_INVALID');
    const copy = join(root, 'invariants-copy');
    cpSync(dir, copy, { recursive: true });
    editManifest(copy, (m) => { m.shards[0].sharedPositions = -1; m.stats.sharedPositions = manifest.stats.sharedPositions! - manifest.shards[0].sharedPositions! - 1; });
    expect(errorCode(runCli('logit-cache', ['inspect', copy]).stderr)).toBe('LC_ERR_MANIFEST_INVALID');
  });
});
