"""Reads ragged top-p datasets written by precompute-logits (format 2.3) with the client.

Checks: the padded tensors and ``topk_counts`` equal what the TypeScript reader decoded
(EXPECTED_JSON); the losses are finite with finite gradients; and the P = 1 dataset (every
count k) gives exactly the losses of the fixed-k dataset of the same run.

Usage: read_top_p.py RAGGED_DIR P1_DIR FIXED_DIR EXPECTED_JSON
"""
import json
import sys

import torch

from logit_cache import LogitCacheDataset
from logit_cache.losses import bild_loss, topk_kl_loss


def check_against_ts(batch, want):
    k = want["k"]
    offsets, counts = want["offsets"], want["counts"]
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        n = b - a
        assert batch["topk_counts"][i, :n].tolist() == counts[a:b], ("counts", i)
        assert int(batch["topk_counts"][i, n:].abs().sum()) == 0, ("counts past the sample", i)
        ids = batch["topk_ids"][i, :n].reshape(-1).tolist()
        assert ids == want["ids"][a * k: b * k], ("ids", i)
        lp = batch["topk_logprobs"][i, :n].reshape(-1)
        expected = torch.tensor([float("-inf") if v is None else v for v in want["logprobs"][a * k: b * k]], dtype=torch.float32)
        assert torch.equal(lp, expected), ("log-probs", i)


def losses(batch, vocab, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, s = batch["input_ids"].shape
    student = torch.randn(b, s, vocab, generator=g, requires_grad=True)
    out = {}
    for name, fn in (
        ("bild", lambda x: bild_loss(x, batch, k=8)[0]),
        ("bild_tail_mean", lambda x: bild_loss(x, batch, k=8, impute="tail_mean")[0]),
        ("kl", lambda x: topk_kl_loss(x, batch)),
        ("kl_tail", lambda x: topk_kl_loss(x, batch, tail_bucket=True)),
    ):
        student.grad = None
        loss = fn(student)
        loss.backward()
        assert torch.isfinite(loss), (name, loss)
        assert bool(torch.isfinite(student.grad).all()), (name, "gradient")
        out[name] = float(loss.detach())
    return out


def main(ragged_dir, p1_dir, fixed_dir, expected_path):
    want = json.load(open(expected_path))
    ragged = LogitCacheDataset(ragged_dir)
    b0 = ragged.batch(0)
    check_against_ts(b0, want)
    vocab = want["vocab"]
    got = losses(b0, vocab)
    # A padded entry is no cached id: with counts < k the loss must differ from reading the padding as data.
    no_counts = {key: v for key, v in b0.items() if key != "topk_counts"}
    assert losses(no_counts, vocab)["kl"] != got["kl"]
    p1, fixed = LogitCacheDataset(p1_dir).batch(0), LogitCacheDataset(fixed_dir).batch(0)
    assert bool((p1["topk_counts"][p1["attention_mask"].bool()] == want["k"]).all())
    a, b = losses(p1, vocab), losses(fixed, vocab)
    assert a == b, (a, b)
    print(f"top-p ok: {int(b0['attention_mask'].sum())} positions, mean kept {float(b0['topk_counts'].sum()) / float(b0['attention_mask'].sum()):.2f}, losses {got}")


if __name__ == "__main__":
    main(*sys.argv[1:])
