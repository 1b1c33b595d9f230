// The bare teacher: the floor bench/precompute.ts measures precompute-logits against. It
// creates an ONNX Runtime session on a model that already carries the fused top-k head
// (written by the bench beforehand), with the same session options as TeacherSession, and
// runs it over the same micro-batches precompute-logits plans (windows of 8 stored batches
// of 32 samples, length-sorted under the same token budget). Nothing else: no validation,
// no statistics, no encoding, no output files.
// Run: node --import tsx bench/bare-teacher.ts <fused.onnx> <data.jsonl> <inferBatchTokens|startup> [threads]
// Prints "ready <seconds>" on stderr after session creation, a JSON line on stdout at the end.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { packMicroBatch, planInference } from '../src/data/plan.js';

const [model, data, budgetArg, threadsArg] = process.argv.slice(2);
const t0 = performance.now();
const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', interOpNumThreads: 1, logSeverityLevel: 3 };
if (threadsArg) options.intraOpNumThreads = Number(threadsArg);
const session = await ort.InferenceSession.create(model, options);
const ready = (performance.now() - t0) / 1000;
process.stderr.write(`ready ${ready}\n`);
// `startup` instead of a budget: only time ONNX Runtime's session creation (of any model).
if (budgetArg === 'startup') {
  await session.release();
  console.log(JSON.stringify({ startupSeconds: ready }));
  process.exit(0);
}

const samples = readFileSync(data, 'utf8').split('\n').filter(Boolean).map((l) => Int32Array.from((JSON.parse(l) as { input_ids: number[] }).input_ids));
const window = 8 * 32;
let tokens = 0;
for (let w = 0; w < samples.length; w += window) {
  const flat = samples.slice(w, w + window);
  const lengths = Int32Array.from(flat, (s) => s.length);
  for (const micro of planInference(lengths, Number(budgetArg))) {
    if (micro.seqLen === 0) continue;
    const { ids } = packMicroBatch(flat, micro);
    const feed = new BigInt64Array(ids.length);
    for (let i = 0; i < ids.length; i++) feed[i] = BigInt(ids[i]);
    await session.run({ input_ids: new ort.Tensor('int64', feed, [micro.rows.length, micro.seqLen]) }, ['topk_ids', 'topk_logprobs']);
    for (let r = 0; r < micro.rows.length; r++) tokens += flat[micro.rows[r]].length;
  }
}
await session.release();
console.log(JSON.stringify({ tokens, startupSeconds: ready, seconds: (performance.now() - t0) / 1000 }));
