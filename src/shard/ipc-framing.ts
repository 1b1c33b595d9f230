// Byte-level framing of Arrow IPC messages. A shard file is assembled from messages that
// apache-arrow serializes one batch at a time, so every record batch's byte range is known
// as it is written (for the manifest's checksums) and can later be sliced back out and
// served as an IPC stream without decoding.
import { createHash } from 'node:crypto';
import { MetadataVersion, RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import { FileBlock, Footer } from 'apache-arrow/ipc/metadata/file';
import { Message } from 'apache-arrow/ipc/metadata/message';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import type { CompressionType } from 'apache-arrow';

export const FILE_MAGIC = new Uint8Array([0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]); // "ARROW1"
/** Magic plus two bytes of padding, as the file format asks. */
export const FILE_HEAD = new Uint8Array([...FILE_MAGIC, 0, 0]);
/** End-of-stream marker: continuation token then a zero length. */
export const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Length of the encapsulated message (prefix + metadata) that starts at `at`. Only the writer calls it on its own bytes: a throw is a bug. */
export function messageMetadataLength(bytes: Uint8Array, at: number, where: string): number {
  if (bytes.length < at + 8) throw new Error(`${where}: truncated message header at byte ${at}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(at, true) !== 0xffffffff) throw new Error(`${where}: no IPC continuation marker at byte ${at}`);
  return 8 + view.getInt32(at + 4, true);
}

export interface SerializedBatch {
  schemaBytes: Uint8Array;
  batchBytes: Uint8Array;
  metaDataLength: number;
}

/** Serializes one record batch (compressed as asked) and splits schema and batch messages. */
export function serializeBatch(rb: RecordBatch, compression: CompressionType | null): SerializedBatch {
  const writer = new RecordBatchStreamWriter({ compressionType: compression });
  writer.write(rb);
  writer.finish();
  const stream = writer.toUint8Array(true);
  const schemaLen = messageMetadataLength(stream, 0, 'serialize');
  const batchBytes = stream.subarray(schemaLen, stream.length - EOS.length);
  const metaDataLength = messageMetadataLength(batchBytes, 0, 'serialize');
  // The body must be exactly as long as the message header declares; anything else would
  // make a file that readers reject, so it is caught here rather than at read time.
  const declared = Number(Message.decode(batchBytes.subarray(8, metaDataLength)).bodyLength);
  if (metaDataLength + declared !== batchBytes.length) {
    throw new Error(`serialize: record batch body is ${batchBytes.length - metaDataLength} bytes, header declares ${declared}`);
  }
  if (compression !== null) fixCompressedLengthPrefixes(rb, batchBytes, metaDataLength);
  return { schemaBytes: stream.subarray(0, schemaLen), batchBytes, metaDataLength };
}

/**
 * The IPC spec prefixes each compressed buffer with its *uncompressed* length (or -1 when
 * stored raw). apache-arrow 21's writer puts the compressed length there instead; its own
 * reader ignores the value, but pyarrow and C++ size their output buffer from it and fail
 * ("Lz4 decompression buffer too small"). So the prefixes are rewritten here, from the
 * uncompressed buffers the writer assembled (same order, one region each).
 */
function fixCompressedLengthPrefixes(rb: RecordBatch, batchBytes: Uint8Array, metaDataLength: number): void {
  const header = Message.decode(batchBytes.subarray(8, metaDataLength)).header() as { buffers: { offset: number; length: number }[] };
  const raw = VectorAssembler.assemble(rb).buffers;
  if (raw.length !== header.buffers.length) {
    throw new Error(`serialize: ${header.buffers.length} compressed buffer regions for ${raw.length} buffers`);
  }
  const body = new DataView(batchBytes.buffer, batchBytes.byteOffset + metaDataLength, batchBytes.length - metaDataLength);
  header.buffers.forEach((region, i) => {
    if (region.length === 0) return;
    const at = Number(region.offset);
    if (body.getBigInt64(at, true) !== -1n) body.setBigInt64(at, BigInt(raw[i].byteLength), true);
  });
}

export interface BlockInfo {
  offset: number;
  metaDataLength: number;
  bodyLength: number;
}

/** Footer, footer length and trailing magic that close an IPC file. */
export function fileTail(schema: Schema, blocks: readonly BlockInfo[]): Uint8Array {
  const fileBlocks = blocks.map((b) => new FileBlock(b.metaDataLength, b.bodyLength, b.offset));
  const footer = Footer.encode(new Footer(schema, MetadataVersion.V5, fileBlocks, []));
  const out = new Uint8Array(EOS.length + footer.length + 4 + FILE_MAGIC.length);
  out.set(EOS, 0);
  out.set(footer, EOS.length);
  new DataView(out.buffer).setInt32(EOS.length + footer.length, footer.length, true);
  out.set(FILE_MAGIC, EOS.length + footer.length + 4);
  return out;
}

export interface ParsedFooter {
  schema: Schema;
  blocks: BlockInfo[];
  /** Byte range of the schema message that follows the 8-byte file head. */
  schemaLength: number;
}

/** Reads the footer of a complete IPC file held (or its tail held) in `tail`. Its callers report a throw as the shard's problem (verify lists it). */
export function parseFooter(tail: Uint8Array, fileSize: number, where: string): ParsedFooter {
  const n = tail.length;
  for (let i = 0; i < FILE_MAGIC.length; i++) {
    if (tail[n - FILE_MAGIC.length + i] !== FILE_MAGIC[i]) throw new Error(`${where}: no trailing ARROW1 magic; file truncated or not an Arrow file`);
  }
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const footerLength = view.getInt32(n - 10, true);
  if (footerLength <= 0 || footerLength + 10 > n || footerLength + 18 > fileSize) {
    throw new Error(`${where}: footer length ${footerLength} does not fit a ${fileSize}-byte file`);
  }
  const footer = Footer.decode(tail.subarray(n - 10 - footerLength, n - 10));
  const blocks: BlockInfo[] = [];
  for (const b of footer.recordBatches()) {
    blocks.push({ offset: Number(b.offset), metaDataLength: b.metaDataLength, bodyLength: Number(b.bodyLength) });
  }
  return { schema: footer.schema, blocks, schemaLength: blocks.length ? blocks[0].offset - FILE_HEAD.length : 0 };
}

/**
 * An IPC stream of exactly one record batch: what GET /logits serves and what readers decode.
 * `alloc` places it (the server's body pool).
 */
export function batchStream(schemaBytes: Uint8Array, batchBytes: Uint8Array, alloc?: (n: number) => Uint8Array): Uint8Array {
  const length = schemaBytes.length + batchBytes.length + EOS.length;
  const out = alloc ? alloc(length) : new Uint8Array(length);
  out.set(schemaBytes, 0);
  out.set(batchBytes, schemaBytes.length);
  out.set(EOS, schemaBytes.length + batchBytes.length);
  return out;
}

/** sha256 of batchStream(schemaBytes, batchBytes), without assembling it: the index's stream_sha256. */
export function streamSha256(schemaBytes: Uint8Array, batchBytes: Uint8Array): Buffer {
  return createHash('sha256').update(schemaBytes).update(batchBytes).update(EOS).digest();
}
