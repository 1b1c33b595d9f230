"""Reader over a logit-cache server: ``GET /datasets/{id}`` for the manifest, ``GET /logits/{id}/{batch}``
per batch.

Each answer is a one-batch Arrow IPC stream.  It is checked with the same functions the
shard reader uses: the whole body against ``x-logit-cache-stream-sha256`` and its schema
message against the manifest's ``schemaSha256`` before anything is parsed, then decoded
by the shared decoder.  A Parquet dataset (format 2.2) is served as the same kind of Arrow
stream; its schema message is the server's encoding of the shard's Arrow schema, which no
manifest hash covers, so there the stream hash covers it (and its metadata is checked against
the manifest).  A shared-prefix dataset (format 2.5) is served resolved, as the stream a 2.4 writer
would have written for the batch: no prefix columns, a schema message of the server's own (covered
by the stream hash, as for Parquet), so it decodes like any other batch.  To read a dataset folder
served as static files (nginx), use
``LogitCacheDataset(url)`` instead.
"""
from __future__ import annotations

import urllib.parse
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import pyarrow as pa
import torch

from .batch import LOGPROB_PAD, checked_tensors
from .errors import ChecksumError, FormatError
from .http_get import http_get
from .manifest import Manifest, parse_manifest_bytes
from .shard_reader import check_sample_ids, decode_record_batch, parse_schema_message, split_verified_stream

ARROW_STREAM_TYPE = "application/vnd.apache.arrow.stream"
STREAM_SHA_HEADER = "x-logit-cache-stream-sha256"
#: Parsed schemas kept per client (one per shard; they are small).
SCHEMA_CACHE = 256


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
        self._schemas: "OrderedDict[int, Tuple[bytes, pa.Schema]]" = OrderedDict()
        _, _, body = self._get(f"/datasets/{urllib.parse.quote(dataset_id, safe='')}")
        self.manifest: Manifest = parse_manifest_bytes(body, f"{self.base_url} dataset {dataset_id} manifest")

    def __len__(self) -> int:
        return self.manifest.batch_count

    @property
    def k(self) -> int:
        return self.manifest.topk.k

    def _get(self, path: str) -> Tuple[int, Mapping[str, str], bytes]:
        return http_get(
            self.base_url + path, {"Accept": f"{ARROW_STREAM_TYPE}, application/json"},
            token=self.token, timeout=self.timeout, retries=self.retries, backoff=self.backoff,
        )

    def _schema(self, s: int, raw, where: str) -> pa.Schema:
        raw = bytes(raw)
        got = self._schemas.get(s)
        # Keyed by the bytes too: a Parquet dataset's schema message is the server's own encoding
        # (not covered by the manifest), so a differing one is parsed and checked again, never assumed.
        if got is None or got[0] != raw:
            # Served streams are resolved (2.5): they never declare shared prefixes.
            got = (raw, parse_schema_message(raw, self.manifest, where, resolved=True))
            self._schemas[s] = got
            while len(self._schemas) > SCHEMA_CACHE:
                self._schemas.popitem(last=False)
        return got[1]

    def record_batch(self, b: int) -> pa.RecordBatch:
        s = self.manifest.shard_of(b)
        shard = self.manifest.shards[s]
        path = f"/logits/{urllib.parse.quote(self.dataset_id, safe='')}/{b}"
        where = f"{self.base_url}{path}"
        _, headers, body = self._get(path)
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != ARROW_STREAM_TYPE:
            raise FormatError(f"{where}: Content-Type {ctype!r}, expected {ARROW_STREAM_TYPE}")
        stream_sha = None
        if self.verify:
            stream_sha = (headers.get(STREAM_SHA_HEADER) or "").lower()
            if not stream_sha:
                raise ChecksumError(f"{where}: response has no {STREAM_SHA_HEADER} header to verify the body with")
        schema_raw, message = split_verified_stream(body, shard, stream_sha, where, self.manifest.topk.shared_prefixes)
        rb = decode_record_batch(pa.py_buffer(body).slice(len(schema_raw), len(message)), self._schema(s, schema_raw, where), where)
        # Every batch holds batchSize samples but the last (the format's rule, which the
        # writer and every reader's index check enforce), so the ids are known from b alone.
        m = self.manifest
        first = b * m.batch_size
        check_sample_ids(rb, first, min(m.batch_size, m.sample_count - first), where)
        return rb

    def batch(self, b: int) -> Dict[str, torch.Tensor]:
        rb = self.record_batch(b)
        where = f"dataset {self.dataset_id} batch {b} (http)"
        return checked_tensors(rb, self.manifest, where, self.pad_to, self.logprob_fill)

    def __getitem__(self, b: int) -> Dict[str, torch.Tensor]:
        return self.batch(b)
