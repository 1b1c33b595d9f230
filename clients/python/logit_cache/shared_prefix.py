"""Shared prefixes (format 2.5, docs/FORMAT.md §4.3): resolving a stored batch to full samples.

A shard whose schema says ``logit_cache.shared_prefixes = "1"`` has two per-sample columns,
``prefix_sample`` (uint64) and ``prefix_len`` (uint32).  A sample with ``prefix_len`` L > 0
stores only its positions [L, len): its first L positions are those of sample ``prefix_sample``
(the *owner*), an earlier root sample (L = 0) of the same shard whose ``input_ids`` start with
the same L tokens.  A causal teacher's output at position t depends only on ``input_ids[0..t]``,
so the owner's stored positions are this sample's too.

Resolution has two steps, both vectorised (numpy index arithmetic, zero-copy Arrow slices):

1. :func:`prepare` checks a verified stored batch's own references (types, L within the
   sample, L = 0 pointing at itself, owner earlier, per-position lists L shorter than
   ``input_ids``) and decodes ``ctx-table`` ids (§4.2) against the **suffix view**: a batch whose
   ``input_ids`` are each sample's tokens [L, len), so stored position i is position L + i and
   the table/next-token codes decode unchanged.  The ids become a plain ``topk_ids`` column,
   because ids, not codes, are what can be copied (code 0 at the owner's position L - 1 means the
   *owner's* next token, which differs from this sample's).
2. :func:`resolve` checks each reference against its owner (same shard, a root, long enough,
   equal prefix) and builds the full batch: every per-position column gathered from this batch's
   stored positions and the owners' positions [0, L), copying only those positions (slices of
   each source, one concatenation of the output's size per column).

The result is the record batch a format-2.4 writer would have written for these samples, with
ids plain (any value encoding, tail mass and ragged lists kept as stored, since they are
per-position), so the shared batch decoding (:mod:`logit_cache.batch`) takes it unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pyarrow as pa

from . import encodings
from .errors import FormatError, ShardCorruptError

META_SHARED_PREFIXES = b"logit_cache.shared_prefixes"
PREFIX_SAMPLE = "prefix_sample"
PREFIX_LEN = "prefix_len"
#: List columns with one list per sample rather than one entry per position.
PER_SAMPLE_LISTS = ("input_ids", "topk_id_literals")
#: Schema metadata keys that describe ctx-table ids; dropped once the ids are decoded to plain.
_CTX_KEYS = (encodings.META_IDS, encodings.META_IDS_TABLE, encodings.META_IDS_TABLE_SIZE)
_INDEX_TYPES = {"uint16": pa.uint16(), "uint32": pa.uint32()}


def shares_prefixes(metadata: Optional[Mapping[bytes, bytes]], where: str) -> bool:
    """Whether a shard schema's metadata declares shared prefixes; any value but ``"1"`` is refused by name."""
    value = (metadata or {}).get(META_SHARED_PREFIXES)
    if value is None:
        return False
    if value == b"1":
        return True
    raise FormatError(f"{where}: unknown {META_SHARED_PREFIXES.decode()} value {value.decode('utf-8', 'replace')!r}; "
                      "this client reads '1' (format 2.5 shared prefixes) or no key")


def _offsets(col: pa.Array) -> np.ndarray:
    off = col.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    return off - off[0]


def _per_position(schema: pa.Schema) -> List[str]:
    """Names of the per-position list columns (every list column but the per-sample ones)."""
    return [f.name for f in schema if pa.types.is_list(f.type) and f.name not in PER_SAMPLE_LISTS]


