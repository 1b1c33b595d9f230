"""The checked read of a Parquet shard (format 2.2, ``shardFormat: "parquet"``).

A Parquet shard is ``"PAR1"``, one row group per stored batch, then its tail: the Thrift
footer (FileMetaData), the footer's length (int32 little-endian) and ``"PAR1"``.  The
manifest's ``schemaLength``/``schemaSha256`` cover that tail; the index (same Arrow index
file as for Arrow shards) gives each row group's contiguous byte range and its sha256.

Nothing is parsed from bytes not verified first:
1. the tail is hashed against ``schemaSha256``, then parsed on its own (a 4-byte ``"PAR1"``
   plus the tail is a complete footer-only Parquet file to pyarrow), and the footer's row
   groups must be the index's: same count, same byte ranges, same row counts;
2. a row group's bytes are hashed against the index's ``message_sha256``, then pyarrow decodes
   them through :class:`VerifiedRanges`, a file-like that serves those bytes and refuses any
   other range, with the already-parsed footer passed in so pyarrow never reads it again.
The footer's ``ARROW:schema`` entry makes pyarrow restore the exact Arrow types
(fixed_size_list, uint16, float16), so a decoded row group is the same record batch an Arrow
shard yields and the shared batch decoding takes it unchanged.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import LogitCacheError, ShardCorruptError
from .manifest import Manifest, ShardEntry, check_schema_metadata

MAGIC = b"PAR1"
ARROW_SCHEMA_KEY = b"ARROW:schema"


def parse_tail(data, manifest: Manifest, where: str) -> Tuple[pq.FileMetaData, pa.Schema]:
    """Parse an already-verified Parquet tail (footer ++ int32 length ++ "PAR1"); check that it
    is exactly one footer and that its ``logit_cache.*`` metadata agrees with the manifest."""
    view = memoryview(data)
    n = len(view)
    if n < 12 or bytes(view[n - 4 :]) != MAGIC:
        raise ShardCorruptError(f"{where}: the {n}-byte Parquet tail does not end with {MAGIC!r}")
    footer_len = int.from_bytes(view[n - 8 : n - 4], "little")
    if footer_len + 8 != n:
        raise ShardCorruptError(f"{where}: the Parquet footer is {footer_len} bytes but the manifest's schemaLength "
                                f"says {n - 8} (footer + 8)")
    try:
        metadata = pq.read_metadata(pa.BufferReader(pa.py_buffer(MAGIC + bytes(view))))
        schema = metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ShardCorruptError(f"{where}: cannot parse the Parquet footer: {e}") from None
    # Without it pyarrow would guess the types (list for fixed_size_list, ...) and the batch
    # would differ from an Arrow shard's.
    if ARROW_SCHEMA_KEY not in (metadata.metadata or {}):
        raise ShardCorruptError(f"{where}: the Parquet footer has no {ARROW_SCHEMA_KEY.decode()} key_value_metadata")
    check_schema_metadata(schema.metadata, manifest, where)
    return metadata, schema


def chunk_ranges(metadata: pq.FileMetaData, i: int) -> List[Tuple[int, int]]:
    """``(start, end)`` of each column chunk of row group ``i``, in schema order: its first page
    (the dictionary page when there is one) to the end of its last."""
    rg = metadata.row_group(i)
    out = []
    for c in range(rg.num_columns):
        cc = rg.column(c)
        start = cc.dictionary_page_offset if cc.has_dictionary_page else cc.data_page_offset
        out.append((start, start + cc.total_compressed_size))
    return out


def row_group_ranges(metadata: pq.FileMetaData) -> List[Tuple[int, int]]:
    """``(start, end)`` of each row group, as the writer's index records them: its first column
    chunk's start to its last one's end, or None for a row group whose chunks are not back to
    back in schema order (FORMAT.md §9.1 requires them to be)."""
    out = []
    for i in range(metadata.num_row_groups):
        chunks = chunk_ranges(metadata, i)
        contiguous = bool(chunks) and all(a == prev_end for (a, _), (_, prev_end) in zip(chunks[1:], chunks))
        out.append((chunks[0][0], chunks[-1][1]) if contiguous else None)
    return out


def check_row_groups(metadata: pq.FileMetaData, offset: np.ndarray, length: np.ndarray, samples: np.ndarray,
                     entry: ShardEntry, where: str) -> None:
    """The footer describes exactly the index's batches: one row group per stored batch at the
    index's byte range with the index's sample count, and the whole shard's rows."""
    if metadata.num_row_groups != entry.batch_count:
        raise ShardCorruptError(f"{where}: the Parquet footer has {metadata.num_row_groups} row groups, "
                                f"the index and manifest {entry.batch_count} batches")
    if metadata.num_rows != entry.sample_count:
        raise ShardCorruptError(f"{where}: the Parquet footer has {metadata.num_rows} rows, manifest sampleCount {entry.sample_count}")
    for i, span in enumerate(row_group_ranges(metadata)):
        if span is None:
            raise ShardCorruptError(f"{where}: row group {i}'s column chunks are not back to back in schema order: "
                                    f"{chunk_ranges(metadata, i)}")
        start, end = span
        if (start, end - start) != (int(offset[i]), int(length[i])):
            raise ShardCorruptError(f"{where}: row group {i} spans {start}+{end - start} in the footer, "
                                    f"{int(offset[i])}+{int(length[i])} in the index")
        rows = metadata.row_group(i).num_rows
        if rows != int(samples[i]):
            raise ShardCorruptError(f"{where}: row group {i} has {rows} rows, the index {int(samples[i])} samples")


