// The JSON the page reads (src/server/routes/ui.ts), typed once for both views.
import type { SampleView } from '../../server/ui/sample.js';
import type { DatasetStats, StatsBudget } from '../../server/ui/stats.js';

export type { SampleView };
export type StatsResponse = DatasetStats & { datasetId: string; budget: StatsBudget };

export interface DatasetSettings {
  datasetId: string; formatVersion: string; batchCount: number; sampleCount: number; tokenCount: number;
  batchSize: number; batchesPerShard: number; shardCount: number; bytes: number;
  k: number; values: string; indexType: string; q8Scale: number | null; codec: string;
  teacher: { file: string; sha256: string; vocabSize: number; topkOn?: string };
  source: { file: string; samples: number; tokens: number; maxSeqLen?: number | null };
  stats: { bytesPerToken: number; meanTopkMass?: number | null; top1Agreement?: number | null };
  generator: { name: string; version: string };
  tokenizer: { kind: string; file: string; sha256: string; vocabSize: number } | null;
}

export interface DatasetList {
  serveTokenizer: { kind: string; sha256: string; vocabSize: number } | null;
  datasets: DatasetSettings[];
  unavailable: { datasetId: string; reason: string }[];
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => null) as ({ code?: string; message?: string } | null);
  if (!res.ok) throw new ApiError(res.status, body?.code ?? `HTTP_${res.status}`, body?.message ?? res.statusText);
  return body as T;
}

export const enc = encodeURIComponent;
