// Token colours. Probabilities span orders of magnitude, so the scale is logarithmic:
// 1 is green, 10^-3 and below red; a next token outside the cached top-k gets its own (violet).
export const LOG_FLOOR = -3;

/** Background for the teacher's probability `p` of the actual token (null: not in the top-k). */
export function probColor(p: number | null): string {
  if (p === null) return 'var(--outside)';
  const x = Math.min(1, Math.max(0, (Math.log10(Math.max(p, 1e-12)) - LOG_FLOOR) / -LOG_FLOOR));
  return `hsl(${Math.round(x * 120)} 70% 84%)`;
}

/** Top-1 mode: agree, in the top-k but not first, or outside it. */
export function top1Color(rank: number): string {
  if (rank === 0) return 'var(--agree)';
  return rank > 0 ? 'var(--disagree)' : 'var(--outside)';
}
