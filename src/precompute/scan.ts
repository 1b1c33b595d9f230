// First pass over the dataset: counts, the token-stream hash, and every id checked against
// the teacher's vocabulary, so a bad line at the end of a file fails in seconds, not after
// hours of teacher time. Reading is cheap next to inference.
// Direct module imports, not ../data/index.js: its re-exports would load the Arrow and Parquet readers.
import { readSamples } from '../data/read-samples.js';
import type { ReadSamplesOptions } from '../data/sample.js';
import { tokenStreamHasher } from '../data/token-hash.js';

export interface ScanResult { samples: number; tokens: number; sha256: string }

export async function scanDataset(
  file: string, opts: ReadSamplesOptions, vocabSize: number, onProgress?: (samples: number, tokens: number) => void,
): Promise<ScanResult> {
  const hasher = tokenStreamHasher();
  let samples = 0, tokens = 0;
  for await (const s of readSamples(file, opts)) {
    const ids = s.inputIds;
    for (let p = 0; p < ids.length; p++) {
      if (ids[p] >= vocabSize) {
        throw new Error(`dataset ${file}: sample ${s.sampleId}, position ${p}: token id ${ids[p]} is outside the teacher's vocabulary [0, ${vocabSize})`);
      }
    }
    hasher.update(ids);
    samples++;
    tokens += ids.length;
    if (onProgress && samples % 10_000 === 0) onProgress(samples, tokens);
  }
  return { samples, tokens, sha256: hasher.digest() };
}
