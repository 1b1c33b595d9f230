"""Byte-range sources: where a dataset's bytes come from, so one checked reader serves all.

A :class:`ByteSource` is a file-like thing that knows its length and returns any byte
range: a local file through a memory map (:class:`FileSource`) or a file served over
HTTP with Range requests (:class:`HttpRangeSource`: nginx, any static server, object
storage behind a URL).  :class:`DatasetFiles` opens the files a manifest names, relative
to a dataset folder, refusing any that escape it.
"""
from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Optional, Protocol, Union

import pyarrow as pa

from .errors import (
    DatasetNotFoundError,
    HttpError,
    PathOutsideRootError,
    ShardCorruptError,
    SourceError,
)
from .http_get import http_get


class ByteSource(Protocol):
    """A read-only sequence of bytes addressed by range (the reader needs nothing else)."""

    @property
    def byte_length(self) -> int: ...

    def read(self, start: int, end: int) -> pa.Buffer:
        """Bytes ``[start, end)``; a buffer-protocol object (hashable by hashlib, parsable by pyarrow)."""
        ...

    def close(self) -> None: ...


def _check_range(start: int, end: int, length: int, where: str) -> None:
    if not 0 <= start <= end <= length:
        raise SourceError(f"{where}: range [{start}, {end}) is outside the {length}-byte file")


class FileSource:
    """A local file through a read-only memory map: ``read`` returns zero-copy slices.

    Slices stay valid after ``close`` (pyarrow keeps the mapping alive while a buffer
    references it), so closing an evicted file never invalidates a batch handed out.
    """

    def __init__(self, path: Union[str, os.PathLike], name: Optional[str] = None) -> None:
        self.where = name or str(path)
        try:
            size = os.path.getsize(path)
            # mmap of an empty file fails on some platforms; an empty source needs no map.
            self._map = pa.memory_map(str(path), "r") if size else None
        except OSError as e:
            raise SourceError(f"{self.where}: cannot open: {e.strerror or e}") from None
        self._length = size
        # One zero-copy view of the whole map; ranges are slices of it (no seek state to share).
        self._whole = self._map.read_buffer(size) if self._map is not None else pa.py_buffer(b"")

    @property
    def byte_length(self) -> int:
        return self._length

    def read(self, start: int, end: int) -> pa.Buffer:
        _check_range(start, end, self._length, self.where)
        return self._whole.slice(start, end - start)

    def close(self) -> None:
        self._whole = pa.py_buffer(b"")
        if self._map is not None:
            self._map.close()


_CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+)$")


