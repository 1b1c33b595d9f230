"""Test and example helpers: datasets written by the real (TypeScript) writer, teacher top-k.

The production writer is the TypeScript one (src/shard); :func:`write_dataset` feeds it
samples from Python through a small node script, so tests and examples read exactly
what ``precompute-logits`` would write.  It needs ``node`` and a built checkout
(``npm run build``: it imports ``dist/shard``); :func:`writer_unavailable` says why not.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

#: The repository checkout this client lives in (the writer is imported from its dist/).
REPO_ROOT = Path(os.environ.get("LOGIT_CACHE_REPO", Path(__file__).resolve().parents[3]))
WRITER_MODULE = REPO_ROOT / "dist" / "shard" / "index.js"
TOP_P_MODULE = REPO_ROOT / "dist" / "topk" / "top-p.js"


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (then float32), the teacher's T=1 log-probs."""
    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return (x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))).astype(np.float32)


def topk_from_logits(logits: np.ndarray, k: int):
    """Top-k ids (descending probability, ties by lower id) and their log-probs for [..., V] logits."""
    lp = log_softmax(logits)
    order = np.argsort(-lp, axis=-1, kind="stable")[..., :k]
    return order.astype(np.int64), np.take_along_axis(lp, order, axis=-1)


def writer_unavailable() -> Optional[str]:
    """Why :func:`write_dataset` cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not on PATH (datasets are written by the TypeScript writer)"
    if not WRITER_MODULE.is_file():
        return f"{WRITER_MODULE} is missing; run `npm run build` in {REPO_ROOT}"
    return None


# Reads one JSON job on stdin; typed arrays arrive base64-encoded little-endian.
_NODE_WRITER = r"""
import { pathToFileURL } from 'node:url';
let text = '';
for await (const chunk of process.stdin) text += chunk;
const job = JSON.parse(text);
const { DatasetWriter } = await import(pathToFileURL(job.module).href);
const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64')).buffer;
const w = new DatasetWriter({
  root: job.root, datasetId: job.datasetId, layout: job.layout, codec: job.codec,
  batchSize: job.batchSize, batchesPerShard: job.batchesPerShard, runConfig: {},
  ...(job.sharePrefixes ? { sharePrefixes: job.sharePrefixes } : {}),
});
// Ragged top-p layouts: the batches are trimmed by precompute's own trimmer first.
const topP = job.layout.topP === undefined ? null : await import(pathToFileURL(job.topPModule).href);
for (const b of job.batches) {
  const batch = {
    sampleIds: Array.from(new Float64Array(bytes(b.sampleIds))),
    offsets: new Int32Array(bytes(b.offsets)),
    inputIds: new Int32Array(bytes(b.inputIds)),
    topkIds: new Uint32Array(bytes(b.topkIds)),
    topkLogprobs: new Float32Array(bytes(b.topkLogprobs)),
    ...(b.tailLogprobs !== undefined ? { tailLogprobs: new Float32Array(bytes(b.tailLogprobs)) } : {}),
  };
  if (topP) {
    const tokens = batch.inputIds.length;
    batch.topkCounts = new Int32Array(tokens);
    topP.trimTopP(batch.topkIds, batch.topkLogprobs, batch.topkCounts, undefined, 0, tokens, job.layout.k, job.layout);
  }
  w.append(batch, b.sums);
}
w.finish({ teacher: job.teacher, source: job.source });
"""


def _b64(a: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def _stat_sums(chunk: Sequence[Mapping[str, Any]], k: int) -> Dict[str, float]:
    """The manifest's statistics inputs (as precompute computes them from the teacher)."""
    mass, hits, count = 0.0, 0, 0
    for s in chunk:
        mass += float(np.exp(np.asarray(s["topk_logprobs"], dtype=np.float64)).sum())
        top1 = np.asarray(s["topk_ids"]).reshape(-1, k)[:-1, 0]
        hits += int((top1 == np.asarray(s["input_ids"])[1:]).sum())
        count += len(top1)
    return {"tokens": sum(len(s["input_ids"]) for s in chunk), "massSum": mass, "top1Hits": hits, "top1Count": count}


