"""Read benchmark for shared prefixes (format 2.5): what resolving costs a training job.

Precomputes stories260k with the real CLI twice per preset, with shared prefixes (``--preset
compact``: N = 32; ``--preset fast --share-prefixes 32``) and without (``--share-prefixes 0``),
then reads every batch of each, side by side in interleaved rounds:
- ``LogitCacheDataset`` with its owner cache (32 MiB) in order (an epoch without shuffling), in a
  random order (one seeded permutation) from cold, and warm (after one in-order epoch, not
  counted), and without the owner cache (every owner batch read again);
- through ``HttpLogitCache`` against ``logit-cache serve`` (the server resolves).
Reports seconds per batch, stored batches read per batch returned (the random-access cost of a
reference to another batch) and bytes/token, and the ratio shared / unshared for each.

Usage: python clients/python/benchmarks/read_shared.py [--rounds 3] [--out bench/results/read-shared-prefixes.json]
(needs ``npm run build`` first: it runs dist/cli).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from logit_cache import HttpLogitCache, LogitCacheDataset
from read import start_server, write_result  # the sibling read benchmark (this folder is on sys.path when run)

REPO = Path(__file__).resolve().parents[3]
STORIES = REPO.parent / "shared" / "teachers" / "stories260k"
CONFIGS = {  # name: (flags with sharing, flags without)
    "compact": (["--preset", "compact"], ["--preset", "compact", "--share-prefixes", "0"]),
    "fast": (["--preset", "fast", "--share-prefixes", "32"], ["--preset", "fast"]),
}


def precompute(work: Path, name: str, flags) -> Path:
    cmd = [shutil.which("node") or "node", str(REPO / "dist/cli/precompute-logits.js"), "--model", str(STORIES / "model.onnx"),
           "--data", str(STORIES / "stories.jsonl"), "--out", str(work), "--dataset-id", name, "--top-k", "8",
           "--batch-size", "32", "--quiet", *flags]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return work / name


def run(open_reader, warm, order):
    """(seconds, stored batches read) for reading ``order`` with a freshly opened reader (its open
    included), after reading ``warm`` first (then neither the open nor the warm-up is counted)."""
    t0 = time.perf_counter()
    reader = open_reader()
    for b in warm:
        reader.batch(int(b))
    if len(warm):
        t0 = time.perf_counter()
    before = reader.reader.batch_reads if hasattr(reader, "reader") else 0
    for b in order:
        reader.batch(int(b))
    dt = time.perf_counter() - t0
    reads = reader.reader.batch_reads - before if hasattr(reader, "reader") else len(order)
    return dt, reads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lc-bench-shared-") as tmp:
        work = Path(tmp)
        info = {}
        for cfg, (on, off) in CONFIGS.items():
            for shared, flags in ((True, on), (False, off)):
                d = precompute(work, f"{cfg}-{'shared' if shared else 'plain'}", flags)
                m = json.loads((d / "manifest.json").read_text())
                assert bool(m["topk"].get("sharedPrefixes")) == shared, (cfg, shared)
                info[(cfg, shared)] = (d, m["batchCount"], m["tokenCount"], sum(s["bytes"] for s in m["shards"]))
        proc, base = start_server(work)
        try:
            cases = {}
            for (cfg, shared), (d, n, _, _) in info.items():
                rnd = np.random.default_rng(0).permutation(n)
                none = np.arange(0)
                cases[(cfg, shared, "in order")] = (lambda d=d: LogitCacheDataset(d), none, np.arange(n))
                cases[(cfg, shared, "random")] = (lambda d=d: LogitCacheDataset(d), none, rnd)
                cases[(cfg, shared, "random, warm")] = (lambda d=d: LogitCacheDataset(d), np.arange(n), rnd)
                cases[(cfg, shared, "random, no owner cache")] = (lambda d=d: LogitCacheDataset(d, owner_cache_bytes=0), none, rnd)
                cases[(cfg, shared, "HttpLogitCache, in order")] = (lambda i=d.name: HttpLogitCache(base, i), none, np.arange(n))
            best, reads = {}, {}
            for _ in range(args.rounds):  # shared and unshared interleaved, so machine load hits both alike
                for key, (open_reader, warm, order) in cases.items():
                    dt, r = run(open_reader, warm, order)
                    best[key] = min(best.get(key, dt), dt)
                    reads[key] = r
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rows = []
    for (cfg, shared, how), s in best.items():
        _, n, tokens, stored = info[(cfg, shared)]
        base_s = best[(cfg, False, how)]
        rows.append({"preset": cfg, "sharedPrefixes": shared, "read": how, "seconds": s, "msPerBatch": 1000 * s / n,
                     "batchesReadPerBatch": reads[(cfg, shared, how)] / n, "bytesPerToken": stored / tokens,
                     "timeVsUnshared": s / base_s})
    print(f"note: {os.cpu_count()} cores shared with other jobs; compare rows of one run, not machines")
    _, n, tokens, _ = info[("compact", True)]
    print(f"stories260k, k=8: {n} batches of 32 samples, {tokens} tokens; best of {args.rounds} interleaved rounds (reader opened per round)")
    print("| preset | shared prefixes | read | ms/batch | stored batches read per batch | B/token | time vs unshared |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['preset']} | {'yes' if r['sharedPrefixes'] else 'no'} | {r['read']} | {r['msPerBatch']:.2f} | "
              f"{r['batchesReadPerBatch']:.2f} | {r['bytesPerToken']:.2f} | {r['timeVsUnshared']:.2f}x |")
    if args.out:
        write_result(args.out, "read-shared-prefixes", rows)


if __name__ == "__main__":
    main()
