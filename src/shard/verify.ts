// Full integrity check of a dataset folder, through the checked reader: every shard's size
// and whole-file sha256, its index and schema message, its Arrow footer against the index,
// every batch's sha256 and decoded contents. Used by `logit-cache verify`. Nothing is parsed before it is hashed, so a damaged
// file is reported, never allowed to size an allocation.
import { createHash } from 'node:crypto';
import { CheckedDataset } from './checked-dataset.js';
import { FILE_HEAD, parseFooter } from './ipc-framing.js';
import { checkShardSize, decodeVerified, type ShardReader } from './shard-reader.js';
import type { ShardEntry } from './manifest.js';
import { type ErrorCode, isErrorCode } from '../errors.js';

/** `code`: the LC_ERR_* code of the failure, when it has one (`verify` prints it). */
export interface Problem { shard: string | null; batch: number | null; message: string; code?: ErrorCode }
export interface VerifyReport { datasetDir: string; shards: number; batches: number; checked: number; problems: Problem[] }
export type VerifyProgress = (e: { type: 'shard'; done: number; total: number; file: string }) => void;

const CHUNK = 8 << 20;

export async function verifyDataset(datasetDir: string, onProgress?: VerifyProgress): Promise<VerifyReport> {
  let ds: CheckedDataset;
  try {
    // One shard at a time: nothing is worth keeping open or cached across shards here.
    ds = await CheckedDataset.open(datasetDir, { maxShards: 1, maxOpenFiles: 1 });
  } catch (e) {
    return { datasetDir, shards: 0, batches: 0, checked: 0, problems: [{ shard: null, batch: null, message: (e as Error).message, ...codeField(e) }] };
  }
  const { manifest } = ds;
  const problems: Problem[] = [];
  let checked = 0;
  try {
    for (let si = 0; si < manifest.shards.length; si++) {
      const shard = manifest.shards[si];
      onProgress?.({ type: 'shard', done: si, total: manifest.shards.length, file: shard.file });
      const whole = await wholeFileProblem(ds, shard);
      if (whole) {
        problems.push({ shard: shard.file, batch: null, message: whole });
        if (/cannot open|truncated or replaced/.test(whole)) continue;
      }
      let reader: ShardReader;
      try {
        reader = await ds.shard(si);
      } catch (e) {
        problems.push({ shard: shard.file, batch: null, message: (e as Error).message, ...codeField(e) });
        continue;
      }
      // pyarrow and other Arrow readers find batches through the footer: it must agree with the index.
      // (A Parquet shard's footer was checked against the index when the shard was opened.)
      if (!whole && !reader.parquet) for (const message of await footerProblems(ds, reader)) problems.push({ shard: shard.file, batch: null, message });
      // Shared prefixes: the shard's recorded count against its stored prefix_len, summed over
      // the batches decoded here anyway (only when every batch decoded: else the sum is partial).
      let shared = 0, decodedAll = true;
      for (let b = shard.firstBatch; b < shard.firstBatch + shard.batchCount; b++) {
        try {
          const verified = await ds.readStream(b);
          decodeVerified(verified, ds.layout);
          shared += verified.sharedPositions ?? 0;
          checked++;
        } catch (e) {
          decodedAll = false;
          problems.push({ shard: shard.file, batch: b, message: (e as Error).message, ...codeField(e) });
        }
      }
      if (decodedAll && shard.sharedPositions !== undefined && shard.sharedPositions !== shared) {
        problems.push({
          shard: shard.file, batch: null, code: 'LC_ERR_SHARD_CORRUPT',
          message: `manifest records ${shard.sharedPositions} shared positions for this shard, its batches' prefix_len sum to ${shared}`,
        });
      }
    }
  } finally {
    await ds.close();
  }
  return { datasetDir, shards: manifest.shards.length, batches: manifest.batchCount, checked, problems };
}

/**
 * The Arrow footer against the checked index. Only called once the whole file matched its
 * sha256, so the footer's bytes are the writer's and may be parsed.
 */
async function footerProblems(ds: CheckedDataset, reader: ShardReader): Promise<string[]> {
  const { entry, index } = reader;
  const source = await ds.openChecked(entry, entry.file);
  try {
    const tail = await source.read(entry.bytes - 10, entry.bytes);
    const footerLength = new DataView(tail.buffer, tail.byteOffset, 10).getInt32(0, true);
    if (footerLength <= 0 || footerLength + 10 + FILE_HEAD.length > entry.bytes) return [`footer length ${footerLength} does not fit the file`];
    const footer = parseFooter(await source.read(entry.bytes - 10 - footerLength, entry.bytes), entry.bytes, `shard ${entry.file}`);
    const out: string[] = [];
    if (footer.blocks.length !== index.rows) out.push(`footer lists ${footer.blocks.length} record batches, index ${index.rows}`);
    footer.blocks.forEach((b, i) => {
      if (i < index.rows && (b.offset !== index.offset[i] || b.metaDataLength + b.bodyLength !== index.length[i])) {
        out.push(`footer block ${i} at ${b.offset}+${b.metaDataLength + b.bodyLength} differs from index row ${i} at ${index.offset[i]}+${index.length[i]}`);
      }
    });
    return out;
  } catch (e) {
    return [`footer: ${(e as Error).message}`];
  } finally {
    await source.close();
  }
}

/** Size and sha256 of the whole shard file (footer included), read in chunks. */
async function wholeFileProblem(ds: CheckedDataset, shard: ShardEntry): Promise<string | null> {
  let source;
  try {
    source = await ds.openChecked(shard, shard.file);
  } catch (e) {
    return (e as Error).message;
  }
  try {
    checkShardSize(source, shard);
    const hash = createHash('sha256');
    for (let at = 0; at < source.byteLength; at += CHUNK) hash.update(await source.read(at, Math.min(source.byteLength, at + CHUNK)));
    const sha = hash.digest('hex');
    return sha === shard.sha256 ? null : `sha256 ${sha} does not match manifest ${shard.sha256}`;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await source.close();
  }
}

/** `{ code }` when `e` carries a registered LC_ERR_* code (errors.ts), else nothing: verify prints no code for an uncoded failure. */
function codeField(e: unknown): { code?: ErrorCode } {
  const code = (e as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? { code } : {};
}
