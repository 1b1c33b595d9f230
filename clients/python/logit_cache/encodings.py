"""Decoding of the encoded top-k columns (docs/FORMAT.md §4.1, ``rank-delta``).

A shard whose schema metadata says ``logit_cache.values = "rank-delta"`` stores the
log-probabilities as two byte-plane columns ``topk_logprobs_p0``/``_p1`` instead of
``topk_logprobs``.  Ids are always the classic ``topk_ids`` column; a schema naming another
id encoding (``logit_cache.ids``) is refused by name.  Everything here is vectorized numpy:
no Python loop runs per sample or per token.

Hook for the readers: ``is_encoded(rb.schema)`` says whether a record batch needs this
module; ``decode_topk(rb, k, where)`` returns ``(topk_ids, topk_logprobs)``, each
[T, k] over the batch's flattened positions (the order of ``input_ids.flatten()``) or None
where that part is the classic column (ids always, so far).
"""
from __future__ import annotations

import functools

from typing import List, Optional, Tuple

import numpy as np
import pyarrow as pa

from .errors import FormatError

#: Value encodings this module decodes (the classic f32/f16/bf16/q8 are read as plain columns).
VALUE_ENCODINGS = ("rank-delta",)
#: Id encodings: "plain" is the classic ``topk_ids`` column (the only one so far).
ID_ENCODINGS = ("plain",)
CLASSIC_VALUES = ("f32", "f16", "bf16", "q8")

META_VALUES = b"logit_cache.values"
META_IDS = b"logit_cache.ids"
META_F16_RANKS = b"logit_cache.f16_ranks"
META_GRID_STEP = b"logit_cache.grid_step"
VALUE_PREFIX = "topk_logprobs_p"


def _meta(schema: pa.Schema) -> dict:
    return schema.metadata or {}


def _text(meta: dict, key: bytes, default: Optional[str] = None) -> Optional[str]:
    v = meta.get(key)
    return v.decode() if v is not None else default


def encodings_of(schema: pa.Schema, where: str = "shard") -> Tuple[str, str]:
    """(values, ids) encodings a shard schema declares; refuses unknown ones by name."""
    meta = _meta(schema)
    values = _text(meta, META_VALUES, "")
    ids = _text(meta, META_IDS, "plain")
    if values not in CLASSIC_VALUES + VALUE_ENCODINGS:
        raise FormatError(f"{where}: unknown value encoding {values!r}; this client reads {CLASSIC_VALUES + VALUE_ENCODINGS}")
    if ids not in ID_ENCODINGS:
        raise FormatError(f"{where}: unknown id encoding {ids!r}; this client reads {ID_ENCODINGS}")
    return values, ids


def is_encoded(schema: pa.Schema, where: str = "shard") -> bool:
    values, ids = encodings_of(schema, where)
    return values in VALUE_ENCODINGS or ids != "plain"


def _input_offsets(rb: pa.RecordBatch) -> np.ndarray:
    off = rb.column("input_ids").offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    return off - off[0]


def _planes(rb: pa.RecordBatch, prefix: str, k: int, where: str, inner: Optional[np.ndarray] = None) -> List[np.ndarray]:
    lengths = np.diff(_input_offsets(rb))
    names = sorted((n for n in rb.schema.names if n.startswith(prefix)), key=lambda n: int(n[len(prefix):]))
    if not names or names != [f"{prefix}{i}" for i in range(len(names))]:
        raise FormatError(f"{where}: byte-plane columns {prefix}0.. missing or not numbered from 0; has {rb.schema.names}")
    out = []
    for name in names:
        col = rb.column(name)
        if not isinstance(col, pa.ListArray) or col.null_count:
            raise FormatError(f"{where}: column {name} must be a non-null list<fixed_size_list<uint8, {k}>>, got {col.type}")
        if not np.array_equal(np.diff(col.offsets.to_numpy(zero_copy_only=False)), lengths):
            raise FormatError(f"{where}: column {name} list lengths differ from input_ids")
        child = col.flatten()
        if inner is not None:
            out.append(_ragged_plane(child, name, k, inner, where))
            continue
        if not isinstance(child, pa.FixedSizeListArray) or child.type.list_size != k or child.type.value_type != pa.uint8():
            raise FormatError(f"{where}: column {name} must be list<fixed_size_list<uint8, {k}>>, got list<{child.type}>")
        out.append(child.flatten().to_numpy(zero_copy_only=False).reshape(len(child), k))
    if len({p.shape for p in out}) != 1:
        raise FormatError(f"{where}: byte planes {names} differ in length")
    return out


