"""Decoding of the encoded top-k columns (docs/FORMAT.md §4.1, ``rank-delta``).

A shard whose schema metadata says ``logit_cache.values = "rank-delta"`` stores the
log-probabilities as two byte-plane columns ``topk_logprobs_p0``/``_p1`` instead of
``topk_logprobs``.  A shard whose schema says ``logit_cache.ids = "ctx-table"`` (format 2.4,
§4.2) stores one-byte id codes ``topk_id_codes`` and escaped ids ``topk_id_literals`` instead of
``topk_ids``, resolved against a per-shard table in the schema metadata; any other id encoding is
refused by name.  Everything here is vectorized numpy: no Python loop runs per sample or per token.

Hook for the readers: ``is_encoded(rb.schema)`` says whether a record batch needs this
module; ``decode_topk(rb, k, where)`` returns ``(topk_ids, topk_logprobs)``, each
[T, k] over the batch's flattened positions (the order of ``input_ids.flatten()``) or None
where that part is the classic column.
"""
from __future__ import annotations

import functools

from typing import List, Optional, Tuple

import numpy as np
import pyarrow as pa

from .errors import FormatError

#: Value encodings this module decodes (the classic f32/f16/bf16/q8 are read as plain columns).
VALUE_ENCODINGS = ("rank-delta",)
#: Id encodings: "plain" is the classic ``topk_ids`` column; "ctx-table" is §4.2.
ID_ENCODINGS = ("plain", "ctx-table")
CLASSIC_VALUES = ("f32", "f16", "bf16", "q8")

META_VALUES = b"logit_cache.values"
META_IDS = b"logit_cache.ids"
META_F16_RANKS = b"logit_cache.f16_ranks"
META_GRID_STEP = b"logit_cache.grid_step"
META_IDS_TABLE = b"logit_cache.ids_table"
META_IDS_TABLE_SIZE = b"logit_cache.ids_table_size"
META_VOCAB = b"logit_cache.vocab_size"
CTX_ROW_MAX = 254
CODE_NEXT = 0
CODE_ESCAPE = 255
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

    None for a part stored as the classic column (read it as before).
    ``inner``: the kept-entry offsets of a ragged top-p batch (format 2.3); entries past a
    position's count are then unspecified (the caller pads them)."""
    values, id_encoding = encodings_of(rb.schema, where)
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
    if id_encoding == "ctx-table":
        ids = decode_ctx_columns(rb, k, where)
    return ids, logprobs


