// pyarrow opens the Parquet shard files as written, with the Arrow types the Arrow shards
// have (uint16 ids, float16 values, fixed_size_list<k>, one row group per batch), and reads
// the same numbers the TypeScript checked reader decodes. (The fuller interop tests, polars,
// DuckDB and datasets included, are in clients/python.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { TopkLayout } from '../../../src/shard/types.js';
import { findPython } from '../../python.js';
import { pairBatches, readAll, writeDataset } from './pair.js';

const root = mkdtempSync(join(tmpdir(), 'lc-pq-py-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const { python, reason } = findPython();
if (!python) console.log(`skipping pyarrow Parquet test: ${reason}`);

const SCRIPT = `
import glob, json, sys
import pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + '/shards/*.parquet'))
out = {'files': [], 'batches': []}
for f in files:
    pf = pq.ParquetFile(f)
    out['files'].append({'rowGroups': pf.metadata.num_row_groups, 'meta': {k.decode(): v.decode() for k, v in pf.schema_arrow.metadata.items()}})
    for i in range(pf.metadata.num_row_groups):
        t = pf.read_row_group(i)
        out['batches'].append({c: t.column(c).to_pylist() for c in t.column_names})
schema = pq.read_schema(files[0])
out['types'] = {f.name: str(f.type) for f in schema}
print(json.dumps(out))
`;

describe.skipIf(!python)('pyarrow reads Parquet shards unchanged', () => {
  it('types, row groups, metadata and values', async () => {
    const layout: TopkLayout = { k: 8, vocabSize: 512, values: 'f16', tailMass: true, shardFormat: 'parquet' };
    const { dir } = writeDataset(root, 'py', layout, 'lz4', pairBatches(layout, 5, 4), 4, 2);
    const r = spawnSync(python!, ['-c', SCRIPT, dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { files: { rowGroups: number; meta: Record<string, string> }[]; types: Record<string, string>; batches: Record<string, unknown[]>[] };
    expect(out.files.map((f) => f.rowGroups)).toEqual([2, 2, 1]);
    expect(out.files[0].meta).toMatchObject({ 'logit_cache.format_version': '2.2', 'logit_cache.k': '8', 'logit_cache.values': 'f16', 'logit_cache.tail_mass': '1' });
    // List children are named "element", the Parquet spec's name, as pyarrow's own files have them.
    expect(out.types).toEqual({
      sample_id: 'uint64',
      input_ids: 'list<element: int32 not null>',
      topk_ids: 'list<element: fixed_size_list<element: uint16 not null>[8] not null>',
      topk_logprobs: 'list<element: fixed_size_list<element: halffloat not null>[8] not null>',
      topk_tail_logprob: 'list<element: float not null>',
    });
    const ts = await readAll(dir);
    expect(out.batches.length).toBe(ts.length);
    ts.forEach((b, i) => {
      const py = out.batches[i];
      expect(py.sample_id).toEqual(Array.from(b.sampleIds));
      expect((py.input_ids as number[][]).flat()).toEqual(Array.from(b.inputIds));
      expect((py.topk_ids as number[][][]).flat(2)).toEqual(Array.from(b.topkIds));
      expect((py.topk_logprobs as number[][][]).flat(2)).toEqual(Array.from(b.topkLogprobs));
      expect((py.topk_tail_logprob as number[][]).flat()).toEqual(Array.from(b.tailLogprobs!));
      expect((py.input_ids as number[][]).map((s) => s.length)).toEqual(Array.from(b.offsets.subarray(1), (o, j) => o - b.offsets[j]));
    });
  });
});
