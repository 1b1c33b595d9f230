// Edits one stored batch of an uncompressed Arrow dataset in place and re-hashes what covers it
// (message_sha256 in the index, the index's sha256, the shard's sha256 in the manifest), so the
// file passes every hash and only the content checks can refuse it: how tests make shards a
// writer would never write. `setStreamSha` replaces the index's stream_sha256 instead.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RecordBatch, RecordBatchReader } from 'apache-arrow';
import { decodeIndex, encodeIndex, EOS, type Manifest } from '../../src/shard/index.js';

const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** The stored record batch of `batch` (a copy: editing it changes nothing on disk). */
export function storedBatch(dir: string, batch: number): RecordBatch {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const shard = m.shards.find((s) => batch >= s.firstBatch && batch < s.firstBatch + s.batchCount)!;
  const file = readFileSync(join(dir, shard.file));
  const ix = decodeIndex(readFileSync(join(dir, shard.index.file)), shard.file, shard.index.file);
  const row = batch - shard.firstBatch;
  const stream = Buffer.concat([file.subarray(8, 8 + shard.schemaLength), file.subarray(ix.offset[row], ix.offset[row] + ix.length[row]), EOS]);
  return RecordBatchReader.from(stream).open().next().value as RecordBatch;
}

export function patchStored(dir: string, batch: number, edit: { mutate?: (rb: RecordBatch) => void; setStreamSha?: Buffer }): void {
  const manifestPath = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const shard = m.shards.find((s) => batch >= s.firstBatch && batch < s.firstBatch + s.batchCount)!;
  if (m.codec !== 'none' || m.shardFormat === 'parquet') throw new Error('patchStored edits uncompressed Arrow shards only');
  const file = readFileSync(join(dir, shard.file));
  const ix = decodeIndex(readFileSync(join(dir, shard.index.file)), shard.file, shard.index.file);
  const row = batch - shard.firstBatch;
  const offset = ix.offset[row], length = ix.length[row];
  if (edit.mutate) {
    const schema = file.subarray(8, 8 + shard.schemaLength);
    const stream = Buffer.concat([schema, file.subarray(offset, offset + length), EOS]);
    const before = Buffer.from(stream);
    // Uncompressed buffers are views into `stream`: editing the decoded arrays edits the bytes.
    edit.mutate(RecordBatchReader.from(stream).open().next().value as RecordBatch);
    if (before.equals(stream)) throw new Error('patchStored: the edit changed no stored byte');
    stream.copy(file, offset, schema.length, schema.length + length);
    ix.messageSha256.set(sha(file.subarray(offset, offset + length)), row * 32);
  }
  if (edit.setStreamSha) ix.streamSha256.set(edit.setStreamSha, row * 32);
  writeFileSync(join(dir, shard.file), file);
  const index = encodeIndex(ix);
  writeFileSync(join(dir, shard.index.file), index);
  shard.sha256 = sha(file).toString('hex');
  shard.index = { ...shard.index, bytes: index.length, sha256: sha(index).toString('hex') };
  writeFileSync(manifestPath, JSON.stringify(m));
}

/** prefix_sample and prefix_len of a stored record batch, as editable typed arrays (views into its bytes). */
export function prefixColumns(rb: RecordBatch): { owner: BigUint64Array; len: Uint32Array; inputIds: Int32Array; inputOffsets: Int32Array } {
  const ps = rb.getChild('prefix_sample')!.data[0], pl = rb.getChild('prefix_len')!.data[0], input = rb.getChild('input_ids')!.data[0];
  return {
    owner: (ps.values as BigUint64Array).subarray(ps.offset, ps.offset + ps.length),
    len: (pl.values as Uint32Array).subarray(pl.offset, pl.offset + pl.length),
    inputIds: input.children[0].values as Int32Array,
    inputOffsets: (input.valueOffsets as Int32Array).subarray(input.offset, input.offset + input.length + 1),
  };
}
