"""Reads rank-delta datasets with pyarrow + logit_cache.encodings and compares with the JS reader.

Usage: read_encoded.py EXPECTED_JSON   (a list of {dir, batches: {b: {topkIds, topkLogprobs}}})
Also checks that unknown encodings are refused by name. Exits non-zero on the first mismatch.
"""
import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from logit_cache import encodings
from logit_cache.errors import FormatError


def check_dataset(entry):
    d = entry["dir"]
    manifest = json.load(open(f"{d}/manifest.json"))
    k = manifest["topk"]["k"]
    checked = 0
    for shard in manifest["shards"]:
        reader = ipc.open_file(pa.memory_map(f"{d}/{shard['file']}"))
        schema = reader.schema
        assert "topk_logprobs" not in schema.names, schema.names
        assert encodings.is_encoded(schema, d)
        for i in range(reader.num_record_batches):
            b = shard["firstBatch"] + i
            want = entry["batches"][str(b)]
            ids, lp = encodings.decode_topk(reader.get_batch(i), k, f"{d} batch {b}")
            assert ids is None, "ids are stored as the classic column"
            exp = np.asarray(want["topkLogprobs"], dtype=np.float32).reshape(-1, k)
            assert lp.dtype == np.float32 and lp.shape == exp.shape, (lp.dtype, lp.shape, exp.shape)
            # The very same float32 values as the TypeScript reader (JSON cannot carry the sign of a zero).
            bad = np.flatnonzero(lp.ravel() != exp.ravel())
            assert not len(bad), f"{d} batch {b}: logprobs differ at {bad[:5]}: {lp.ravel()[bad[:5]]} vs {exp.ravel()[bad[:5]]}"
            checked += 1
    return checked


def check_refusals():
    base = pa.schema([("sample_id", pa.uint64())])
    for meta, word in (({b"logit_cache.values": b"zigzag-9"}, "zigzag-9"), ({b"logit_cache.values": b"f16", b"logit_cache.ids": b"huffman"}, "huffman")):
        try:
            encodings.encodings_of(base.with_metadata(meta), "probe")
        except FormatError as e:
            assert word in str(e), str(e)
        else:
            raise AssertionError(f"{word} was not refused")


def main(path):
    entries = json.load(open(path))
    total = sum(check_dataset(e) for e in entries)
    check_refusals()
    print(f"encodings ok: {len(entries)} datasets, {total} batches")


if __name__ == "__main__":
    main(sys.argv[1])
