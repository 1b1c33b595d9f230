"""Opens a dataset with the Python reader and reads one batch; prints one JSON line.

Used by bench/scale.ts: open time and resident memory of ``LogitCacheDataset`` as the
dataset grows.  RSS is read from /proc/self/status (what the kernel charges the process).
"""
import json
import random
import sys
import time


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(path: str) -> None:
    t0 = time.perf_counter()
    from logit_cache import LogitCacheDataset  # imports torch and pyarrow: measured apart

    imported = time.perf_counter()
    rss_imported = rss_bytes()
    ds = LogitCacheDataset(path)
    opened = time.perf_counter()
    rss_opened = rss_bytes()
    # A second open in the same process: what each further open costs once one-time
    # initialisation (lazy imports, compiled validators) is paid.
    LogitCacheDataset(path)
    reopened = time.perf_counter()
    b = random.randrange(len(ds))
    before_batch = time.perf_counter()
    batch = ds[b]
    first = time.perf_counter()
    tokens = int(batch["attention_mask"].sum()) if "attention_mask" in batch else None
    print(json.dumps({
        "importSeconds": imported - t0,
        "openSeconds": opened - imported,
        "reopenSeconds": reopened - opened,
        "firstBatchSeconds": first - before_batch,
        "rssAfterImport": rss_imported,
        "rssAfterOpen": rss_opened,
        "rssAfterFirstBatch": rss_bytes(),
        "batches": len(ds),
        "batch": b,
        "tokensInBatch": tokens,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
