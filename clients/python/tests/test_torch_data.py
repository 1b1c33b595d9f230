"""Sharding across ranks × DataLoader workers, deterministic shuffling, resume."""
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from logit_cache import LogitCacheDataset
from logit_cache.testing import samples_from_logits, write_dataset
from logit_cache.torch_data import CacheBatches, CacheIterable, epoch_order

from conftest import make_teacher, need_writer


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    need_writer()
    ids, logits = make_teacher(n=23, vocab=32, seed=5, max_len=5)
    d = write_dataset(tmp_path_factory.mktemp("torch"), "s", samples_from_logits(ids, logits, 4), k=4, batch_size=2, batches_per_shard=3, vocab_size=32)
    return LogitCacheDataset(d)  # 12 batches, last one has 1 sample


def _indices(ds, workers):
    loader = DataLoader(ds, batch_size=None, num_workers=workers)
    return [int(b["batch_index"]) for b in loader]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("workers", [0, 2, 3])
def test_every_batch_exactly_once(reader, world, workers):
    seen = Counter()
    for rank in range(world):
        ds = CacheIterable(reader, seed=7, rank=rank, world_size=world)
        got = _indices(ds, workers)
        assert got == ds.rank_order()  # the loader's order is the rank's order, any worker count
        seen.update(got)
    assert sorted(seen) == list(range(len(reader))) and set(seen.values()) == {1}


def test_batches_have_the_right_content(reader):
    for b in CacheIterable(reader, seed=1):
        direct = reader.batch(int(b["batch_index"]))
        assert torch.equal(b["topk_ids"], direct["topk_ids"])


def test_shuffle_is_deterministic_and_changes_per_epoch(reader):
    a, b = CacheIterable(reader, seed=3), CacheIterable(reader, seed=3)
    assert a.rank_order() == b.rank_order()
    first = a.rank_order()
    a.set_epoch(1)
    assert a.rank_order() != first and sorted(a.rank_order()) == sorted(first)
    assert epoch_order(12, 0, 1).tolist() != epoch_order(12, 1, 0).tolist()
    assert CacheIterable(reader, shuffle=False).rank_order() == list(range(12))


def test_drop_uneven_gives_equal_counts(reader):
    counts = {len(CacheIterable(reader, rank=r, world_size=5, drop_uneven=True)) for r in range(5)}
    assert counts == {2}


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch(reader, workers):
    full_ds = CacheIterable(reader, seed=11, rank=1, world_size=2)
    full_ds.set_epoch(4)
    full = _indices(full_ds, workers)

    ds = CacheIterable(reader, seed=11, rank=1, world_size=2)
    ds.set_epoch(4)
    taken = []
    for batch in DataLoader(ds, batch_size=None, num_workers=workers):
        ds.update(batch)  # required with workers, harmless without
        taken.append(int(batch["batch_index"]))
        if len(taken) == 2:
            break
    state = ds.state_dict()
    assert state["position"] == 2 and state["epoch"] == 4

    resumed = CacheIterable(reader, seed=11, rank=1, world_size=2)
    resumed.load_state_dict(state)
    rest = _indices(resumed, workers)
    assert taken + rest == full


def test_in_process_position_tracks_without_update(reader):
    ds = CacheIterable(reader, seed=2)
    it = iter(ds)
    next(it), next(it), next(it)
    assert ds.state_dict()["position"] == 3


def test_resume_refuses_different_order(reader):
    state = CacheIterable(reader, seed=1, world_size=2, rank=0).state_dict()
    with pytest.raises(ValueError, match="seed=1"):
        CacheIterable(reader, seed=2, world_size=2, rank=0).load_state_dict(state)
    with pytest.raises(ValueError, match="world_size=2"):
        CacheIterable(reader, seed=1, world_size=3, rank=0).load_state_dict(state)


def test_bad_rank_rejected(reader):
    with pytest.raises(ValueError, match="rank=2 world_size=2"):
        CacheIterable(reader, rank=2, world_size=2)


def test_map_style(reader):
    loader = DataLoader(CacheBatches(reader), batch_size=None, shuffle=False, num_workers=2)
    assert [b["sample_id"].tolist()[0] for b in loader] == list(range(0, 23, 2))