def write_dataset(
    root: Union[str, os.PathLike],
    dataset_id: str,
    samples: Iterable[Mapping[str, Any]],
    *,
    k: int,
    values: str = "f32",
    codec: str = "lz4",
    batch_size: int = 4,
    batches_per_shard: int = 2,
    q8_scale: Optional[float] = None,
    f16_ranks: Optional[int] = None,
    grid_step: Optional[float] = None,
    ids: Optional[str] = None,
    vocab_size: int = 512,
    top_p: Optional[float] = None,
    min_k: int = 1,
    teacher: Optional[Dict[str, Any]] = None,
    source: Optional[Dict[str, Any]] = None,
    shard_format: str = "arrow",
    share_prefixes: Optional[int] = None,
) -> Path:
    """Write ``samples`` (dicts with sample_id, input_ids [L], topk_ids [L,k], topk_logprobs [L,k]
    float32, and in every sample or none topk_tail_logprob [L]: a tail-mass dataset, format 2.1) with the real TypeScript writer as dataset ``root/dataset_id``; returns its folder.

    The writer picks the id width from ``vocab_size`` (uint32 above 65,536) and encodes
    the values itself (``f32``, ``f16``, ``bf16``, ``q8``, ``rank-delta`` with ``f16_ranks`` and
    ``grid_step``) and the ids (``ids="ctx-table"``, format 2.4), exactly as precompute does.
    ``top_p`` (with ``min_k``) writes ragged top-p lists (format 2.3), trimmed by precompute's own trimmer.
    ``shard_format="parquet"`` writes Parquet shards (format 2.2), as ``precompute-logits --shard-format parquet`` does.
    ``share_prefixes=N`` stores shared prefixes of at least N tokens once per shard (format 2.5), as
    ``precompute-logits --share-prefixes N`` does; the writer picks the references itself.
    """
    why = writer_unavailable()
    if why:
        raise RuntimeError(f"cannot write a dataset: {why}")
    samples = list(samples)
    tail = bool(samples) and all("topk_tail_logprob" in s for s in samples)
    batches = []
    for first in range(0, len(samples), batch_size):
        chunk = samples[first : first + batch_size]
        lengths = [len(s["input_ids"]) for s in chunk]
        batches.append({
            "sampleIds": _b64(np.array([s["sample_id"] for s in chunk]), np.float64),
            "offsets": _b64(np.concatenate([[0], np.cumsum(lengths)]), np.int32),
            "inputIds": _b64(np.concatenate([np.asarray(s["input_ids"]).reshape(-1) for s in chunk]), np.int32),
            "topkIds": _b64(np.concatenate([np.asarray(s["topk_ids"]).reshape(-1) for s in chunk]), np.uint32),
            "topkLogprobs": _b64(np.concatenate([np.asarray(s["topk_logprobs"]).reshape(-1) for s in chunk]), np.float32),
            "sums": _stat_sums(chunk, k),
        })
        if tail:
            batches[-1]["tailLogprobs"] = _b64(np.concatenate([np.asarray(s["topk_tail_logprob"]).reshape(-1) for s in chunk]), np.float32)
    tokens = sum(len(s["input_ids"]) for s in samples)
    layout: Dict[str, Any] = {"k": k, "vocabSize": vocab_size, "values": values}
    if shard_format != "arrow":
        layout["shardFormat"] = shard_format
    if tail:
        layout["tailMass"] = True
    if values == "q8":
        layout["q8Scale"] = q8_scale if q8_scale is not None else 0.125
    if values == "rank-delta":
        layout["f16Ranks"] = k if f16_ranks is None else f16_ranks
        if grid_step is not None:
            layout["gridStep"] = grid_step
    if top_p is not None:
        layout["topP"] = top_p
        layout["minK"] = min_k
    if ids is not None:
        layout["ids"] = ids
    if share_prefixes:
        layout["sharedPrefixes"] = True
    job = {
        "module": str(WRITER_MODULE), "topPModule": str(TOP_P_MODULE), "root": str(root), "datasetId": dataset_id, "layout": layout, "codec": codec,
        "batchSize": batch_size, "batchesPerShard": batches_per_shard, "batches": batches, "sharePrefixes": share_prefixes,
        "teacher": teacher or {"file": "synthetic.onnx", "sha256": "0" * 64, "vocabSize": vocab_size},
        "source": source or {"file": "synthetic.jsonl", "sha256": "0" * 64, "samples": len(samples), "tokens": tokens},
    }
    proc = subprocess.run(["node", "--input-type=module", "-e", _NODE_WRITER], input=json.dumps(job),
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the TypeScript writer failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return Path(root) / dataset_id


def samples_from_logits(input_ids: Sequence[Sequence[int]], logits: Sequence[np.ndarray], k: int, first_id: int = 0,
                        tail_mass: bool = False):
    """Cache entries for sequences whose full teacher logits [L, V] are known; ``tail_mass`` adds
    each position's exact log probability outside the top-k (``topk_tail_logprob``, format 2.1)."""
    out = []
    for i, (ids, lg) in enumerate(zip(input_ids, logits)):
        tk, lp = topk_from_logits(np.asarray(lg)[: len(ids)], k)
        entry = {"sample_id": first_id + i, "input_ids": list(ids), "topk_ids": tk, "topk_logprobs": lp}
        if tail_mass:
            full = log_softmax(np.asarray(lg)[: len(ids)]).astype(np.float64)
            np.put_along_axis(full, tk, -np.inf, axis=-1)
            m = full.max(axis=-1, keepdims=True)
            entry["topk_tail_logprob"] = (m[..., 0] + np.log(np.exp(full - m).sum(axis=-1))).astype(np.float32)
        out.append(entry)
    return out


def load_token_sequences(jsonl: Union[str, os.PathLike], n: int, max_len: Optional[int] = None) -> List[List[int]]:
    """First ``n`` ``input_ids`` lists of a JSONL dataset, each cut to ``max_len`` tokens."""
    out: List[List[int]] = []
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if len(out) >= n:
                break
            if line.strip():
                ids = json.loads(line)["input_ids"]
                out.append(ids[:max_len] if max_len else ids)
    return out


def onnx_teacher_logits(model: Union[str, os.PathLike], sequences: Sequence[Sequence[int]], batch_size: int = 8) -> List[np.ndarray]:
    """Full logits [L, V] per sequence from an ONNX LM (input ``input_ids`` → ``logits``).

    Right-padded batches are fine for a causal model: real positions never see pads.
    Needs onnxruntime (the ``test`` extra); imported here so the client itself does not.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: exported models often carry unused initializers
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    out: List[np.ndarray] = []
    for i in range(0, len(sequences), batch_size):
        chunk = sequences[i : i + batch_size]
        width = max(len(s) for s in chunk)
        feed = np.zeros((len(chunk), width), dtype=np.int64)
        for r, s in enumerate(chunk):
            feed[r, : len(s)] = s
        (logits,) = sess.run(["logits"], {"input_ids": feed})
        out.extend(np.ascontiguousarray(logits[r, : len(s)], dtype=np.float32) for r, s in enumerate(chunk))
    return out
