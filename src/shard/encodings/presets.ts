// Storage presets, named by what they keep; chosen by bench/storage.ts (see README "Storage").
// A preset fills the low-level settings a command line did not give explicitly.
import type { CodecName, IdEncoding, ValueEncoding } from '../types.js';

export interface StorageSettings {
  values: ValueEncoding;
  codec: CodecName;
  zstdLevel?: number;
  /** rank-delta: leading ranks at float16 precision. */
  f16Ranks?: number;
  /** rank-delta: grid step (nats) of the other ranks. */
  gridStep?: number;
  /** Id encoding (absent: plain). */
  ids?: IdEncoding;
  /** Shared prefixes (format 2.5): least shared length in tokens worth referencing (absent: off). */
  sharePrefixes?: number;
}

export type PresetName = 'fast' | 'compact' | 'small';
export const PRESETS: readonly PresetName[] = ['fast', 'compact', 'small'];

/** Ranks `compact` keeps at float16 precision; ranks below them are within 0.05 nats. */
export const COMPACT_F16_RANKS = 16;
/** Grid step of compact's lower ranks: max error step/2 = 0.0495 nats, inside 0.05 with float32 rounding. */
export const COMPACT_GRID_STEP = 0.099;
/**
 * small's grid: the coarsest step that keeps teacher-led BiLD relative error under the 1e-2
 * target with margin (stories260k k = 8: 5.2e-3 at 0.25, 7.2e-3 at 0.3, 1.01e-2 at 0.35).
 */
export const SMALL_GRID_STEP = 0.3;

/**
 * compact's and small's shared-prefix minimum: a reference costs a few bytes per sample, so
 * shorter shared runs save little; stories260k shares 24.7% of its positions at 32 (PLAN3/bench).
 */
export const PRESET_SHARE_PREFIXES = 32;

/** The settings of a preset at top-k = k. */
export function presetSettings(name: PresetName, k: number): StorageSettings {
  switch (name) {
    // Today's default: fastest to write and read, f16 values, LZ4.
    case 'fast': return { values: 'f16', codec: 'lz4' };
    // float16 fidelity for the top 16 ranks (all of them at k <= 16), rank deltas in byte planes,
    // ids against per-shard context tables (ctx-table), ZSTD 19, shared prefixes of >= 32 tokens
    // stored once per shard. At k = 128 this is the recipe for "top 16 at f16 fidelity, the rest
    // within 0.05 nats" (stories260k, bench/storage: 146.6 B/token unshared, 102.5 shared).
    case 'compact': return k <= COMPACT_F16_RANKS
      ? { values: 'rank-delta', f16Ranks: k, ids: 'ctx-table', codec: 'zstd', zstdLevel: 19, sharePrefixes: PRESET_SHARE_PREFIXES }
      : { values: 'rank-delta', f16Ranks: COMPACT_F16_RANKS, gridStep: COMPACT_GRID_STEP, ids: 'ctx-table', codec: 'zstd', zstdLevel: 19, sharePrefixes: PRESET_SHARE_PREFIXES };
    // Every rank on a 0.3-nat grid (error <= 0.15 nats), rank deltas in byte planes, ctx-table ids, ZSTD 19, shared prefixes.
    case 'small': return { values: 'rank-delta', f16Ranks: 0, gridStep: SMALL_GRID_STEP, ids: 'ctx-table', codec: 'zstd', zstdLevel: 19, sharePrefixes: PRESET_SHARE_PREFIXES };
  }
}
