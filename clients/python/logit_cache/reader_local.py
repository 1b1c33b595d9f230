"""Reader over a mounted dataset folder: memory-mapped, zero-copy, checksum-verified."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import pyarrow as pa
import pyarrow.ipc as ipc
import torch

from .batch import LOGPROB_PAD, manifest_checked_tensors
from .errors import FormatError
from .format import Manifest, ShardEntry, check_schema_metadata, load_manifest
from .ipc import read_batch_message, read_footer_blocks, verify_sha256


class _OpenShard:
    """A memory-mapped shard whose footer has been checked against the manifest."""

    def __init__(self, path: Path, entry: ShardEntry, manifest: Manifest) -> None:
        where = f"shard {path}"
        if not path.is_file():
            raise FormatError(f"{where}: file listed in manifest does not exist")
        size = path.stat().st_size
        if size != entry.bytes:
            raise FormatError(f"{where}: {size} bytes on disk but manifest says {entry.bytes} (truncated or replaced?)")
        self.map = pa.memory_map(str(path), "r")
        whole = self.map.read_buffer(size)  # zero-copy view of the map
        blocks = read_footer_blocks(whole, where)
        if len(blocks) != entry.batch_count:
            raise FormatError(f"{where}: footer lists {len(blocks)} record batches, manifest {entry.batch_count}")
        for blk, b in zip(blocks, entry.batches):
            if (blk.offset, blk.length) != (b.offset, b.length):
                raise FormatError(
                    f"{where}: batch {b.index} at {b.offset}+{b.length} in manifest but {blk.offset}+{blk.length} in footer"
                )
        try:
            self.schema = ipc.open_file(self.map).schema
        except pa.ArrowInvalid as e:
            raise FormatError(f"{where}: cannot open as Arrow IPC file: {e}") from None
        check_schema_metadata(self.schema.metadata, manifest, where)
        self.buffer = whole


class LogitCacheDataset:
    """Batches of a v1 dataset folder ``<root>/<datasetId>/``, read through a memory map.

    ``batch(b)`` hashes the batch's message bytes straight from the map (no copy) and
    refuses them on mismatch, so a bit-flip on shared storage can never reach training.
    Shards are opened lazily and reopened after ``fork``/unpickling, so one instance
    can be handed to DataLoader workers.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        verify: bool = True,
        pad_to: Optional[int] = None,
        logprob_fill: float = LOGPROB_PAD,
    ) -> None:
        self.path = Path(path)
        self.manifest: Manifest = load_manifest(self.path)
        self.verify = verify
        self.pad_to = pad_to
        self.logprob_fill = logprob_fill
        self._shards: Dict[int, _OpenShard] = {}
        self._pid = os.getpid()

    # Memory maps do not pickle; workers reopen them on first use.
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_shards"] = {}
        return state

    def __len__(self) -> int:
        return self.manifest.batch_count

    @property
    def k(self) -> int:
        return self.manifest.topk.k

    def _shard(self, entry: ShardEntry) -> _OpenShard:
        if os.getpid() != self._pid:
            self._shards, self._pid = {}, os.getpid()
        key = entry.first_batch
        shard = self._shards.get(key)
        if shard is None:
            shard = _OpenShard(self.path / entry.file, entry, self.manifest)
            self._shards[key] = shard
        return shard

    def record_batch(self, b: int) -> pa.RecordBatch:
        """The verified Arrow record batch ``b`` (for callers who want Arrow, not torch)."""
        entry, blk = self.manifest.locate(b)
        shard = self._shard(entry)
        where = f"dataset {self.manifest.dataset_id} batch {b} ({entry.file} @ {blk.offset}+{blk.length})"
        data = shard.buffer.slice(blk.offset, blk.length)
        if self.verify:
            verify_sha256(data, blk.sha256, where)
        rb = read_batch_message(data, shard.schema, where)
        if rb.num_rows != blk.samples:
            raise FormatError(f"{where}: {rb.num_rows} samples but manifest says {blk.samples}")
        return rb

    def batch(self, b: int) -> Dict[str, torch.Tensor]:
        """Batch ``b`` as padded torch tensors (see :func:`record_batch_to_tensors`)."""
        rb = self.record_batch(b)
        where = f"dataset {self.manifest.dataset_id} batch {b}"
        return manifest_checked_tensors(rb, self.manifest, b, where, self.pad_to, self.logprob_fill)

    def __getitem__(self, b: int) -> Dict[str, torch.Tensor]:
        return self.batch(b)

    def verify_shards(self) -> List[Tuple[str, bool]]:
        """Hash every whole shard against the manifest (slow; the ``verify`` CLI's job)."""
        result = []
        for entry in self.manifest.shards:
            shard = self._shard(entry)
            ok = hashlib.sha256(memoryview(shard.buffer)).hexdigest() == entry.sha256
            result.append((entry.file, ok))
        return result

    def close(self) -> None:
        for s in self._shards.values():
            s.map.close()
        self._shards = {}
