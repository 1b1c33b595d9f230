// One precompute in its own process, through the built library (dist/), for
// bench/precompute-skip.ts: argv[2] is the options as JSON, argv[3] "skip" or "feed-all".
// The same program runs both variants, so the only difference is whether the teacher skips
// fully shared samples. Prints one JSON line: the summary and the tokens the teacher was fed.
import { precompute } from '../../dist/precompute/index.js';

const opts = JSON.parse(process.argv[2]);
let fed = 0, calls = 0;
const summary = await precompute(opts, () => {}, {
  skipShared: process.argv[3] === 'skip',
  onTeacherRun: (lengths) => { calls++; for (const l of lengths) fed += l; },
});
console.log(JSON.stringify({ summary, fed, calls }));
