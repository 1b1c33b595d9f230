// Codecs as the Arrow IPC writer applies them: each buffer on its own, prefixed by its 8-byte
// uncompressed length, kept raw when compression does not shrink it, padded to 8 bytes.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
interface ZstdCtx { setParameters(p: { compressionLevel: number }): void; loadDictionary(d: Uint8Array): void; compress(b: Uint8Array): Buffer }
interface ZstdDctx { loadDictionary(d: Uint8Array): void; decompress(b: Uint8Array): Buffer }
const zstd = require('zstd-napi') as { Compressor: new () => ZstdCtx; Decompressor: new () => ZstdDctx; decompress(b: Uint8Array): Buffer };
const lz4 = require('lz4-napi') as { compressFrameSync(b: Uint8Array): Buffer; decompressFrameSync(b: Uint8Array): Buffer };

export interface Codec {
  name: string;
  /** Uses a dictionary: the same buffer of the dataset's first batch (raw content). */
  dict: boolean;
  compress(buf: Uint8Array, dict?: Uint8Array): Uint8Array;
  decompress(buf: Uint8Array, dict?: Uint8Array): Uint8Array;
}

function zstdCodec(level: number, dict: boolean): Codec {
  const c = new zstd.Compressor();
  c.setParameters({ compressionLevel: level });
  const plain = new zstd.Decompressor();
  return {
    name: `zstd-${level}${dict ? '+dict' : ''}`,
    dict,
    compress: (buf, d) => {
      if (!d) return c.compress(buf);
      const cd = new zstd.Compressor();
      cd.setParameters({ compressionLevel: level });
      cd.loadDictionary(d);
      return cd.compress(buf);
    },
    decompress: (buf, d) => {
      if (!d) return plain.decompress(buf);
      const dd = new zstd.Decompressor();
      dd.loadDictionary(d);
      return dd.decompress(buf);
    },
  };
}

export const CODECS: Codec[] = [
  { name: 'lz4', dict: false, compress: (b) => lz4.compressFrameSync(b), decompress: (b) => lz4.decompressFrameSync(b) },
  zstdCodec(1, false), zstdCodec(3, false), zstdCodec(9, false), zstdCodec(19, false), zstdCodec(19, true),
];

export const codecByName = (name: string): Codec => {
  const c = CODECS.find((x) => x.name === name);
  if (!c) throw new Error(`no codec ${name}`);
  return c;
};

const pad8 = (n: number): number => (n + 7) & ~7;

/** Bytes one buffer takes in an Arrow IPC body with this codec. */
export function storedSize(codec: Codec, buf: Uint8Array, dict?: Uint8Array): number {
  if (buf.length === 0) return 0;
  const c = codec.compress(buf, dict);
  return 8 + pad8(Math.min(c.length, buf.length));
}
