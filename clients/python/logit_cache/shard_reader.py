"""The checked read of format 2.x: the one place both Python readers locate, check and
decode a batch, for Arrow shards and (format 2.2) Parquet shards.

For a shard, in this order, and nothing parsed from bytes not yet verified:
1. the shard's length equals the manifest's ``bytes`` (else truncated or replaced);
2. the index file's length and sha256 equal the manifest's ``index`` entry, then it is
   parsed (pyarrow) and its invariants checked (row count, ascending in-file ranges, sums);
3. the schema message ``[8, 8 + schemaLength)`` hashes to ``schemaSha256``, then it is
   parsed and its metadata checked against the manifest;
4. a batch's message ``[offset, offset + length)`` hashes to the index's
   ``message_sha256`` before it is decoded.
For a Parquet shard, step 3 hashes the file's tail (footer, length, "PAR1") at
``[bytes - schemaLength, bytes)`` instead, and step 4 a row group's byte range; the footer's row
groups must be the index's (see :mod:`logit_cache.parquet_shard`).
Checked indexes and schemas are kept in a bounded LRU; open sources in a bounded pool.
A shared-prefix shard (format 2.5) returns each batch resolved: its owners' batches (same shard)
go through steps 4 and the reference checks of :mod:`logit_cache.shared_prefix` first, and the
stored batches recently read are kept (bounded in bytes) so reading in order does not read them again.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from . import parquet_shard, shared_prefix
from .errors import ChecksumError, ShardCorruptError
from .manifest import SHARD_LEAD, Manifest, ShardEntry, check_format_version, check_schema_metadata
from .source import ByteSource, DatasetFiles

#: Bytes of decoded stored batches a reader keeps as owners of shared prefixes (format 2.5), as the
#: TypeScript reader keeps 32 MiB of root rows.
OWNER_CACHE_BYTES = 32 << 20
#: End-of-stream marker: continuation token then a zero metadata length.
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
SHA_LEN = 32
INDEX_COLUMNS = {
    "offset": pa.uint64(),
    "length": pa.uint64(),
    "samples": pa.uint32(),
    "tokens": pa.uint64(),
    "message_sha256": pa.binary(SHA_LEN),
    "stream_sha256": pa.binary(SHA_LEN),
}
META_FIRST_BATCH = b"logit_cache.first_batch"
#: Shared-prefix shards' count of positions stored once in an earlier sample (optional, 2.5).
META_SHARED_POSITIONS = b"logit_cache.shared_positions"
META_FIRST_SAMPLE = b"logit_cache.first_sample"


def check_sha256(data, expected: "str | bytes", what: str) -> None:
    """Hash through the buffer protocol (no copy out of a memory map); raise on mismatch."""
    h = hashlib.sha256(memoryview(data))
    ok = h.digest() == expected if isinstance(expected, bytes) else h.hexdigest() == expected
    if not ok:
        want = expected.hex() if isinstance(expected, bytes) else expected
        raise ChecksumError(f"{what}: sha256 {h.hexdigest()} does not match the expected {want}")


def parse_schema_message(data, manifest: Manifest, where: str, resolved: bool = False) -> pa.Schema:
    """Parse an already-verified schema message and check its metadata against the manifest
    (``resolved``: a served stream, whose shared prefixes the server has already resolved)."""
    try:
        msg = ipc.read_message(pa.py_buffer(data) if not isinstance(data, pa.Buffer) else data)
        if msg.type != "schema":
            raise ShardCorruptError(f"{where}: expected a schema message, found {msg.type!r}")
        schema = ipc.read_schema(msg)
    except (pa.ArrowInvalid, EOFError, OSError) as e:
        raise ShardCorruptError(f"{where}: cannot parse the schema message: {e}") from None
    check_schema_metadata(schema.metadata, manifest, where, resolved)
    return schema


def decode_record_batch(data, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """Decode one already-verified record-batch message against ``schema`` (shared by the
    shard reader and the server client).  Zero-copy from a memory map when uncompressed."""
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    try:
        msg = ipc.read_message(buf)
        if msg.type != "record batch":
            raise ShardCorruptError(f"{where}: expected a record batch message, found {msg.type!r}")
        return ipc.read_record_batch(msg, schema)
    except (pa.ArrowInvalid, EOFError, OSError) as e:
        raise ShardCorruptError(f"{where}: cannot decode the record batch: {e}") from None


def check_sample_ids(rb: pa.RecordBatch, first: int, samples: int, where: str) -> None:
    """A decoded batch holds exactly samples ``first .. first + samples - 1``, in order."""
    if rb.num_rows != samples:
        raise ShardCorruptError(f"{where}: {rb.num_rows} samples, expected {samples}")
    i = rb.schema.get_field_index("sample_id")
    if i < 0 or rb.column(i).type != pa.uint64() or rb.column(i).null_count:
        raise ShardCorruptError(f"{where}: no non-null uint64 sample_id column")
    got = rb.column(i).to_numpy()
    if not np.array_equal(got, np.arange(first, first + samples, dtype=np.uint64)):
        bad = int(np.flatnonzero(got != np.arange(first, first + samples, dtype=np.uint64))[0])
        raise ShardCorruptError(f"{where}: row {bad} has sample_id {int(got[bad])}, expected {first + bad}")


def split_verified_stream(body, shard: ShardEntry, stream_sha256: Optional[str], where: str, shared_prefixes: bool = False):
    """The (schema message, record-batch message) of a served one-batch IPC stream,
    ``schema message ++ message ++ EOS``, after checking the whole body against the server's
    stream sha256 (when given).  For an Arrow shard the schema message is ``file[8:8+schemaLength]``
    and is also checked against the manifest's ``schemaSha256`` (always: it is parsed next, and the
    manifest is the trusted side).  A Parquet shard has no Arrow schema message in the file: the
    server encodes the footer's Arrow schema itself, so the stream hash (which the shard's index
    also records) is what covers it, and its metadata is checked against the manifest once parsed.
    The same holds for a shared-prefix shard (format 2.5, ``shared_prefixes``): the server sends the
    resolved batch under the schema a 2.4 writer would have written, which is not the stored one."""
    view = memoryview(body)
    n = len(view)
    if stream_sha256 is not None:  # first: for a Parquet shard even the schema's length comes from the body
        check_sha256(view, stream_sha256.lower(), f"{where} (whole stream)")
    server_schema = shard.format == "parquet" or shared_prefixes
    if server_schema:
        # IPC framing: continuation marker, then the int32 length of the (padded) metadata.
        if n < 8 or bytes(view[:4]) != EOS[:4]:
            raise ShardCorruptError(f"{where}: the body does not start with an Arrow IPC message")
        sl = 8 + int.from_bytes(view[4:8], "little", signed=True)
    else:
        sl = shard.schema_length
    if sl < 8 or n < sl + 8 + len(EOS):
        raise ShardCorruptError(f"{where}: a {n}-byte body cannot hold a {sl}-byte schema, a batch and end-of-stream")
    if not server_schema:
        check_sha256(view[:sl], shard.schema_sha256, f"{where} (schema message of {shard.file})")
    if bytes(view[n - len(EOS):]) != EOS:
        raise ShardCorruptError(f"{where}: the stream does not end with the end-of-stream marker (truncated?)")
    return view[:sl], view[sl : n - len(EOS)]


@dataclass(frozen=True)
class ShardIndex:
    """A shard's checked index: per stored batch, where its message is and what it holds."""

    offset: np.ndarray  # int64
    length: np.ndarray  # int64
    samples: np.ndarray  # int64
    tokens: np.ndarray  # int64
    first_sample: np.ndarray  # int64: sample id of each batch's first row
    message_sha256: bytes  # 32 bytes per batch, concatenated
    stream_sha256: bytes

    def digest(self, i: int) -> bytes:
        return self.message_sha256[i * SHA_LEN : (i + 1) * SHA_LEN]

    def stream_digest(self, i: int) -> bytes:
        return self.stream_sha256[i * SHA_LEN : (i + 1) * SHA_LEN]


