// Byte planes: the i-th byte of every value stored together. Small integers (rank deltas, id
// codes) leave the high planes almost all zero, and a codec compresses each plane on its own.

/** Splits `src` (values < 2^(8*planes)) into `planes` Uint8Arrays, least significant first. */
export function toBytePlanes(src: ArrayLike<number>, planes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < planes; p++) out.push(new Uint8Array(src.length));
  for (let i = 0; i < src.length; i++) {
    let v = src[i];
    for (let p = 0; p < planes; p++) {
      out[p][i] = v & 0xff;
      v >>>= 8;
    }
  }
  return out;
}

/** Joins byte planes (least significant first) back into `out`; planes must be equally long. */
export function fromBytePlanes<T extends Uint16Array | Uint32Array>(planes: readonly Uint8Array[], out: T): T {
  const n = out.length;
  for (const p of planes) if (p.length !== n) throw new RangeError(`byte plane holds ${p.length} bytes, expected ${n}`);
  out.fill(0);
  for (let p = 0; p < planes.length; p++) {
    const plane = planes[p];
    const shift = 8 * p;
    // Unsigned add: a fourth plane would otherwise turn the top bit into a sign.
    for (let i = 0; i < n; i++) out[i] = out[i] + plane[i] * 2 ** shift;
  }
  return out;
}
