// The rank-delta value encoding as the shard stores it: the uint16 rank deltas of each batch
// (rank-delta.ts) split into two byte planes, each its own Arrow column
// (list<fixed_size_list<uint8, k>>, same list offsets as input_ids), so the body codec compresses
// each plane on its own. Its parameters live in the schema metadata and the manifest's topk.
import type { TopkLayout } from '../types.js';
import { fromBytePlanes, toBytePlanes } from './byte-planes.js';
import { checkRankDeltaParams, decodeRankDelta, encodeRankDelta, type RankDeltaParams } from './rank-delta.js';

export const VALUE_PLANE_COLUMNS = ['topk_logprobs_p0', 'topk_logprobs_p1'] as const;

export const RANK_DELTA_META = { f16Ranks: 'logit_cache.f16_ranks', gridStep: 'logit_cache.grid_step' } as const;

export const isPlaneEncoded = (layout: TopkLayout): boolean => layout.values === 'rank-delta';

export function rankDeltaParams(layout: TopkLayout, where: string): RankDeltaParams {
  const p = { k: layout.k, f16Ranks: layout.f16Ranks ?? layout.k, step: layout.gridStep ?? 0 };
  checkRankDeltaParams(p, where);
  return p;
}

/** The layout fields rank-delta adds, normalised (f16Ranks always set, gridStep only when used). */
export function rankDeltaFields(layout: TopkLayout): { f16Ranks: number; gridStep?: number } {
  const f16Ranks = layout.f16Ranks ?? layout.k;
  return f16Ranks < layout.k ? { f16Ranks, gridStep: layout.gridStep } : { f16Ranks };
}

/** Schema metadata entries of a rank-delta layout. */
export function rankDeltaMeta(layout: TopkLayout): [string, string][] {
  const f = rankDeltaFields(layout);
  const out: [string, string][] = [[RANK_DELTA_META.f16Ranks, String(f.f16Ranks)]];
  if (f.gridStep !== undefined) out.push([RANK_DELTA_META.gridStep, String(f.gridStep)]);
  return out;
}

/** Reads the rank-delta fields back from schema metadata; refuses missing or invalid ones. */
export function rankDeltaFromMeta(meta: Map<string, string>, k: number, where: string): { f16Ranks: number; gridStep?: number } {
  const raw = meta.get(RANK_DELTA_META.f16Ranks);
  const f16Ranks = Number(raw);
  const step = meta.get(RANK_DELTA_META.gridStep);
  const fields = f16Ranks < k ? { f16Ranks, gridStep: Number(step) } : { f16Ranks };
  checkRankDeltaParams({ k, f16Ranks, step: fields.gridStep ?? 0 }, `shard ${where}: rank-delta (${RANK_DELTA_META.f16Ranks}="${raw}", ${RANK_DELTA_META.gridStep}="${step}")`);
  return fields;
}

/** Do two layouts decode values identically? (Compared between a shard schema and its manifest.) */
export function sameValueParams(a: TopkLayout, b: TopkLayout): boolean {
  if (a.values !== 'rank-delta' || b.values !== 'rank-delta') return true;
  const fa = rankDeltaFields(a), fb = rankDeltaFields(b);
  return fa.f16Ranks === fb.f16Ranks && fa.gridStep === fb.gridStep;
}

export function encodeValuePlanes(values: Float32Array, layout: TopkLayout): Uint8Array[] {
  return toBytePlanes(encodeRankDelta(values, rankDeltaParams(layout, 'rank-delta')), VALUE_PLANE_COLUMNS.length);
}

export function decodeValuePlanes(planes: readonly Uint8Array[], layout: TopkLayout, where: string): Float32Array {
  const p = rankDeltaParams(layout, where);
  if (planes.length !== VALUE_PLANE_COLUMNS.length) throw new RangeError(`${where}: rank-delta values need 2 byte planes, got ${planes.length}`);
  return decodeRankDelta(fromBytePlanes(planes, new Uint16Array(planes[0].length)), p);
}
