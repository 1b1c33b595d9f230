// A damaged Parquet shard is refused, naming the shard (and the batch), before any damaged
// byte is parsed: one flipped byte in the footer tail, in a row group, in the index file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckedDataset } from '../../../src/shard/checked-dataset.js';
import { verifyDataset } from '../../../src/shard/verify.js';
import { footerIndexProblems, parseTail } from '../../../src/shard/parquet/footer.js';
import type { TopkLayout } from '../../../src/shard/types.js';
import { pairBatches, writeDataset } from './pair.js';

const root = mkdtempSync(join(tmpdir(), 'lc-pq-int-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const layout: TopkLayout = { k: 8, vocabSize: 512, values: 'f16', shardFormat: 'parquet' };

function fresh(id: string) {
  return writeDataset(root, id, layout, 'zstd', pairBatches(layout, 5, 4), 4, 2);
}

function flip(path: string, at: (size: number) => number): void {
  const bytes = readFileSync(path);
  bytes[at(bytes.length)] ^= 0x40;
  writeFileSync(path, bytes);
}

async function refusal(dir: string, batch: number): Promise<{ code?: string; message: string }> {
  const ds = await CheckedDataset.open(dir);
  try {
    await ds.readBatch(batch);
    return { message: 'no error' };
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  } finally {
    await ds.close();
  }
}

describe('checked reading of Parquet shards', () => {
  it('refuses a flipped byte in the footer tail before parsing it, naming the shard', async () => {
    const { dir, manifest } = fresh('tail');
    const s = manifest.shards[1];
    flip(join(dir, s.file), (n) => n - Math.floor(s.schemaLength / 2));
    const r = await refusal(dir, 2);
    expect(r.code).toBe('LC_ERR_SHARD_CORRUPT');
    expect(r.message).toContain('shards/shard-000001.parquet');
    expect(r.message).toMatch(/tail \(footer\) sha256 [0-9a-f]{64} does not match manifest/);
    // Other shards still read.
    expect((await refusal(dir, 0)).message).toBe('no error');
  });

  it('refuses a flipped byte in a row group, naming shard and batch, and leaves the other batches readable', async () => {
    const { dir, manifest } = fresh('rowgroup');
    const s = manifest.shards[0];
    // Byte 10 lies in the first row group (row groups start right after the leading "PAR1").
    flip(join(dir, s.file), () => 10);
    const r = await refusal(dir, 0);
    expect(r.code).toBe('LC_ERR_SHARD_CORRUPT');
    expect(r.message).toMatch(/^shard shards\/shard-000000\.parquet batch 0: sha256 [0-9a-f]{64} does not match index/);
    expect((await refusal(dir, 1)).message).toBe('no error');
    const report = await verifyDataset(dir);
    expect(report.problems.map((p) => [p.shard, p.batch])).toEqual([['shards/shard-000000.parquet', null], ['shards/shard-000000.parquet', 0]]);
    expect(report.checked).toBe(4);
  });

  it('refuses a flipped byte in the index file, naming the shard and its index', async () => {
    const { dir, manifest } = fresh('index');
    flip(join(dir, manifest.shards[2].index.file), (n) => n - 30);
    const r = await refusal(dir, 4);
    expect(r.code).toBe('LC_ERR_SHARD_CORRUPT');
    expect(r.message).toContain('shard shards/shard-000002.parquet: index shards/shard-000002.idx.arrow sha256');
  });

  it('compares the footer with the index row group by row group: count, byte range, rows', async () => {
    const { dir, manifest } = fresh('footer');
    const s = manifest.shards[0];
    const file = readFileSync(join(dir, s.file));
    const footer = parseTail(file.subarray(file.length - s.schemaLength));
    const ds = await CheckedDataset.open(dir);
    const index = (await ds.shard(0)).index;
    await ds.close();
    expect(footerIndexProblems(footer, index)).toEqual([]);
    expect(footer.rowGroups.map((g) => g.offset)).toEqual(Array.from(index.offset));
    const moved = { ...index, offset: Float64Array.from(index.offset, (o, i) => (i === 1 ? o + 1 : o)) };
    expect(footerIndexProblems(footer, moved)).toEqual([expect.stringMatching(/^footer row group 1 at \d+\+\d+ \(4 rows\) differs from index row 1 at \d+\+\d+ \(4 samples\)$/)]);
    const shorter = { ...index, rows: 1 };
    expect(footerIndexProblems(footer, shorter)[0]).toBe('footer lists 2 row groups, index 1');
    expect(() => parseTail(file.subarray(file.length - s.schemaLength + 1))).toThrow(/footer length \d+ does not fill the \d+-byte tail/);
  });

  it('verify passes an intact Parquet dataset: whole files, tails, row groups, re-encoded streams', async () => {
    const { dir } = fresh('ok');
    const report = await verifyDataset(dir);
    expect(report.problems).toEqual([]);
    expect(report.checked).toBe(5);
  });
});
