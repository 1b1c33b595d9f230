// A format 1.0 dataset, made from one the 2.0 writer just wrote: what 1.0's writer produced
// for the same batches. The shards' schema metadata says "1.0" again (same length, so every
// offset holds), per-batch entries go back into the manifest, and the index files go away.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../../src/shard/index.js';
import { indexRows } from './index-rows.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The flatbuffer string "2.0" (uint32 length 3, bytes, NUL): the schema's format_version value. */
const V2 = Buffer.from([3, 0, 0, 0, 0x32, 0x2e, 0x30, 0]);
const V1 = Buffer.from([3, 0, 0, 0, 0x31, 0x2e, 0x30, 0]);

export function downgradeToV1(dir: string, m: Manifest): Record<string, unknown> {
  const rows = indexRows(dir, m);
  const shards = m.shards.map((s) => {
    const path = join(dir, s.file);
    const bytes = readFileSync(path);
    // Schema message and footer both carry the schema; neither is inside a batch message.
    let replaced = 0;
    for (let at = bytes.indexOf(V2); at >= 0; at = bytes.indexOf(V2, at + 1)) { V1.copy(bytes, at); replaced++; }
    if (replaced !== 2) throw new Error(`${s.file}: expected the version string twice (schema, footer), found ${replaced}`);
    writeFileSync(path, bytes);
    rmSync(join(dir, s.index.file));
    const batches = rows.filter((r) => r.shard === s).map((r) => ({ offset: r.offset, length: r.length, sha256: r.sha256, samples: r.samples, tokens: r.tokens }));
    const { schemaSha256: _s, index: _i, ...rest } = s;
    return { ...rest, sha256: sha(bytes), batches };
  });
  const v1 = { ...m, formatVersion: '1.0', shards };
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(v1, null, 2)}\n`);
  return v1;
}
