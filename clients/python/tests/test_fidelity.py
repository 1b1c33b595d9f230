"""Fidelity on a real teacher (stories260k): a k=8 f16 cache reproduces BiLD's teacher-led part."""
import numpy as np
import pytest
import torch

from logit_cache import LogitCacheDataset
from logit_cache.losses import bild_loss, bild_loss_full
from logit_cache.testing import load_token_sequences, onnx_teacher_logits, samples_from_logits, write_dataset

from conftest import STORIES, need_writer

pytestmark = pytest.mark.skipif(
    not (STORIES / "model.onnx").is_file(),
    reason=f"stories260k teacher not found at {STORIES} (set LOGIT_CACHE_SHARED to the shared folder)",
)


@pytest.fixture(scope="module")
def stories():
    pytest.importorskip("onnxruntime", reason="onnxruntime is in the 'test' extra")
    need_writer()
    seqs = load_token_sequences(STORIES / "stories.jsonl", 12, max_len=200)
    return seqs, onnx_teacher_logits(STORIES / "model.onnx", seqs)


def test_teacher_led_from_f16_cache_matches_full_logits(tmp_path, stories):
    seqs, logits = stories
    assert all(s[0] == 1 for s in seqs)  # every story starts with BOS
    d = write_dataset(tmp_path, "stories", samples_from_logits(seqs, logits, 8), k=8, values="f16", batch_size=6, vocab_size=512)
    ds = LogitCacheDataset(d)
    assert 0.0 < ds.manifest.raw["stats"]["meanTopkMass"] <= 1.0
    gen = torch.Generator().manual_seed(1234)
    for b in range(len(ds)):
        batch = ds.batch(b)
        B, S = batch["input_ids"].shape
        teacher = torch.zeros(B, S, 512)
        for r, lg in enumerate(logits[6 * b : 6 * b + B]):
            teacher[r, : len(lg)] = torch.from_numpy(lg)
        for student in (teacher + torch.randn(teacher.shape, generator=gen), torch.randn(teacher.shape, generator=gen) * 2):
            _, cached = bild_loss(student, batch, k=8, temperature=3.0)
            _, full = bild_loss_full(student, teacher, k=8, temperature=3.0, mask=batch["attention_mask"])
            rel = abs(cached["teacher_led"].item() - full["teacher_led"].item()) / full["teacher_led"].item()
            assert rel < 1e-3, (b, rel)
            assert 0.0 <= cached["imputed_fraction"].item() <= 1.0


def test_cached_ids_are_the_onnx_teachers_top_k(tmp_path, stories):
    seqs, logits = stories
    d = write_dataset(tmp_path, "s", samples_from_logits(seqs[:3], logits[:3], 8), k=8, values="f16", batch_size=3)
    batch = LogitCacheDataset(d).batch(0)
    for r, lg in enumerate(logits[:3]):
        want = torch.from_numpy(lg).topk(8, dim=-1).indices
        assert torch.equal(batch["topk_ids"][r, : len(lg)], want)
