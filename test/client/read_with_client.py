"""Reads a JS-written dataset with the logit_cache client, locally and over HTTP, and checks
both against the values the TypeScript reader returned (EXPECTED_JSON), then runs BiLD on it.

Usage: read_with_client.py DATASET_DIR BASE_URL DATASET_ID TOKEN EXPECTED_JSON TEACHER_ONNX
"""
import json
import sys

import torch

from logit_cache import HttpLogitCache, LogitCacheDataset
from logit_cache.losses import bild_loss, bild_loss_full, bild_parts, topk_kl_loss
from logit_cache.testing import onnx_teacher_logits


def check(batch, want, k, where):
    offsets = want["offsets"]
    n = len(offsets) - 1
    assert batch["sample_id"].tolist() == want["sampleIds"], where
    assert batch["input_ids"].shape[0] == n, where
    ids = torch.tensor(want["topkIds"], dtype=torch.int64).view(-1, k)
    lps = torch.tensor(want["topkLogprobs"], dtype=torch.float32).view(-1, k)
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        length = b - a
        assert batch["attention_mask"][i].sum().item() == length, where
        assert batch["input_ids"][i, :length].tolist() == want["inputIds"][a:b], where
        assert torch.equal(batch["topk_ids"][i, :length], ids[a:b]), where
        assert torch.equal(batch["topk_logprobs"][i, :length], lps[a:b]), where


def main(dataset_dir, base_url, dataset_id, token, expected_path, model):
    expected = json.load(open(expected_path))
    local = LogitCacheDataset(dataset_dir)
    http = HttpLogitCache(base_url, dataset_id, token=token)
    k = expected["k"]
    assert len(local) == len(http) == len(expected["batches"])
    for b, want in enumerate(expected["batches"]):
        check(local.batch(b), want, k, f"local batch {b}")
        check(http.batch(b), want, k, f"http batch {b}")
    batch = local.batch(0)
    torch.manual_seed(0)
    student = torch.randn(*batch["input_ids"].shape, expected["vocab"], requires_grad=True)
    loss, info = bild_loss(student, batch, k=8, temperature=3.0)
    loss.backward()
    assert torch.isfinite(loss) and student.grad is not None and torch.isfinite(student.grad).all()
    kl = topk_kl_loss(student.detach(), batch)
    kl = kl[0] if isinstance(kl, tuple) else kl
    assert torch.isfinite(kl) and kl.item() >= 0
    # Fidelity of the product's own cache (k=8, f16, written by precompute-logits): BiLD's
    # teacher-led part from it equals the one from the teacher's full logits.
    teacher = torch.full((*batch["input_ids"].shape, expected["vocab"]), 0.0)
    lengths = batch["attention_mask"].sum(1).tolist()
    seqs = [batch["input_ids"][i, :n].tolist() for i, n in enumerate(lengths)]
    for i, logits in enumerate(onnx_teacher_logits(model, seqs)):
        teacher[i, : lengths[i]] = torch.from_numpy(logits)
    torch.manual_seed(1)
    student = teacher + torch.randn_like(teacher)
    cached = bild_parts(student, batch, k=8, temperature=3.0)["teacher_led"]
    _, full = bild_loss_full(student, teacher, k=8, temperature=3.0, mask=batch["attention_mask"])
    rel = abs(cached.item() - full["teacher_led"].item()) / abs(full["teacher_led"].item())
    assert rel < 1e-3, f"teacher-led part: cache {cached.item()} vs full logits {full['teacher_led'].item()} (rel {rel:.2e})"
    print(f"client ok: {len(local)} batches local and over HTTP; bild={loss.item():.4f}; teacher-led rel err {rel:.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:])
