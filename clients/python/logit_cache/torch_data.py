"""torch datasets over a reader (local or HTTP), one item = one cached training batch.

The cache already groups samples into batches (the unit that is checksummed and
served), so a DataLoader here uses ``batch_size=None``.  The iterable version splits
the epoch's batch order first by distributed rank, then by DataLoader worker, and can
resume mid-epoch: order depends only on (seed, epoch), and the position is the number
of batches this rank has consumed.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info


class BatchReader(Protocol):
    """What both readers provide; anything with these two methods works."""

    def __len__(self) -> int: ...

    def batch(self, b: int) -> Dict[str, torch.Tensor]: ...


class CacheBatches(Dataset):
    """Map-style: ``ds[b]`` is cached batch ``b``.  Use ``DataLoader(ds, batch_size=None)``;
    sampling/sharding is then the sampler's job (e.g. ``DistributedSampler``)."""

    def __init__(self, reader: BatchReader) -> None:
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, b: int) -> Dict[str, torch.Tensor]:
        return self.reader.batch(int(b))


def _default_rank_world() -> tuple:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def epoch_order(num_batches: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The dataset-wide batch order of one epoch.  A function of (seed, epoch) only, so
    every rank computes the same permutation without communicating."""
    if not shuffle:
        return np.arange(num_batches, dtype=np.int64)
    # SeedSequence over both numbers: seed=0,epoch=1 and seed=1,epoch=0 must differ.
    return np.random.default_rng([seed, epoch]).permutation(num_batches).astype(np.int64)


class CacheIterable(IterableDataset):
    """Iterable over cached batches with rank × worker sharding and resumable position.

    Each yielded dict gains ``batch_index`` (the dataset batch) and ``position`` (its
    index in this rank's epoch order).  Resume: save ``state_dict()`` with the model,
    later ``load_state_dict()`` and iterate again; already-consumed batches are skipped.

    With ``num_workers > 0`` the iteration runs in worker copies, so the main-process
    object cannot see progress: call ``update(batch)`` on every batch you train on
    (cheap) before ``state_dict()``.  DataLoader returns worker outputs round-robin,
    and worker ``w`` takes every ``num_workers``-th remaining batch starting at ``w``,
    so the loader's order equals this rank's order whatever the worker count.
    """

    def __init__(
        self,
        reader: BatchReader,
        shuffle: bool = True,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        drop_uneven: bool = False,
    ) -> None:
        super().__init__()
        d_rank, d_world = _default_rank_world()
        self.rank = d_rank if rank is None else int(rank)
        self.world_size = d_world if world_size is None else int(world_size)
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={self.rank} world_size={self.world_size}")
        self.reader = reader
        self.shuffle = shuffle
        self.seed = int(seed)
        # DDP hangs if ranks run different step counts; drop_uneven trims the epoch to a
        # multiple of world_size (the dropped batches change with the shuffle each epoch).
        self.drop_uneven = drop_uneven
        self.epoch = 0
        self.position = 0

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its beginning (new shuffle)."""
        self.epoch = int(epoch)
        self.position = 0

    def rank_order(self) -> List[int]:
        """The batches this rank visits this epoch, in order."""
        order = epoch_order(len(self.reader), self.seed, self.epoch, self.shuffle)
        if self.drop_uneven:
            order = order[: len(order) - len(order) % self.world_size]
        return order[self.rank :: self.world_size].tolist()

    def __len__(self) -> int:
        return len(self.rank_order())

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        order = self.rank_order()
        if self.position >= len(order):
            self.position = 0  # a finished epoch iterated again replays it (call set_epoch to reshuffle)
        start = self.position
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in range(start + wid, len(order), nw):
            out = dict(self.reader.batch(order[i]))
            out["batch_index"] = torch.tensor(order[i], dtype=torch.int64)
            out["position"] = torch.tensor(i, dtype=torch.int64)
            self.position = i + 1  # meaningful in-process; workers' copies are discarded
            yield out

    def update(self, batch: Dict[str, Any]) -> None:
        """Record that ``batch`` (as yielded, possibly by a worker) has been consumed."""
        self.position = int(batch["position"]) + 1

    def state_dict(self) -> Dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "rank": self.rank,
            "world_size": self.world_size,
            "drop_uneven": self.drop_uneven,
            "num_batches": len(self.reader),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore the position.  The order must be reproducible, so anything that changes
        it (seed, shuffle, world size, dataset size) must match; a mismatch is an error."""
        mine = self.state_dict()
        for key in ("seed", "shuffle", "world_size", "drop_uneven", "num_batches", "rank"):
            if key in state and state[key] != mine[key]:
                raise ValueError(f"cannot resume: saved {key}={state[key]!r} but this dataset has {key}={mine[key]!r}")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
