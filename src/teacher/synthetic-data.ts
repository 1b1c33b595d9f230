// Deterministic synthetic token streams to pair with synthetic teachers: Zipf-distributed ids
// over a seeded ranking, each sample starting with BOS (1), lengths uniform in [minLen, maxLen].
import { createRng, permutation } from './prng.js';

export interface SyntheticSamplesOptions {
  count: number;
  minLen: number;
  maxLen: number;
  vocabSize: number;
  seed?: number;
  /** Zipf exponent of the id distribution. */
  zipf?: number;
}

export const BOS_ID = 1;
// Ids 0..2 play <unk>, BOS, EOS as in llama-style vocabularies; the body never emits them.
const FIRST_BODY_ID = 3;

export function* syntheticSamples(opts: SyntheticSamplesOptions): Generator<Int32Array> {
  const { count, minLen, maxLen, vocabSize } = opts;
  if (!(Number.isInteger(minLen) && minLen >= 1 && Number.isInteger(maxLen) && maxLen >= minLen)) {
    throw new Error(`synthetic samples: need 1 <= minLen <= maxLen, got ${minLen}..${maxLen}`);
  }
  if (!Number.isInteger(vocabSize) || vocabSize <= FIRST_BODY_ID) {
    throw new Error(`synthetic samples: vocabSize must be > ${FIRST_BODY_ID}, got ${vocabSize}`);
  }
  const rng = createRng((opts.seed ?? 0) + 0x51ed);
  const body = vocabSize - FIRST_BODY_ID;
  const idOfRank = permutation(body, rng);
  const s = opts.zipf ?? 1.1;
  // Cumulative Zipf weights once; each token is then a binary search.
  const cdf = new Float64Array(body);
  let acc = 0;
  for (let r = 0; r < body; r++) {
    acc += 1 / Math.pow(r + 1, s);
    cdf[r] = acc;
  }
  for (let n = 0; n < count; n++) {
    const len = minLen + rng.int(maxLen - minLen + 1);
    const ids = new Int32Array(len);
    ids[0] = BOS_ID;
    for (let t = 1; t < len; t++) {
      const u = rng.uniform() * acc;
      let lo = 0;
      let hi = body - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      ids[t] = FIRST_BODY_ID + idOfRank[lo];
    }
    yield ids;
  }
}
