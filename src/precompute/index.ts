export { precompute } from './pipeline.js';
export { UsageError } from './errors.js';
export type { PrecomputeOptions, PrecomputeSummary, ProgressEvent } from './options.js';
