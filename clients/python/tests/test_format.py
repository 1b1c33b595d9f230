"""Format v1 round trip through the reference writer and the mmap reader, and its failure modes."""
import json
import math

import numpy as np
import pytest
import torch

from logit_cache import ChecksumError, FormatError, FormatVersionError, LogitCacheDataset, load_manifest
from logit_cache.batch import decode_logprobs, encode_logprobs
from logit_cache.format import TopkInfo, check_format_version
from logit_cache.ipc import read_footer_blocks, scan_messages
from logit_cache.testing import samples_from_logits, topk_from_logits, write_dataset

from conftest import make_teacher


def expected_batch(samples, k, decode):
    """Slow, obviously-correct padding with per-sample loops (the reader must match it)."""
    B, S = len(samples), max(len(s["input_ids"]) for s in samples)
    ids = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    tk = torch.zeros(B, S, k, dtype=torch.int64)
    lp = torch.full((B, S, k), -math.inf)
    for r, s in enumerate(samples):
        L = len(s["input_ids"])
        ids[r, :L] = torch.tensor(s["input_ids"])
        mask[r, :L] = 1
        tk[r, :L] = torch.from_numpy(np.asarray(s["topk_ids"], dtype=np.int64))
        lp[r, :L] = torch.from_numpy(decode(np.asarray(s["topk_logprobs"], dtype=np.float32)))
    return ids, mask, tk, lp


@pytest.mark.parametrize("values", ["f32", "f16", "bf16", "q8"])
@pytest.mark.parametrize("codec", ["lz4", "zstd", "none"])
def test_round_trip(tmp_path, values, codec):
    ids, logits = make_teacher(n=11, vocab=300, seed=1)
    k = 6
    samples = samples_from_logits(ids, logits, k)
    d = write_dataset(tmp_path, "rt", samples, k=k, values=values, codec=codec, batch_size=4, batches_per_shard=2, q8_scale=0.05)
    ds = LogitCacheDataset(d)
    m = ds.manifest
    assert len(ds) == 3 and m.sample_count == 11 and m.codec == codec
    assert m.token_count == sum(len(i) for i in ids)
    topk = TopkInfo(k, values, "uint16", 0.05 if values == "q8" else None)
    decode = lambda lp: decode_logprobs(encode_logprobs(lp, values, topk.q8_scale), topk)
    for b in range(len(ds)):
        got = ds.batch(b)
        chunk = samples[4 * b : 4 * b + 4]
        e_ids, e_mask, e_tk, e_lp = expected_batch(chunk, k, decode)
        assert torch.equal(got["input_ids"], e_ids)
        assert torch.equal(got["attention_mask"], e_mask)
        assert torch.equal(got["topk_ids"], e_tk)
        assert torch.equal(got["topk_logprobs"], e_lp)
        assert torch.equal(got["sample_id"], torch.arange(4 * b, 4 * b + len(chunk)))
        assert got["topk_logprobs"].dtype == torch.float32


@pytest.mark.parametrize("values,tol", [("f32", 0.0), ("f16", 2e-3), ("bf16", 2e-2), ("q8", 0.025)])
def test_value_encodings_are_close(values, tol):
    lp = topk_from_logits(np.random.default_rng(3).standard_normal((50, 40)) * 2, 8)[1]
    topk = TopkInfo(8, values, "uint16", 0.05 if values == "q8" else None)
    back = decode_logprobs(encode_logprobs(lp, values, topk.q8_scale), topk)
    rel = np.abs(back - lp) / np.maximum(np.abs(lp), 1.0)
    assert rel.max() <= tol


def test_uint32_ids_and_pad_to(tmp_path):
    ids, logits = make_teacher(n=5, vocab=70000, seed=2, max_len=4, scale=1.0)
    samples = samples_from_logits(ids, logits, 4)
    d = write_dataset(tmp_path, "big", samples, k=4, index_type="uint32", batch_size=5, vocab_size=70000)
    got = LogitCacheDataset(d, pad_to=9).batch(0)
    assert got["topk_ids"].shape == (5, 9, 4)
    assert int(got["topk_ids"].max()) == max(int(np.max(s["topk_ids"])) for s in samples) > 65535
    with pytest.raises(ValueError, match="pad_to=2"):
        LogitCacheDataset(d, pad_to=2).batch(0)


def test_padding_and_mask(dataset):
    got = LogitCacheDataset(dataset).batch(0)
    mask = got["attention_mask"].bool()
    lengths = mask.sum(1)
    # right padding: mask is a prefix of ones of each sample's length
    assert torch.equal(mask, torch.arange(mask.shape[1])[None, :] < lengths[:, None])
    assert (got["input_ids"][~mask] == 0).all() and (got["topk_ids"][~mask] == 0).all()
    assert torch.isneginf(got["topk_logprobs"][~mask]).all()
    assert torch.isfinite(got["topk_logprobs"][mask]).all()
    # rows of real positions are descending, as the format promises
    lp = got["topk_logprobs"][mask]
    assert (lp[:, 1:] <= lp[:, :-1]).all()