def _ctx_table(text: bytes, size: int, vocab: int, where: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(contexts, lengths, starts, entries) of a serialised ctx-table table, checked (§4.2).

    Parsed once per distinct table (every batch of a shard carries the same one); errors name ``where``."""
    try:
        return _parse_ctx_table(text, size, vocab)
    except ValueError as e:
        raise FormatError(f"{where}: ctx-table ids table {e}") from None


@functools.lru_cache(maxsize=8)
def _parse_ctx_table(text: bytes, size: int, vocab: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import base64

    def bad(why: str):
        raise ValueError(why)

    if size < 4 or size % 4:
        bad(f"size {size} is not a positive multiple of 4")
    # At most one row per token id, 254 entries each: a larger size is refused before allocating.
    if size > 4 * (1 + 256 * vocab):
        bad(f"size {size} exceeds what a vocabulary of {vocab} allows")
    try:
        raw = pa.Codec("zstd").decompress(base64.b64decode(text, validate=True), decompressed_size=size, asbytes=True)
    except Exception as e:  # pyarrow raises OSError / ValueError on a corrupt frame
        bad(f"does not decompress ({e})")
    if len(raw) != size:
        bad(f"holds {len(raw)} bytes, metadata says {size}")
    words = np.frombuffer(raw, dtype="<u4").astype(np.int64)
    n = int(words[0])
    if 1 + 2 * n > len(words):
        bad(f"names {n} contexts but holds {len(words)} words")
    contexts, lengths, entries = words[1:1 + n], words[1 + n:1 + 2 * n], words[1 + 2 * n:]
    if n and (np.any(np.diff(contexts) <= 0)):
        bad("contexts not strictly increasing")
    if np.any((lengths < 1) | (lengths > CTX_ROW_MAX)):
        bad(f"has a row outside 1..{CTX_ROW_MAX} entries")
    if int(lengths.sum()) != len(entries):
        bad(f"rows sum to {int(lengths.sum())} entries, holds {len(entries)}")
    if len(entries) and int(entries.max()) >= vocab:
        bad(f"holds id {int(entries.max())}, outside the vocabulary of {vocab}")
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if n else np.zeros(0, np.int64)
    for a in (contexts, lengths, starts, entries):
        a.setflags(write=False)
    return contexts, lengths, starts, entries


def decode_ctx_table(codes: np.ndarray, literals: np.ndarray, literal_counts: np.ndarray, input_ids: np.ndarray,
                     sample_offsets: np.ndarray, table, vocab: int, where: str = "batch") -> np.ndarray:
    """Ids [T, k] int64 from ctx-table codes [T, k] (uint8; the column stores them rank-major,
    see decode_ctx_columns), per-sample escaped ids and the shard's table.

    Vectorized: the row of each position's input token by searchsorted, then gathers."""
    contexts, lengths, starts, entries = table
    t, k = codes.shape
    x = input_ids.astype(np.int64)
    # Next input token of each position, -1 at a sample's last position.
    nxt = np.full(t, -1, dtype=np.int64)
    nxt[:-1] = x[1:]
    ends = sample_offsets[1:][np.diff(sample_offsets) > 0] - 1
    nxt[ends] = -1
    # Row of each position's input token; positions whose token has no row get length 0.
    row = np.minimum(np.searchsorted(contexts, x), max(len(contexts) - 1, 0))
    found = contexts[row] == x if len(contexts) else np.zeros(t, dtype=bool)
    row_len = np.where(found, lengths[row], 0) if len(contexts) else np.zeros(t, np.int64)
    row_start = np.where(found, starts[row], 0) if len(contexts) else np.zeros(t, np.int64)
    c = codes.astype(np.int64)
    is_next, is_esc = c == CODE_NEXT, c == CODE_ESCAPE
    is_tab = ~(is_next | is_esc)
    if np.any(is_next & (nxt[:, None] < 0)):
        bad = np.argwhere(is_next & (nxt[:, None] < 0))[0]
        raise FormatError(f"{where}: token {bad[0]} rank {bad[1]} refers to the next input token, but it is the sample's last")
    entry = _excluded_entries(np.where(is_tab, c, 0))
    over = is_tab & (entry > row_len[:, None])
    if np.any(over):
        bad = np.argwhere(over)[0]
        raise FormatError(f"{where}: token {bad[0]} rank {bad[1]} has code {c[bad[0], bad[1]]} (entry {entry[bad[0], bad[1]]}), but the table row of input token {x[bad[0]]} holds {row_len[bad[0]]} ids")
    # One gather for every code (next-token and escape codes read a clipped, ignored entry), then
    # the next-token and escape codes patched in: whole-array passes, no boolean-mask gathers.
    ext = entries if len(entries) else np.zeros(1, np.int64)
    idx = row_start[:, None] + entry - 1
    np.clip(idx, 0, len(ext) - 1, out=idx)
    out = np.where(is_next, nxt[:, None], ext[idx])
    # Escapes in position order are the samples' literal lists, concatenated.
    cum = np.concatenate(([0], np.cumsum(is_esc.sum(axis=1))))
    esc_per_sample = cum[sample_offsets[1:]] - cum[sample_offsets[:-1]]
    if not np.array_equal(esc_per_sample, literal_counts):
        s = int(np.flatnonzero(esc_per_sample != literal_counts)[0])
        raise FormatError(f"{where}: sample {s} escapes {esc_per_sample[s]} ids but has {literal_counts[s]} literals")
    out[is_esc] = literals.astype(np.int64)
    if out.size and int(out.max()) >= vocab:
        raise FormatError(f"{where}: an id decodes to {int(out.max())}, outside the vocabulary of {vocab}")
    return out


def _excluded_entries(d: np.ndarray) -> np.ndarray:
    """Table codes [T, k] (0 where a rank is not table-coded) -> entry positions (1-based).

    Rank r's code d is the d-th row position that no lower table-coded rank of the same position
    took (§4.2). Ranks are resolved in lockstep over all positions, keeping each position's taken
    entries sorted (S, padded with a large value): with j lower entries below the answer,
    p = d + j, where j = #{i : S[i] - 1 - i < d} (the free positions below S[i] number S[i] - 1 - i,
    which never decreases with i); p is then inserted at column j."""
    t, k = d.shape
    big = np.int16(1000)
    taken = np.full((t, k), big, dtype=np.int16)
    entry = np.zeros((t, k), dtype=np.int64)
    d16 = d.astype(np.int16)
    free_below = np.zeros((t, k), dtype=np.int16)  # S[i] - 1 - i over the filled columns
    cols = np.arange(k, dtype=np.int16)
    for r in range(k):
        dr = d16[:, r]
        j = (free_below[:, :r] < dr[:, None]).sum(axis=1, dtype=np.int16) if r else np.zeros(t, np.int16)
        p = dr + j
        coded = dr > 0
        entry[:, r] = np.where(coded, p, 0)
        # Insert p at column j of the coded rows: columns >= j move one to the right.
        w = r + 1
        c = cols[:w]
        prev = taken[:, :w]
        right = np.concatenate([prev[:, :1], prev[:, : w - 1]], axis=1)
        ins = np.where(c < j[:, None], prev, np.where(c == j[:, None], p[:, None], right))
        taken[:, :w] = np.where(coded[:, None], ins, prev)
        free_below[:, :w] = taken[:, :w] - 1 - c
    return entry


def decode_ctx_columns(rb: pa.RecordBatch, k: int, where: str = "batch") -> np.ndarray:
    """Ids [T, k] int64 of a ctx-table record batch (columns topk_id_codes, topk_id_literals)."""
    meta = _meta(rb.schema)
    text, size = meta.get(META_IDS_TABLE), _text(meta, META_IDS_TABLE_SIZE)
    if text is None or size is None:
        raise FormatError(f"{where}: ctx-table shard without {META_IDS_TABLE.decode()}")
    vocab = int(_text(meta, META_VOCAB, "0"))
    table = _ctx_table(text, int(size), vocab, where)
    offsets = _input_offsets(rb)
    lengths = np.diff(offsets)
    col = rb.column("topk_id_codes")
    if not isinstance(col, pa.ListArray) or col.null_count or not np.array_equal(np.diff(col.offsets.to_numpy(zero_copy_only=False)), lengths):
        raise FormatError(f"{where}: topk_id_codes must be a non-null list column with the lengths of input_ids")
    child = col.flatten()
    if not isinstance(child, pa.FixedSizeListArray) or child.type.list_size != k or child.type.value_type != pa.uint8():
        raise FormatError(f"{where}: topk_id_codes must be list<fixed_size_list<uint8, {k}>>, got list<{child.type}>")
    # Rank-major over the batch: all tokens' rank-0 codes, then rank 1, ...
    codes = child.flatten().to_numpy(zero_copy_only=False).reshape(k, len(child)).T
    lit = rb.column("topk_id_literals")
    if not isinstance(lit, pa.ListArray) or lit.null_count or len(lit) != len(lengths):
        raise FormatError(f"{where}: topk_id_literals must be a non-null list column, one row per sample")
    counts = np.diff(lit.offsets.to_numpy(zero_copy_only=False)).astype(np.int64)
    literals = lit.flatten().to_numpy(zero_copy_only=False)
    x = rb.column("input_ids").flatten().to_numpy(zero_copy_only=False)
    return decode_ctx_table(codes, literals, counts, x, offsets, table, vocab, where)
