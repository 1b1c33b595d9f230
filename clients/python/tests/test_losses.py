"""BiLD and top-k KL from the cache against full-logit references and first principles."""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from logit_cache import LogitCacheDataset
from logit_cache.losses import bild_loss, bild_loss_full, bild_parts, topk_kl_loss
from logit_cache.testing import samples_from_logits, write_dataset

from conftest import make_teacher, need_writer


def padded_logits(logits, seq, vocab):
    """Full teacher logits [B,S,V], padding rows zero (masked anyway)."""
    out = torch.zeros(len(logits), seq, vocab)
    for r, lg in enumerate(logits):
        out[r, : len(lg)] = torch.from_numpy(lg)
    return out


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """(batch from an f32 k=16 cache, full teacher logits, a student) for 6 samples, V=64."""
    ids, logits = make_teacher(n=6, vocab=64, seed=9, min_len=3, max_len=10)
    need_writer()
    d = write_dataset(tmp_path_factory.mktemp("losses"), "l", samples_from_logits(ids, logits, 16), k=16, batch_size=6, vocab_size=64)
    batch = LogitCacheDataset(d).batch(0)
    B, S = batch["input_ids"].shape
    teacher = padded_logits(logits, S, 64)
    student = torch.randn(B, S, 64, generator=torch.Generator().manual_seed(0)) * 2
    return batch, teacher, student


def naive_pair_kl(t, s, T):
    """One token, explicit loops: softmax over pair differences i<j, then KL(t||s)."""
    pairs = list(itertools.combinations(range(len(t)), 2))
    dt = [(t[i] - t[j]) / T for i, j in pairs]
    ds = [(s[i] - s[j]) / T for i, j in pairs]
    zt = sum(math.exp(x) for x in dt)
    zs = sum(math.exp(x) for x in ds)
    return sum((math.exp(a) / zt) * (a - math.log(zt) - b + math.log(zs)) for a, b in zip(dt, ds))


def test_full_reference_matches_naive_definition():
    g = torch.Generator().manual_seed(1)
    t, s = torch.randn(1, 1, 20, generator=g) * 3, torch.randn(1, 1, 20, generator=g) * 3
    _, info = bild_loss_full(s, t, k=5, temperature=2.0)
    ti = t[0, 0].topk(5).indices
    si = s[0, 0].topk(5).indices
    want_t = naive_pair_kl(t[0, 0, ti].tolist(), s[0, 0, ti].tolist(), 2.0)
    want_s = naive_pair_kl(t[0, 0, si].tolist(), s[0, 0, si].tolist(), 2.0)
    assert info["teacher_led"].item() == pytest.approx(want_t, rel=1e-5)
    assert info["student_led"].item() == pytest.approx(want_s, rel=1e-5)


@pytest.mark.parametrize("k", [2, 8, 16])
def test_teacher_led_from_cache_equals_full(cached, k):
    batch, teacher, student = cached
    mask = batch["attention_mask"]
    _, info = bild_loss(student, batch, k=k, mask=None)
    _, ref = bild_loss_full(student, teacher, k=k, mask=mask)
    assert info["teacher_led"].item() == pytest.approx(ref["teacher_led"].item(), rel=1e-5, abs=1e-7)
    # per token too, not just on average
    per = bild_parts(student, batch, k=k)["teacher_led_per_token"][mask.bool()]
    assert torch.isfinite(per).all() and (per >= -1e-6).all()


def test_gradients_flow_and_are_finite(cached):
    batch, teacher, student = cached
    s = student.clone().requires_grad_(True)
    loss, info = bild_loss(s, batch, k=8)
    loss.backward()
    assert torch.isfinite(s.grad).all()
    mask = batch["attention_mask"].bool()
    assert s.grad[mask].abs().sum() > 0
    assert s.grad[~mask].abs().sum() == 0  # padding positions contribute nothing
    assert not info["teacher_led"].requires_grad

    s2 = student.clone().requires_grad_(True)
    topk_kl_loss(s2, batch, tail_bucket=True).backward()
    assert torch.isfinite(s2.grad).all() and s2.grad[mask].abs().sum() > 0


def test_masked_positions_do_not_matter(cached):
    batch, _, student = cached
    mask = batch["attention_mask"].bool()
    other = student.clone()
    other[~mask] = 1e3 * torch.randn_like(other[~mask])
    assert torch.equal(bild_loss(student, batch)[0], bild_loss(other, batch)[0])
    custom = mask.clone()
    custom[:, 0] = False
    assert not torch.equal(bild_loss(student, batch, mask=custom)[0], bild_loss(student, batch)[0])


