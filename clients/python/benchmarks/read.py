"""Read benchmark: how fast a training job gets batches out of the cache.

Precomputes stories260k with the real CLI (k=8, f16, LZ4; batches of 32 stories), once per
shard format (``--shard-format arrow`` and ``parquet``), then reads every batch of each, in
interleaved rounds: pyarrow alone on the memory-mapped file (no checksum, no tensors;
``ipc.open_file`` or ``pyarrow.parquet.ParquetFile.read_row_group``), ``LogitCacheDataset`` on the folder with and without per-batch verification,
``LogitCacheDataset`` on the folder's URL served by nginx (HTTP Range requests; when nginx
is installed), and ``HttpLogitCache`` against ``logit-cache serve``, all on loopback.
Each reader is opened anew per round, so open cost (manifest validation, index and schema
checks) is included. Prints a table (batches/s, tokens/s, MB/s of stored bytes) and writes JSON.

Usage: python clients/python/benchmarks/read.py [--rounds 3] [--formats arrow,parquet] [--out bench/results/read.json]
(needs ``npx tsc -p .`` first: it runs dist/cli).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from logit_cache import HttpLogitCache, LogitCacheDataset

REPO = Path(__file__).resolve().parents[3]
STORIES = REPO.parent / "shared" / "teachers" / "stories260k"


def precompute(work: Path, shard_format: str) -> Path:
    cmd = [
        shutil.which("node") or "node", str(REPO / "dist/cli/precompute-logits.js"), "--model", str(STORIES / "model.onnx"),
        "--data", str(STORIES / "stories.jsonl"), "--out", str(work), "--dataset-id", f"st-{shard_format}", "--batch-size", "32",
        "--shard-format", shard_format, "--quiet",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return work / f"st-{shard_format}"


def pyarrow_only(dataset: Path, manifest: dict) -> None:
    """Every batch's log-prob values with pyarrow alone: no checksum, no padding."""
    for shard in manifest["shards"]:
        if manifest.get("shardFormat") == "parquet":
            f = pq.ParquetFile(str(dataset / shard["file"]), memory_map=True)
            for i in range(f.num_row_groups):
                f.read_row_group(i).column("topk_logprobs").combine_chunks().values.flatten().to_numpy(zero_copy_only=False)
            continue
        with pa.memory_map(str(dataset / shard["file"])) as mm:
            r = ipc.open_file(mm)
            for i in range(r.num_record_batches):
                r.get_batch(i).column("topk_logprobs").values.flatten().to_numpy(zero_copy_only=False)


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


def start_nginx(root: Path, work: Path):
    """nginx (one worker, sendfile) serving ``root`` statically, or (None, None) if not installed."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if exe is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (work / "logs").mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # root's workers would drop to nobody
    (work / "nginx.conf").write_text(
        user + "daemon off; worker_processes 1; pid nginx.pid; error_log logs/error.log;\n"
        "events { worker_connections 256; }\n"
        "http { access_log off; sendfile on; client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp;\n"
        f"  uwsgi_temp_path tmp; scgi_temp_path tmp; server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n")
    proc = subprocess.Popen([exe, "-p", str(work), "-c", str(work / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    return None, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--formats", default="arrow,parquet", help="shard formats to compare, comma-separated")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory(prefix="lc-bench-read-") as tmp:
        readers = {}
        info = {}
        for fmt in formats:
            dataset = precompute(Path(tmp), fmt)
            manifest = json.loads((dataset / "manifest.json").read_text())
            info[fmt] = (dataset, manifest["batchCount"], manifest["tokenCount"], sum(s["bytes"] for s in manifest["shards"]))
        proc, base = start_server(Path(tmp))
        nginx, static = start_nginx(Path(tmp), Path(tmp) / "nginx")
        try:
            def every_batch(open_reader, n):
                reader = open_reader()  # one open per round: its cost is part of the figure
                return [reader.batch(b) for b in range(n)]

            for fmt in formats:
                dataset, n, _, _ = info[fmt]
                manifest = json.loads((dataset / "manifest.json").read_text())
                name = dataset.name
                readers[(fmt, "pyarrow, mmap, no checks")] = lambda d=dataset, m=manifest: pyarrow_only(d, m)
                readers[(fmt, "LogitCacheDataset (verify)")] = lambda d=dataset, n=n: every_batch(lambda: LogitCacheDataset(d), n)
                readers[(fmt, "LogitCacheDataset (no verify)")] = lambda d=dataset, n=n: every_batch(lambda: LogitCacheDataset(d, verify=False), n)
                readers[(fmt, "HttpLogitCache (logit-cache serve)")] = lambda i=name, n=n: every_batch(lambda: HttpLogitCache(base, i), n)
                if static:
                    readers[(fmt, "LogitCacheDataset (nginx, HTTP Range)")] = lambda i=name, n=n: every_batch(lambda: LogitCacheDataset(f"{static}/{i}"), n)
            best: dict = {}
            for _ in range(args.rounds):  # formats interleaved within each round, so load hits both alike
                for key, fn in readers.items():
                    t0 = time.perf_counter()
                    fn()
                    dt = time.perf_counter() - t0
                    best[key] = min(best.get(key, dt), dt)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if nginx:
                nginx.terminate()
                nginx.wait(timeout=30)
    rows = []
    for (fmt, name), s in best.items():
        _, n, tokens, stored = info[fmt]
        arrow = best.get(("arrow", name))
        rows.append({"shardFormat": fmt, "reader": name, "seconds": s, "batchesPerSec": n / s, "tokensPerSec": tokens / s,
                     "storedMBPerSec": stored / 1e6 / s, "bytesPerToken": stored / tokens,
                     "speedVsArrow": (arrow / s) if arrow and fmt != "arrow" else None})
    _, n, tokens, _ = info[formats[0]]
    print(f"note: {os.cpu_count()} cores shared with other jobs; figures are one loaded run, compare rows, not machines")
    print(f"stories260k: {n} batches of 32 stories, {tokens} tokens (k=8, f16, LZ4); best of {args.rounds} interleaved rounds")
    print("| shards | reader | batches/s | tokens/s | MB/s stored | B/token | vs arrow |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{r['speedVsArrow']:.2f}x" if r["speedVsArrow"] else ""
        print(f"| {r['shardFormat']} | {r['reader']} | {r['batchesPerSec']:.1f} | {r['tokensPerSec']:,.0f} | "
              f"{r['storedMBPerSec']:.1f} | {r['bytesPerToken']:.2f} | {ratio} |")
    if args.out:
        write_result(args.out, "read", rows)


def write_result(out: Path, bench: str, rows: list) -> None:
    """The JSON every read benchmark writes: rows plus when and where they were measured."""
    out.write_text(json.dumps({"bench": bench, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
                               "note": "machine shared with other jobs during the run", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
