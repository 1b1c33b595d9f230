// The fused head's output names, in a module of their own: the teacher worker's session reads
// its results by these names but never builds a head (the main thread did, prepare-model.ts),
// so it must not load the graph code (fuse-head.ts, the wire-format walkers) to learn them.
export const TOPK_IDS_OUTPUT = 'topk_ids';
export const TOPK_LOGPROBS_OUTPUT = 'topk_logprobs';
/** [..., 1] float32: log of the probability outside the top-k (only with `tailMass`). */
export const TOPK_TAIL_OUTPUT = 'topk_tail_logprob';