def test_student_equal_teacher_nothing_imputed(cached):
    batch, teacher, _ = cached
    loss, info = bild_loss(teacher, batch, k=8)
    assert info["imputed_fraction"].item() == 0.0
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_student_led_from_cache_equals_full_when_covered(cached):
    batch, teacher, _ = cached
    # a student close to the teacher: its top-8 lies inside the cached top-16
    student = teacher + 0.3 * torch.randn(teacher.shape, generator=torch.Generator().manual_seed(3))
    _, info = bild_loss(student, batch, k=8)
    _, ref = bild_loss_full(student, teacher, k=8, mask=batch["attention_mask"])
    assert info["imputed_fraction"].item() == 0.0
    assert info["student_led"].item() == pytest.approx(ref["student_led"].item(), rel=1e-5)


def test_imputation_counts_misses_and_uses_an_upper_bound(cached):
    batch, teacher, student = cached
    mask = batch["attention_mask"].bool()
    parts = bild_parts(student, batch, k=8)
    s_ids = student.topk(8, dim=-1).indices
    in_cache = (s_ids[..., :, None] == batch["topk_ids"][..., None, :]).any(-1)
    want = (~in_cache)[mask].float().mean().item()
    assert parts["imputed_fraction"].item() == pytest.approx(want)
    assert 0 < want < 1
    # the floor is >= every uncached teacher log-prob
    lp_full = F.log_softmax(teacher, -1)
    floor = batch["topk_logprobs"].min(-1).values
    uncached = torch.ones_like(lp_full, dtype=torch.bool).scatter(-1, batch["topk_ids"], False)
    assert (lp_full.masked_fill(~uncached, -math.inf).max(-1).values <= floor + 1e-6)[mask].all()


def test_topk_kl_nonnegative_and_zero_at_teacher(cached):
    batch, teacher, student = cached
    for tail in (False, True):
        for s in (student, student * 5, torch.zeros_like(student)):
            assert topk_kl_loss(s, batch, tail_bucket=tail).item() >= -1e-6
        assert topk_kl_loss(teacher, batch, tail_bucket=tail).item() == pytest.approx(0.0, abs=1e-5)
    # only the support matters without a tail bucket: moving mass outside it changes nothing
    outside = teacher.clone().scatter_add(-1, batch["topk_ids"], torch.zeros_like(batch["topk_logprobs"]))
    outside = outside + 5.0
    outside.scatter_(-1, batch["topk_ids"], teacher.gather(-1, batch["topk_ids"]))
    assert topk_kl_loss(outside, batch).item() == pytest.approx(0.0, abs=1e-5)
    assert topk_kl_loss(outside, batch, tail_bucket=True).item() > 1e-3


def test_topk_kl_matches_direct_formula(cached):
    batch, teacher, student = cached
    mask = batch["attention_mask"].bool()
    p = batch["topk_logprobs"].exp()[mask].double()
    q = F.softmax(student.double(), -1).gather(-1, batch["topk_ids"])[mask]
    pn, qn = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
    want = (pn * (pn / qn).log()).sum(-1).mean().item()
    assert topk_kl_loss(student, batch).item() == pytest.approx(want, rel=1e-4)
    pt, qt = 1 - p.sum(-1), 1 - q.sum(-1)
    want_tail = ((p * (p / q).log()).sum(-1) + pt * (pt / qt).log()).mean().item()
    assert topk_kl_loss(student, batch, tail_bucket=True).item() == pytest.approx(want_tail, rel=1e-4)


def test_validation_names_the_value(cached):
    batch, _, student = cached
    with pytest.raises(ValueError, match="teacher id 6[0-9] is outside the student vocabulary of 60"):
        bild_loss(student[..., :60], batch)
    with pytest.raises(ValueError, match="k=17"):
        bild_loss(student, batch, k=17)
    with pytest.raises(ValueError, match="got 1"):
        bild_loss(student, batch, k=1)
    with pytest.raises(TypeError, match="torch.int64"):
        bild_loss(student.long(), batch)
    with pytest.raises(ValueError, match=r"\(6, 10\)|\[B, S, V\]"):
        bild_loss(student[0], batch)
    with pytest.raises(ValueError, match="topk_ids shape"):
        bild_loss(student[:, :-1], batch)
    with pytest.raises(TypeError, match="torch.int32"):
        bild_loss(student, {**batch, "topk_logprobs": batch["topk_logprobs"].int()})
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        bild_loss(student, batch, temperature=0)
    with pytest.raises(ValueError, match="mask shape"):
        topk_kl_loss(student, batch, mask=torch.ones(2, 2))
    with pytest.raises(ValueError, match="teacher_logits shape"):
        bild_loss_full(student, student[..., :10])


