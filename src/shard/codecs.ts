// Body-buffer compression brought into apache-arrow through its compressionRegistry,
// registered once per process. LZ4_FRAME and ZSTD are what pyarrow and every Arrow
// reader understand, so shards open unchanged anywhere.
import { createRequire } from 'node:module';
import { CompressionType, compressionRegistry } from 'apache-arrow';
import type { CodecName } from './types.js';

const require = createRequire(import.meta.url);

interface Lz4Napi {
  compressFrameSync(data: Uint8Array): Buffer;
  decompressFrameSync(data: Uint8Array): Buffer;
}
interface ZstdNapi {
  compress(data: Uint8Array, params?: Record<string, unknown>): Buffer;
  decompress(data: Uint8Array): Buffer;
}

let registered = false;
// ZSTD level of the writes in progress (0: the library default, 3). Readers never need it:
// every level decodes the same way. Set only around a serialisation, by withZstdLevel.
let zstdLevel = 0;

/** Runs fn with ZSTD body compression at `level` (1..22; undefined: default). */
export function withZstdLevel<T>(level: number | undefined, fn: () => T): T {
  const prev = zstdLevel;
  zstdLevel = level ?? 0;
  try {
    return fn();
  } finally {
    zstdLevel = prev;
  }
}

/** Registers LZ4_FRAME (lz4-napi) and ZSTD (zstd-napi) with apache-arrow; idempotent. */
export function registerCodecs(): void {
  if (registered) return;
  const lz4 = require('lz4-napi') as Lz4Napi;
  compressionRegistry.set(CompressionType.LZ4_FRAME, {
    encode: (data) => lz4.compressFrameSync(data),
    decode: (data) => lz4.decompressFrameSync(data),
  });
  const zstd = require('zstd-napi') as ZstdNapi;
  compressionRegistry.set(CompressionType.ZSTD, {
    encode: (data) => zstd.compress(data, zstdLevel ? { compressionLevel: zstdLevel } : undefined),
    decode: (data) => zstd.decompress(data),
  });
  registered = true;
}

export function compressionTypeOf(codec: CodecName): CompressionType | null {
  return codec === 'lz4' ? CompressionType.LZ4_FRAME : codec === 'zstd' ? CompressionType.ZSTD : null;
}
