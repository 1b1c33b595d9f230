"""Resolving a shared-prefix batch (format 2.5, FORMAT.md §4.3) copies only the positions it takes.

A batch whose samples borrow their first positions from roots in several earlier batches, written
by the real TypeScript writer with and without ``share_prefixes``: the resolved batches must equal
the unshared ones exactly, and resolving the borrowing batch must allocate (Arrow memory pool, peak
during the call) about the resolved per-position columns' size, not the owner batches' columns it
reads from (which here are many times larger).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from logit_cache import LogitCacheDataset
from logit_cache import shared_prefix
from logit_cache.testing import samples_from_logits, write_dataset

from conftest import assert_same_batches, need_writer
from test_shared_prefix import VOCAB, causal_logits

K = 8
N = 6  # --share-prefixes
BATCH = 8
OWNER_BATCHES = 4
ROOT_LEN = 120
SHARED = 10
TAIL = 30
# Proxy pools stay referenced for the whole run: a buffer freed after its pool would crash.
_POOLS = []


def borrowing_sequences(seed=0):
    """Four batches of long roots, then one batch whose rows share SHARED tokens with a root of
    each of those batches in turn (and one row with a root of its own batch), with new tails."""
    rng = np.random.default_rng(seed)
    doc = lambda n: rng.integers(0, VOCAB, n).tolist()  # noqa: E731
    roots = [doc(ROOT_LEN) for _ in range(OWNER_BATCHES * BATCH)]
    last = [doc(SHARED + TAIL)]
    last.append(last[0][:SHARED] + doc(TAIL))
    for r in range(2, BATCH):
        last.append(roots[((r - 2) % OWNER_BATCHES) * BATCH + r][:SHARED] + doc(TAIL))
    return roots + last


ENCODINGS = {
    "compact": dict(values="rank-delta", f16_ranks=4, grid_step=0.099, ids="ctx-table", codec="zstd"),
    "f16-top-p": dict(values="f16", top_p=0.9, min_k=2),
    "parquet-ctx": dict(values="f16", ids="ctx-table", shard_format="parquet"),
}


@pytest.fixture(scope="module")
def samples():
    need_writer()
    seqs = borrowing_sequences()
    return samples_from_logits(seqs, [causal_logits(s) for s in seqs], K, tail_mass=True)


def _resolve_measured(ds: LogitCacheDataset, b: int):
    """(peak Arrow pool bytes while resolving batch b, resolved per-position bytes, owner batches'
    per-position bytes, owner batches read): the stored batches are read and prepared beforehand
    through the reader's own checked path, so the peak is the resolution's alone."""
    reader, m = ds.reader, ds.manifest
    s = m.shard_of(b)
    shard = reader.shard(s)
    stored = reader._read_prepared(shard, s, b, True)
    owners = {o: reader._read_prepared(shard, s, o, True) for o in range(b)}
    per_position = shared_prefix._per_position(stored.rb.schema)
    owner_bytes = sum(src.rb.column(name).nbytes for src in owners.values() for name in per_position)
    asked = []

    def owner(o):
        asked.append(o)
        return owners[o]

    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    _POOLS.append(pool)
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        rb = shared_prefix.resolve(stored, b, m.batch_size, shard.entry.first_sample, owner, f"batch {b}")
        peak = pool.max_memory()
        out_bytes = sum(rb.column(name).values.nbytes for name in per_position)
        del rb
    finally:
        pa.set_memory_pool(previous)
    return peak, out_bytes, owner_bytes, asked


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_batch_borrowing_from_several_owner_batches_copies_only_what_it_takes(tmp_path: Path, samples, encoding):
    kw = ENCODINGS[encoding]
    common = dict(k=K, batch_size=BATCH, batches_per_shard=OWNER_BATCHES + 1, vocab_size=VOCAB, **kw)
    shared_dir = write_dataset(tmp_path / "a", "shared", samples, share_prefixes=N, **common)
    plain_dir = write_dataset(tmp_path / "b", "plain", samples, **common)
    shared, plain = LogitCacheDataset(shared_dir), LogitCacheDataset(plain_dir)
    assert shared.manifest.topk.shared_prefixes and len(shared.manifest.shards) == 1
    b = OWNER_BATCHES
    # Equal to the unshared dataset, batch by batch (the borrowing one resolved through the reader).
    assert len(shared) == len(plain) == OWNER_BATCHES + 1
    for i in range(len(shared)):
        assert_same_batches(shared.batch(i), plain.batch(i))
    peak, out_bytes, owner_bytes, asked = _resolve_measured(shared, b)
    print(f"{encoding}: resolve peak {peak} B, resolved per-position columns {out_bytes} B, owner batches' {owner_bytes} B")
    assert asked == list(range(OWNER_BATCHES))  # the writer referenced every earlier batch
    assert owner_bytes > 5 * out_bytes  # else the bound below would not tell the two ways apart
    # The resolved columns plus allocation padding (64 bytes a buffer); a concatenation of the
    # owners' columns would be at least owner_bytes / (number of columns) on top.
    assert peak <= 1.2 * out_bytes + 4096, (peak, out_bytes, owner_bytes)
