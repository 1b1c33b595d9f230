// Order keys of IEEE half bit patterns. For log-probabilities (all <= 0) the key grows with the
// magnitude, so a row sorted by non-increasing log-probability has non-decreasing keys, and the
// rank-to-rank differences of the keys are small non-negative integers: what a byte codec likes.
// The key is a bijection on 16-bit patterns except that +0 and -0 share key 0 (decoded as -0,
// equal as a number), so the round trip is exact for every value including NaN and -Infinity.

/** key(h) = (h + 0x8000) mod 2^16, with +0 folded onto -0. */
export function halfKey(h: number): number {
  return h === 0 ? 0 : (h + 0x8000) & 0xffff;
}

/** Inverse of halfKey: key 0 gives -0 (0x8000). */
export function halfFromKey(key: number): number {
  return (key + 0x8000) & 0xffff;
}