def _ragged_plane(child: pa.Array, name: str, k: int, inner: np.ndarray, where: str) -> np.ndarray:
    """A ragged top-p plane (format 2.3, ``list<list<uint8>>``) spread to [T, k] with zero
    deltas past each position's count: rank deltas depend only on earlier ranks, so the kept
    ranks decode exactly (the caller then pads them with -inf)."""
    if not isinstance(child, pa.ListArray) or child.type.value_type != pa.uint8():
        raise FormatError(f"{where}: column {name} must be list<list<uint8>> (ragged top-p lists), got list<{child.type}>")
    off = child.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    if not np.array_equal(off - off[0], inner):
        raise FormatError(f"{where}: column {name} keeps another count per position than topk_ids")
    counts = np.diff(inner)
    out = np.zeros((len(counts), k), dtype=np.uint8)
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    cols = np.arange(int(inner[-1]), dtype=np.int64) - np.repeat(inner[:-1], counts)
    out[rows, cols] = child.flatten().to_numpy(zero_copy_only=False)
    return out


def join_planes(planes: List[np.ndarray], dtype) -> np.ndarray:
    """Byte planes (least significant first) → one integer array."""
    acc = np.zeros(planes[0].shape, dtype=dtype)
    for i, p in enumerate(planes):
        acc |= p.astype(dtype) << dtype(8 * i)
    return acc


def decode_rank_delta(deltas: np.ndarray, f16_ranks: int, step: float) -> np.ndarray:
    """uint16 deltas [T, k] → float32 log-probs (rank-delta; see docs/FORMAT.md)."""
    t, k = deltas.shape
    out = np.empty((t, k), dtype=np.float32)
    if f16_ranks:
        # Running sums wrap modulo 2^16, as the writer's differences do.
        keys = np.cumsum(deltas[:, :f16_ranks], axis=1, dtype=np.uint16)
        halves = keys + np.uint16(0x8000)
        out[:, :f16_ranks] = halves.view(np.float16).astype(np.float32)
    if f16_ranks < k:
        q = np.cumsum(deltas[:, f16_ranks:], axis=1, dtype=np.uint16)
        out[:, f16_ranks:] = grid_table(step)[q]
    return out


@functools.lru_cache(maxsize=8)
def grid_table(step: float) -> np.ndarray:
    """float32 value of every grid index: the float64 product rounded once to float32 (the
    value the TypeScript reader computes).  A gather from it avoids a float64 temporary per batch."""
    table = (-(np.arange(1 << 16, dtype=np.float64) * step)).astype(np.float32)
    table.setflags(write=False)
    return table


def decode_topk(rb: pa.RecordBatch, k: int, where: str = "batch", inner: Optional[np.ndarray] = None) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """(ids [T, k] int64 or None, log-probs [T, k] float32 or None) of an encoded record batch.

    None for a part stored as the classic column (read it as before): ids, so far, always.
    ``inner``: the kept-entry offsets of a ragged top-p batch (format 2.3); entries past a
    position's count are then unspecified (the caller pads them)."""
    values, _ = encodings_of(rb.schema, where)
    meta = _meta(rb.schema)
    logprobs = ids = None
    if values == "rank-delta":
        f16_ranks = int(_text(meta, META_F16_RANKS, str(k)))
        step = float(_text(meta, META_GRID_STEP, "0"))
        if not 0 <= f16_ranks <= k or (f16_ranks < k and not step > 0):
            raise FormatError(f"{where}: rank-delta with f16_ranks={f16_ranks}, grid_step={step} (k={k})")
        planes = _planes(rb, VALUE_PREFIX, k, where, inner)
        if len(planes) != 2:
            raise FormatError(f"{where}: rank-delta needs 2 byte planes, got {len(planes)}")
        logprobs = decode_rank_delta(join_planes(planes, np.uint16), f16_ranks, step)
    return ids, logprobs