def _sha_column(col: pa.Array) -> bytes:
    # fixed_size_binary(32) with no nulls: the values buffer is the concatenated digests.
    start = col.offset * SHA_LEN
    return col.buffers()[1].to_pybytes()[start : start + len(col) * SHA_LEN]


def parse_index(data, entry: ShardEntry, where: str, batch_size: int, last_shard: bool) -> ShardIndex:
    """Parse an already-verified index file and check its invariants against the manifest:
    row count, first batch/sample, ranges in order from the end of the schema message, every
    batch ``batch_size`` samples but the dataset's last (1..batch_size), sums."""
    try:
        reader = ipc.open_file(pa.BufferReader(data))
        if reader.num_record_batches != 1:
            raise ShardCorruptError(f"{where}: index holds {reader.num_record_batches} record batches, expected 1")
        rb = reader.get_batch(0)
    except (pa.ArrowInvalid, EOFError, OSError) as e:
        raise ShardCorruptError(f"{where}: cannot parse the index: {e}") from None
    for name, typ in INDEX_COLUMNS.items():
        i = rb.schema.get_field_index(name)
        if i < 0 or rb.schema.field(i).type != typ:
            raise ShardCorruptError(f"{where}: index column {name} must be {typ}; schema is {rb.schema}")
        if rb.column(i).null_count:
            raise ShardCorruptError(f"{where}: index column {name} has nulls")
    meta = rb.schema.metadata or {}
    try:
        check_format_version(meta.get(b"logit_cache.format_version", b"").decode(), where)
        first_batch = int(meta.get(META_FIRST_BATCH, b"-1"))
        first_sample = int(meta.get(META_FIRST_SAMPLE, b"-1"))
        shared = int(meta[META_SHARED_POSITIONS]) if META_SHARED_POSITIONS in meta else None
    except ValueError:
        raise ShardCorruptError(f"{where}: index metadata is not numeric: {meta}") from None
    if (first_batch, first_sample) != (entry.first_batch, entry.first_sample):
        raise ShardCorruptError(f"{where}: index starts at batch {first_batch}, sample {first_sample}; "
                                f"manifest says {entry.first_batch}, {entry.first_sample}")
    if rb.num_rows != entry.batch_count:
        raise ShardCorruptError(f"{where}: index has {rb.num_rows} rows, manifest batchCount {entry.batch_count}")
    cols = {name: rb.column(name).to_numpy() for name in ("offset", "length", "samples", "tokens")}
    # Bound every uint64 by the file size before any arithmetic, so nothing can wrap.
    if (cols["offset"] > entry.bytes).any() or (cols["length"] > entry.bytes).any():
        raise ShardCorruptError(f"{where}: an index range exceeds the {entry.bytes}-byte shard")
    off, length = cols["offset"].astype(np.int64), cols["length"].astype(np.int64)
    ends = off + length
    if entry.format == "parquet":
        # Row groups fill the file back to back from the leading "PAR1" to the tail (FORMAT.md §9.4);
        # the footer must place them exactly there (checked once the tail is verified).
        lo, hi = SHARD_LEAD["parquet"], entry.bytes - entry.schema_length
        if off[0] != lo or (length < 1).any() or (off[1:] != ends[:-1]).any() or ends[-1] != hi:
            raise ShardCorruptError(f"{where}: row group ranges are not back to back from the leading PAR1 ({lo}) "
                                    f"to the Parquet tail ({hi})")
    else:
        lo = 8 + entry.schema_length
        if off[0] != lo or (length < 8).any() or (off[1:] < ends[:-1]).any() or ends[-1] > entry.bytes:
            raise ShardCorruptError(f"{where}: batch ranges are not ascending from the schema message's end ({lo}), "
                                    f"non-overlapping and inside the {entry.bytes}-byte shard")
    samples, tokens = cols["samples"].astype(np.int64), cols["tokens"]
    full = samples[:-1] if last_shard else samples
    if (full != batch_size).any() or not 1 <= samples[-1] <= batch_size:
        raise ShardCorruptError(f"{where}: batches of {samples.tolist()} samples; batchSize is {batch_size} "
                                "(only the dataset's last batch may be shorter)")
    if int(samples.sum()) != entry.sample_count or sum(int(t) for t in tokens) != entry.tokens:
        raise ShardCorruptError(f"{where}: index sums to {int(samples.sum())} samples, {sum(int(t) for t in tokens)} tokens; "
                                f"manifest says {entry.sample_count}, {entry.tokens}")
    # A recorded shared-position count (2.5, optional) is confirmed by the hashed index, as tokens are.
    if entry.shared_positions is not None and shared != entry.shared_positions:
        raise ShardCorruptError(f"{where}: index records {'no' if shared is None else shared} shared positions; "
                                f"manifest says {entry.shared_positions}")
    first = entry.first_sample + np.concatenate([[0], np.cumsum(samples)[:-1]]).astype(np.int64)
    return ShardIndex(off, length, samples, tokens.astype(np.int64), first,
                      _sha_column(rb.column("message_sha256")), _sha_column(rb.column("stream_sha256")))