def test_footer_blocks_match_message_scan_and_manifest(dataset):
    m = load_manifest(dataset)
    for shard in m.shards:
        data = (dataset / shard.file).read_bytes()
        scanned = [(o, n) for kind, o, n in scan_messages(data) if kind == "record batch"]
        footer = [(b.offset, b.length) for b in read_footer_blocks(data)]
        assert scanned == footer == [(b.offset, b.length) for b in shard.batches]
    assert all(ok for _, ok in LogitCacheDataset(dataset).verify_shards())


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def test_checksum_mismatch_raises(dataset):
    m = load_manifest(dataset)
    shard = m.shards[0]
    blk = shard.batches[1]
    _flip(dataset / shard.file, blk.offset + blk.length - 3)
    ds = LogitCacheDataset(dataset)
    ds.batch(0)  # untouched neighbour still reads
    with pytest.raises(ChecksumError, match=blk.sha256):
        ds.batch(1)
    assert dict(ds.verify_shards())[shard.file] is False
    # with verification off the damage goes unnoticed, which is why it is on by default
    LogitCacheDataset(dataset, verify=False).record_batch(0)


def test_truncated_shard_raises(dataset):
    m = load_manifest(dataset)
    path = dataset / m.shards[1].file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    ds = LogitCacheDataset(dataset)
    with pytest.raises(FormatError, match="truncated"):
        ds.batch(m.shards[1].first_batch)
    # even if the manifest's byte count is "fixed up", the missing footer is caught
    raw = json.loads((dataset / "manifest.json").read_text())
    raw["shards"][1]["bytes"] = len(data) - 40
    (dataset / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(FormatError, match="not a complete Arrow IPC file"):
        LogitCacheDataset(dataset).batch(m.shards[1].first_batch)


def test_newer_major_version_refused(tmp_path, teacher):
    ids, logits = teacher
    d = write_dataset(tmp_path, "v2", samples_from_logits(ids, logits, 8), k=8, format_version="2.0")
    with pytest.raises(FormatVersionError) as e:
        LogitCacheDataset(d)
    assert "2.0" in str(e.value) and "1.x" in str(e.value)
    assert check_format_version("1.7") == (1, 7)  # minors only add fields
    with pytest.raises(FormatError, match="'abc'"):
        check_format_version("abc")


def test_newer_major_in_shard_schema_refused(tmp_path, teacher):
    ids, logits = teacher
    d = write_dataset(tmp_path, "v2s", samples_from_logits(ids, logits, 8), k=8, format_version="2.1")
    raw = json.loads((d / "manifest.json").read_text())
    raw["formatVersion"] = "1.0"  # a manifest that lies about its shards
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(FormatVersionError, match="2.1"):
        LogitCacheDataset(d).batch(0)


def test_missing_manifest_is_not_a_dataset(dataset):
    (dataset / "manifest.json").unlink()
    with pytest.raises(FormatError, match="no manifest.json"):
        LogitCacheDataset(dataset)


def test_manifest_errors_name_the_field(dataset):
    raw = json.loads((dataset / "manifest.json").read_text())
    raw["topk"]["values"] = "f8"
    (dataset / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(FormatError, match="'f8'"):
        LogitCacheDataset(dataset)


def test_manifest_schema_disagreement_detected(dataset):
    raw = json.loads((dataset / "manifest.json").read_text())
    raw["topk"]["values"] = "f16"  # shards hold float32
    (dataset / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(FormatError, match="values='f32'.*'f16'"):
        LogitCacheDataset(dataset).batch(0)
    # without the schema metadata (it is optional) the column type check still catches it
    from logit_cache.batch import record_batch_to_tensors
    import pyarrow.ipc as ipc
    rb = ipc.open_file(str(dataset / "shards" / "shard-000000.arrow")).get_batch(0)
    with pytest.raises(FormatError, match="halffloat"):
        record_batch_to_tensors(rb.replace_schema_metadata(None), TopkInfo(8, "f16", "uint16"))


def test_index_errors(dataset):
    ds = LogitCacheDataset(dataset)
    with pytest.raises(IndexError, match="batch 4 out of range"):
        ds.batch(4)
    with pytest.raises(IndexError):
        ds.batch(-1)


def test_bf16_and_f16_match_torch_rounding():
    lp = topk_from_logits(np.random.default_rng(4).standard_normal((64, 100)) * 4, 16)[1]
    for values, dtype in (("bf16", torch.bfloat16), ("f16", torch.float16)):
        ours = decode_logprobs(encode_logprobs(lp, values), TopkInfo(16, values, "uint16"))
        ref = torch.from_numpy(lp).to(dtype).float().numpy()
        assert np.array_equal(ours, ref), values
