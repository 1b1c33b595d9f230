"""Read benchmark: how fast a training job gets batches out of the cache.

Precomputes stories260k with the real CLI (k=8, f16, LZ4; batches of 32 stories), then reads
every batch, in interleaved rounds, four ways: pyarrow alone on the memory-mapped file
(no checksum, no tensors), ``LogitCacheDataset`` with and without checksum verification, and
``HttpLogitCache`` against ``logit-cache serve`` on loopback. Prints a table (batches/s,
tokens/s, MB/s of stored bytes) and writes JSON.

Usage: python clients/python/benchmarks/read.py [--rounds 3] [--out bench/results/read.json]
(needs ``npx tsc -p .`` first: it runs dist/cli).
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from logit_cache import HttpLogitCache, LogitCacheDataset

REPO = Path(__file__).resolve().parents[3]
STORIES = REPO.parent / "shared" / "teachers" / "stories260k"


def precompute(work: Path) -> Path:
    cmd = [
        shutil.which("node") or "node", str(REPO / "dist/cli/precompute-logits.js"), "--model", str(STORIES / "model.onnx"),
        "--data", str(STORIES / "stories.jsonl"), "--out", str(work), "--dataset-id", "st", "--batch-size", "32", "--quiet",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return work / "st"


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [shutil.which("node") or "node", str(REPO / "dist/cli/logit-cache.js"), "serve", "--root", str(root), "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    for line in proc.stderr:  # the command logs its URL on stderr
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    raise RuntimeError("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lc-bench-read-") as tmp:
        dataset = precompute(Path(tmp))
        manifest = json.loads((dataset / "manifest.json").read_text())
        n, tokens = manifest["batchCount"], manifest["tokenCount"]
        stored = sum(s["bytes"] for s in manifest["shards"])
        proc, base = start_server(Path(tmp))
        try:
            def pyarrow_only():
                for shard in manifest["shards"]:
                    with pa.memory_map(str(dataset / shard["file"])) as mm:
                        r = ipc.open_file(mm)
                        for i in range(r.num_record_batches):
                            r.get_batch(i).column("topk_logprobs").values.flatten().to_numpy(zero_copy_only=False)

            readers = {
                "pyarrow, mmap, no checks": pyarrow_only,
                "LogitCacheDataset (verify)": lambda: [LogitCacheDataset(dataset).batch(b) for b in range(n)],
                "LogitCacheDataset (no verify)": lambda: [LogitCacheDataset(dataset, verify=False).batch(b) for b in range(n)],
                "HttpLogitCache (loopback)": lambda: [HttpLogitCache(base, "st").batch(b) for b in range(n)],
            }
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for name, fn in readers.items():
                    t0 = time.perf_counter()
                    fn()
                    dt = time.perf_counter() - t0
                    best[name] = min(best.get(name, dt), dt)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rows = [
        {"reader": name, "seconds": s, "batchesPerSec": n / s, "tokensPerSec": tokens / s, "storedMBPerSec": stored / 1e6 / s}
        for name, s in best.items()
    ]
    print(f"stories260k: {n} batches of 32 stories, {tokens} tokens, {stored / 1e6:.1f} MB stored (k=8, f16, LZ4); best of {args.rounds} interleaved rounds")
    print("| reader | batches/s | tokens/s | MB/s stored |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['reader']} | {r['batchesPerSec']:.1f} | {r['tokensPerSec']:,.0f} | {r['storedMBPerSec']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps({"bench": "read", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                        "python": sys.version.split()[0], "machine": platform.machine(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
