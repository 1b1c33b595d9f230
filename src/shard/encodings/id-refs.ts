// Reference coding of top-k token ids. A teacher's top-k at one position mostly repeats ids
// it already showed: its top-1 is usually the next input token, and neighbouring positions of a
// sample share many ids. Each id is stored as a code:
//   0          the sample's next input token (input_ids[t + 1]), when position t has one;
//   1 .. k     the id at rank code-1 of the previous position of the same sample, when t has one;
//   k+1+id     the id itself (a literal).
// An encoder may use any subset of the references (the lowest matching code is taken); a decoder
// resolves all of them. Codes are < vocabSize + k + 1.

export interface IdRefOptions {
  /** Refer to the next input token (code 0). */
  next: boolean;
  /** Refer to the previous position's ids (codes 1..k). */
  prev: boolean;
}

export const ALL_REFS: IdRefOptions = { next: true, prev: true };

/** Bytes per code a dataset needs: codes run up to vocabSize + k. */
export function idRefPlanes(vocabSize: number, k: number): number {
  const max = vocabSize + k;
  return max < 0x10000 ? 2 : max < 0x1000000 ? 3 : 4;
}

function checkShape(offsets: Int32Array, inputIds: Int32Array, n: number, k: number): void {
  const tokens = inputIds.length;
  if (n !== tokens * k) throw new RangeError(`id-refs: ${n} ids for ${tokens} tokens at k=${k}`);
  if (offsets[0] !== 0 || offsets[offsets.length - 1] !== tokens) {
    throw new RangeError(`id-refs: offsets span [${offsets[0]}, ${offsets[offsets.length - 1]}], expected [0, ${tokens}]`);
  }
}

/** Encodes ids [tokens * k] of one batch (two vocabulary-sized scratch arrays per batch, nothing per token). */
export function encodeIdRefs(
  ids: ArrayLike<number>, offsets: Int32Array, inputIds: Int32Array, k: number, vocabSize: number,
  opts: IdRefOptions = ALL_REFS, out = new Uint32Array(ids.length),
): Uint32Array {
  checkShape(offsets, inputIds, ids.length, k);
  // slotOf[id] = 1 + rank of id at the previous position, valid while stamp[id] == that position + 1.
  const slotOf = new Uint16Array(vocabSize);
  const stamp = new Int32Array(vocabSize);
  const lit = k + 1;
  for (let s = 0; s + 1 < offsets.length; s++) {
    const start = offsets[s], end = offsets[s + 1];
    for (let t = start; t < end; t++) {
      const next = opts.next && t + 1 < end ? inputIds[t + 1] : -1;
      const havePrev = opts.prev && t > start;
      const base = t * k;
      for (let r = 0; r < k; r++) {
        const id = ids[base + r];
        if (!(id >= 0 && id < vocabSize)) throw new RangeError(`id-refs: id ${id} at token ${t} rank ${r} is outside the vocabulary of ${vocabSize}`);
        let code = lit + id;
        if (id === next) code = 0;
        else if (havePrev && stamp[id] === t) code = slotOf[id];
        out[base + r] = code;
      }
      // This position's ids become the next position's references (stamp t+1 == "from t").
      for (let r = 0; r < k; r++) {
        const id = ids[base + r];
        if (stamp[id] !== t + 1) {
          stamp[id] = t + 1;
          slotOf[id] = r + 1;
        }
      }
    }
  }
  return out;
}

/** Resolves codes [tokens * k] back to ids; refuses a code that names nothing. */
export function decodeIdRefs<T extends Uint16Array | Uint32Array>(
  codes: ArrayLike<number>, offsets: Int32Array, inputIds: Int32Array, k: number, vocabSize: number, out: T,
): T {
  checkShape(offsets, inputIds, codes.length, k);
  if (out.length !== codes.length) throw new RangeError(`id-refs: output holds ${out.length}, expected ${codes.length}`);
  const lit = k + 1;
  for (let s = 0; s + 1 < offsets.length; s++) {
    const start = offsets[s], end = offsets[s + 1];
    for (let t = start; t < end; t++) {
      const base = t * k;
      for (let r = 0; r < k; r++) {
        const c = codes[base + r];
        let id: number;
        if (c >= lit) id = c - lit;
        else if (c === 0) {
          if (t + 1 >= end) throw new RangeError(`id-refs: token ${t} rank ${r} refers to the next input token, but it is the sample's last`);
          id = inputIds[t + 1];
        } else {
          if (t === start) throw new RangeError(`id-refs: token ${t} rank ${r} refers to the previous position, but it is the sample's first`);
          id = out[base - k + c - 1];
        }
        if (!(id >= 0 && id < vocabSize)) throw new RangeError(`id-refs: token ${t} rank ${r} decodes to id ${id}, outside the vocabulary of ${vocabSize}`);
        out[base + r] = id;
      }
    }
  }
  return out;
}
