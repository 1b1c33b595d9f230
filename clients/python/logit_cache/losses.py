"""Distillation losses from cached top-k teacher log-probabilities.

BiLD (Li et al., 2024, arXiv 2406.13555) compares models through *differences* of
their top-k logits, so it needs no normalisation: differences of log-probabilities
equal differences of logits, which is why a cache of log-probs serves it exactly.

All losses are differentiable in ``student_logits`` only (the cache is data), average
over the tokens a mask keeps (default: ``batch["attention_mask"]``), and compute in
float32 whatever the student's dtype.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F

Batch = Mapping[str, torch.Tensor]
#: Teacher log-probs are clamped here before use.  A cached -inf (probability 0, e.g. a
#: padding fill) would otherwise make differences inf-inf = NaN.
_MIN_LOGPROB = -1.0e4
#: Logit given to a pair that involves a ragged top-p padding entry: finite (so no inf - inf
#: reaches a gradient) and far enough below any real pair logit that its probability is 0.
_PAIR_OFF = -1.0e9


def _valid_entries(name: str, batch: Batch, ids: torch.Tensor) -> Optional[torch.Tensor]:
    """[B, S, K] bool of the real cached entries of a ragged top-p batch (format 2.3,
    ``topk_counts``), None when every entry is real (fixed k)."""
    counts = batch.get("topk_counts") if hasattr(batch, "get") else None
    if counts is None:
        return None
    if tuple(counts.shape) != tuple(ids.shape[:2]):
        raise ValueError(f"{name}: topk_counts shape {tuple(counts.shape)} does not match topk_ids {tuple(ids.shape)}")
    counts = counts.to(device=ids.device, dtype=torch.int64)
    return torch.arange(ids.shape[-1], device=ids.device) < counts[..., None]


# --------------------------------------------------------------------------- validation

def _check_student(name: str, student_logits: torch.Tensor) -> Tuple[int, int, int]:
    if not isinstance(student_logits, torch.Tensor):
        raise TypeError(f"{name}: student_logits must be a torch.Tensor, got {type(student_logits).__name__}")
    if student_logits.dim() != 3:
        raise ValueError(f"{name}: student_logits must be [B, S, V], got shape {tuple(student_logits.shape)}")
    if not student_logits.is_floating_point():
        raise TypeError(f"{name}: student_logits must be floating point, got {student_logits.dtype}")
    b, s, v = student_logits.shape
    return b, s, v


def _check_k(name: str, k: int, limit: int, what: str) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ValueError(f"{name}: k must be an int >= 2 (pairs need two logits), got {k!r}")
    if k > limit:
        raise ValueError(f"{name}: k={k} exceeds {what} ({limit})")


def _check_temperature(name: str, temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature!r}")


def _mask(name: str, mask: Optional[torch.Tensor], batch: Optional[Batch], shape, device) -> torch.Tensor:
    if mask is None:
        if batch is None:
            return torch.ones(shape, dtype=torch.bool, device=device)
        if "attention_mask" not in batch:
            raise KeyError(f"{name}: no mask given and the batch has no 'attention_mask' (keys: {sorted(batch)})")
        mask = batch["attention_mask"]
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name}: mask shape {tuple(mask.shape)} does not match student tokens {tuple(shape)}")
    return mask.to(device=device).bool()


def _cached(name: str, batch: Batch, b: int, s: int, v: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
    """The batch's cached ids/log-probs, validated against the student's [B, S, V]."""
    for key in ("topk_ids", "topk_logprobs"):
        if key not in batch:
            raise KeyError(f"{name}: batch has no {key!r} (keys: {sorted(batch)})")
    ids, lp = batch["topk_ids"], batch["topk_logprobs"]
    if ids.dim() != 3 or tuple(ids.shape[:2]) != (b, s):
        raise ValueError(f"{name}: topk_ids shape {tuple(ids.shape)} does not match student logits [B={b}, S={s}, V]")
    if tuple(lp.shape) != tuple(ids.shape):
        raise ValueError(f"{name}: topk_logprobs shape {tuple(lp.shape)} differs from topk_ids {tuple(ids.shape)}")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"{name}: topk_ids must be an integer tensor, got {ids.dtype}")
    if not lp.is_floating_point():
        raise TypeError(f"{name}: topk_logprobs must be floating point, got {lp.dtype}")
    if ids.numel():
        hi, lo = int(ids.max()), int(ids.min())
        if hi >= v or lo < 0:
            bad = hi if hi >= v else lo
            raise ValueError(f"{name}: cached teacher id {bad} is outside the student vocabulary of {v} logits")
    return ids.to(device=device, dtype=torch.int64), lp.to(device=device, dtype=torch.float32)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # where, not multiply: a NaN at a dropped position must not leak into the mean.
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp_min(1)


# --------------------------------------------------------------------------- BiLD core

def pair_log_softmax(values: torch.Tensor) -> torch.Tensor:
    """log-softmax over the k(k-1)/2 differences values[i] - values[j], i<j, of the last dim.

    ``values`` must already be in the leading model's rank order: the order fixes which
    of (a-b) or (b-a) is a pair's logit, which is what makes the loss order-aware.
    """
    k = values.shape[-1]
    i, j = torch.triu_indices(k, k, offset=1, device=values.device)
    return F.log_softmax(values[..., i] - values[..., j], dim=-1)


def pair_kl(teacher_values: torch.Tensor, student_values: torch.Tensor, temperature: float,
            valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """KL(teacher ‖ student) between pair-difference distributions, summed over pairs → [...].

    ``valid`` [..., k] bool (ragged top-p batches): only pairs of two real entries take part;
    a position with fewer than two real entries contributes 0."""
    if valid is None:
        lp = pair_log_softmax(teacher_values / temperature)
        lq = pair_log_softmax(student_values / temperature)
        return (lp.exp() * (lp - lq)).sum(-1)
    k = teacher_values.shape[-1]
    i, j = torch.triu_indices(k, k, offset=1, device=teacher_values.device)
    pair_ok = valid[..., i] & valid[..., j]
    off = torch.full_like(teacher_values[..., i], _PAIR_OFF)

    def masked_log_softmax(values: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(torch.where(pair_ok, values[..., i] - values[..., j], off), dim=-1)

    lp = masked_log_softmax(teacher_values / temperature)
    lq = masked_log_softmax(student_values / temperature)
    terms = torch.where(pair_ok, lp.exp() * (lp - lq), torch.zeros_like(lp))
    return terms.sum(-1)


#: How ``bild_parts`` fills the teacher's value at a student top-k id the cache lacks.
IMPUTE_MODES = ("floor", "tail_mean")


def impute_value(lp: torch.Tensor, vocab: int, impute: str = "floor", valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Teacher log-prob to use for every *uncached* id at each position → [..., 1].

    ``lp`` holds all cached log-probs [..., K] (already clamped/masked).
    * ``"floor"``: the lowest cached log-prob, an upper bound for every uncached id.
    * ``"tail_mean"``: log((1 − Σ exp lp) / (V − K)), the log of the *average* uncached
      probability (what a maximum-entropy spread of the tail mass gives every uncached
      id).  The tail mass is at most (V − K) × the lowest cached probability, so this
      is ≤ the floor; it is capped at the floor anyway, because quantised values can
      push Σp a little off.  A tail of 0 (quantisation, or K = V) gives the clamp value.
    Either way every uncached id at a position gets the *same* value: the cache holds
    no ordering among them.  ``valid`` (ragged top-p batches): only real entries count as
    cached, the floor is their lowest and the uncached ids are V − count.
    """
    if impute not in IMPUTE_MODES:
        raise ValueError(f"bild_loss: impute must be one of {IMPUTE_MODES}, got {impute!r}")
    if valid is None:
        floor = lp.min(-1, keepdim=True).values
    else:
        # A position with no real entry (padding) gets the clamp value, never +inf.
        floor = torch.where(valid, lp, torch.full_like(lp, float("inf"))).min(-1, keepdim=True).values
        floor = torch.where(valid.any(-1, keepdim=True), floor, torch.full_like(floor, _MIN_LOGPROB))
    if impute == "floor":
        return floor
    n_cached = lp.shape[-1] if valid is None else valid.sum(-1, keepdim=True)
    n_uncached = vocab - n_cached
    if valid is None and n_uncached <= 0:  # K = V: nothing is ever imputed, any value works
        return floor
    # Padding entries were clamped to _MIN_LOGPROB, whose exp is 0 in float32: Σp is of real ones.
    tail = (-torch.expm1(lp.logsumexp(-1, keepdim=True))).clamp_min(0.0)  # 1 − Σp, no cancellation
    if valid is None:
        mean_lp = torch.log(tail) - math.log(n_uncached)  # log(0) = -inf, clamped below
    else:
        # log n in float64, rounded once: the same float32 the fixed-k branch subtracts.
        mean_lp = torch.log(tail) - torch.log(n_uncached.to(torch.float64).clamp_min(1.0)).to(lp.dtype)
    return torch.minimum(mean_lp, floor).clamp_min(_MIN_LOGPROB)