def test_low_precision_student_is_accepted(cached):
    batch, teacher, student = cached
    loss, _ = bild_loss(student.to(torch.bfloat16), batch)
    assert torch.isfinite(loss) and loss.dtype == torch.float32


# --------------------------------------------------------------------------- imputation modes

@pytest.mark.parametrize("impute", ["floor", "tail_mean"])
def test_impute_mode_is_exact_when_nothing_is_imputed(cached, impute):
    batch, teacher, _ = cached
    student = teacher + 0.3 * torch.randn(teacher.shape, generator=torch.Generator().manual_seed(3))
    _, info = bild_loss(student, batch, k=8, impute=impute)
    _, ref = bild_loss_full(student, teacher, k=8, mask=batch["attention_mask"])
    assert info["imputed_fraction"].item() == 0.0
    assert info["student_led"].item() == pytest.approx(ref["student_led"].item(), rel=1e-5)


def _one_token_batch(cached_lp, cached_ids):
    """A [1, 1, K] batch from explicit cached ids and log-probs."""
    return {
        "topk_ids": torch.tensor([[cached_ids]]),
        "topk_logprobs": torch.tensor([[cached_lp]], dtype=torch.float32),
        "attention_mask": torch.ones(1, 1, dtype=torch.int64),
    }


def test_impute_values_on_a_hand_built_token():
    # V = 10, cached K = 3 with p = 0.5, 0.2, 0.1: tail mass 0.2 over 7 uncached ids.
    V = 10
    lp = [math.log(0.5), math.log(0.2), math.log(0.1)]
    batch = _one_token_batch(lp, [4, 7, 1])
    # student top-3: ids 4 (cached, 0.5), 0 and 9 (both uncached), in that order
    student = torch.full((1, 1, V), -5.0)
    student[0, 0, 4], student[0, 0, 0], student[0, 0, 9] = 3.0, 2.0, 1.0
    s_vals = [3.0, 2.0, 1.0]
    for impute, fill in (("floor", math.log(0.1)), ("tail_mean", math.log(0.2 / 7))):
        parts = bild_parts(student, batch, k=3, temperature=2.0, impute=impute)
        want = naive_pair_kl([math.log(0.5), fill, fill], s_vals, 2.0)
        assert parts["student_led"].item() == pytest.approx(want, rel=1e-5), impute
        assert parts["imputed_fraction"].item() == pytest.approx(2 / 3)
    # tail_mean sits below the floor: it is the *average* uncached probability
    assert math.log(0.2 / 7) < math.log(0.1)


def test_tail_mean_never_exceeds_the_floor_and_handles_a_zero_tail():
    from logit_cache.losses import impute_value

    # quantised values whose mass exceeds 1: tail 0 -> clamp value, still <= floor
    lp = torch.log(torch.tensor([[0.7, 0.2, 0.15]]))
    got = impute_value(lp, vocab=8, impute="tail_mean")
    assert got.item() <= lp.min().item() and math.isfinite(got.item())
    # a huge tail over few uncached ids would exceed the floor: capped at the floor
    lp = torch.log(torch.tensor([[0.3, 0.1]]))
    assert impute_value(lp, vocab=3, impute="tail_mean").item() == pytest.approx(math.log(0.1), rel=1e-6)
    # K = V: nothing can be uncached
    assert impute_value(lp, vocab=2, impute="tail_mean").item() == pytest.approx(math.log(0.1), rel=1e-6)


