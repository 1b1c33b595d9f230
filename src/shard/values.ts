// Value encodings of top-k log-probabilities: float32 in, storage array out, and back.
import { Float16, Float32, Uint16, Uint8, type DataType } from 'apache-arrow';
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from './float16.js';
import { DEFAULT_Q8_SCALE, type TopkLayout, type ValueEncoding } from './types.js';

export type StoredValues = Float32Array | Uint16Array | Uint8Array;

/** Default q8 step: 0.1 nats, so 255 steps reach -25.5 (probability ~1e-11). */
export { DEFAULT_Q8_SCALE };

export function valueArrowType(values: ValueEncoding): DataType {
  switch (values) {
    case 'f32': return new Float32();
    case 'f16': return new Float16();
    case 'bf16': return new Uint16();
    case 'q8': return new Uint8();
    // Each of its two byte-plane columns (encodings/value-planes.ts).
    case 'rank-delta': return new Uint8();
  }
}

export function bytesPerValue(values: ValueEncoding): number {
  return values === 'f32' ? 4 : values === 'q8' ? 1 : 2;
}

export function encodeValues(src: Float32Array, layout: TopkLayout): StoredValues {
  switch (layout.values) {
    case 'f32': return src;
    case 'f16': return float32ToFloat16(src);
    case 'bf16': return float32ToBfloat16(src);
    case 'q8': {
      const scale = layout.q8Scale ?? DEFAULT_Q8_SCALE;
      const out = new Uint8Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const q = Math.round(-src[i] / scale);
        out[i] = q > 255 ? 255 : q < 0 ? 0 : q;
      }
      return out;
    }
    case 'rank-delta': throw new Error('values: rank-delta is stored as byte planes (encodings/value-planes.ts), not one column');
  }
}

export function decodeValues(stored: StoredValues, layout: TopkLayout, out?: Float32Array): Float32Array {
  switch (layout.values) {
    case 'f32': {
      if (!(stored instanceof Float32Array)) throw new Error(`values: f32 column holds ${stored.constructor.name}`);
      if (!out) return stored;
      out.set(stored);
      return out;
    }
    case 'f16': return float16ToFloat32(stored as Uint16Array, out);
    case 'bf16': return bfloat16ToFloat32(stored as Uint16Array, out);
    case 'q8': {
      // float32 scale: the product is then the same float32 numpy gets from q * float32(scale).
      const scale = Math.fround(layout.q8Scale ?? DEFAULT_Q8_SCALE);
      const o = out ?? new Float32Array(stored.length);
      for (let i = 0; i < stored.length; i++) o[i] = -stored[i] * scale;
      return o;
    }
    case 'rank-delta': throw new Error('values: rank-delta is stored as byte planes (encodings/value-planes.ts), not one column');
  }
}