@dataclass(frozen=True)
class CheckedShard:
    """What a shard's first use established: its index and schema, both verified."""

    entry: ShardEntry
    index: ShardIndex
    schema: pa.Schema
    #: The verified Parquet footer (Parquet shards only).
    parquet: Optional[parquet_shard.pq.FileMetaData] = None
    #: Format 2.5: batches store shared prefixes once (schema ``logit_cache.shared_prefixes``).
    shared_prefixes: bool = False


@dataclass(frozen=True)
class BatchRead:
    record_batch: pa.RecordBatch
    samples: int
    tokens: int


class ShardReader:
    """Checked batches of one dataset from any :class:`DatasetFiles` (local or HTTP)."""

    def __init__(self, files: DatasetFiles, manifest: Manifest, max_cached_shards: int = 256, max_open_files: int = 32,
                 owner_cache_bytes: int = OWNER_CACHE_BYTES) -> None:
        if max_cached_shards < 1 or max_open_files < 1 or owner_cache_bytes < 0:
            raise ValueError("max_cached_shards and max_open_files must be >= 1, owner_cache_bytes >= 0")
        self.files = files
        self.manifest = manifest
        self.max_cached_shards = max_cached_shards
        self.max_open_files = max_open_files
        self._checked: "OrderedDict[int, CheckedShard]" = OrderedDict()
        self._open: "OrderedDict[int, ByteSource]" = OrderedDict()
        self._pid = os.getpid()
        # Shared-prefix shards (2.5): decoded stored batches recently read, by dataset batch, as
        # owners for later batches (owners are roots of earlier batches of the same shard), bounded
        # in bytes.  Mostly roots: a sharing sample stores only its suffix.
        self.owner_cache_bytes = owner_cache_bytes
        self._stored: "OrderedDict[int, shared_prefix.StoredBatch]" = OrderedDict()
        self._stored_bytes = 0
        #: Batch messages (or row groups) read from storage so far: a resolved batch may need its owners'.
        self.batch_reads = 0

    # Open sources (memory maps) do not pickle; a DataLoader worker reopens on first use.
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_checked"], state["_open"], state["_stored"], state["_stored_bytes"] = OrderedDict(), OrderedDict(), OrderedDict(), 0
        return state

    def _where(self, entry: ShardEntry) -> str:
        return f"dataset {self.manifest.dataset_id} {entry.file}"

    def source(self, s: int) -> ByteSource:
        """Shard ``s``'s source from the bounded pool; its length is checked on every open."""
        if os.getpid() != self._pid:  # forked: the parent's sources are not ours to use or close
            self._open, self._pid = OrderedDict(), os.getpid()
        src = self._open.get(s)
        if src is not None:
            self._open.move_to_end(s)
            return src
        entry = self.manifest.shards[s]
        src = self.files.open(entry.file)
        if src.byte_length != entry.bytes:
            src.close()
            raise ShardCorruptError(f"{self._where(entry)}: {src.byte_length} bytes but the manifest says {entry.bytes} (truncated or replaced)")
        self._open[s] = src
        while len(self._open) > self.max_open_files:
            self._open.popitem(last=False)[1].close()
        return src

    def shard(self, s: int) -> CheckedShard:
        """Shard ``s`` with its index and schema verified (cached, least recently used evicted)."""
        got = self._checked.get(s)
        if got is not None:
            self._checked.move_to_end(s)
            return got
        entry = self.manifest.shards[s]
        where = self._where(entry)
        src = self.source(s)
        idx_where = f"dataset {self.manifest.dataset_id} {entry.index.file}"
        isrc = self.files.open(entry.index.file)
        try:
            if isrc.byte_length != entry.index.bytes:
                raise ShardCorruptError(f"{idx_where}: {isrc.byte_length} bytes but the manifest says {entry.index.bytes} (truncated or replaced)")
            data = isrc.read(0, isrc.byte_length)
        finally:
            isrc.close()
        check_sha256(data, entry.index.sha256, idx_where)
        index = parse_index(data, entry, idx_where, self.manifest.batch_size, s == len(self.manifest.shards) - 1)
        raw_schema = src.read(*entry.schema_range)
        footer = None
        if entry.format == "parquet":
            check_sha256(raw_schema, entry.schema_sha256, f"{where} (Parquet footer)")
            footer, schema = parquet_shard.parse_tail(raw_schema, self.manifest, f"{where} (Parquet footer)")
            parquet_shard.check_row_groups(footer, index.offset, index.length, index.samples, entry, f"{where} (Parquet footer)")
        else:
            check_sha256(raw_schema, entry.schema_sha256, f"{where} (schema message)")
            schema = parse_schema_message(raw_schema, self.manifest, where)
        got = CheckedShard(entry, index, schema, footer, shared_prefix.shares_prefixes(schema.metadata, where))
        self._checked[s] = got
        while len(self._checked) > self.max_cached_shards:
            self._checked.popitem(last=False)
        return got

    def read(self, b: int, verify: bool = True) -> BatchRead:
        """Dataset batch ``b``, its message hashed (unless ``verify=False``) before decoding.

        For a shared-prefix shard (format 2.5) the batch comes back resolved: every sample whole,
        its shared positions copied from its owner's batch (read through this same checked path),
        with plain ids and no prefix columns; see :mod:`logit_cache.shared_prefix`."""
        s = self.manifest.shard_of(b)
        shard = self.shard(s)
        if not shard.shared_prefixes:
            rb, where, i = self._read_stored(shard, s, b, verify)
            return BatchRead(rb, int(shard.index.samples[i]), int(shard.index.tokens[i]))
        # The asked-for batch is always read and hashed afresh; its owners' batches may come from the
        # cache, and it enters the cache after them (so it cannot evict what it needs).
        stored = self._read_prepared(shard, s, b, verify)
        where = self._batch_where(shard, b)
        rb = shared_prefix.resolve(stored, b, self.manifest.batch_size, shard.entry.first_sample,
                                   lambda o: self._owner_batch(shard, s, o, verify), where)
        self._cache(b, stored)
        i = b - shard.entry.first_batch
        return BatchRead(rb, int(shard.index.samples[i]), int(shard.index.tokens[i]))

    def _batch_where(self, shard: CheckedShard, b: int) -> str:
        i = b - shard.entry.first_batch
        return f"dataset {self.manifest.dataset_id} batch {b} ({shard.entry.file} @ {int(shard.index.offset[i])}+{int(shard.index.length[i])})"

    def _read_stored(self, shard: CheckedShard, s: int, b: int, verify: bool):
        """(record batch as stored, where, index row) of batch ``b``: read, hashed, decoded, ids checked."""
        i = b - shard.entry.first_batch
        off, length = int(shard.index.offset[i]), int(shard.index.length[i])
        where = self._batch_where(shard, b)
        data = self.source(s).read(off, off + length)
        self.batch_reads += 1
        if verify:
            check_sha256(data, shard.index.digest(i), where)
        if shard.parquet is not None:
            rb = parquet_shard.decode_row_group(shard.parquet, shard.schema, i, shard.entry, off, data, where)
        else:
            rb = decode_record_batch(data, shard.schema, where)
        check_sample_ids(rb, int(shard.index.first_sample[i]), int(shard.index.samples[i]), where)
        return rb, where, i

    def _read_prepared(self, shard: CheckedShard, s: int, b: int, verify: bool) -> shared_prefix.StoredBatch:
        """Stored batch ``b`` of a shared-prefix shard read through the checked path, its own
        references checked and its ids plain."""
        rb, where, i = self._read_stored(shard, s, b, verify)
        topk = self.manifest.topk
        return shared_prefix.prepare(rb, topk.k, topk.index_type, int(shard.index.first_sample[i]), where, verify)

    def _owner_batch(self, shard: CheckedShard, s: int, b: int, verify: bool) -> shared_prefix.StoredBatch:
        """Batch ``b`` as an owner: from the cache (unless cached unverified while a verified one is
        asked for), else read and cached."""
        got = self._stored.get(b)
        if got is not None and (got.verified or not verify):
            self._stored.move_to_end(b)
            return got
        got = self._read_prepared(shard, s, b, verify)
        self._cache(b, got)
        return got

    def _cache(self, b: int, batch: shared_prefix.StoredBatch) -> None:
        """Keep ``batch`` as the most recently used, evicting the least recently used beyond ``owner_cache_bytes``."""
        old = self._stored.pop(b, None)
        if old is not None:
            self._stored_bytes -= old.nbytes
        if batch.nbytes > self.owner_cache_bytes:
            return
        self._stored[b] = batch
        self._stored_bytes += batch.nbytes
        while self._stored_bytes > self.owner_cache_bytes:
            self._stored_bytes -= self._stored.popitem(last=False)[1].nbytes

    def verify_file(self, s: int, chunk: int = 8 << 20) -> bool:
        """Whether shard ``s``'s whole file hashes to the manifest's ``sha256`` (slow)."""
        entry = self.manifest.shards[s]
        src = self.source(s)
        h = hashlib.sha256()
        for start in range(0, entry.bytes, chunk):
            h.update(memoryview(src.read(start, min(entry.bytes, start + chunk))))
        return h.hexdigest() == entry.sha256

    def close(self) -> None:
        for src in self._open.values():
            src.close()
        self._open.clear()
        self._checked.clear()
        self._stored.clear()
        self._stored_bytes = 0


__all__ = [
    "BatchRead", "CheckedShard", "ShardIndex", "ShardReader", "check_sample_ids", "check_sha256", "decode_record_batch",
    "parse_index", "parse_schema_message", "split_verified_stream",
]
