// Building the model inputs for a right-padded batch. Pure typed-array work, so it needs no
// onnxruntime import; TeacherSession wraps the results in tensors.

import { TeacherError } from './errors.js';
/** Inputs TeacherSession knows how to fill; anything else a model declares is an error. */
export const KNOWN_INPUTS = ['input_ids', 'attention_mask', 'position_ids'] as const;
export type KnownInput = (typeof KNOWN_INPUTS)[number];

/** Check the model's declared inputs; returns which optional ones it wants. */
export function planFeeds(inputNames: readonly string[], label: string): { attentionMask: boolean; positionIds: boolean } {
  const listed = inputNames.join(', ') || '(none)';
  if (!inputNames.includes('input_ids')) {
    throw new TeacherError(`teacher ${label}: model has no input "input_ids"; inputs: ${listed}`);
  }
  for (const name of inputNames) {
    if (!(KNOWN_INPUTS as readonly string[]).includes(name)) {
      throw new TeacherError(
        `teacher ${label}: model input "${name}" cannot be fed (known: ${KNOWN_INPUTS.join(', ')}); inputs: ${listed}`,
      );
    }
  }
  return { attentionMask: inputNames.includes('attention_mask'), positionIds: inputNames.includes('position_ids') };
}

export function checkBatch(inputIds: Int32Array, batch: number, seq: number, lengths: Int32Array, label: string): void {
  if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(seq) || seq < 1) {
    throw new Error(`teacher ${label}: batch and seq must be integers >= 1, got ${batch} x ${seq}`);
  }
  if (inputIds.length !== batch * seq) {
    throw new Error(`teacher ${label}: input_ids has ${inputIds.length} tokens, expected batch ${batch} x seq ${seq}`);
  }
  if (lengths.length !== batch) throw new Error(`teacher ${label}: lengths has ${lengths.length} entries, expected ${batch}`);
  for (let b = 0; b < batch; b++) {
    const len = lengths[b];
    if (len < 1 || len > seq) throw new Error(`teacher ${label}: lengths[${b}] = ${len} is outside 1..${seq}`);
  }
}

/** Widen int32 ids into a reusable int64 buffer. */
export function fillInputIds(inputIds: Int32Array, out: BigInt64Array): void {
  for (let i = 0; i < inputIds.length; i++) out[i] = BigInt(inputIds[i]);
}

/** 1 for real tokens, 0 for right padding. */
export function fillAttentionMask(batch: number, seq: number, lengths: Int32Array, out: BigInt64Array | Int32Array): void {
  for (let b = 0; b < batch; b++) {
    const len = lengths[b];
    const row = b * seq;
    if (out instanceof BigInt64Array) {
      for (let t = 0; t < seq; t++) out[row + t] = t < len ? 1n : 0n;
    } else {
      for (let t = 0; t < seq; t++) out[row + t] = t < len ? 1 : 0;
    }
  }
}

/**
 * 0..len-1 on real tokens. Pads keep counting: they are masked and come after every real token,
 * so a causal model never lets them influence a real position.
 */
export function fillPositionIds(batch: number, seq: number, out: BigInt64Array | Int32Array): void {
  for (let b = 0; b < batch; b++) {
    const row = b * seq;
    if (out instanceof BigInt64Array) {
      for (let t = 0; t < seq; t++) out[row + t] = BigInt(t);
    } else {
      for (let t = 0; t < seq; t++) out[row + t] = t;
    }
  }
}
