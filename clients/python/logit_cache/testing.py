"""A small reference writer of format v1, for fixtures, benchmarks and cross-checks.

The production writer is the TypeScript one (src/shard).  This one exists so the
Python client can be tested before/without it and so tests can build odd datasets
(every value encoding, codecs, many shards) cheaply.  It computes batch offsets from
the written file's footer, exactly as a reader will locate them.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from . import __version__
from .batch import encode_logprobs
from .format import FORMAT_VERSION
from .ipc import read_footer_blocks

_VALUE_TYPES = {"f32": pa.float32(), "f16": pa.float16(), "bf16": pa.uint16(), "q8": pa.uint8()}
_INDEX_TYPES = {"uint16": (pa.uint16(), np.uint16), "uint32": (pa.uint32(), np.uint32)}
_CODECS = {"lz4": "lz4", "zstd": "zstd", "none": None}


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


def schema_for(k: int, values: str = "f32", index_type: str = "uint16", vocab_size: int = 512,
               q8_scale: Optional[float] = None, format_version: str = FORMAT_VERSION) -> pa.Schema:
    """The shard schema, with the same non-null fields and metadata keys the TypeScript writer uses."""
    def item(t: pa.DataType) -> pa.Field:
        return pa.field("item", t, nullable=False)

    meta = {
        "logit_cache.format_version": format_version,
        "logit_cache.k": str(k),
        "logit_cache.values": values,
        "logit_cache.vocab_size": str(vocab_size),
    }
    if values == "q8":
        meta["logit_cache.q8_scale"] = repr(q8_scale)
    return pa.schema(
        [
            pa.field("sample_id", pa.uint64(), nullable=False),
            pa.field("input_ids", pa.list_(item(pa.int32())), nullable=False),
            pa.field("topk_ids", pa.list_(item(pa.list_(item(_INDEX_TYPES[index_type][0]), k))), nullable=False),
            pa.field("topk_logprobs", pa.list_(item(pa.list_(item(_VALUE_TYPES[values]), k))), nullable=False,
                     metadata={"logit_cache.values": values}),
        ],
        metadata=meta,
    )


def _record_batch(samples: Sequence[Mapping[str, Any]], schema: pa.Schema, k: int, values: str, index_type: str, q8_scale):
    lengths = [len(s["input_ids"]) for s in samples]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    ids = np.concatenate([np.asarray(s["input_ids"], dtype=np.int32) for s in samples])
    tk = np.concatenate([np.asarray(s["topk_ids"]).reshape(-1, k) for s in samples]).astype(_INDEX_TYPES[index_type][1])
    lp = np.concatenate([np.asarray(s["topk_logprobs"], dtype=np.float32).reshape(-1, k) for s in samples])
    enc = encode_logprobs(lp, values, q8_scale)
    vt = _VALUE_TYPES[values]
    types = [f.type for f in schema]
    cols = [
        pa.array(np.array([s["sample_id"] for s in samples], dtype=np.uint64)),
        pa.ListArray.from_arrays(offsets, pa.array(ids), type=types[1]),
        pa.ListArray.from_arrays(offsets, pa.FixedSizeListArray.from_arrays(pa.array(tk.reshape(-1)), type=types[2].value_type), type=types[2]),
        pa.ListArray.from_arrays(offsets, pa.FixedSizeListArray.from_arrays(pa.array(enc.reshape(-1), type=vt), type=types[3].value_type), type=types[3]),
    ]
    return pa.record_batch(cols, schema=schema)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_dataset(
    root: Union[str, os.PathLike],
    dataset_id: str,
    samples: Iterable[Mapping[str, Any]],
    *,
    k: int,
    values: str = "f32",
    index_type: str = "uint16",
    codec: str = "lz4",
    batch_size: int = 4,
    batches_per_shard: int = 2,
    q8_scale: Optional[float] = None,
    vocab_size: int = 512,
    format_version: str = FORMAT_VERSION,
    teacher: Optional[Dict[str, Any]] = None,
    source: Optional[Dict[str, Any]] = None,
) -> Path:
    """Write ``samples`` (dicts with sample_id, input_ids [L], topk_ids [L,k], topk_logprobs [L,k]
    float32) as a v1 dataset at ``root/dataset_id``; returns the dataset folder.

    Shard files go through tmp + rename and the manifest is written last, like the
    real writer, so a crash never leaves something that looks like a dataset.
    """
    if values == "q8" and q8_scale is None:
        q8_scale = 1.0 / 8.0
    samples = list(samples)
    out = Path(root) / dataset_id
    (out / "shards").mkdir(parents=True, exist_ok=True)
    schema = schema_for(k, values, index_type, vocab_size, q8_scale, format_version)
    batches = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    options = ipc.IpcWriteOptions(compression=_CODECS[codec])
    shards: List[Dict[str, Any]] = []
    mass_sum, agree, agree_n = 0.0, 0, 0
    for s in samples:
        lp = np.asarray(s["topk_logprobs"], dtype=np.float64).reshape(-1, k)
        mass_sum += float(np.exp(lp).sum())
        ids = np.asarray(s["input_ids"])
        top1 = np.asarray(s["topk_ids"]).reshape(-1, k)[:-1, 0]
        agree += int((top1 == ids[1:]).sum())
        agree_n += len(top1)
    first_sample = 0
    for si, first in enumerate(range(0, len(batches), batches_per_shard)):
        group = batches[first : first + batches_per_shard]
        rel = f"shards/shard-{si:06d}.arrow"
        tmp = out / (rel + ".tmp")
        with ipc.new_file(str(tmp), schema, options=options) as w:
            for g in group:
                w.write_batch(_record_batch(g, schema, k, values, index_type, q8_scale))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out / rel)
        data = (out / rel).read_bytes()
        blocks = read_footer_blocks(data, rel)
        entries = []
        for blk, g in zip(blocks, group):
            entries.append(
                {
                    "offset": blk.offset,
                    "length": blk.length,
                    "sha256": hashlib.sha256(data[blk.offset : blk.offset + blk.length]).hexdigest(),
                    "samples": len(g),
                    "tokens": int(sum(len(s["input_ids"]) for s in g)),
                }
            )
        n_samples = sum(e["samples"] for e in entries)
        shards.append(
            {
                "file": rel,
                "firstBatch": first,
                "batchCount": len(group),
                "firstSample": first_sample,
                "sampleCount": n_samples,
                "tokens": sum(e["tokens"] for e in entries),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                # bytes of the schema message between the 8-byte magic and the first batch
                "schemaLength": blocks[0].offset - 8,
                "batches": entries,
            }
        )
        first_sample += n_samples
    tokens = sum(s["tokens"] for s in shards)
    topk: Dict[str, Any] = {"k": k, "values": values, "indexType": index_type, "temperature": 1}
    if values == "q8":
        topk["q8Scale"] = q8_scale
    manifest = {
        "formatVersion": format_version,
        "datasetId": dataset_id,
        "generator": {"name": "logit_cache.testing", "version": __version__},
        "teacher": teacher or {"file": "synthetic.onnx", "sha256": "0" * 64, "vocabSize": vocab_size},
        "source": source or {"file": "synthetic.jsonl", "sha256": "0" * 64, "samples": len(samples), "tokens": tokens},
        "topk": topk,
        "codec": codec,
        "batchSize": batch_size,
        "batchesPerShard": batches_per_shard,
        "batchCount": len(batches),
        "sampleCount": len(samples),
        "tokenCount": tokens,
        "shards": shards,
        "stats": {
            "bytesPerToken": (sum(s["bytes"] for s in shards) / tokens) if tokens else 0.0,
            "meanTopkMass": mass_sum / tokens if tokens else 0.0,
            "top1Agreement": agree / agree_n if agree_n else 0.0,
        },
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, out / "manifest.json")
    return out


def samples_from_logits(input_ids: Sequence[Sequence[int]], logits: Sequence[np.ndarray], k: int, first_id: int = 0):
    """Cache entries for sequences whose full teacher logits [L, V] are known."""
    out = []
    for i, (ids, lg) in enumerate(zip(input_ids, logits)):
        tk, lp = topk_from_logits(np.asarray(lg)[: len(ids)], k)
        out.append({"sample_id": first_id + i, "input_ids": list(ids), "topk_ids": tk, "topk_logprobs": lp})
    return out


def serve_slice(dataset_dir: Union[str, os.PathLike], batch: int) -> tuple:
    """(body, sha256) exactly as the v1 server answers ``GET /logits/{id}/{batch}``:
    the shard's schema message, the batch's message bytes, and end-of-stream."""
    from .format import load_manifest
    from .ipc import EOS, scan_messages

    d = Path(dataset_dir)
    m = load_manifest(d)
    shard, blk = m.locate(batch)
    data = (d / shard.file).read_bytes()
    kind, off, length = scan_messages(data)[0]
    assert kind == "schema", kind
    batch_bytes = data[blk.offset : blk.offset + blk.length]
    return data[off : off + length] + batch_bytes + EOS, blk.sha256


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
