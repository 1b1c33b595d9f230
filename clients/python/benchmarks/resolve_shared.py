"""What resolving one shared-prefix batch (format 2.5) costs: this checkout's ``resolve()`` against
the one at a git revision (``--baseline``), side by side on the same prepared batches.

The dataset is written by the real TypeScript writer from a synthetic causal teacher (a
position's logits are a function of its context): ``--owners`` batches of long roots, then one
batch whose every sample shares its first ``--shared`` tokens with a root of a different earlier
batch.  Both implementations resolve that batch from the same prepared stored batches (read and
checked beforehand, so only the resolution is measured), in interleaved rounds; the report gives
the peak Arrow memory-pool bytes during the call, the median seconds, and the resolved
per-position columns' bytes and the owner batches' for scale, and checks both results are equal.

Usage: python clients/python/benchmarks/resolve_shared.py [--baseline 0359813] [--rounds 5] [--out bench/results/resolve-shared.json]
(needs ``npm run build``: it writes with dist/; ``LOGIT_CACHE_REPO`` picks another built checkout).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from logit_cache import LogitCacheDataset, shared_prefix
from logit_cache.testing import samples_from_logits, write_dataset

REPO = Path(__file__).resolve().parents[3]
MODULE = "clients/python/logit_cache/shared_prefix.py"
ENCODINGS = {
    "f16": dict(values="f16"),
    "compact": dict(values="rank-delta", f16_ranks=4, grid_step=0.099, ids="ctx-table", codec="zstd"),
}
_POOLS = []  # kept for the whole run: a buffer must not outlive its pool


def context_logits(seq, vocab: int) -> np.ndarray:
    """[len, vocab] logits seeded by a rolling hash of each position's whole context."""
    h, out = 0, np.empty((len(seq), vocab), np.float32)
    for t, tok in enumerate(seq):
        h = (h * 1_000_003 + int(tok) + 1) % (1 << 61)
        out[t] = np.random.default_rng(h).standard_normal(vocab) * 3
    return out


def sequences(owners: int, batch: int, root_len: int, shared: int, tail: int, vocab: int):
    rng = np.random.default_rng(1)
    roots = [rng.integers(0, vocab, root_len).tolist() for _ in range(owners * batch)]
    last = [roots[(r % owners) * batch + r % batch][:shared] + rng.integers(0, vocab, tail).tolist() for r in range(batch)]
    return roots + last


def baseline_module(rev: str, work: Path):
    """``shared_prefix`` as of ``rev``, loaded inside the package (its relative imports resolve)."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{MODULE}"], check=True, capture_output=True, text=True).stdout
    path = work / "shared_prefix_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("logit_cache.shared_prefix_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def measure(fn):
    """(peak Arrow pool bytes, seconds, fn's result as Python-owned buffers' equality key)."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    _POOLS.append(pool)
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        t0 = time.perf_counter()
        rb = fn()
        dt = time.perf_counter() - t0
        peak = pool.max_memory()
        ipc_bytes = rb.serialize().to_pybytes()  # compared across implementations, outside the pool
        del rb
    finally:
        pa.set_memory_pool(previous)
    return peak, dt, ipc_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="0359813", help="git revision of the resolve() to compare against")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--owners", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--root-len", type=int, default=256)
    ap.add_argument("--shared", type=int, default=64)
    ap.add_argument("--tail", type=int, default=64)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--out", type=Path, default=REPO / "bench/results/resolve-shared.json")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="resolve-shared-"))
    base = baseline_module(a.baseline, work)
    seqs = sequences(a.owners, a.batch_size, a.root_len, a.shared, a.tail, a.vocab)
    samples = samples_from_logits(seqs, [context_logits(s, a.vocab) for s in seqs], a.k, tail_mass=True)
    rows = []
    for name, kw in ENCODINGS.items():
        ds = LogitCacheDataset(write_dataset(work, name, samples, k=a.k, batch_size=a.batch_size, batches_per_shard=a.owners + 1,
                                             vocab_size=a.vocab, share_prefixes=8, **kw))
        reader, m, b = ds.reader, ds.manifest, a.owners
        shard = reader.shard(0)
        stored = reader._read_prepared(shard, 0, b, True)
        owners = {o: reader._read_prepared(shard, 0, o, True) for o in range(b)}
        cols = shared_prefix._per_position(stored.rb.schema)
        owner_bytes = sum(src.rb.column(c).nbytes for src in owners.values() for c in cols)
        impls = {"baseline": base.resolve, "this": shared_prefix.resolve}
        got = {k: [] for k in impls}
        keys = {}
        for _ in range(a.rounds):
            for impl, resolve in impls.items():
                peak, dt, key = measure(lambda: resolve(stored, b, m.batch_size, 0, owners.__getitem__, f"batch {b}"))
                got[impl].append((peak, dt))
                keys[impl] = key
        assert keys["baseline"] == keys["this"], f"{name}: the two resolutions differ"
        out = shared_prefix.resolve(stored, b, m.batch_size, 0, owners.__getitem__, f"batch {b}")
        out_bytes = sum(out.column(c).values.nbytes for c in cols)
        row = {"encoding": name, "resolvedPerPositionBytes": out_bytes, "ownerBatchesPerPositionBytes": owner_bytes}
        for impl, runs in got.items():
            row[f"{impl}PeakBytes"] = max(p for p, _ in runs)
            row[f"{impl}MedianSeconds"] = statistics.median(t for _, t in runs)
        row["peakRatio"] = row["thisPeakBytes"] / row["baselinePeakBytes"]
        row["timeRatio"] = row["thisMedianSeconds"] / row["baselineMedianSeconds"]
        rows.append(row)
    print(f"resolve one batch of {a.batch_size} samples borrowing {a.shared} tokens each from {a.owners} owner batches "
          f"of {a.batch_size} x {a.root_len} tokens (k={a.k}; baseline {a.baseline}; {a.rounds} rounds)")
    print(f"{'encoding':<9} {'resolved B':>11} {'owners B':>11} {'base peak B':>12} {'this peak B':>12} {'peak ratio':>10} "
          f"{'base ms':>8} {'this ms':>8} {'time ratio':>10}")
    for r in rows:
        print(f"{r['encoding']:<9} {r['resolvedPerPositionBytes']:>11} {r['ownerBatchesPerPositionBytes']:>11} {r['baselinePeakBytes']:>12} "
              f"{r['thisPeakBytes']:>12} {r['peakRatio']:>10.3f} {r['baselineMedianSeconds'] * 1e3:>8.2f} "
              f"{r['thisMedianSeconds'] * 1e3:>8.2f} {r['timeRatio']:>10.3f}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "python": sys.version.split()[0],
                                 "pyarrow": pa.__version__, "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
