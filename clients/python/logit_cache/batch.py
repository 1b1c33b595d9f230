"""Turn one decoded record batch into right-padded torch tensors.

This is the hot path of every reader, so it is vectorized: the list offsets of
``input_ids`` give each token's (row, column) once, and every column is scattered
into its padded output with a single fancy-index assignment.  No Python loop runs
per sample or per token.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import pyarrow as pa
import torch

from . import encodings
from .errors import FormatError, ShardCorruptError
from .manifest import Manifest, TopkInfo

#: Fill for ``topk_logprobs`` at padding positions.  -inf is "probability 0", so a loss
#: that forgets the mask fails loudly (NaN/inf) instead of learning from padding; the
#: losses in :mod:`logit_cache.losses` mask before using the values.
LOGPROB_PAD = float("-inf")

_VALUE_TYPES = {"f32": pa.float32(), "f16": pa.float16(), "bf16": pa.uint16(), "q8": pa.uint8()}
_INDEX_TYPES = {"uint16": pa.uint16(), "uint32": pa.uint32()}


def decode_logprobs(values: np.ndarray, topk: TopkInfo) -> np.ndarray:
    """Value encoding → float32 log-probabilities (a new array; inputs may be read-only maps)."""
    enc = topk.values
    if enc == "f32":
        return values.astype(np.float32, copy=True)
    if enc == "f16":
        return values.astype(np.float32)
    if enc == "bf16":
        # bfloat16 is the top half of a float32: widen the bits and reinterpret.
        return (values.astype(np.uint32) << np.uint32(16)).view(np.float32)
    if enc == "q8":
        return values.astype(np.float32) * np.float32(-(topk.q8_scale or 0.0))
    raise FormatError(f"unknown value encoding {enc!r}")


def encode_logprobs(logprobs: np.ndarray, values: str, q8_scale: Optional[float] = None) -> np.ndarray:
    """float32 log-probabilities → stored encoding (the writer's side; used by fixtures).

    bf16 rounds to nearest-even so that decode(encode(x)) is the closest bfloat16.
    q8 rounds to nearest and saturates at 255 (log-probs below -255·scale clip there).
    """
    lp = np.ascontiguousarray(logprobs, dtype=np.float32)
    if values == "f32":
        return lp
    if values == "f16":
        return lp.astype(np.float16)
    if values == "bf16":
        bits = lp.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        # Keep infinities/NaN exact instead of letting the rounding carry into them.
        special = ~np.isfinite(lp)
        rounded[special] = bits[special] >> 16
        return rounded.astype(np.uint16)
    if values == "q8":
        if not q8_scale or q8_scale <= 0:
            raise ValueError(f"q8 encoding needs q8_scale > 0, got {q8_scale!r}")
        q = np.rint(np.nan_to_num(-lp / q8_scale, posinf=255.0))
        return np.clip(q, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown value encoding {values!r}; expected one of {tuple(_VALUE_TYPES)}")


def _list_parts(col: pa.Array, name: str, where: str):
    """(normalized offsets, flattened child) of a list column, honouring slices."""
    if not isinstance(col, pa.ListArray):
        raise FormatError(f"{where}: column {name} must be list<...>, got {col.type}")
    if col.null_count:
        raise FormatError(f"{where}: column {name} has {col.null_count} null rows")
    offsets = col.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    return offsets - offsets[0], col.flatten()


def _fixed_values(child: pa.Array, name: str, k: int, expected: pa.DataType, where: str) -> np.ndarray:
    if not isinstance(child, pa.FixedSizeListArray) or child.type.list_size != k:
        raise FormatError(f"{where}: column {name} must be list<fixed_size_list<{expected}, {k}>>, got list<{child.type}>")
    if child.type.value_type != expected:
        raise FormatError(f"{where}: column {name} holds {child.type.value_type}, manifest says {expected}")
    flat = child.flatten()
    if flat.null_count:
        raise FormatError(f"{where}: column {name} has {flat.null_count} null values")
    if len(flat) != len(child) * k:
        raise FormatError(f"{where}: column {name} has {len(flat)} values for {len(child)} positions × k={k}")
    return flat.to_numpy(zero_copy_only=False).reshape(len(child), k)


def spread_kept(flat: np.ndarray, inner: np.ndarray, k: int, fill, dtype) -> np.ndarray:
    """Ragged kept entries (``flat``, position t owning ``flat[inner[t]:inner[t+1]]``) → [T, k]
    with ``fill`` past each position's count.  One fancy-index assignment, no Python loop."""
    counts = np.diff(inner)
    out = np.full((len(counts), k), fill, dtype=dtype)
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    cols = np.arange(int(inner[-1]), dtype=np.int64) - np.repeat(inner[:-1], counts)
    out[rows, cols] = flat
    return out


def ragged_parts(child: pa.Array, name: str, topk: TopkInfo, expected: pa.DataType, where: str):
    """(inner offsets [T+1] from 0, kept values) of a ragged top-p column's per-position lists
    (format 2.3: ``list<list<T>>``), each count checked to lie in [min_k, k]."""
    if not isinstance(child, pa.ListArray):
        raise FormatError(f"{where}: column {name} must be list<list<{expected}>> (ragged top-p lists, manifest topk.topP), got list<{child.type}>")
    if child.type.value_type != expected:
        raise FormatError(f"{where}: column {name} holds {child.type.value_type}, manifest says {expected}")
    inner = child.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    inner = inner - inner[0]
    counts = np.diff(inner)
    lo, hi = topk.min_k or 1, topk.k
    if len(counts) and (counts.min() < lo or counts.max() > hi):
        t = int(np.flatnonzero((counts < lo) | (counts > hi))[0])
        raise FormatError(f"{where}: column {name} position {t} keeps {int(counts[t])} entries; top-p lists keep {lo}..{hi}")
    flat = child.flatten()
    if flat.null_count:
        raise FormatError(f"{where}: column {name} has {flat.null_count} null values")
    return inner, flat.to_numpy(zero_copy_only=False)


def record_batch_to_tensors(
    rb: pa.RecordBatch,
    topk: TopkInfo,
    where: str = "batch",
    pad_to: Optional[int] = None,
    logprob_fill: float = LOGPROB_PAD,
) -> Dict[str, torch.Tensor]:
    """Decode a record batch into padded tensors.

    Returns ``input_ids`` [B,S] int64 (pad 0), ``attention_mask`` [B,S] int64,
    ``topk_ids`` [B,S,k] int64 (pad 0), ``topk_logprobs`` [B,S,k] float32 (pad
    ``logprob_fill``), ``sample_id`` [B] int64, and for tail-mass datasets (format 2.1)
    ``topk_tail_logprob`` [B,S] float32 (pad ``logprob_fill``).  ``pad_to`` fixes S (for static shapes).
    Ragged top-p datasets (format 2.3) keep the same [B,S,k] shapes, each position padded past
    its kept count (ids 0, log-probs -inf whatever ``logprob_fill``), and add ``topk_counts`` [B,S] int64.
    """
    # rank-delta (docs/FORMAT.md §4.1) stores the log-probabilities as byte planes instead.
    encoded = encodings.is_encoded(rb.schema, where)
    for name in ("sample_id", "input_ids", "topk_ids") + (() if encoded else ("topk_logprobs",)):
        if rb.schema.get_field_index(name) < 0:
            raise FormatError(f"{where}: missing column {name!r}; has {rb.schema.names}")
    k = topk.k
    n_rows = rb.num_rows

    sid = rb.column("sample_id")
    if sid.type != pa.uint64() or sid.null_count:
        raise FormatError(f"{where}: sample_id must be non-null uint64, got {sid.type} with {sid.null_count} nulls")
    sample_id = sid.to_numpy(zero_copy_only=False).astype(np.int64)

    offsets, ids_child = _list_parts(rb.column("input_ids"), "input_ids", where)
    if ids_child.type != pa.int32():
        raise FormatError(f"{where}: input_ids must be list<int32>, got list<{ids_child.type}>")
    lengths = np.diff(offsets)
    total = int(offsets[-1])
    seq = int(lengths.max()) if n_rows else 0
    if pad_to is not None:
        if pad_to < seq:
            raise ValueError(f"{where}: pad_to={pad_to} is shorter than the longest sample ({seq} tokens)")
        seq = pad_to

    tk_offsets, tk_child = _list_parts(rb.column("topk_ids"), "topk_ids", where)
    lp_offsets, lp_child = (tk_offsets, None) if encoded else _list_parts(rb.column("topk_logprobs"), "topk_logprobs", where)
    for name, off in (("topk_ids", tk_offsets), ("topk_logprobs", lp_offsets)):
        if not np.array_equal(off, offsets):
            bad = int(np.flatnonzero(np.diff(off) != lengths)[0]) if len(off) == len(offsets) else -1
            raise FormatError(f"{where}: column {name} list lengths differ from input_ids (first at row {bad})")
    inner = None
    if topk.ragged:
        # Format 2.3: each position keeps its own count; spread back to k with the padding.
        inner, ids_kept = ragged_parts(tk_child, "topk_ids", topk, _INDEX_TYPES[topk.index_type], where)
        topk_ids_flat = spread_kept(ids_kept, inner, k, 0, np.int64)
    else:
        topk_ids_flat = _fixed_values(tk_child, "topk_ids", k, _INDEX_TYPES[topk.index_type], where)
    if encoded:
        decoded = encodings.decode_topk(rb, k, where, inner)[1]
        if decoded is None or decoded.shape != (total, k):
            raise FormatError(f"{where}: encoded log-probabilities decode to {None if decoded is None else decoded.shape}, expected {(total, k)}")
        if inner is not None:
            decoded[np.arange(k)[None, :] >= np.diff(inner)[:, None]] = LOGPROB_PAD
    elif inner is not None:
        lp_inner, lp_kept = ragged_parts(lp_child, "topk_logprobs", topk, _VALUE_TYPES[topk.values], where)
        if not np.array_equal(lp_inner, inner):
            t = int(np.flatnonzero(np.diff(lp_inner) != np.diff(inner))[0]) if len(lp_inner) == len(inner) else -1
            raise FormatError(f"{where}: column topk_logprobs keeps another count than topk_ids (first at position {t})")
        decoded = spread_kept(decode_logprobs(lp_kept, topk), inner, k, LOGPROB_PAD, np.float32)
    else:
        decoded = decode_logprobs(_fixed_values(lp_child, "topk_logprobs", k, _VALUE_TYPES[topk.values], where), topk)

    # Destination of token j of the flattened batch: row r, column j - offsets[r].
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    dest = rows * seq + (np.arange(total, dtype=np.int64) - offsets[rows])

    input_ids = np.zeros(n_rows * seq, dtype=np.int64)
    input_ids[dest] = ids_child.to_numpy(zero_copy_only=False)
    mask = np.zeros(n_rows * seq, dtype=np.int64)
    mask[dest] = 1
    topk_ids = np.zeros((n_rows * seq, k), dtype=np.int64)
    topk_ids[dest] = topk_ids_flat
    logprobs = np.full((n_rows * seq, k), logprob_fill, dtype=np.float32)
    logprobs[dest] = decoded

    out = {
        "input_ids": torch.from_numpy(input_ids.reshape(n_rows, seq)),
        "attention_mask": torch.from_numpy(mask.reshape(n_rows, seq)),
        "topk_ids": torch.from_numpy(topk_ids.reshape(n_rows, seq, k)),
        "topk_logprobs": torch.from_numpy(logprobs.reshape(n_rows, seq, k)),
        "sample_id": torch.from_numpy(sample_id),
    }
    if inner is not None:
        counts = np.zeros(n_rows * seq, dtype=np.int64)
        counts[dest] = np.diff(inner)
        out[COUNTS_KEY] = torch.from_numpy(counts.reshape(n_rows, seq))
    if getattr(topk, "tail_mass", False):
        out[TAIL_COLUMN] = torch.from_numpy(_tail_values(rb, offsets, dest, n_rows * seq, logprob_fill, where).reshape(n_rows, seq))
    return out


#: Ragged top-p datasets (format 2.3): per position, how many leading entries of ``topk_ids``
#: / ``topk_logprobs`` are real (the rest are padding: id 0, log-prob -inf); 0 at padded positions.
COUNTS_KEY = "topk_counts"


#: Format 2.1's optional column: per position, log of the teacher probability outside the top-k.
TAIL_COLUMN = "topk_tail_logprob"


def _tail_values(rb: pa.RecordBatch, offsets: np.ndarray, dest: np.ndarray, size: int, fill: float, where: str) -> np.ndarray:
    """``topk_tail_logprob`` (list<float32>, one per token) scattered to padded positions."""
    if rb.schema.get_field_index(TAIL_COLUMN) < 0:
        raise FormatError(f"{where}: manifest says topk.tailMass but the shard has no {TAIL_COLUMN!r} column; has {rb.schema.names}")
    tail_offsets, child = _list_parts(rb.column(TAIL_COLUMN), TAIL_COLUMN, where)
    if not np.array_equal(tail_offsets, offsets):
        raise FormatError(f"{where}: column {TAIL_COLUMN} list lengths differ from input_ids")
    if child.type != pa.float32() or child.null_count:
        raise FormatError(f"{where}: column {TAIL_COLUMN} must be list<float32> without nulls, got list<{child.type}>")
    values = np.full(size, fill, dtype=np.float32)
    values[dest] = child.to_numpy(zero_copy_only=False)
    return values


def checked_tensors(
    rb: pa.RecordBatch, manifest: Manifest, where: str, pad_to: Optional[int], logprob_fill: float,
    expected_tokens: Optional[int] = None,
) -> Dict[str, torch.Tensor]:
    """:func:`record_batch_to_tensors`, with the token count the writer recorded (the
    shard index's, when the reader has it) re-checked after decoding (both readers)."""
    out = record_batch_to_tensors(rb, manifest.topk, where, pad_to, logprob_fill)
    if expected_tokens is not None:
        tokens = len(rb.column("input_ids").flatten())  # cheaper than summing the mask
        if tokens != expected_tokens:
            raise ShardCorruptError(f"{where}: {tokens} tokens but the shard index says {expected_tokens}")
    return out
