// Issue 12.2: nothing outside the root is served, and error bodies reveal nothing about it.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/index.js';
import { tempRoot, writeDataset } from './fixture.js';

let root: string, cleanup: () => void, outside: string;
beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  outside = mkdtempSync(join(tmpdir(), 'lc-outside-'));
});
afterEach(() => {
  cleanup();
  rmSync(outside, { recursive: true, force: true });
});

describe('paths resolve inside the root', () => {
  it('refuses a dataset folder symlinked to a folder outside the root: not listed, 404 everywhere', async () => {
    writeDataset(outside, { datasetId: 'evil' });
    symlinkSync(join(outside, 'evil'), join(root, 'evil'));
    writeDataset(root, { datasetId: 'good' });
    const app = buildApp({ root });
    for (const url of ['/datasets/evil', '/logits/evil/0']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().code).toBe('LC_ERR_DATASET_NOT_FOUND');
      expect(res.body).not.toContain(outside);
    }
    const list = await app.inject({ url: '/datasets' });
    expect(list.json().datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(['good']);
    expect(list.body).not.toContain(outside);
    expect((await app.inject({ url: '/logits/good/0' })).statusCode).toBe(200);
    await app.close();
  });

  it('refuses a shard symlinked outside the dataset (to /etc/passwd or to a perfect copy) with a body naming only the shard', async () => {
    const m = writeDataset(root, { datasetId: 'demo', batches: 6, batchesPerShard: 2 });
    const copy = join(outside, 'copy.arrow');
    writeFileSync(copy, await import('node:fs').then((fs) => fs.readFileSync(join(root, 'demo', m.shards[1].file))));
    rmSync(join(root, 'demo', m.shards[0].file));
    symlinkSync('/etc/passwd', join(root, 'demo', m.shards[0].file));
    rmSync(join(root, 'demo', m.shards[1].file));
    symlinkSync(copy, join(root, 'demo', m.shards[1].file));
    const app = buildApp({ root });
    for (const [b, shard] of [[0, 'shard-000000'], [2, 'shard-000001']] as const) {
      const res = await app.inject({ url: `/logits/demo/${b}` });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({
        code: 'LC_ERR_SHARD_CORRUPT',
        message: `shard shards/${shard}.arrow: cannot open shards/${shard}.arrow: resolves outside the dataset folder; refused`,
      });
    }
    expect((await app.inject({ url: '/logits/demo/4' })).statusCode).toBe(200);
    await app.close();
  });
});
