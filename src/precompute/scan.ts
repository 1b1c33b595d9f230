// First pass over the dataset: counts, the token-stream hash, and every id checked against
// the teacher's vocabulary, so a bad line at the end of a file fails in seconds, not after
// hours of teacher time. Reading is cheap next to inference. It also keeps what the checks
// before writing need: the longest sample (for the context-length check) and every length.
// Direct module imports, not ../data/index.js: its re-exports would load the Arrow and Parquet readers.
import { readSamples } from '../data/read-samples.js';
import type { ReadSamplesOptions } from '../data/sample.js';
import { tokenStreamHasher } from '../data/token-hash.js';
import { CodedError } from '../errors.js';

export interface ScanResult {
  samples: number;
  tokens: number;
  sha256: string;
  /** Samples of length 0: stored with empty lists, never fed to the teacher (docs/FORMAT.md §2). */
  emptySamples: number;
  /** The first sample of the greatest length (after --max-seq-len), a copy of its ids. */
  longest: { sampleId: number; inputIds: Int32Array } | null;
  /** Length of every sample, in file order (after --max-seq-len). */
  lengths: Int32Array;
}

export async function scanDataset(
  file: string, opts: ReadSamplesOptions, vocabSize: number, onProgress?: (samples: number, tokens: number) => void,
): Promise<ScanResult> {
  const hasher = tokenStreamHasher();
  let samples = 0, tokens = 0, emptySamples = 0;
  let longest: ScanResult['longest'] = null;
  let lengths = new Int32Array(1024);
  for await (const s of readSamples(file, opts)) {
    const ids = s.inputIds;
    for (let p = 0; p < ids.length; p++) {
      if (ids[p] >= vocabSize) {
        throw new CodedError('LC_ERR_TOKEN_OUT_OF_VOCAB',
          `dataset ${file}: sample ${s.sampleId}, position ${p}: token id ${ids[p]} is outside the teacher's vocabulary [0, ${vocabSize})`,
          { file, sample: s.sampleId, position: p, tokenId: ids[p], vocabSize });
      }
    }
    hasher.update(ids);
    if (samples === lengths.length) {
      const grown = new Int32Array(lengths.length * 2);
      grown.set(lengths);
      lengths = grown;
    }
    lengths[samples] = ids.length;
    if (ids.length === 0) emptySamples++;
    if (ids.length > (longest?.inputIds.length ?? 0)) longest = { sampleId: s.sampleId, inputIds: ids.slice() };
    samples++;
    tokens += ids.length;
    if (onProgress && samples % 10_000 === 0) onProgress(samples, tokens);
  }
  return { samples, tokens, sha256: hasher.digest(), emptySamples, longest, lengths: lengths.subarray(0, samples) };
}
