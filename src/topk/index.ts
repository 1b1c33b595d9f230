export { logSumExp, topkLogprobsRows } from './topk.js';
export { allFinite, firstNonFinite } from './finite.js';