class VerifiedRanges:
    """A read-only file-like of ``size`` bytes whose only readable part is ``[start, start + len(data))``
    (bytes already hashed).  pyarrow reads a row group through it; a read of any other range
    (a footer that points elsewhere, which :func:`check_row_groups` has excluded) raises instead
    of returning unverified bytes."""

    def __init__(self, size: int, start: int, data: pa.Buffer, where: str) -> None:
        self._size, self._start, self._data, self.where = size, start, data, where
        self._pos = 0
        self.closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else self._pos + pos if whence == 1 else self._size + pos
        return self._pos

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size

    def read(self, n: int = -1) -> pa.Buffer:
        a = self._pos
        b = self._size if n is None or n < 0 else min(self._size, a + n)
        lo, hi = a - self._start, b - self._start
        if lo < 0 or hi > len(self._data):
            raise ShardCorruptError(f"{self.where}: the Parquet reader asked for bytes {a}-{b}, outside the verified "
                                    f"row group {self._start}+{len(self._data)}")
        self._pos = b
        return self._data.slice(lo, hi - lo)

    def close(self) -> None:
        self.closed = True


def decode_row_group(metadata: pq.FileMetaData, schema: pa.Schema, i: int, entry: ShardEntry, start: int,
                     data: pa.Buffer, where: str) -> pa.RecordBatch:
    """Row group ``i`` (bytes ``data`` at ``start``, already verified) as one record batch of ``schema``."""
    try:
        table = pq.ParquetFile(VerifiedRanges(entry.bytes, start, data, where), metadata=metadata).read_row_group(i)
        batches = table.combine_chunks().to_batches()
    except LogitCacheError:
        raise
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ShardCorruptError(f"{where}: cannot decode the Parquet row group: {e}") from None
    if len(batches) != 1 or not batches[0].schema.equals(schema):
        got = batches[0].schema if batches else "no batch"
        raise ShardCorruptError(f"{where}: row group {i} decodes to {len(batches)} batches of schema {got}, expected one of {schema}")
    return batches[0]


__all__ = ["MAGIC", "VerifiedRanges", "check_row_groups", "chunk_ranges", "decode_row_group", "parse_tail", "row_group_ranges"]
