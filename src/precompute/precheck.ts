// Everything about the input that can be checked before the teacher runs for real is checked
// before anything is written: a run refused here leaves no folder, run.json or .partial/, so
// the corrected command is not blocked by "written with other settings".
//
// Context length: a sample longer than the teacher's context fails deep inside onnxruntime
// (a broadcast or index error naming no sample). The graph often states the context (fixed
// input_ids dim, position tables); when the longest sample fits it, no teacher call is needed.
// Otherwise one teacher call on the longest sample decides; only when that call fails are a
// few more made on its prefixes, to name the length the teacher does accept.
import { basename } from 'node:path';
import { CodedError, codeOf } from '../errors.js';
import type { ContextLength } from '../teacher/context-length.js';
import type { PrecomputeOptions } from './options.js';
import type { ScanResult } from './scan.js';

/** What the check needs of a teacher: an in-process TeacherSession or one in a worker thread. */
export interface RunsTopk {
  /** What the graph states (read by the session when it opened the model), or null. */
  readonly contextLength: ContextLength | null;
  run(inputIds: Int32Array, batch: number, seq: number, lengths: Int32Array): Promise<unknown>;
}

/** Runs one row of `ids[0..len)`; true when the teacher accepts it. Non-finite output is not a length problem. */
async function accepts(session: RunsTopk, ids: Int32Array, len: number): Promise<{ ok: true } | { ok: false; error: Error }> {
  try {
    // A copy: a teacher in a worker thread takes ownership of (detaches) the buffer it is sent.
    await session.run(ids.slice(0, len), 1, len, Int32Array.of(len));
    return { ok: true };
  } catch (e) {
    if (codeOf(e) === 'LC_ERR_TEACHER_NON_FINITE') return { ok: true };
    return { ok: false, error: e as Error };
  }
}

function longerThan(lengths: Int32Array, limit: number): number {
  let n = 0;
  for (let i = 0; i < lengths.length; i++) if (lengths[i] > limit) n++;
  return n;
}

function tooLong(opts: PrecomputeOptions, scan: ScanResult, context: number, how: string, cause?: Error): CodedError {
  const longest = scan.longest!;
  const over = longerThan(scan.lengths, context);
  const others = over > 1 ? ` (and ${over - 1} more sample${over > 2 ? 's' : ''} longer than ${context})` : '';
  const flag = opts.maxSeqLen === undefined ? `pass --max-seq-len ${context}` : `lower --max-seq-len from ${opts.maxSeqLen} to ${context}`;
  return new CodedError('LC_ERR_SEQ_TOO_LONG',
    `dataset ${opts.data}: sample ${longest.sampleId} has ${longest.inputIds.length} tokens${others}, more than the ${context}-token context of teacher ${basename(opts.model)} (${how}); ${flag} to keep the first ${context} tokens of longer samples; nothing was written`,
    { file: opts.data, sample: longest.sampleId, tokens: longest.inputIds.length, context, samplesTooLong: over }, { cause });
}

export async function checkBeforeWriting(opts: PrecomputeOptions, session: RunsTopk, scan: ScanResult): Promise<void> {
  const longest = scan.longest;
  if (!longest) return; // only empty samples: the teacher never runs
  const len = longest.inputIds.length;
  const declared = session.contextLength;
  if (declared && len <= declared.tokens) return;
  const full = await accepts(session, longest.inputIds, len);
  if (full.ok) return; // the graph's hint was not a limit after all
  if (declared) throw tooLong(opts, scan, declared.tokens, `stated by ${declared.source}`, full.error);
  // Not stated: find the longest prefix the teacher accepts, so the message can name it.
  if (!(await accepts(session, longest.inputIds, 1)).ok) {
    throw new CodedError('LC_ERR_TEACHER_RUN',
      `teacher ${basename(opts.model)}: fails on sample ${longest.sampleId} of ${opts.data} whatever its length: ${full.error.message}`,
      { sample: longest.sampleId }, { cause: full.error });
  }
  let lo = 1, hi = len; // lo is accepted, hi is not
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if ((await accepts(session, longest.inputIds, mid)).ok) lo = mid;
    else hi = mid;
  }
  throw tooLong(opts, scan, lo, `the longest input it accepts; at ${lo + 1} tokens: ${full.error.message.split('\n')[0]}`, full.error);
}
