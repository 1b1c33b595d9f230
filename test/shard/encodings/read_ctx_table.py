"""Reads ctx-table datasets (format 2.4) with pyarrow + logit_cache.encodings and with the checked
LogitCacheDataset, and compares the ids with the TypeScript reader's.

Usage: read_ctx_table.py EXPECTED_JSON   (a list of {dir, batches: {b: {topkIds}}})
Exits non-zero on the first mismatch."""
import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from logit_cache import LogitCacheDataset, encodings
from logit_cache.errors import FormatError


def check_dataset(entry):
    d = entry["dir"]
    manifest = json.load(open(f"{d}/manifest.json"))
    k = manifest["topk"]["k"]
    ds = LogitCacheDataset(d)
    checked = 0
    for shard in manifest["shards"]:
        reader = ipc.open_file(pa.memory_map(f"{d}/{shard['file']}"))
        assert "topk_ids" not in reader.schema.names, reader.schema.names
        assert encodings.encodings_of(reader.schema, d)[1] == "ctx-table"
        for i in range(reader.num_record_batches):
            b = shard["firstBatch"] + i
            want = np.asarray(entry["batches"][str(b)]["topkIds"], dtype=np.int64).reshape(-1, k)
            ids, _ = encodings.decode_topk(reader.get_batch(i), k, f"{d} batch {b}")
            assert ids is not None and ids.shape == want.shape, (None if ids is None else ids.shape, want.shape)
            bad = np.flatnonzero(ids.ravel() != want.ravel())
            assert not len(bad), f"{d} batch {b}: ids differ at {bad[:5]}: {ids.ravel()[bad[:5]]} vs {want.ravel()[bad[:5]]}"
            # The checked reader's padded tensors hold the same ids at the unmasked positions.
            t = ds.batch(b)
            mask = t["attention_mask"].numpy().astype(bool)
            assert np.array_equal(t["topk_ids"].numpy()[mask], want), f"{d} batch {b}: LogitCacheDataset ids differ"
            checked += 1
            # A code beyond its table row is refused, naming the batch.
            rb = reader.get_batch(i)
            codes = rb.column("topk_id_codes").flatten().flatten().to_numpy(zero_copy_only=False).copy()
            if len(codes):
                codes[:] = 254
                x = rb.column("input_ids").flatten().to_numpy(zero_copy_only=False)
                off = rb.column("input_ids").offsets.to_numpy()
                try:
                    encodings.decode_ctx_table(codes.reshape(-1, k), np.zeros(0, np.int64), np.zeros(len(off) - 1, np.int64), x, off - off[0],
                                               encodings._ctx_table(rb.schema.metadata[encodings.META_IDS_TABLE], int(rb.schema.metadata[encodings.META_IDS_TABLE_SIZE]), manifest["teacher"]["vocabSize"], "probe"),
                                               manifest["teacher"]["vocabSize"], f"batch {b}")
                except FormatError as e:
                    assert f"batch {b}" in str(e) and "code 254" in str(e), str(e)
                else:
                    raise AssertionError("code 254 was not refused")
    return checked


def check_table_refusals(entry):
    """A table whose declared size is impossible, or whose bytes are not a ZSTD frame, is refused naming the shard."""
    d = entry["dir"]
    manifest = json.load(open(f"{d}/manifest.json"))
    vocab = manifest["teacher"]["vocabSize"]
    meta = ipc.open_file(pa.memory_map(f"{d}/{manifest['shards'][0]['file']}")).schema.metadata
    text = meta[encodings.META_IDS_TABLE]
    for args, word in (((text, 4 * (1 + 256 * vocab) + 4), "exceeds"), ((b"AAAA", 8), "does not decompress")):
        try:
            encodings._ctx_table(*args, vocab, "probe shard")
        except FormatError as e:
            assert "probe shard" in str(e) and word in str(e), str(e)
        else:
            raise AssertionError(f"table with {word!r} was not refused")


def main(path):
    entries = json.load(open(path))
    total = sum(check_dataset(e) for e in entries)
    check_table_refusals(entries[0])
    # Exclusion (§4.2): each code counts only the row entries lower ranks left; 0 = not table-coded.
    got = encodings._excluded_entries(np.array([[3, 1, 2, 1], [0, 2, 0, 2], [1, 1, 1, 1]]))
    assert got.tolist() == [[3, 1, 4, 2], [0, 2, 0, 3], [1, 2, 3, 4]], got.tolist()
    print(f"ctx-table ok: {len(entries)} datasets, {total} batches")


if __name__ == "__main__":
    main(sys.argv[1])
