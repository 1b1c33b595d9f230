"""Id and value layouts measured but not built, and the limits they run into (stories260k).

Reads the exact float32 k=128 dataset bench/storage.ts caches (LOGIT_CACHE_BENCH_CACHE, default
$TMPDIR/lc-storage-cache/stories260k; run bench/storage.ts once first) and measures, per stored
batch of 32 samples with each buffer ZSTD-19-compressed on its own (pyarrow's codec):
- entropy floors at k = 8: order-0 entropy of ids per rank, conditional entropy of ids given the
  current input token, order-0 entropy of the float16 rank deltas per rank (bytes/token);
- table-free id layouts at k = 8: byte planes in natural order, positions sorted by input token;
- set coding at k = 128: ranks 16..127 as a bitmap of the vocabulary with their 0.099-nat grid
  values in id order (the values deciding the order), against byte-plane ids + rank deltas;
- duplicate samples in the fixture (why a whole-file stream compresses far better).
Writes bench/results/storage-ideas.json and prints a table.

Run: PYTHONPATH=clients/python .venv/bin/python bench/storage_ideas.py
"""
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

REPO = Path(__file__).resolve().parents[1]
CODEC = pa.Codec("zstd", compression_level=19)


def zbytes(a: np.ndarray) -> int:
    """Bytes of one buffer in an Arrow body: 8-byte length prefix, raw if compression does not pay."""
    raw = np.ascontiguousarray(a).tobytes()
    return 0 if not raw else 8 + min(len(raw), len(CODEC.compress(raw, asbytes=True)))


def planes(a: np.ndarray, n: int):
    a = a.astype(np.uint32)
    return [((a >> (8 * i)) & 255).astype(np.uint8) for i in range(n)]


def entropy_bits(a: np.ndarray) -> float:
    """Total order-0 entropy of the symbols in a, in bits."""
    _, c = np.unique(a, return_counts=True)
    return float(-(c * np.log2(c / c.sum())).sum())


def half_key_deltas(lp: np.ndarray) -> np.ndarray:
    h = lp.astype(np.float16).view(np.uint16).astype(np.int64)
    key = np.where(h == 0, 0, (h + 0x8000) & 0xFFFF)
    return np.diff(np.concatenate([np.zeros((len(key), 1), np.int64), key], 1), axis=1) & 0xFFFF


def load(d: Path):
    manifest = json.loads((d / "manifest.json").read_text())
    out = []
    for s in manifest["shards"]:
        r = ipc.open_file(pa.memory_map(str(d / s["file"])))
        for i in range(r.num_record_batches):
            rb = r.get_batch(i)
            inp = rb.column("input_ids")
            off = inp.offsets.to_numpy().astype(np.int64)
            x = inp.flatten().to_numpy().astype(np.int64)
            k = manifest["topk"]["k"]
            ids = rb.column("topk_ids").flatten().flatten().to_numpy().reshape(len(x), k).astype(np.int64)
            lp = rb.column("topk_logprobs").flatten().flatten().to_numpy().reshape(len(x), k).astype(np.float32)
            out.append((off - off[0], x, ids, lp))
    return manifest, out


def main() -> None:
    cache = Path(os.environ.get("LOGIT_CACHE_BENCH_CACHE", Path(tempfile.gettempdir()) / "lc-storage-cache")) / "stories260k"
    if not (cache / "manifest.json").exists():
        print(f"storage_ideas: {cache} not found; run bench/storage.ts first (it writes the cache)", file=sys.stderr)
        sys.exit(2)
    manifest, batches = load(cache)
    vocab = manifest["teacher"]["vocabSize"]
    tokens = sum(len(b[1]) for b in batches)
    per_tok = lambda n: n / tokens
    res = {"bench": "storage-ideas", "teacher": "stories260k", "tokens": tokens, "batches": len(batches)}

    # Entropy floors, k = 8 (model cost not counted: these are what an ideal coder approaches).
    k = 8
    ids8 = np.concatenate([b[2][:, :k] for b in batches])
    ctx = np.concatenate([b[1] for b in batches])
    res["idsOrder0BytesPerToken"] = per_tok(sum(entropy_bits(ids8[:, r]) for r in range(k)) / 8)
    res["idsGivenInputTokenBytesPerToken"] = per_tok(sum(entropy_bits(ctx * vocab + ids8[:, r]) - entropy_bits(ctx) for r in range(k)) / 8)
    deltas = np.concatenate([half_key_deltas(b[3][:, :k]) for b in batches])
    res["f16RankDeltasOrder0BytesPerToken"] = per_tok(sum(entropy_bits(deltas[:, r]) for r in range(k)) / 8)

    # Table-free id layouts at k = 8.
    natural = sorted_by_input = 0
    for _, x, ids, _ in batches:
        natural += sum(zbytes(p) for p in planes(ids[:, :k].ravel(), 2))
        order = np.argsort(x, kind="stable")
        sorted_by_input += sum(zbytes(p) for p in planes(ids[order, :k].ravel(), 2))
    res["idsPlanesBytesPerToken"] = per_tok(natural)
    res["idsPlanesSortedByInputTokenBytesPerToken"] = per_tok(sorted_by_input)

    # Set coding of ranks 16..127 at k = 128 (first 5 batches, as bench/storage.ts measures k = 128).
    k, f, step = 128, 16, 0.099
    head = batches[:5]
    t128 = sum(len(b[1]) for b in head)
    rank_order = set_coded = 0
    for _, x, ids, lp in head:
        t = len(x)
        q = np.minimum(np.round(-lp[:, f:k] / step), 65535).astype(np.int64)
        dq = np.diff(np.concatenate([np.zeros((t, 1), np.int64), q], 1), axis=1) & 0xFFFF
        rank_order += sum(zbytes(p) for p in planes(ids[:, f:k].ravel(), 2)) + sum(zbytes(p) for p in planes(dq.ravel(), 2))
        bitmap = np.zeros((t, vocab), np.uint8)
        bitmap[np.arange(t)[:, None], ids[:, f:k]] = 1
        by_id = np.take_along_axis(q, np.argsort(ids[:, f:k], axis=1, kind="stable"), 1)
        set_coded += zbytes(np.packbits(bitmap, axis=1)) + sum(zbytes(p) for p in planes(by_id.ravel(), 2))
    res["k128Ranks16to127RankOrderBytesPerToken"] = rank_order / t128
    res["k128Ranks16to127SetCodedBytesPerToken"] = set_coded / t128

    # Duplicate samples and repeated prefixes.
    seqs = [tuple(x[off[i]:off[i + 1]]) for off, x, _, _ in batches for i in range(len(off) - 1)]
    seen, repeated = set(), 0
    for s in seqs:
        m = 0
        while m < len(s) and s[: m + 1] in seen:
            m += 1
        repeated += m
        seen.update(s[: j + 1] for j in range(len(s)))
    res.update(samples=len(seqs), distinctSamples=len(set(seqs)), tokensInRepeatedPrefix=repeated)

    out = REPO / "bench" / "results" / "storage-ideas.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    print("| measure | value |\n| --- | ---: |")
    for key, v in res.items():
        print(f"| {key} | {v:.3f} |" if isinstance(v, float) else f"| {key} | {v} |")
    print(f"wrote {out.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
