// Shared prefixes (format 2.5): a reference that breaks a rule of docs/FORMAT.md §4.3 is refused
// with LC_ERR_SHARD_CORRUPT naming the shard, the batch and the sample, by the reader and by
// verify, even when every hash matches (the shards are edited and re-hashed, patch-stored.ts).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckedDataset } from '../../src/shard/checked-dataset.js';
import { type Manifest, verifyDataset } from '../../src/shard/index.js';
import { samplesWithSharedPrefixes } from './causal-batch.js';
import { patchStored, prefixColumns, storedBatch } from './patch-stored.js';
import { writeSharedSet } from './shared-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'lc-shared-bad-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const BATCH = 6, PER_SHARD = 4;
let base: string, manifest: Manifest;
let n = 0;

beforeAll(() => {
  ({ dir: base, manifest } = writeSharedSet({
    root, datasetId: 'base', layout: { k: 4, vocabSize: 500, values: 'f16' }, codec: 'none',
    samples: samplesWithSharedPrefixes(72, 11, 500), batchSize: BATCH, batchesPerShard: PER_SHARD, sharePrefixes: 8,
  }));
});

function copy(): string {
  const dir = join(root, `c${n++}`);
  cpSync(base, dir, { recursive: true });
  return dir;
}

/** The first batch (of shard >= minShard) with a referencing sample (and, with `twoRefs`, an earlier referencing one). */
function findBatch(minShard: number, twoRefs = false): { batch: number; row: number; other: number } {
  for (let b = minShard * PER_SHARD; b < manifest.batchCount; b++) {
    const { len } = prefixColumns(storedBatch(base, b));
    const refs = [...len.keys()].filter((i) => len[i] > 0);
    if (twoRefs ? refs.length >= 2 : refs.length >= 1) return { batch: b, row: refs[refs.length - 1], other: refs[0] };
  }
  throw new Error('the fixture has no such batch');
}

async function refusal(dir: string, batch: number): Promise<Error & { code?: string }> {
  const ds = await CheckedDataset.open(dir);
  try {
    await ds.readBatch(batch);
  } catch (e) {
    return e as Error & { code?: string };
  } finally {
    await ds.close();
  }
  throw new Error(`batch ${batch} was read without complaint`);
}

async function expectRefused(dir: string, batch: number, message: RegExp): Promise<void> {
  const e = await refusal(dir, batch);
  expect(e.code).toBe('LC_ERR_SHARD_CORRUPT');
  expect(e.message).toMatch(new RegExp(`^shard shards/shard-\\d{6}\\.arrow batch ${batch}: `));
  expect(e.message).toMatch(message);
  const report = await verifyDataset(dir);
  expect(report.problems.some((p) => p.batch === batch && message.test(p.message)), JSON.stringify(report.problems)).toBe(true);
}

describe('shared-prefix references a reader refuses', () => {
  it('reads the untouched fixture (so each refusal below is the edit\'s)', async () => {
    const report = await verifyDataset(base);
    expect(report.problems).toEqual([]);
    expect(report.checked).toBe(manifest.batchCount);
  });

  it('a changed prefix_len: the stored lists no longer match the lengths', async () => {
    const dir = copy();
    const { batch, row } = findBatch(0);
    patchStored(dir, batch, { mutate: (rb) => { prefixColumns(rb).len[row] -= 1; } });
    await expectRefused(dir, batch, /topk_ids of row \d+ does not match input_ids length minus prefix_len/);
  });

  it('a prefix_len longer than the sample', async () => {
    const dir = copy();
    const { batch, row } = findBatch(0);
    patchStored(dir, batch, { mutate: (rb) => { const c = prefixColumns(rb); c.len[row] = c.inputOffsets[row + 1] - c.inputOffsets[row] + 1; } });
    await expectRefused(dir, batch, new RegExp(`sample ${batch * BATCH + row} has prefix_len \\d+, longer than its \\d+ input_ids`));
  });

  it('an owner that is not a root', async () => {
    const dir = copy();
    const { batch, row, other } = findBatch(0, true);
    patchStored(dir, batch, { mutate: (rb) => { prefixColumns(rb).owner[row] = BigInt(batch * BATCH + other); } });
    await expectRefused(dir, batch, new RegExp(`sample ${batch * BATCH + row}: its owner ${batch * BATCH + other} is not a root`));
  });

  it('an owner in another shard', async () => {
    const dir = copy();
    const { batch, row } = findBatch(1);
    patchStored(dir, batch, { mutate: (rb) => { prefixColumns(rb).owner[row] = 0n; } });
    await expectRefused(dir, batch, new RegExp(`sample ${batch * BATCH + row}: prefix_sample 0 with prefix_len \\d+; the owner must be an earlier sample of the same shard`));
  });

  it('an owner that is not earlier', async () => {
    const dir = copy();
    const { batch, row } = findBatch(0);
    const self = batch * BATCH + row;
    patchStored(dir, batch, { mutate: (rb) => { prefixColumns(rb).owner[row] = BigInt(self); } });
    await expectRefused(dir, batch, new RegExp(`sample ${self}: prefix_sample ${self} with prefix_len \\d+; the owner must be an earlier sample`));
  });

  it('a root that names another sample', async () => {
    const dir = copy();
    const { batch } = findBatch(0);
    const { len } = prefixColumns(storedBatch(base, batch));
    const root = [...len.keys()].find((i) => len[i] === 0)!;
    expect(root).toBeDefined();
    patchStored(dir, batch, { mutate: (rb) => { prefixColumns(rb).owner[root] = BigInt(batch * BATCH + root + 1); } });
    await expectRefused(dir, batch, /a root names itself/);
  });

  it('input ids of the shared prefix that differ from the owner\'s', async () => {
    const dir = copy();
    const { batch, row } = findBatch(0);
    patchStored(dir, batch, { mutate: (rb) => { const c = prefixColumns(rb); c.inputIds[c.inputOffsets[row] + 1] = (c.inputIds[c.inputOffsets[row] + 1] + 1) % 500; } });
    await expectRefused(dir, batch, new RegExp(`sample ${batch * BATCH + row}: its first \\d+ input ids differ from its owner \\d+'s`));
  });

  it('a stream_sha256 that is not the resolved batch\'s', async () => {
    const dir = copy();
    patchStored(dir, 2, { setStreamSha: Buffer.alloc(32, 7) });
    await expectRefused(dir, 2, /resolved stream sha256 [0-9a-f]{64} does not match index 0707/);
  });
});