def bild_parts(
    student_logits: torch.Tensor,
    batch: Batch,
    k: int = 8,
    temperature: float = 3.0,
    mask: Optional[torch.Tensor] = None,
    impute: str = "floor",
) -> Dict[str, torch.Tensor]:
    """Both BiLD parts from a cache, unreduced per token plus the masked means.

    Teacher-led: the first ``k`` cached ids (the teacher's top-k) and their log-probs,
    the student's logits at those ids.  Exact whenever the cache holds the teacher's
    top-k.  Student-led: the student's top-k ids; the teacher's value at each is looked
    up among *all* cached entries (a larger cached k means fewer misses); a miss is
    imputed per ``impute`` (see ``impute_value``): ``"floor"``, the lowest cached
    log-prob at that position (an upper bound for every uncached teacher value), or
    ``"tail_mean"``, the log of the mean uncached probability from the tail mass.
    Ragged top-p batches (``topk_counts``): only each position's kept entries are cached;
    teacher-led pairs use the first min(k, count) of them (a position keeping one entry has
    no pair and adds 0), and padding never matches a student id.  With every count equal to
    the cached k this is exactly the fixed-k loss.
    """
    name = "bild_loss"
    b, s, v = _check_student(name, student_logits)
    device = student_logits.device
    ids, lp = _cached(name, batch, b, s, v, device)
    _check_k(name, k, min(ids.shape[-1], v), f"the cached k / vocabulary (cached k={ids.shape[-1]}, V={v})")
    _check_temperature(name, temperature)
    if impute not in IMPUTE_MODES:
        raise ValueError(f"{name}: impute must be one of {IMPUTE_MODES}, got {impute!r}")
    keep = _mask(name, mask, batch, (b, s), device)

    student = student_logits.float()
    lp = torch.where(keep[..., None], lp, torch.zeros_like(lp)).clamp_min(_MIN_LOGPROB)
    valid = _valid_entries(name, batch, ids)

    t_ids = ids[..., :k]
    teacher_led = pair_kl(lp[..., :k], student.gather(-1, t_ids), temperature, None if valid is None else valid[..., :k])

    s_vals, s_ids = student.topk(k, dim=-1)
    match = s_ids[..., :, None] == ids[..., None, :]  # [B,S,k,K_cached]
    if valid is not None:
        match = match & valid[..., None, :]  # padding (id 0) is not a cached id
    found = match.any(-1)
    hit = lp.gather(-1, match.to(torch.uint8).argmax(-1))
    fill = impute_value(lp, v, impute, valid).expand_as(hit)
    t_at_s = torch.where(found, hit, fill)
    student_led = pair_kl(t_at_s, s_vals, temperature)

    kept = keep.sum()
    imputed = (~found & keep[..., None]).sum().float() / (kept * k).clamp_min(1)
    return {
        "teacher_led_per_token": teacher_led,
        "student_led_per_token": student_led,
        "teacher_led": _masked_mean(teacher_led, keep),
        "student_led": _masked_mean(student_led, keep),
        "imputed_fraction": imputed,
        "tokens": kept,
    }


