"""Shared prefixes (format 2.5) from the real CLI and the real teacher (stories260k).

``precompute-logits --share-prefixes 32`` and ``--preset compact`` (which turns it on) against the
same run with sharing off (``--share-prefixes 0``): the teacher runs on the same inputs in the same
inference batches either way, so every resolved position must equal, exactly, the unshared
dataset's position it was copied from (the owner's for t < L, the sample's own otherwise).  A real
teacher's output at a shared position of two samples is the same up to float rounding across
batch shapes, which is what sharing relies on; the test measures how close and bounds it.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from logit_cache import LogitCacheDataset
from logit_cache.testing import REPO_ROOT, load_token_sequences

from conftest import STORIES, need_writer

PRECOMPUTE = REPO_ROOT / "dist" / "cli" / "precompute-logits.js"
MAX_LEN = 64
MIN_SHARED = 32

pytestmark = pytest.mark.skipif(
    not (STORIES / "model.onnx").is_file(),
    reason=f"stories260k teacher not found at {STORIES} (set LOGIT_CACHE_SHARED to the shared folder)",
)


def _stories_with_repeats(path: Path):
    """24 stories cut to 64 tokens, then variants sharing 40 or 33 leading tokens with one of them
    (different tails), exact duplicates, and a 20-token shared start (below 32: no sharing)."""
    seqs = [s[:MAX_LEN] for s in load_token_sequences(STORIES / "stories.jsonl", 48)]
    base, tails = seqs[:24], seqs[24:]
    out = list(base)
    for j in range(8):
        out.append(base[j][:40] + tails[j][40:MAX_LEN])
        out.append(base[j + 8][:33] + tails[j + 8][33:MAX_LEN])
        out.append(list(base[j]))
        out.append(base[j + 16][:20] + tails[j + 16][20:MAX_LEN])
    with open(path, "w", encoding="utf-8") as f:
        for i, s in enumerate(out):
            f.write(json.dumps({"id": i, "input_ids": s}) + "\n")
    return out


def _precompute(data: Path, out: Path, name: str, *flags: str) -> Path:
    cmd = ["node", str(PRECOMPUTE), "--model", str(STORIES / "model.onnx"), "--data", str(data), "--out", str(out),
           "--dataset-id", name, "--top-k", "8", "--batch-size", "8", "--batches-per-shard", "8", "--quiet", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"precompute-logits failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return out / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    need_writer()
    if not PRECOMPUTE.is_file():
        pytest.skip(f"{PRECOMPUTE} is missing; run `npm run build`")
    tmp = tmp_path_factory.mktemp("cli")
    seqs = _stories_with_repeats(tmp / "data.jsonl")
    out = tmp / "root"
    return seqs, {
        "f16": (_precompute(tmp / "data.jsonl", out, "f16-shared", "--values", "f16", "--share-prefixes", str(MIN_SHARED)),
                _precompute(tmp / "data.jsonl", out, "f16-plain", "--values", "f16")),
        "compact": (_precompute(tmp / "data.jsonl", out, "compact-shared", "--preset", "compact"),
                    _precompute(tmp / "data.jsonl", out, "compact-plain", "--preset", "compact", "--share-prefixes", "0")),
    }


def _refs(seqs, n):
    """Per sample, (owner, L) by FORMAT.md §4.3's rule, for a dataset of one shard."""
    out = []
    for s, x in enumerate(seqs):
        best, owner = 0, s
        for o in range(s):
            if out[o][1] or len(x) < n:
                continue
            y = seqs[o]
            lcp = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
            if lcp > best:
                best, owner = lcp, o
        out.append((owner, best) if best >= n else (s, 0))
    return out


def _samples(ds):
    """Per sample: (ids [n, k], logprobs [n, k]) from every batch."""
    out = []
    for b in range(len(ds)):
        batch = ds.batch(b)
        for r in range(batch["input_ids"].shape[0]):
            n = int(batch["attention_mask"][r].sum())
            out.append((batch["topk_ids"][r, :n].numpy(), batch["topk_logprobs"][r, :n].numpy()))
    return out


@pytest.mark.parametrize("preset", ["f16", "compact"])
def test_cli_shared_dataset_resolves_to_the_positions_it_copied(runs, preset):
    seqs, datasets = runs
    shared_dir, plain_dir = datasets[preset]
    shared, plain = LogitCacheDataset(shared_dir), LogitCacheDataset(plain_dir)
    m = shared.manifest
    assert m.format_version == "2.5" and m.topk.shared_prefixes and not plain.manifest.topk.shared_prefixes
    assert len(m.shards) == 1  # 56 samples, batch 8, 8 batches per shard: every reference is possible
    if preset == "compact":
        assert m.raw["topk"].get("ids") == "ctx-table" and m.topk.values == "rank-delta"
    refs = _refs(seqs, MIN_SHARED)
    assert sum(1 for _, n in refs if n) == 24  # 8 × (40-token, 33-token, duplicate)
    got, want = _samples(shared), _samples(plain)
    for s, (owner, n) in enumerate(refs):
        ids, lp = got[s]
        # Positions [0, L) are the owner's, [L, len) the sample's own: exactly, bit for bit.
        assert np.array_equal(ids[:n], want[owner][0][:n]) and np.array_equal(ids[n:], want[s][0][n:]), s
        assert np.array_equal(lp[:n], want[owner][1][:n]) and np.array_equal(lp[n:], want[s][1][n:]), s
    # And the owner's positions are this sample's teacher output up to float rounding across batch
    # shapes: the same ids, values within f16 (compact: its 0.05-nat grid) rounding of each other.
    worst = 0.0
    for s, (owner, n) in enumerate(refs):
        if n:
            assert np.array_equal(got[s][0][:n], want[s][0][:n]), s
            worst = max(worst, float(np.abs(got[s][1][:n] - want[s][1][:n]).max()))
    print(f"{preset}: max |shared - own| log-prob at shared positions: {worst:.3g}")
    assert worst <= (0.1 if preset == "compact" else 0.01)


def test_cli_shared_dataset_is_smaller(runs):
    _, datasets = runs
    for shared_dir, plain_dir in datasets.values():
        size = lambda d: sum(s["bytes"] for s in json.loads((d / "manifest.json").read_text())["shards"])  # noqa: E731
        assert size(shared_dir) < size(plain_dir), (shared_dir.name, size(shared_dir), size(plain_dir))
