"""Reader over HTTP: ``GET /datasets/{id}`` for the manifest, ``GET /logits/{id}/{batch}`` per batch.

Standard library only (urllib), so the client adds no HTTP dependency to a trainer's
environment.  Transient failures (connection errors, timeouts, 5xx) are retried with
exponential backoff, except ``LC_ERR_SHARD_CORRUPT``: the bytes on the server are bad
and asking again cannot fix them.
"""
from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Mapping, Optional, Tuple

import pyarrow as pa
import pyarrow.ipc as ipc
import torch

from .batch import LOGPROB_PAD, manifest_checked_tensors
from .errors import ChecksumError, FormatError, HttpError, LogitCacheError
from .format import Manifest, check_schema_metadata, parse_manifest
from .ipc import stream_batch_span, verify_sha256

ARROW_STREAM_TYPE = "application/vnd.apache.arrow.stream"
SHA_HEADER = "x-logit-cache-batch-sha256"
#: Server codes that retrying cannot fix even though the status is 5xx.
NON_RETRYABLE_CODES = frozenset({"LC_ERR_SHARD_CORRUPT"})


def _parse_error(status: int, body: bytes, url: str) -> HttpError:
    code, message = None, body[:200].decode("utf-8", "replace") or "(empty body)"
    try:
        obj = json.loads(body)
        if isinstance(obj, Mapping):
            code = obj.get("code") if isinstance(obj.get("code"), str) else None
            message = str(obj.get("message", message))
    except ValueError:
        pass
    return HttpError(status, code, message, url)


class HttpLogitCache:
    """Batches of a dataset served by a logit-cache server, same interface as the local reader."""

    def __init__(
        self,
        base_url: str,
        dataset_id: str,
        token: Optional[str] = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        verify: bool = True,
        pad_to: Optional[int] = None,
        logprob_fill: float = LOGPROB_PAD,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.base_url = base_url.rstrip("/")
        self.dataset_id = dataset_id
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.verify = verify
        self.pad_to = pad_to
        self.logprob_fill = logprob_fill
        status, headers, body = self._get(f"/datasets/{urllib.parse.quote(dataset_id, safe='')}")
        try:
            obj = json.loads(body)
        except ValueError as e:
            raise FormatError(f"dataset {dataset_id}: manifest from {self.base_url} is not JSON: {e}") from None
        self.manifest: Manifest = parse_manifest(obj, f"{self.base_url} dataset {dataset_id} manifest")

    def __len__(self) -> int:
        return self.manifest.batch_count

    @property
    def k(self) -> int:
        return self.manifest.topk.k

    def _get(self, path: str) -> Tuple[int, Mapping[str, str], bytes]:
        url = self.base_url + path
        headers = {"Accept": f"{ARROW_STREAM_TYPE}, application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        last: Optional[Exception] = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                req = urllib.request.Request(url, headers=headers, method="GET")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as e:
                err = _parse_error(e.code, e.read() or b"", url)
                if e.code >= 500 and err.code not in NON_RETRYABLE_CODES:
                    last = err
                    continue
                raise err from None
            except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException) as e:
                # includes a body cut short (IncompleteRead): transient, worth another try
                last = e
                continue
        if isinstance(last, HttpError):
            raise last
        raise LogitCacheError(f"GET {url}: failed after {self.retries + 1} attempts: {last}") from last

    def record_batch(self, b: int) -> pa.RecordBatch:
        _, blk = self.manifest.locate(b)
        path = f"/logits/{urllib.parse.quote(self.dataset_id, safe='')}/{b}"
        where = f"{self.base_url}{path}"
        _, headers, body = self._get(path)
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != ARROW_STREAM_TYPE:
            raise FormatError(f"{where}: Content-Type {ctype!r}, expected {ARROW_STREAM_TYPE}")
        if self.verify:
            header_sha = (headers.get(SHA_HEADER) or "").lower()
            if not header_sha:
                raise ChecksumError(f"{where}: response has no {SHA_HEADER} header")
            if header_sha != blk.sha256:
                raise ChecksumError(f"{where}: server sha256 {header_sha} differs from the manifest's {blk.sha256}")
            start, end = stream_batch_span(body, where)
            verify_sha256(memoryview(body)[start:end], header_sha, where)
        try:
            reader = ipc.open_stream(pa.py_buffer(body))
            check_schema_metadata(reader.schema.metadata, self.manifest, where)
            batches = list(reader)
        except (pa.ArrowInvalid, OSError) as e:
            raise FormatError(f"{where}: cannot read Arrow stream: {e}") from None
        if len(batches) != 1:
            raise FormatError(f"{where}: stream holds {len(batches)} record batches, expected 1")
        rb = batches[0]
        if rb.num_rows != blk.samples:
            raise FormatError(f"{where}: {rb.num_rows} samples but manifest says {blk.samples}")
        return rb

    def batch(self, b: int) -> Dict[str, torch.Tensor]:
        rb = self.record_batch(b)
        where = f"dataset {self.dataset_id} batch {b} (http)"
        return manifest_checked_tensors(rb, self.manifest, b, where, self.pad_to, self.logprob_fill)

    def __getitem__(self, b: int) -> Dict[str, torch.Tensor]:
        return self.batch(b)
