"""The plain Python peer bench/precompute.ts compares precompute-logits with: onnxruntime
returns full logits, numpy picks the top-k and log-softmax, pyarrow writes an LZ4-compressed
Arrow IPC file. Same micro-batches as precompute-logits (windows of 8 stored batches of 32
samples, length-sorted under the same token budget), k ids int32 + f16 log-probabilities.

Run: python bench/peer_precompute.py <model.onnx> <data.jsonl> <out.arrow> <inferBatchTokens> <k> [threads]
Prints "ready <seconds>" on stderr after session creation, a JSON line on stdout at the end.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import pyarrow as pa

model, data, out, budget, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.inter_op_num_threads = 1
so.log_severity_level = 3
if len(sys.argv) > 6:
    so.intra_op_num_threads = int(sys.argv[6])
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
ready = time.perf_counter() - t0
print(f"ready {ready}", file=sys.stderr, flush=True)

samples = []
with open(data) as f:
    for line in f:
        if line.strip():
            samples.append(np.asarray(json.loads(line)["input_ids"], dtype=np.int64))


def plan(lengths):
    """Length-descending greedy cut under the padded-token budget (as src/data/plan.ts)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    start = 0
    while start < len(order):
        seq = lengths[order[start]]
        per_row = max(seq, 1)
        end = start + 1
        while end < len(order) and (end - start + 1) * per_row <= budget:
            end += 1
        yield order[start:end], seq
        start = end


schema = pa.schema([
    ("sample_id", pa.int64()),
    ("input_ids", pa.list_(pa.int32())),
    ("topk_ids", pa.list_(pa.int32())),
    ("topk_logprobs", pa.list_(pa.float16())),
])
tokens = 0
window = 8 * 32
with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
    for w in range(0, len(samples), window):
        flat = samples[w:w + window]
        lengths = [len(s) for s in flat]
        ids_out = [None] * len(flat)
        lp_out = [None] * len(flat)
        for rows, seq in plan(lengths):
            if seq == 0:
                continue
            batch = np.zeros((len(rows), seq), dtype=np.int64)
            for r, i in enumerate(rows):
                batch[r, :lengths[i]] = flat[i]
            logits = sess.run(["logits"], {"input_ids": batch})[0]
            top = np.argpartition(-logits, k - 1, axis=-1)[..., :k]
            vals = np.take_along_axis(logits, top, axis=-1)
            order = np.argsort(-vals, axis=-1, kind="stable")
            top = np.take_along_axis(top, order, axis=-1)
            vals = np.take_along_axis(vals, order, axis=-1)
            m = logits.max(axis=-1, keepdims=True)
            lse = m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
            lps = (vals - lse).astype(np.float16)
            for r, i in enumerate(rows):
                n = lengths[i]
                ids_out[i] = top[r, :n].astype(np.int32).reshape(-1)
                lp_out[i] = lps[r, :n].reshape(-1)
            tokens += sum(lengths[i] for i in rows)
        for b in range(0, len(flat), 32):
            sl = range(b, min(b + 32, len(flat)))
            writer.write_batch(pa.record_batch([
                pa.array([w + i for i in sl], pa.int64()),
                pa.array([flat[i].astype(np.int32) for i in sl], pa.list_(pa.int32())),
                pa.array([ids_out[i] if ids_out[i] is not None else np.zeros(0, np.int32) for i in sl], pa.list_(pa.int32())),
                pa.array([lp_out[i] if lp_out[i] is not None else np.zeros(0, np.float16) for i in sl], pa.list_(pa.float16())),
            ], schema=schema))

print(json.dumps({"tokens": tokens, "startupSeconds": ready, "seconds": time.perf_counter() - t0}))
