// Per-batch rows of a dataset, read straight from its index files: what 1.0 manifests held
// inline. For tests that poke at a batch's bytes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeIndex, type Manifest, type ShardEntry } from '../../src/shard/index.js';

export interface Row {
  batch: number;
  shard: ShardEntry;
  offset: number;
  length: number;
  samples: number;
  tokens: number;
  /** sha256 of the record-batch message (hex). */
  sha256: string;
  /** sha256 of the one-batch stream (hex). */
  streamSha256: string;
}

export function indexRows(dir: string, m: Manifest): Row[] {
  const rows: Row[] = [];
  for (const shard of m.shards) {
    const ix = decodeIndex(readFileSync(join(dir, shard.index.file)), shard.file, shard.index.file);
    for (let i = 0; i < ix.rows; i++) {
      rows.push({
        batch: shard.firstBatch + i, shard, offset: ix.offset[i], length: ix.length[i], samples: ix.samples[i], tokens: ix.tokens[i],
        sha256: Buffer.from(ix.messageSha256.subarray(i * 32, i * 32 + 32)).toString('hex'),
        streamSha256: Buffer.from(ix.streamSha256.subarray(i * 32, i * 32 + 32)).toString('hex'),
      });
    }
  }
  return rows;
}
