// A 1.0 dataset is refused by 2.0 readers with a pointer to migrate; migrate converts it in
// place without touching a shard byte, is idempotent, and refuses shards that disagree with
// the 1.0 manifest, changing nothing.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatasetReader, type Manifest, verifyDataset } from '../../src/shard/index.js';
import { migrateDataset } from '../../src/shard/migrate.js';
import { runCli } from '../cli.js';
import { writeFixture } from './fixture.js';
import { downgradeToV1 } from './v1-fixture.js';

let root: string;
beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'lc-migrate-')); });
afterEach(() => rmSync(root, { recursive: true, force: true }));

function v1Dataset() {
  const { dir, manifest, batches } = writeFixture({ root, batches: 7, batchesPerShard: 3, codec: 'zstd' });
  const v1 = downgradeToV1(dir, manifest);
  return { dir, manifest, batches, v1 };
}

describe('logit-cache migrate', () => {
  it('converts a 1.0 dataset in place, shards byte-identical, then reads and verifies as 2.0', async () => {
    const { dir, batches, v1 } = v1Dataset();
    await expect(DatasetReader.open(dir)).rejects.toMatchObject({ code: 'LC_ERR_FORMAT_MIGRATE', message: expect.stringContaining(`logit-cache migrate ${dir}`) });
    const shardBytes = (v1.shards as { file: string }[]).map((s) => readFileSync(join(dir, s.file)));

    const r = runCli('logit-cache', ['migrate', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ from: '1.0', to: '2.0', migrated: true, shards: 3, batches: 7 });

    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(m.formatVersion).toBe('2.0');
    m.shards.forEach((s, i) => {
      expect(readFileSync(join(dir, s.file)).equals(shardBytes[i])).toBe(true);
      expect(existsSync(join(dir, s.index.file))).toBe(true);
      expect(s).not.toHaveProperty('batches');
    });
    const reader = await DatasetReader.open(dir);
    for (const [b, want] of batches.entries()) {
      const got = await reader.readBatch(b);
      expect(Array.from(got.inputIds)).toEqual(Array.from(want.inputIds));
      expect(Array.from(got.topkIds)).toEqual(Array.from(want.topkIds));
    }
    await reader.close();
    expect((await verifyDataset(dir)).problems).toEqual([]);

    // Idempotent: a second run changes nothing.
    const before = readFileSync(join(dir, 'manifest.json'));
    const again = await migrateDataset(dir);
    expect(again).toMatchObject({ from: '2.0', migrated: false });
    expect(readFileSync(join(dir, 'manifest.json')).equals(before)).toBe(true);
  });

  it('refuses a 1.0 dataset whose shard disagrees with its manifest, leaving the manifest as it was', async () => {
    const { dir, v1 } = v1Dataset();
    const shard = (v1.shards as { file: string; batches: { offset: number }[] }[])[1];
    const path = join(dir, shard.file);
    const bytes = readFileSync(path);
    bytes[shard.batches[0].offset + 20] ^= 0xff;
    writeFileSync(path, bytes);
    const before = readFileSync(join(dir, 'manifest.json'));
    await expect(migrateDataset(dir)).rejects.toMatchObject({ code: 'LC_ERR_SHARD_CORRUPT', message: expect.stringMatching(/^shard shards\/shard-000001\.arrow: sha256 .* 1\.x manifest/) });
    expect(readFileSync(join(dir, 'manifest.json')).equals(before)).toBe(true);
    const cli = runCli('logit-cache', ['migrate', dir]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/shard-000001\.arrow/);
  });

  it('refuses a per-batch hash that disagrees even when the whole-file hash was updated to match', async () => {
    const { dir, v1 } = v1Dataset();
    const shards = v1.shards as { file: string; batches: { sha256: string }[] }[];
    shards[2].batches[0].sha256 = '0'.repeat(64);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(v1));
    await expect(migrateDataset(dir)).rejects.toThrow(/shard shards\/shard-000002\.arrow batch 6: sha256 does not match the 1\.x manifest/);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).formatVersion).toBe('1.0');
  });

  it('refuses a folder without a manifest, or with a broken one, as LC_ERR_MANIFEST_INVALID naming manifest.json', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(migrateDataset(empty)).rejects.toMatchObject({ code: 'LC_ERR_MANIFEST_INVALID', message: expect.stringMatching(/empty\/manifest\.json: no manifest/) });
    const cli = runCli('logit-cache', ['migrate', empty]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/LC_ERR_MANIFEST_INVALID/);
    expect(cli.stderr).toMatch(/manifest\.json: no manifest/);

    const { dir, v1 } = v1Dataset();
    const path = join(dir, 'manifest.json');
    writeFileSync(path, '{ not json');
    await expect(migrateDataset(dir)).rejects.toMatchObject({ code: 'LC_ERR_MANIFEST_INVALID', message: expect.stringMatching(/manifest\.json: invalid JSON/) });
    writeFileSync(path, JSON.stringify({ ...v1, shards: [null] }));
    await expect(migrateDataset(dir)).rejects.toMatchObject({ code: 'LC_ERR_MANIFEST_INVALID', message: expect.stringMatching(/manifest\.json: not a valid 1\.x manifest: shards\[0\] is not an object/) });
    const shards = v1.shards as { file: string }[];
    writeFileSync(path, JSON.stringify({ ...v1, shards: [{ ...shards[0], file: '../elsewhere.arrow' }] }));
    await expect(migrateDataset(dir)).rejects.toMatchObject({ code: 'LC_ERR_MANIFEST_INVALID', message: expect.stringMatching(/not a valid 1\.x manifest: shards\[0\]\.file "\.\.\/elsewhere\.arrow"/) });
  });

  it('a folder that does not exist is LC_ERR_INPUT_PATH from the command, exit 2', () => {
    const cli = runCli('logit-cache', ['migrate', join(root, 'missing')]);
    expect(cli.status).toBe(2);
    expect(cli.stderr).toMatch(/LC_ERR_INPUT_PATH/);
    expect(cli.stderr).toMatch(/missing/);
  });
});
