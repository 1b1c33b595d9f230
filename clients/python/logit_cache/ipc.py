"""Byte-level Arrow IPC helpers that pyarrow does not expose.

pyarrow reads whole files and streams, but the v1 contract addresses a batch by the
byte range of its record-batch message (the footer Block) and checksums exactly those
bytes.  So we need (a) the footer's Block table, parsed from the flatbuffer directly,
(b) hashing a slice of a memory map without copying, and (c) decoding one message
against a known schema.  Kept tiny and dependency-free on purpose.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import List, Tuple

import pyarrow as pa
import pyarrow.ipc as ipc

from .errors import ChecksumError, FormatError

MAGIC = b"ARROW1"
CONTINUATION = b"\xff\xff\xff\xff"
#: End-of-stream marker: continuation token then a zero metadata length.
EOS = CONTINUATION + b"\x00\x00\x00\x00"


@dataclass(frozen=True)
class Block:
    """An Arrow file-footer Block: one message's position; ``length`` = metaDataLength + bodyLength."""

    offset: int
    metadata_length: int
    body_length: int

    @property
    def length(self) -> int:
        return self.metadata_length + self.body_length


def _u32(buf: memoryview, pos: int) -> int:
    return struct.unpack_from("<I", buf, pos)[0]


def _table_field(buf: memoryview, table: int, index: int) -> int:
    """Absolute position of field ``index`` of the flatbuffer table at ``table``, or 0 if absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vt_size:
        return 0
    rel = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + rel if rel else 0


def read_footer_blocks(data: "pa.Buffer | bytes | memoryview", where: str = "shard") -> List[Block]:
    """Record-batch Blocks listed in an Arrow IPC file footer.

    Layout at the end of the file: footer flatbuffer, int32 footer length, "ARROW1".
    Footer table fields: 0 version, 1 schema, 2 dictionaries, 3 recordBatches; a Block
    struct is int64 offset, int32 metaDataLength, 4 bytes padding, int64 bodyLength.
    """
    buf = memoryview(data)
    size = len(buf)
    if size < 18 or bytes(buf[:6]) != MAGIC or bytes(buf[size - 6 :]) != MAGIC:
        raise FormatError(f"{where}: not a complete Arrow IPC file ({size} bytes; missing ARROW1 magic at start or end, truncated?)")
    footer_len = struct.unpack_from("<i", buf, size - 10)[0]
    footer_start = size - 10 - footer_len
    if footer_len <= 0 or footer_start < 8:
        raise FormatError(f"{where}: footer length {footer_len} does not fit in a {size}-byte file")
    fb = buf[footer_start : size - 10]
    try:
        root = _u32(fb, 0)
        field = _table_field(fb, root, 3)
        if not field:
            return []
        vec = field + _u32(fb, field)
        n = _u32(fb, vec)
        blocks = []
        for i in range(n):
            off, meta_len, body_len = struct.unpack_from("<qi4xq", fb, vec + 4 + 24 * i)
            blocks.append(Block(off, meta_len, body_len))
    except struct.error as e:
        raise FormatError(f"{where}: corrupt Arrow footer ({e})") from None
    for b in blocks:
        if b.offset < 8 or b.offset + b.length > footer_start:
            raise FormatError(f"{where}: footer block at {b.offset}+{b.length} lies outside the message area (..{footer_start})")
    return blocks


def scan_messages(data: "pa.Buffer | bytes", where: str = "shard") -> List[Tuple[str, int, int]]:
    """Walk the messages of an IPC file after its 8-byte magic: ``(type, offset, length)``.

    Independent of the footer, so tests can cross-check the two ways of locating batches.
    """
    reader = pa.BufferReader(data)
    reader.seek(8)
    out = []
    while True:
        pos = reader.tell()
        try:
            msg = ipc.read_message(reader)
        except EOFError:
            break
        except pa.ArrowInvalid as e:
            raise FormatError(f"{where}: bad IPC message at byte {pos}: {e}") from None
        out.append((msg.type, pos, reader.tell() - pos))
    return out


def verify_sha256(data: "pa.Buffer | bytes | memoryview", expected: str, where: str) -> None:
    """Hash ``data`` through the buffer protocol (no copy out of a memory map)."""
    actual = hashlib.sha256(memoryview(data)).hexdigest()
    if actual != expected.lower():
        raise ChecksumError(f"{where}: sha256 {actual} does not match expected {expected}")


def read_batch_message(data: pa.Buffer, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """Decode one record-batch message (as located by a Block) against ``schema``.

    The result's buffers point into ``data`` (or into decompression output when the
    body is compressed), so an uncompressed memory-mapped shard is read zero-copy.
    """
    try:
        msg = ipc.read_message(data)
        if msg.type != "record batch":
            raise FormatError(f"{where}: expected a record batch message, found {msg.type!r}")
        return ipc.read_record_batch(msg, schema)
    except (pa.ArrowInvalid, EOFError, OSError) as e:
        raise FormatError(f"{where}: cannot decode record batch: {e}") from None


def stream_batch_span(body: bytes, where: str) -> Tuple[int, int]:
    """Byte range of the record-batch message inside a served one-batch IPC stream.

    The stream is schema message (8-byte prefix + padded metadata L, no body), then
    the batch message, then the 8-byte end-of-stream marker.
    """
    if len(body) < 16 or body[:4] != CONTINUATION:
        raise FormatError(f"{where}: response is not an Arrow IPC stream ({len(body)} bytes)")
    meta_len = struct.unpack_from("<i", body, 4)[0]
    start, end = 8 + meta_len, len(body) - 8
    if meta_len <= 0 or start >= end:
        raise FormatError(f"{where}: schema metadata length {meta_len} leaves no batch in a {len(body)}-byte stream")
    if body[end:] != EOS:
        raise FormatError(f"{where}: stream does not end with the end-of-stream marker (truncated?)")
    return start, end