@dataclass(frozen=True)
class StoredBatch:
    """A verified stored batch of a shared-prefix shard, its own references checked and its ids
    plain: per-position lists still cover only positions [L, len) of each sample."""

    rb: pa.RecordBatch
    first: int  # sample id of row 0
    input_offsets: np.ndarray  # int64 from 0: full samples
    input_ids: np.ndarray  # flat input tokens
    prefix_len: np.ndarray  # int64 per row
    prefix_sample: np.ndarray  # int64 per row
    stored_offsets: np.ndarray  # int64 from 0: stored positions per row
    verified: bool = True

    @property
    def nbytes(self) -> int:
        """Memory it holds (Arrow buffers, memory-mapped ones included, and the numpy arrays)."""
        return self.rb.nbytes + sum(a.nbytes for a in (self.input_offsets, self.input_ids, self.prefix_len,
                                                        self.prefix_sample, self.stored_offsets))


def _plain_ids_field(index_type: pa.DataType, k: int) -> pa.Field:
    # The type a plain shard's topk_ids has (non-null items at both levels).
    inner = pa.list_(pa.field("item", index_type, nullable=False), k)
    return pa.field("topk_ids", pa.list_(pa.field("item", inner, nullable=False)), nullable=False)


def _suffix_view(rb: pa.RecordBatch, offsets: np.ndarray, flat: np.ndarray, prefix_len: np.ndarray,
                 stored_offsets: np.ndarray) -> pa.RecordBatch:
    """``rb`` with each sample's ``input_ids`` cut to its stored positions [L, len)."""
    lengths = np.diff(offsets)
    col = np.arange(len(flat), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    keep = col >= np.repeat(prefix_len, lengths)
    i = rb.schema.get_field_index("input_ids")
    suffix = pa.ListArray.from_arrays(pa.array(stored_offsets.astype(np.int32)), pa.array(flat[keep]),
                                      type=rb.schema.field(i).type)
    return rb.set_column(i, rb.schema.field(i), suffix)


def prepare(rb: pa.RecordBatch, k: int, index_type: str, first: int, where: str, verified: bool = True) -> StoredBatch:
    """Check a stored batch's own references and decode its ids against the suffix view.

    ``rb`` holds samples ``first ..`` in order (the caller has checked ``sample_id``).  Errors
    are :class:`ShardCorruptError` naming ``where`` (dataset, batch, shard) and the sample."""
    for name, typ in ((PREFIX_SAMPLE, pa.uint64()), (PREFIX_LEN, pa.uint32())):
        i = rb.schema.get_field_index(name)
        if i < 0 or rb.schema.field(i).type != typ or rb.column(i).null_count:
            raise ShardCorruptError(f"{where}: a shared-prefix shard needs a non-null {typ} column {name}; schema is {rb.schema}")
    raw_owner = rb.column(PREFIX_SAMPLE).to_numpy(zero_copy_only=False)
    # Sample ids stay below 2^53 (the writer counts them in doubles); bounded as uint64, before int64 arithmetic.
    if raw_owner.size and int(raw_owner.max()) >= 1 << 53:
        bad = int(np.flatnonzero(raw_owner >= 1 << 53)[0])
        raise ShardCorruptError(f"{where}: sample {first + bad}: prefix_sample {int(raw_owner[bad])} is not a sample id")
    owner = raw_owner.astype(np.int64)
    plen = rb.column(PREFIX_LEN).to_numpy(zero_copy_only=False).astype(np.int64)
    inputs = rb.column("input_ids")
    offsets = _offsets(inputs)
    flat = inputs.flatten().to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    own = first + np.arange(rb.num_rows, dtype=np.int64)
    checks = (
        (plen > lengths, lambda i: f"prefix_len {plen[i]} exceeds its {lengths[i]} tokens"),
        ((plen == 0) & (owner != own), lambda i: f"prefix_len 0 with prefix_sample {owner[i]} (must be its own id)"),
        ((plen > 0) & (owner >= own), lambda i: f"prefix_sample {owner[i]} is not an earlier sample"),
    )
    for bad, why in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ShardCorruptError(f"{where}: sample {own[i]}: {why(i)}")
    stored_offsets = np.concatenate(([0], np.cumsum(lengths - plen))).astype(np.int64)
    for name in _per_position(rb.schema):
        got = np.diff(_offsets(rb.column(name)))
        if not np.array_equal(got, lengths - plen):
            i = int(np.flatnonzero(got != lengths - plen)[0]) if len(got) == len(lengths) else 0
            raise ShardCorruptError(f"{where}: sample {own[i]}: column {name} stores {got[i] if len(got) > i else '?'} positions, "
                                    f"expected len(input_ids) - prefix_len = {lengths[i]} - {plen[i]}")
    _, id_encoding = encodings.encodings_of(rb.schema, where)
    if id_encoding == "ctx-table":
        view = _suffix_view(rb, offsets, flat, plen, stored_offsets)
        ids = encodings.decode_ctx_columns(view, k, where)
        typ = _INDEX_TYPES[index_type]
        field = _plain_ids_field(typ, k)
        values = pa.FixedSizeListArray.from_arrays(pa.array(ids.reshape(-1).astype(typ.to_pandas_dtype())),
                                                   type=field.type.value_type)
        col = pa.ListArray.from_arrays(pa.array(stored_offsets.astype(np.int32)), values, type=field.type)
        rb = rb.drop_columns(["topk_id_literals"])
        rb = rb.set_column(rb.schema.get_field_index("topk_id_codes"), field, col)
        meta = {key: v for key, v in (rb.schema.metadata or {}).items() if key not in _CTX_KEYS}
        rb = rb.replace_schema_metadata(meta)
    return StoredBatch(rb, first, offsets, flat, plen, owner, stored_offsets, verified)


def _runs(batch: StoredBatch, b: int, sharers: np.ndarray, ob: np.ndarray, pstart: np.ndarray) -> List[Tuple[int, int, int]]:
    """The full positions of ``batch`` (batch ``b``) in order as runs ``(source batch, first stored
    position, count)``: each row is its owner's [0, L) then its own stored positions; empty runs
    are dropped and runs that continue each other in one source are merged (consecutive roots are one)."""
    rows = batch.rb.num_rows
    src = np.full(rows, b, np.int64)
    start = np.zeros(rows, np.int64)
    src[sharers], start[sharers] = ob, pstart
    lengths = np.diff(batch.input_offsets)
    own_src = np.full(rows, b, np.int64)
    # Interleaved per row: (prefix run, own run).
    r_src = np.stack([src, own_src], axis=1).reshape(-1)
    r_start = np.stack([start, batch.stored_offsets[:-1]], axis=1).reshape(-1)
    r_len = np.stack([batch.prefix_len, lengths - batch.prefix_len], axis=1).reshape(-1)
    keep = r_len > 0
    r_src, r_start, r_len = r_src[keep], r_start[keep], r_len[keep]
    if not len(r_len):
        return []
    head = np.ones(len(r_len), bool)
    head[1:] = (r_src[1:] != r_src[:-1]) | (r_start[1:] != r_start[:-1] + r_len[:-1])
    heads = np.flatnonzero(head)
    counts = np.add.reduceat(r_len, heads)
    return list(zip(r_src[heads].tolist(), r_start[heads].tolist(), counts.tolist()))


def resolve(batch: StoredBatch, b: int, batch_size: int, shard_first_sample: int,
            owner_batch: Callable[[int], StoredBatch], where: str) -> pa.RecordBatch:
    """The full record batch of stored batch ``b``: prefix columns dropped, every per-position
    column holding all positions.  ``owner_batch(ob)`` returns another batch of the same shard
    (read through the same checked path)."""
    rb = batch.rb
    plen = batch.prefix_len
    sharers = np.flatnonzero(plen > 0)
    keep = [n for n in rb.schema.names if n not in (PREFIX_SAMPLE, PREFIX_LEN)]
    meta = {key: v for key, v in (rb.schema.metadata or {}).items() if key != META_SHARED_PREFIXES}
    if not len(sharers):
        return rb.select(keep).replace_schema_metadata(meta)
    own = batch.first + sharers
    owner = batch.prefix_sample[sharers]
    outside = owner < shard_first_sample
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ShardCorruptError(f"{where}: sample {own[i]}: prefix_sample {owner[i]} is not in this shard "
                                f"(it starts at sample {shard_first_sample})")
    ob = owner // batch_size
    row = owner - ob * batch_size
    # Sources of positions: this batch, then each other owner batch (read once each).
    sources: Dict[int, StoredBatch] = {b: batch}
    for o in sorted(set(ob.tolist()) - {b}):
        sources[o] = owner_batch(o)
    n = len(sharers)
    pstart = np.empty(n, np.int64)  # where each sharer's prefix starts in its owner's stored positions
    istart = np.empty(n, np.int64)  # ... and in its owner's input tokens
    for o, src in sources.items():  # per owner batch: checks and starts, vectorised over its sharers
        sel = np.flatnonzero(ob == o)
        if not len(sel):
            continue
        r = row[sel]
        if (r >= len(src.prefix_len)).any():
            i = sel[int(np.flatnonzero(r >= len(src.prefix_len))[0])]
            raise ShardCorruptError(f"{where}: sample {own[i]}: prefix_sample {owner[i]} is past the end of its batch {o}")
        not_root = src.prefix_len[r] != 0
        short = np.diff(src.input_offsets)[r] < plen[sharers[sel]]
        for bad, why in ((not_root, "is not a root (its own prefix_len is not 0)"), (short, "has fewer tokens than prefix_len")):
            if bad.any():
                i = sel[int(np.flatnonzero(bad)[0])]
                raise ShardCorruptError(f"{where}: sample {own[i]}: prefix_sample {owner[i]} {why} "
                                        f"(prefix_len {plen[sharers[i]]})")
        pstart[sel] = src.stored_offsets[r]
        istart[sel] = src.input_offsets[r]
    # The shared input tokens must equal the owners': compared source by source, so only the
    # prefix positions are gathered (never every source's tokens).
    offsets = batch.input_offsets
    lengths = np.diff(offsets)
    pre_len = plen[sharers]
    pre_rows = np.repeat(sharers, pre_len)
    pre_col = np.arange(len(pre_rows), dtype=np.int64) - np.repeat(np.cumsum(pre_len) - pre_len, pre_len)
    pre_sharer = np.repeat(np.arange(n), pre_len)
    mine = batch.input_ids[offsets[pre_rows] + pre_col]
    theirs = np.empty_like(mine)
    for o, src in sources.items():
        m = ob[pre_sharer] == o
        theirs[m] = src.input_ids[istart[pre_sharer[m]] + pre_col[m]]
    if not np.array_equal(mine, theirs):
        t = int(np.flatnonzero(mine != theirs)[0])
        r = int(pre_rows[t])
        raise ShardCorruptError(f"{where}: sample {batch.first + r}: input_ids differ from prefix_sample "
                                f"{int(batch.prefix_sample[r])} at position {int(pre_col[t])} within prefix_len {int(plen[r])}")
    runs = _runs(batch, b, sharers, ob, pstart)
    full_offsets = pa.array(offsets.astype(np.int32))
    columns, fields = [], []
    per_position = set(_per_position(rb.schema))
    for name in keep:
        field = rb.schema.field(name)
        if name in per_position:
            # Only the taken positions are copied: zero-copy slices of each source's child, one
            # concatenation of the output's size (never every source's whole column).
            child = {o: src.rb.column(name).flatten() for o, src in sources.items()}
            pieces = [child[o].slice(start, length) for o, start, length in runs]
            gathered = pa.concat_arrays(pieces) if pieces else child[b].slice(0, 0)
            columns.append(pa.ListArray.from_arrays(full_offsets, gathered, type=field.type))
        else:
            columns.append(rb.column(name))
        fields.append(field)
    return pa.record_batch(columns, schema=pa.schema(fields, metadata=meta))


__all__ = ["META_SHARED_PREFIXES", "PREFIX_LEN", "PREFIX_SAMPLE", "StoredBatch", "prepare", "resolve", "shares_prefixes"]
