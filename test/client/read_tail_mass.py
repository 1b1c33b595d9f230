"""Reads a --tail-mass dataset written by precompute-logits: pyarrow reads the column from the
shard file, the client's batch dict carries it locally and over HTTP exactly as the TypeScript
reader decoded it (EXPECTED_JSON), and topk_kl_loss(tail_bucket=True) uses it.

Usage: read_tail_mass.py DATASET_DIR BASE_URL DATASET_ID TOKEN EXPECTED_JSON
"""
import json
import math
import sys
from pathlib import Path

import pyarrow as pa
import torch

from logit_cache import HttpLogitCache, LogitCacheDataset
from logit_cache.losses import topk_kl_loss


def check(batch, want, where):
    offsets = want["offsets"]
    tail = batch["topk_tail_logprob"]
    assert tail.dtype == torch.float32 and tail.shape == batch["input_ids"].shape, (where, tail.dtype, tail.shape)
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        assert torch.equal(tail[i, : b - a], torch.tensor(want["tail"][a:b], dtype=torch.float32)), where
        assert bool((tail[i, b - a :] == float("-inf")).all()), where


def reference_kl(student, batch):
    """float64, from scratch: k+1 buckets, teacher tail from the stored column, student tail a
    log-sum-exp over its own non-top-k logits."""
    ls = torch.log_softmax(student.double(), -1)
    total, count = 0.0, 0
    for i in range(ls.shape[0]):
        for t in range(int(batch["attention_mask"][i].sum())):
            ids = batch["topk_ids"][i, t]
            lp = batch["topk_logprobs"][i, t].double()
            lt = batch["topk_tail_logprob"][i, t].double()
            lz = torch.logsumexp(torch.cat([lp, lt[None]]), 0)
            lp, lt = lp - lz, lt - lz
            rest = torch.ones(ls.shape[-1], dtype=torch.bool)
            rest[ids] = False
            lq = ls[i, t, ids]
            lq_tail = torch.logsumexp(ls[i, t, rest], 0)
            total += float((lp.exp() * (lp - lq)).sum() + lt.exp() * (lt - lq_tail))
            count += 1
    return total / count


def main(dataset_dir, base_url, dataset_id, token, expected_path):
    expected = json.load(open(expected_path))
    # pyarrow alone: the column is an ordinary list<float32> beside the others.
    shard = sorted(Path(dataset_dir, "shards").glob("**/shard-*.arrow"))[0]
    with pa.memory_map(str(shard)) as f:
        try:
            table = pa.ipc.open_file(f).read_all()
        except pa.ArrowInvalid:
            f.seek(0)
            table = pa.ipc.open_stream(f).read_all()
    assert table.schema.field("topk_tail_logprob").type == pa.list_(pa.field("item", pa.float32(), nullable=False)), table.schema
    assert table.schema.metadata[b"logit_cache.tail_mass"] == b"1"
    first = expected["batches"][0]
    got = table.column("topk_tail_logprob").chunk(0).flatten().to_pylist()
    assert got == [float(x) for x in first["tail"]], "pyarrow tail values differ from the TS reader"

    local = LogitCacheDataset(dataset_dir)
    http = HttpLogitCache(base_url, dataset_id, token=token)
    assert local.manifest.topk.tail_mass and local.manifest.format_version == "2.1"
    for b, want in enumerate(expected["batches"]):
        check(local.batch(b), want, f"local batch {b}")
        check(http.batch(b), want, f"http batch {b}")

    batch = local.batch(0)
    torch.manual_seed(0)
    student = torch.randn(*batch["input_ids"].shape, expected["vocab"], requires_grad=True)
    loss = topk_kl_loss(student, batch, tail_bucket=True)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    ref = reference_kl(student.detach(), batch)
    assert abs(loss.item() - ref) <= 1e-4 * max(1.0, abs(ref)), (loss.item(), ref)
    # Without the column the loss falls back to 1 - Σp: a different number on the same batch.
    fallback = topk_kl_loss(student.detach(), {k: v for k, v in batch.items() if k != "topk_tail_logprob"}, tail_bucket=True)
    assert torch.isfinite(fallback)
    print(f"tail ok: {len(expected['batches'])} batches local and over HTTP; kl={loss.item():.6f} ref={ref:.6f} fallback={fallback.item():.6f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