class HttpRangeSource:
    """A file served over HTTP(S), read with ``Range: bytes=a-b`` requests.

    The length comes from the first range answer's ``Content-Range`` total; every later
    answer must be a 206 for exactly the asked range of a file of that same length, so a
    server that ignores Range (200 with the whole file) or a file replaced between reads
    is refused rather than misread.
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, name: Optional[str] = None) -> None:
        self.url = url
        self.where = name or url
        self._opts = dict(token=token, timeout=timeout, retries=retries, backoff=backoff)
        status, headers, _ = self._get(0, 0, accept=(416,))
        total = self._content_range(headers, status)[2]
        self._length = total

    def _get(self, first: int, last: int, accept=()):
        return http_get(self.url, {"Range": f"bytes={first}-{last}", "Accept-Encoding": "identity"},
                        accept_statuses=accept, check_head=self._refuse_whole, **self._opts)

    def _refuse_whole(self, status: int, headers) -> None:
        # Checked before the body is read: a server ignoring Range would send the whole file.
        self._content_range(headers, status)

    def _content_range(self, headers, status: int):
        if status == 200:
            raise SourceError(f"{self.where}: the server answered 200 to a Range request (no Range support); "
                              "serve the dataset with a Range-capable server (e.g. nginx)")
        m = _CONTENT_RANGE.match((headers.get("Content-Range") or "").strip())
        if status not in (206, 416) or not m:
            raise SourceError(f"{self.where}: HTTP {status} with Content-Range {headers.get('Content-Range')!r}, "
                              "expected 206 and 'bytes a-b/total'")
        a, b, total = m.groups()
        return (int(a) if a else None), (int(b) if b else None), int(total)

    @property
    def byte_length(self) -> int:
        return self._length

    def read(self, start: int, end: int) -> pa.Buffer:
        _check_range(start, end, self._length, self.where)
        if start == end:
            return pa.py_buffer(b"")
        status, headers, body = self._get(start, end - 1)
        a, b, total = self._content_range(headers, status)
        if total != self._length:
            raise ShardCorruptError(f"{self.where}: file length changed from {self._length} to {total} bytes while reading (replaced?)")
        if (a, b) != (start, end - 1) or len(body) != end - start:
            raise SourceError(f"{self.where}: asked for bytes {start}-{end - 1}, got Content-Range {a}-{b} "
                              f"with {len(body)} bytes")
        return pa.py_buffer(body)

    def close(self) -> None:
        pass  # urllib keeps no connection open between requests


def is_url(path_or_url: Union[str, os.PathLike]) -> bool:
    return isinstance(path_or_url, str) and path_or_url.split("://", 1)[0].lower() in ("http", "https")


class DatasetFiles(Protocol):
    """The files of one dataset folder, by the relative names the manifest uses."""

    where: str

    def read_whole(self, name: str) -> bytes: ...

    def open(self, name: str) -> ByteSource: ...


class LocalDatasetFiles:
    """A dataset folder on a file system.  Every name is resolved with realpath and must
    stay inside the folder's realpath; errors name only the manifest's relative name, so
    nothing about a symlink's target leaks into logs."""

    def __init__(self, folder: Union[str, os.PathLike]) -> None:
        self.where = str(folder)
        self.root = os.path.realpath(folder)

    def resolve(self, name: str) -> str:
        real = os.path.realpath(os.path.join(self.root, name))
        if os.path.commonpath([real, self.root]) != self.root or real == self.root:
            raise PathOutsideRootError(f"{self.where}: {name} resolves outside the dataset folder; refused")
        return real

    def read_whole(self, name: str) -> bytes:
        real = self.resolve(name)
        try:
            with open(real, "rb") as f:
                return f.read()
        except FileNotFoundError:
            if name == "manifest.json":
                raise DatasetNotFoundError(f"{self.where}: no manifest.json, so not a (finished) logit-cache dataset") from None
            raise SourceError(f"{self.where}: {name} does not exist") from None
        except OSError as e:
            raise SourceError(f"{self.where}: cannot read {name}: {e.strerror or e}") from None

    def open(self, name: str) -> FileSource:
        real = self.resolve(name)
        if not os.path.isfile(real):
            raise ShardCorruptError(f"{self.where}: {name} named in the manifest does not exist")
        return FileSource(real, f"{self.where}/{name}")


class HttpDatasetFiles:
    """A dataset folder served as static files (``<base>/manifest.json``, ``<base>/shards/...``)
    by any server that honours Range requests."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5) -> None:
        self.base = base_url.rstrip("/")
        self.where = self.base
        self._opts = dict(token=token, timeout=timeout, retries=retries, backoff=backoff)

    def url(self, name: str) -> str:
        # Manifest names are validated by pattern (shards/..., no '..'); quote keeps them literal.
        return f"{self.base}/{urllib.parse.quote(name)}"

    def read_whole(self, name: str) -> bytes:
        try:
            return http_get(self.url(name), {"Accept": "application/json"}, **self._opts)[2]
        except HttpError as e:
            if e.status == 404:
                raise DatasetNotFoundError(f"{self.url(name)}: 404 Not Found") from None
            raise

    def open(self, name: str) -> HttpRangeSource:
        try:
            return HttpRangeSource(self.url(name), name=f"{self.base}/{name}", **self._opts)
        except HttpError as e:
            if e.status == 404:  # as a local file that is missing: the dataset is incomplete
                raise ShardCorruptError(f"{self.where}: {name} named in the manifest does not exist (HTTP 404)") from None
            raise


def dataset_files(path_or_url: Union[str, os.PathLike], token: Optional[str] = None, timeout: float = 30.0,
                  retries: int = 3, backoff: float = 0.5) -> DatasetFiles:
    """Local folder, or ``http(s)://`` base URL of a dataset folder."""
    if is_url(path_or_url):
        return HttpDatasetFiles(str(path_or_url), token, timeout, retries, backoff)
    if not Path(path_or_url).is_dir():
        raise DatasetNotFoundError(f"{path_or_url}: no such dataset folder")
    return LocalDatasetFiles(path_or_url)