def bild_loss(
    student_logits: torch.Tensor,
    batch: Batch,
    k: int = 8,
    temperature: float = 3.0,
    mask: Optional[torch.Tensor] = None,
    impute: str = "floor",
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """BiLD loss = teacher-led + student-led part, from a cached batch.

    ``batch`` is what a reader returns (``topk_ids``, ``topk_logprobs`` [B,S,K_cached],
    ``attention_mask``); needs K_cached >= k.  Returns ``(loss, info)``; ``info`` holds
    detached ``teacher_led``, ``student_led``, ``imputed_fraction`` (share of the
    student's top-k ids absent from the cache) and ``tokens``.  ``impute`` chooses the
    teacher value used for those ids (``"floor"`` or ``"tail_mean"``, see ``bild_parts``).
    """
    parts = bild_parts(student_logits, batch, k, temperature, mask, impute)
    loss = parts["teacher_led"] + parts["student_led"]
    info = {key: parts[key].detach() for key in ("teacher_led", "student_led", "imputed_fraction", "tokens")}
    return loss, info


def bild_loss_full(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    k: int = 8,
    temperature: float = 3.0,
    mask: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Reference BiLD on full teacher logits [B,S,V] (no cache, nothing imputed)."""
    name = "bild_loss_full"
    b, s, v = _check_student(name, student_logits)
    if not isinstance(teacher_logits, torch.Tensor) or tuple(teacher_logits.shape) != (b, s, v):
        shape = tuple(teacher_logits.shape) if isinstance(teacher_logits, torch.Tensor) else type(teacher_logits).__name__
        raise ValueError(f"{name}: teacher_logits shape {shape} must equal student_logits shape {(b, s, v)}")
    if not teacher_logits.is_floating_point():
        raise TypeError(f"{name}: teacher_logits must be floating point, got {teacher_logits.dtype}")
    _check_k(name, k, v, "the vocabulary size")
    _check_temperature(name, temperature)
    device = student_logits.device
    keep = _mask(name, mask, None, (b, s), device)
    student = student_logits.float()
    teacher = teacher_logits.detach().to(device=device, dtype=torch.float32)

    t_vals, t_ids = teacher.topk(k, dim=-1)
    teacher_led = pair_kl(t_vals, student.gather(-1, t_ids), temperature)
    s_vals, s_ids = student.topk(k, dim=-1)
    student_led = pair_kl(teacher.gather(-1, s_ids), s_vals, temperature)
    tl, sl = _masked_mean(teacher_led, keep), _masked_mean(student_led, keep)
    return tl + sl, {"teacher_led": tl.detach(), "student_led": sl.detach(), "tokens": keep.sum()}


# --------------------------------------------------------------------------- top-k KL

def topk_kl_loss(
    student_logits: torch.Tensor,
    batch: Batch,
    tail_bucket: bool = False,
    mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Forward KL(teacher ‖ student) restricted to the cached support, mean over kept tokens.

    ``tail_bucket=False``: both distributions renormalised on the k cached ids.
    ``tail_bucket=True``: k+1 buckets, the k ids plus one holding the rest of the mass
    (teacher ``1 - Σp``, student ``1 - Σq`` of its full softmax), so the student is also
    told how much mass belongs outside the top-k.  When the batch has the stored exact
    tail (``topk_tail_logprob``, datasets written with ``--tail-mass``) the teacher's tail
    bucket is that value, in log space, so it stays meaningful at k = 128 where 1 - Σp
    rounds to 0 in float32.  Otherwise the tail is ``1 - Σp``, and if quantisation makes
    the cached Σp exceed 1 the teacher buckets are rescaled to sum to 1 (tail 0).
    Ragged top-p batches (``topk_counts``): the support is each position's kept entries (the
    stored exact tail is then the mass outside them); equal to the fixed-k loss when every
    count is the cached k.
    """
    name = "topk_kl_loss"
    b, s, v = _check_student(name, student_logits)
    device = student_logits.device
    ids, lp = _cached(name, batch, b, s, v, device)
    keep = _mask(name, mask, batch, (b, s), device)
    lp = torch.where(keep[..., None], lp, torch.zeros_like(lp)).clamp_min(_MIN_LOGPROB)
    lq = F.log_softmax(student_logits.float(), dim=-1).gather(-1, ids)
    valid = _valid_entries(name, batch, ids)
    if valid is not None:
        # Padding is outside the support: the student's value at id 0 must not enter it. The
        # fill is finite so no gradient meets inf - inf; its exp is 0 in float32.
        lq = torch.where(valid, lq, torch.full_like(lq, _MIN_LOGPROB))

    def support_sum(terms: torch.Tensor) -> torch.Tensor:
        return (terms if valid is None else torch.where(valid, terms, torch.zeros_like(terms))).sum(-1)

    if not tail_bucket:
        lp_n = lp - lp.logsumexp(-1, keepdim=True)
        lq_n = lq - lq.logsumexp(-1, keepdim=True)
        kl = support_sum(lp_n.exp() * (lp_n - lq_n))
        return _masked_mean(kl, keep)

    tiny = torch.finfo(torch.float32).tiny
    # log(1 - Σq) from logsumexp without cancellation: log(-expm1(lse)).
    lq_tail = torch.log((-torch.expm1(lq.logsumexp(-1))).clamp_min(tiny))
    exact = batch.get("topk_tail_logprob")
    if exact is not None:
        lt = _exact_tail(name, exact, (b, s), keep, device)
        # The k+1 teacher buckets renormalised together in log space (their sum is 1 up to
        # float rounding); every term stays finite however small the tail is.
        lz = torch.logsumexp(torch.cat([lp, lt[..., None]], -1), -1, keepdim=True)
        lp_n, lt_n = lp - lz, lt - lz[..., 0]
        kl_support = support_sum(lp_n.exp() * (lp_n - lq))
        kl_tail = lt_n.exp() * (lt_n - lq_tail)
        return _masked_mean(kl_support + kl_tail, keep)

    p = lp.exp()
    mass = p.sum(-1, keepdim=True)
    p = p / mass.clamp_min(1.0)
    p_tail = (1.0 - p.sum(-1)).clamp_min(0.0)
    lp_support = torch.log(p.clamp_min(tiny))
    kl_support = support_sum(p * (lp_support - lq))
    kl_tail = torch.xlogy(p_tail, p_tail) - p_tail * lq_tail
    return _masked_mean(kl_support + kl_tail, keep)


def _exact_tail(name: str, tail: torch.Tensor, shape: Tuple[int, int], keep: torch.Tensor, device) -> torch.Tensor:
    """The stored log tail mass [B, S], masked positions and -inf (an empty tail) clamped finite."""
    if tuple(tail.shape) != shape:
        raise ValueError(f"{name}: topk_tail_logprob shape {tuple(tail.shape)} does not match student logits [B={shape[0]}, S={shape[1]}]")
    if not tail.is_floating_point():
        raise TypeError(f"{name}: topk_tail_logprob must be floating point, got {tail.dtype}")
    lt = tail.to(device=device, dtype=torch.float32)
    return torch.where(keep, lt, torch.full_like(lt, _MIN_LOGPROB)).clamp_min(_MIN_LOGPROB)
