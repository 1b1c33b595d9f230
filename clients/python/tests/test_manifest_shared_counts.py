"""The shared-position counts a 2.5 writer records in the manifest (``shards[].sharedPositions``,
``stats.sharedPositions``; docs/FORMAT.md 6.1), as this client reads them: equal to the stored
``prefix_len`` read with pyarrow alone, checked against each other like the other counts, and
optional (a manifest without them, as written before, reads the same batches).
"""
from __future__ import annotations

import numpy as np
import pyarrow.ipc as ipc
import pytest

from logit_cache import LogitCacheDataset
from logit_cache.errors import MANIFEST_INVALID, SHARD_CORRUPT, FormatError, ShardCorruptError
from logit_cache.manifest import load_manifest
from logit_cache.testing import samples_from_logits, write_dataset

from conftest import assert_same_batches, edit_manifest, need_writer

VOCAB = 64
K = 4
N = 5  # --share-prefixes


def _sequences():
    """Two templates repeated with different tails, exact duplicates and unrelated samples."""
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, VOCAB, 14).tolist(), rng.integers(0, VOCAB, 9).tolist()
    tail = lambda n: rng.integers(0, VOCAB, n).tolist()  # noqa: E731
    seqs = []
    for i in range(20):
        seqs.append([a, b, a[:7], None][i % 4] or tail(6))
        seqs[-1] = seqs[-1] + tail(i % 3)
    return seqs


def _causal_logits(seq):
    """Row t depends only on seq[0..t], as a causal teacher's would."""
    out = np.empty((len(seq), VOCAB), np.float32)
    h = 17
    for t, tok in enumerate(seq):
        h = (h * 1000003 + tok + 1) % (2**31)
        out[t] = np.random.default_rng(h).standard_normal(VOCAB) * 3
    return out


@pytest.fixture
def shared(tmp_path):
    need_writer()
    seqs = _sequences()
    return write_dataset(tmp_path, "shared", samples_from_logits(seqs, [_causal_logits(s) for s in seqs], K),
                         k=K, batch_size=3, batches_per_shard=2, vocab_size=VOCAB, share_prefixes=N)


def _stored_prefix_len_per_shard(dataset):
    m = load_manifest(dataset)
    return [sum(ipc.open_file(str(dataset / s.file)).read_all().column("prefix_len").to_pylist()) for s in m.shards]


def test_recorded_counts_equal_the_stored_prefix_len(shared):
    m = load_manifest(shared)
    per_shard = _stored_prefix_len_per_shard(shared)
    assert sum(1 for n in per_shard if n > 0) > 1, per_shard  # something to count, in several shards
    assert [s.shared_positions for s in m.shards] == per_shard
    assert m.raw["stats"]["sharedPositions"] == sum(per_shard)


def test_a_manifest_without_counts_reads_the_same(shared, tmp_path):
    before = LogitCacheDataset(shared)
    want = [before.batch(i) for i in range(len(before))]

    def drop(m):
        for s in m["shards"]:
            del s["sharedPositions"]
        del m["stats"]["sharedPositions"]

    edit_manifest(shared, drop)
    assert all(s.shared_positions is None for s in load_manifest(shared).shards)
    after = LogitCacheDataset(shared)
    assert len(after) == len(want)
    for i, w in enumerate(want):
        assert_same_batches(after.batch(i), w)


@pytest.mark.parametrize("edit,message", [
    (lambda m: m["shards"][0].update(sharedPositions=m["shards"][0]["sharedPositions"] + 1), r"stats.sharedPositions \d+, but the shards record \d+"),
    (lambda m: m["stats"].pop("sharedPositions"), "stats.sharedPositions absent"),
    (lambda m: m["shards"][1].pop("sharedPositions"), r"recorded in \d+ of \d+ shards"),
    (lambda m: m["shards"][0].update(sharedPositions=-1), "sharedPositions"),
])
def test_counts_that_do_not_hold_together_are_refused(shared, edit, message):
    edit_manifest(shared, edit)
    with pytest.raises(FormatError, match=message) as e:
        LogitCacheDataset(shared)
    assert e.value.code == MANIFEST_INVALID


def test_a_count_above_its_shard_tokens_is_refused(shared):
    def edit(m):
        s = m["shards"][0]
        extra = s["tokens"] + 1 - s["sharedPositions"]
        s["sharedPositions"] += extra
        m["stats"]["sharedPositions"] += extra

    edit_manifest(shared, edit)
    with pytest.raises(FormatError, match=r"shards\[0\].*sharedPositions \d+ is more than its \d+ tokens"):
        LogitCacheDataset(shared)


def test_a_count_the_hashed_index_does_not_confirm_refuses_the_shard(shared):
    """Consistent with the manifest's own sums, so only the index (hashed, and stamped with the
    count by the writer) can tell: shard 1 is refused on first use, shard 0 still reads."""
    m = load_manifest(shared)
    meta = ipc.open_file(str(shared / m.shards[1].index.file)).schema.metadata
    assert int(meta[b"logit_cache.shared_positions"]) == m.shards[1].shared_positions

    def edit(raw):
        raw["shards"][1]["sharedPositions"] += 1
        raw["stats"]["sharedPositions"] += 1

    edit_manifest(shared, edit)
    ds = LogitCacheDataset(shared)
    ds.batch(0)
    with pytest.raises(ShardCorruptError, match=r"shard-000001.*records \d+ shared positions; manifest says \d+") as e:
        ds.batch(m.shards[1].first_batch)
    assert e.value.code == SHARD_CORRUPT
