// Page compression: the dataset codec as a Parquet codec. lz4 -> LZ4_RAW (a bare LZ4 block;
// Parquet's older "LZ4" is ambiguous between framings and deprecated), zstd -> ZSTD, none ->
// UNCOMPRESSED. lz4-napi's block functions prefix the block with its uncompressed size as a
// uint32 LE; Parquet stores the bare block, so the prefix is stripped on write and re-added
// (from the page header's size) on read.
import { createRequire } from 'node:module';
import type { CodecName } from '../types.js';

const require = createRequire(import.meta.url);
interface Lz4Napi { compressSync(data: Buffer): Buffer; uncompressSync(data: Uint8Array): Buffer }
interface ZstdNapi { compress(data: Uint8Array, params?: Record<string, unknown>): Buffer; decompress(data: Uint8Array): Buffer }
let lz4: Lz4Napi | null = null;
let zstd: ZstdNapi | null = null;
const lz4Lib = (): Lz4Napi => (lz4 ??= require('lz4-napi') as Lz4Napi);
const zstdLib = (): ZstdNapi => (zstd ??= require('zstd-napi') as ZstdNapi);

export const PARQUET_CODEC: Record<CodecName, number> = { none: 0, zstd: 6, lz4: 7 };

export function compressPage(codec: CodecName, data: Uint8Array, zstdLevel?: number): Uint8Array {
  if (codec === 'none') return data;
  if (codec === 'zstd') return zstdLib().compress(data, zstdLevel ? { compressionLevel: zstdLevel } : undefined);
  const framed = lz4Lib().compressSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return framed.subarray(4);
}

/** `codec` by its Parquet name, as the footer parser gives it. */
export function decompressPage(codec: string, data: Uint8Array, uncompressedSize: number, where: string): Uint8Array {
  let out: Uint8Array;
  if (codec === 'UNCOMPRESSED') out = data;
  else if (codec === 'ZSTD') out = zstdLib().decompress(data);
  else if (codec === 'LZ4_RAW') {
    const prefixed = Buffer.allocUnsafe(data.length + 4);
    prefixed.writeUInt32LE(uncompressedSize, 0);
    prefixed.set(data, 4);
    out = lz4Lib().uncompressSync(prefixed);
  } else throw new Error(`${where}: compression codec ${codec} is not one this reader knows (UNCOMPRESSED, LZ4_RAW, ZSTD)`);
  if (out.length !== uncompressedSize) throw new Error(`${where}: page decompressed to ${out.length} bytes, header says ${uncompressedSize}`);
  return out;
}