def test_tail_mean_is_below_floor_on_a_real_cache_and_gradients_flow(cached):
    batch, teacher, student = cached
    from logit_cache.losses import impute_value

    mask = batch["attention_mask"].bool()
    lp = batch["topk_logprobs"].clamp_min(-1e4)
    tail = impute_value(lp, 64, "tail_mean")[..., 0][mask]
    floor = lp.min(-1).values[mask]
    assert (tail <= floor + 1e-6).all() and (tail < floor).any()
    # it is the log of the mean uncached teacher probability (f32 cache of exact log-softmax)
    p_full = F.softmax(teacher, -1)
    uncached = torch.ones_like(p_full, dtype=torch.bool).scatter(-1, batch["topk_ids"], False)
    mean_p = (p_full * uncached).sum(-1) / uncached.sum(-1)
    assert torch.allclose(tail, mean_p.log()[mask], rtol=1e-3, atol=1e-4)

    s = student.clone().requires_grad_(True)
    loss, info = bild_loss(s, batch, k=8, impute="tail_mean")
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad[mask].abs().sum() > 0
    assert s.grad[~mask].abs().sum() == 0
    assert info["imputed_fraction"].item() > 0
    assert loss.item() != pytest.approx(bild_loss(student, batch, k=8, impute="floor")[0].item())


def test_unknown_impute_mode_is_refused(cached):
    batch, _, student = cached
    with pytest.raises(ValueError, match="impute must be one of .*'median'"):
        bild_loss(student, batch, impute="median")


def _exact_tail(full_logits, ids):
    """float64 log Σ p outside `ids` per position, from the full logits."""
    lp = F.log_softmax(full_logits.double(), -1)
    return lp.scatter(-1, ids, -math.inf).logsumexp(-1)


def _tail_kl_reference(lp, lt, student, ids):
    """float64 k+1-bucket KL with the given teacher tail, student tail from its own logits."""
    lz = torch.logsumexp(torch.cat([lp, lt[..., None]], -1), -1, keepdim=True)
    lp, lt = lp - lz, lt - lz[..., 0]
    ls = F.log_softmax(student.double(), -1)
    lq, lq_tail = ls.gather(-1, ids), ls.scatter(-1, ids, -math.inf).logsumexp(-1)
    return (lp.exp() * (lp - lq)).sum(-1) + lt.exp() * (lt - lq_tail)


def test_topk_kl_tail_bucket_uses_the_stored_exact_tail(cached):
    batch, teacher, student = cached
    mask = batch["attention_mask"].bool()
    exact = _exact_tail(teacher, batch["topk_ids"]).float()
    with_tail = dict(batch, topk_tail_logprob=torch.where(mask, exact, torch.full_like(exact, -math.inf)))
    assert topk_kl_loss(teacher, with_tail, tail_bucket=True).item() == pytest.approx(0.0, abs=1e-5)
    want = _tail_kl_reference(batch["topk_logprobs"].double(), exact.double(), student, batch["topk_ids"])[mask].mean().item()
    assert topk_kl_loss(student, with_tail, tail_bucket=True).item() == pytest.approx(want, rel=1e-4)
    with pytest.raises(ValueError, match="topk_tail_logprob shape"):
        topk_kl_loss(student, dict(batch, topk_tail_logprob=exact[:, :1]), tail_bucket=True)


def test_topk_kl_exact_tail_where_one_minus_sum_rounds_away():
    # A steep teacher at k = 128 of V = 300: Σp of the float32 top-k is 1, so 1 - Σp says "no
    # tail" while the true tail is ~e^-40; a student that puts 10% outside the top-k pays
    # for it only through the tail bucket's teacher side, which must be the stored value.
    V, k = 300, 128
    g = torch.Generator().manual_seed(3)
    teacher = torch.cat([torch.randn(1, 1, k, generator=g), torch.randn(1, 1, V - k, generator=g) - 45.0], -1)
    lp_full = F.log_softmax(teacher.double(), -1)
    lp, ids = lp_full.float().topk(k, -1)
    assert float(1 - lp.exp().sum()) <= 0.0
    exact = _exact_tail(teacher, ids)
    assert -60 < float(exact) < -30
    batch = {"topk_ids": ids, "topk_logprobs": lp, "attention_mask": torch.ones(1, 1, dtype=torch.int64),
             "topk_tail_logprob": exact.float()}
    student = torch.randn(1, 1, V, generator=g, requires_grad=True)
    loss = topk_kl_loss(student, batch, tail_bucket=True)
    loss.backward()
    assert torch.isfinite(student.grad).all()
    want = _tail_kl_reference(lp.double(), exact, student.detach(), ids).item()
    assert loss.item() == pytest.approx(want, rel=1e-5)
