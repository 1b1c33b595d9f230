"""Ragged top-p datasets (format 2.3): written by the real TypeScript writer and trimmer, read
by the client as padded tensors plus ``topk_counts``, and the losses on them."""
import json

import numpy as np
import pytest
import torch

from logit_cache import HttpLogitCache, LogitCacheDataset
from logit_cache.errors import FormatError
from logit_cache.losses import bild_loss, topk_kl_loss
from logit_cache.testing import samples_from_logits, write_dataset

from conftest import make_teacher, need_writer

K, V = 16, 64


def expected_count(lp, top_p, min_k):
    """The rule from scratch: the first n in [min_k, K] whose float64 prefix mass reaches P."""
    if top_p >= 1:
        return K
    for n in range(min_k, K + 1):
        if np.exp(lp[:n].astype(np.float64)).sum() >= top_p:
            return n
    return K


@pytest.fixture(scope="module")
def teacher():
    ids, logits = make_teacher(n=8, vocab=V, seed=5, min_len=2, max_len=12, scale=4.0)
    return samples_from_logits(ids, logits, K)


@pytest.mark.parametrize("values,extra", [("f32", {}), ("f16", {}), ("q8", {"q8_scale": 0.1}),
                                          ("rank-delta", {"f16_ranks": 4, "grid_step": 0.099})])
def test_round_trip_matches_fixed_k_and_the_rule(tmp_path, teacher, values, extra):
    need_writer()
    fixed = LogitCacheDataset(write_dataset(tmp_path, "f", teacher, k=K, values=values, batch_size=8, vocab_size=V, **extra)).batch(0)
    d = write_dataset(tmp_path, "r", teacher, k=K, values=values, batch_size=8, vocab_size=V, top_p=0.8, min_k=2, **extra)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["formatVersion"] == "2.3" and manifest["topk"]["topP"] == 0.8 and manifest["topk"]["minK"] == 2
    ragged = LogitCacheDataset(d).batch(0)
    assert ragged["topk_ids"].shape == fixed["topk_ids"].shape
    counts = ragged["topk_counts"]
    trimmed = 0
    for i, s in enumerate(teacher):
        for t in range(len(s["input_ids"])):
            n = expected_count(np.asarray(s["topk_logprobs"][t], dtype=np.float32), 0.8, 2)
            assert int(counts[i, t]) == n
            trimmed += K - n
            assert torch.equal(ragged["topk_ids"][i, t, :n], fixed["topk_ids"][i, t, :n])
            assert torch.equal(ragged["topk_logprobs"][i, t, :n], fixed["topk_logprobs"][i, t, :n])
            assert int(ragged["topk_ids"][i, t, n:].abs().sum()) == 0
            assert bool((ragged["topk_logprobs"][i, t, n:] == float("-inf")).all())
        assert int(counts[i, len(s["input_ids"]):].abs().sum()) == 0
    assert trimmed > 0


def test_manifest_and_shard_disagreeing_is_refused_by_name(tmp_path, teacher):
    need_writer()
    d = write_dataset(tmp_path, "r", teacher, k=K, batch_size=8, vocab_size=V, top_p=0.8)
    path = d / "manifest.json"
    m = json.loads(path.read_text())
    del m["topk"]["topP"], m["topk"]["minK"]
    path.write_text(json.dumps(m))
    with pytest.raises(FormatError, match=r"logit_cache\.top_p='0\.8', manifest topk\.topP=None"):
        LogitCacheDataset(d).batch(0)


def ragged_view(batch, counts):
    """A fixed-k batch with only its first ``counts`` entries per position kept, padded as a reader pads."""
    k = batch["topk_ids"].shape[-1]
    keep = torch.arange(k) < counts[..., None]
    out = dict(batch)
    out["topk_ids"] = torch.where(keep, batch["topk_ids"], torch.zeros_like(batch["topk_ids"]))
    out["topk_logprobs"] = torch.where(keep, batch["topk_logprobs"], torch.full_like(batch["topk_logprobs"], float("-inf")))
    out["topk_counts"] = counts * batch["attention_mask"]
    return out


