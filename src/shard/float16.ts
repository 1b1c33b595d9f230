// IEEE 754 half and bfloat16 conversion over whole typed arrays.
// Node 20 has neither Float16Array nor Math.f16round, so the bit work is done here once,
// through a shared Float32Array/Uint32Array view pair, with no allocation per value.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round one float32 bit pattern to the nearest half (ties to even); NaN stays NaN. */
function halfBitsFromFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    if (e < -10) return sign; // underflow to signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rest > mid || (rest === mid && (half & 1) !== 0) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Carry out of the mantissa correctly bumps the exponent (and may reach infinity).
  return sign | (rest > 0x1000 || (rest === 0x1000 && (half & 1) !== 0) ? half + 1 : half);
}

// Decoding is a 64K-entry table: it makes f16 reads a single indexed load per value.
let halfTable: Float32Array | null = null;
function decodeTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

export function float32ToFloat16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    out[i] = halfBitsFromFloatBits(u32[0]);
  }
  return out;
}

export function float16ToFloat32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = decodeTable();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** bfloat16 is the top half of a float32; round to nearest even, keep NaN a NaN. */
export function float32ToBfloat16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function bfloat16ToFloat32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}
