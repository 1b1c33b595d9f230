"""Reader over a dataset folder: a local path (memory-mapped, zero-copy) or the http(s) URL
of the same folder served statically with Range support (e.g. nginx).  Both go through
the one checked shard reader (:mod:`logit_cache.shard_reader`)."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple, Union

import pyarrow as pa
import torch

from .batch import LOGPROB_PAD, checked_tensors
from .manifest import MANIFEST_FILE, Manifest, parse_manifest_bytes
from .shard_reader import OWNER_CACHE_BYTES, ShardReader
from .source import dataset_files


class LogitCacheDataset:
    """Batches of a format-2.x dataset folder (Arrow or Parquet shards) ``<root>/<datasetId>/`` or of its URL.

    ``batch(b)`` hashes the batch's message bytes (straight from the memory map for a
    local folder) and refuses them on mismatch, so a bit-flip on shared storage can never
    reach training; a shard's index and schema are verified on its first use.  Shards
    open lazily and reopen after ``fork``/unpickling, so one instance can be handed to
    DataLoader workers.  ``verify=False`` skips only the per-batch hash.

    Shared-prefix datasets (format 2.5) come back resolved, each sample whole: its shared
    positions are copied from the batch of the sample that stores them (same shard, read and
    checked the same way); stored batches recently read are kept as owners, up to
    ``owner_cache_bytes`` (32 MiB; 0: none), so reading in order does not read them again.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        verify: bool = True,
        pad_to: Optional[int] = None,
        logprob_fill: float = LOGPROB_PAD,
        token: Optional[str] = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_cached_shards: int = 256,
        max_open_files: int = 32,
        owner_cache_bytes: int = OWNER_CACHE_BYTES,
    ) -> None:
        self.path = path
        files = dataset_files(path, token=token, timeout=timeout, retries=retries, backoff=backoff)
        self.manifest: Manifest = parse_manifest_bytes(files.read_whole(MANIFEST_FILE), f"{files.where}/{MANIFEST_FILE}")
        self.reader = ShardReader(files, self.manifest, max_cached_shards, max_open_files, owner_cache_bytes)
        self.verify = verify
        self.pad_to = pad_to
        self.logprob_fill = logprob_fill

    def __len__(self) -> int:
        return self.manifest.batch_count

    @property
    def k(self) -> int:
        return self.manifest.topk.k

    def record_batch(self, b: int) -> pa.RecordBatch:
        """The verified Arrow record batch ``b`` (for callers who want Arrow, not torch)."""
        return self.reader.read(b, self.verify).record_batch

    def batch(self, b: int) -> Dict[str, torch.Tensor]:
        """Batch ``b`` as padded torch tensors (see :func:`record_batch_to_tensors`)."""
        got = self.reader.read(b, self.verify)
        where = f"dataset {self.manifest.dataset_id} batch {b}"
        return checked_tensors(got.record_batch, self.manifest, where, self.pad_to, self.logprob_fill, got.tokens)

    def __getitem__(self, b: int) -> Dict[str, torch.Tensor]:
        return self.batch(b)

    def verify_shards(self) -> List[Tuple[str, bool]]:
        """Hash every whole shard against the manifest (slow; the ``verify`` CLI's job)."""
        return [(entry.file, self.reader.verify_file(s)) for s, entry in enumerate(self.manifest.shards)]

    def close(self) -> None:
        self.reader.close()