def truncated(batch, c):
    out = dict(batch)
    out["topk_ids"] = batch["topk_ids"][..., :c].contiguous()
    out["topk_logprobs"] = batch["topk_logprobs"][..., :c].contiguous()
    return out


@pytest.fixture(scope="module")
def fixed_batch(tmp_path_factory, teacher):
    need_writer()
    d = write_dataset(tmp_path_factory.mktemp("tp"), "f", teacher, k=K, batch_size=8, vocab_size=V)
    batch = LogitCacheDataset(d).batch(0)
    b, s = batch["input_ids"].shape
    student = torch.randn(b, s, V, generator=torch.Generator().manual_seed(3)) * 2
    return batch, student


def all_losses(student, batch, k=4):
    return {
        "bild": bild_loss(student, batch, k=k)[0],
        "bild_tail_mean": bild_loss(student, batch, k=k, impute="tail_mean")[0],
        "kl": topk_kl_loss(student, batch),
        "kl_tail": topk_kl_loss(student, batch, tail_bucket=True),
    }


def test_losses_equal_fixed_k_when_every_count_is_k(fixed_batch):
    batch, student = fixed_batch
    counts = torch.full(batch["attention_mask"].shape, K, dtype=torch.int64)
    a, b = all_losses(student, batch), all_losses(student, ragged_view(batch, counts))
    for name in a:
        assert float(a[name]) == float(b[name]), name


def test_uniform_count_equals_the_cache_truncated_to_it(fixed_batch):
    """Keeping c entries everywhere is a fixed-k cache with k = c: the padding must not count."""
    batch, student = fixed_batch
    c = 6
    counts = torch.full(batch["attention_mask"].shape, c, dtype=torch.int64)
    got, want = all_losses(student, ragged_view(batch, counts)), all_losses(student, truncated(batch, c))
    for name in got:
        assert float(got[name]) == pytest.approx(float(want[name]), rel=1e-6, abs=1e-7), name
    # Reading the padding as data (no counts) gives another answer: the mask is doing work.
    no_counts = {key: v for key, v in ragged_view(batch, counts).items() if key != "topk_counts"}
    assert float(topk_kl_loss(student, no_counts)) != pytest.approx(float(want["kl"]), rel=1e-3)


def test_losses_finite_with_gradients_when_positions_keep_one_entry(fixed_batch):
    batch, student = fixed_batch
    g = torch.Generator().manual_seed(7)
    counts = torch.randint(1, K + 1, batch["attention_mask"].shape, generator=g)
    counts[:, ::3] = 1  # no pair at all for BiLD's teacher-led part
    ragged = ragged_view(batch, counts)
    for name, fn in (("bild", lambda x: bild_loss(x, ragged, k=8)[0]),
                     ("bild_tail_mean", lambda x: bild_loss(x, ragged, k=8, impute="tail_mean")[0]),
                     ("kl", lambda x: topk_kl_loss(x, ragged)),
                     ("kl_tail", lambda x: topk_kl_loss(x, ragged, tail_bucket=True))):
        x = student.clone().requires_grad_(True)
        loss = fn(x)
        loss.backward()
        assert torch.isfinite(loss), name
        assert bool(torch.isfinite(x.grad).all()), name
        assert float(x.grad.abs().sum()) > 0, name


def test_http_and_static_range_reads_equal_local(tmp_path, teacher, serve_root, static_server):
    """The served stream is the stored ragged batch: GET /logits, Range reads of the files, and
    the local memory map all decode to the same padded tensors and counts."""
    need_writer()
    d = write_dataset(tmp_path, "r", teacher, k=K, values="f16", batch_size=3, vocab_size=V, top_p=0.7, min_k=1)
    local = LogitCacheDataset(d)
    remote = HttpLogitCache(serve_root(tmp_path).url, "r")
    ranged = LogitCacheDataset(f"{static_server(tmp_path).url}/r")
    assert len(local) == 3
    for b in range(len(local)):
        want = local.batch(b)
        assert "topk_counts" in want and int(want["topk_counts"].max()) <= K
        for got in (remote.batch(b), ranged.batch(b)):
            assert sorted(got) == sorted(want)
            for key in want:
                assert torch.equal(got[key], want[key]), (b, key)
