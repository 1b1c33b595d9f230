// Which fused head a precompute uses. A new dataset (or --overwrite) gets the default; a run
// that continues a dataset uses the head its run.json recorded, so an upgrade that changes the
// default never mixes two heads in one dataset and never forces a recompute. Runs recorded
// before the setting existed carry no "head" and used LEGACY_HEAD.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_HEAD, LEGACY_HEAD, LSE_MODES, type LseMode } from '../teacher/head-mode.js';
import { RUN_FILE } from '../shard/types.js';

export function headToUse(out: string, datasetId: string, overwrite: boolean | undefined): LseMode {
  if (overwrite) return DEFAULT_HEAD;
  let recorded: unknown;
  try {
    recorded = JSON.parse(readFileSync(join(out, datasetId, RUN_FILE), 'utf8'));
  } catch {
    // No dataset yet, or a run.json the writer will report on with its own error.
    return DEFAULT_HEAD;
  }
  if (recorded === null || typeof recorded !== 'object') return DEFAULT_HEAD;
  const { head, topkOn } = recorded as { head?: unknown; topkOn?: unknown };
  if (typeof head === 'string' && (LSE_MODES as readonly string[]).includes(head)) return head as LseMode;
  // A graph run without the key predates it; anything else the settings check refuses.
  return head === undefined && topkOn === 'graph' ? LEGACY_HEAD : DEFAULT_HEAD;
}

/** The run-settings entry: absent for the legacy head, as runs before the setting wrote it. */
export const headSetting = (head: LseMode | undefined): { head?: LseMode } => (head === undefined || head === LEGACY_HEAD ? {} : { head });
