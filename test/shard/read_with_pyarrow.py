"""Reads a logit-cache dataset (format 2.x) with pyarrow alone and compares it to what the JS reader saw.

Usage: read_with_pyarrow.py DATASET_DIR EXPECTED_JSON. Exits non-zero on the first mismatch.
This is the contract with training jobs that mount the shard folder read-only.
"""
import hashlib
import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def decode_values(arr, values, q8_scale):
    if values == "f32":
        assert arr.dtype == np.float32, arr.dtype
        return arr
    if values == "f16":
        assert arr.dtype == np.float16, arr.dtype
        return arr.astype(np.float32)
    if values == "bf16":
        assert arr.dtype == np.uint16, arr.dtype
        return (arr.astype(np.uint32) << 16).view(np.float32)
    assert arr.dtype == np.uint8, arr.dtype
    return -arr.astype(np.float32) * np.float32(q8_scale)


def main(dataset_dir, expected_path):
    manifest = json.load(open(f"{dataset_dir}/manifest.json"))
    expected = json.load(open(expected_path))
    k = manifest["topk"]["k"]
    values = manifest["topk"]["values"]
    checked = 0
    for shard in manifest["shards"]:
        path = f"{dataset_dir}/{shard['file']}"
        with pa.memory_map(path) as mm:
            raw = memoryview(mm.read_buffer())  # zero-copy view of the mapping
            assert hashlib.sha256(raw).hexdigest() == shard["sha256"], f"{path}: file sha256"
            reader = ipc.open_file(mm)
            assert reader.num_record_batches == shard["batchCount"]
            assert reader.schema.metadata[b"logit_cache.format_version"] == manifest["formatVersion"].encode()
            schema_bytes = raw[8 : 8 + shard["schemaLength"]]
            assert hashlib.sha256(schema_bytes).hexdigest() == shard["schemaSha256"], f"{path}: schema sha256"
            # The index is a plain Arrow file: hash it as the manifest says, then read it with pyarrow.
            index_path = f"{dataset_dir}/{shard['index']['file']}"
            index_bytes = open(index_path, "rb").read()
            assert len(index_bytes) == shard["index"]["bytes"]
            assert hashlib.sha256(index_bytes).hexdigest() == shard["index"]["sha256"], f"{index_path}: sha256"
            index = ipc.open_file(pa.py_buffer(index_bytes)).read_all()
            assert index.column_names == ["offset", "length", "samples", "tokens", "message_sha256", "stream_sha256"]
            assert index.schema.metadata[b"logit_cache.first_batch"] == str(shard["firstBatch"]).encode()
            assert index.num_rows == shard["batchCount"]
            for i, entry in enumerate(index.to_pylist()):
                b = shard["firstBatch"] + i
                want = expected[str(b)]
                blob = raw[entry["offset"] : entry["offset"] + entry["length"]]
                assert hashlib.sha256(blob).digest() == entry["message_sha256"], f"batch {b}: sha256"
                from_file = reader.get_batch(i)
                # The same bytes, framed as the one-batch stream GET /logits serves.
                framed = bytes(schema_bytes) + bytes(blob) + EOS
                assert hashlib.sha256(framed).digest() == entry["stream_sha256"], f"batch {b}: stream sha256"
                stream = ipc.open_stream(pa.py_buffer(framed)).read_next_batch()
                assert stream.equals(from_file), f"batch {b}: stream framing differs from file"
                rb = from_file
                assert rb.num_rows == entry["samples"]
                assert rb.column("sample_id").to_pylist() == want["sampleIds"], f"batch {b}: sample_id"
                inp = rb.column("input_ids")
                assert inp.offsets.to_pylist() == want["offsets"], f"batch {b}: offsets"
                assert inp.values.to_pylist() == want["inputIds"], f"batch {b}: input_ids"
                ids = rb.column("topk_ids")
                assert ids.type.value_type.list_size == k
                assert ids.offsets.to_pylist() == want["offsets"]
                assert ids.values.flatten().to_pylist() == want["topkIds"], f"batch {b}: topk_ids"
                lp = rb.column("topk_logprobs")
                got = decode_values(lp.values.flatten().to_numpy(zero_copy_only=False), values, manifest["topk"].get("q8Scale"))
                exp = np.asarray(want["topkLogprobs"], dtype=np.float32)
                assert got.shape == exp.shape and np.array_equal(got, exp), f"batch {b}: topk_logprobs"
                checked += 1
    assert checked == manifest["batchCount"], (checked, manifest["batchCount"])
    print(f"pyarrow ok: {checked} batches, {manifest['tokenCount']} tokens, {values}/{manifest['codec']}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
