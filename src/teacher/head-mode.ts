// The fused head's formulations and the default one, in a module of their own so the main
// thread can name them (run settings, resume) without loading the graph code.
/** Every formulation (also what a recorded run setting is read back against). */
export const LSE_MODES = ['reduce', 'sum32', 'sum64', 'blocked', 'logsoftmax', 'none'] as const;
export type LseMode = typeof LSE_MODES[number];

/**
 * The head precompute uses, chosen by measurement (bench/teacher.ts, V = 151,936, CPU per
 * token beside the forward pass): ORT's LogSoftmax + TopK cost 14-22% over the forward pass
 * at 128-1024 tokens per call, the blocked float32 sums 26-40%, ReduceLogSumExp 80-117%; the
 * first two stay within 1e-4 nats of float64 (3.2e-5 and 8.2e-7, test/teacher/fuse-head.test.ts),
 * far below float16 storage rounding. Changing it changes stored bytes: precompute records it
 * in the run settings, so a resume never mixes two heads in one dataset.
 */
export const DEFAULT_HEAD: LseMode = 'logsoftmax';

/** The head of runs recorded before the setting existed (their run.json has no "head"). */
export const LEGACY_HEAD: LseMode = 'blocked';
