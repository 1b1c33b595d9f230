#!/usr/bin/env node
// The file `npm run build` turns into dist/cli/precompute-logits.js (bundle.ts): the teacher
// worker is started before anything else of the command loads. The worker's own start (~55 ms,
// a fresh Node.js instance) and its onnxruntime-node load lie on the critical path of every
// start-up; begun here they overlap the ~20 ms (more on a loaded machine) the command's modules
// take to load, parse and link, which precompute-logits.ts's own prestart waited for.
// Static imports stay this light: only worker-start (node: built-ins), is-main and trace.
import { prestartTeacherWorker } from '../teacher/worker-start.js';
import { trace } from '../trace.js';
import { isMain, runMain } from './is-main.js';
import { willRunTeacher } from './will-run-teacher.js';

if (isMain(import.meta.url) && willRunTeacher(process.argv.slice(2))) {
  prestartTeacherWorker();
  trace('cli: teacher worker prestarted');
}

/** The command (logit-cache precompute imports this file too: the bundle replaced the module). */
export async function precomputeCommand(argv: string[]): Promise<number> {
  return (await import('./precompute-logits.js')).precomputeCommand(argv);
}

await runMain(import.meta.url, precomputeCommand);
