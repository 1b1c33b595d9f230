"""Format 2.0 round trip: datasets from the real TypeScript writer, read by the checked reader."""
import math
import pickle

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import torch

from logit_cache import FormatError, FormatMigrateError, FormatVersionError, LogitCacheDataset, load_manifest
from logit_cache.batch import decode_logprobs, encode_logprobs
from logit_cache.errors import DATASET_NOT_FOUND, FORMAT_MIGRATE, FORMAT_VERSION, MANIFEST_INVALID, LogitCacheError
from logit_cache.manifest import TopkInfo, check_format_version
from logit_cache.testing import samples_from_logits, topk_from_logits, write_dataset

from conftest import edit_manifest, make_teacher, need_writer


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
    need_writer()
    ids, logits = make_teacher(n=11, vocab=300, seed=1)
    k = 6
    samples = samples_from_logits(ids, logits, k)
    d = write_dataset(tmp_path, "rt", samples, k=k, values=values, codec=codec, batch_size=4, batches_per_shard=2,
                      q8_scale=0.05, vocab_size=300)
    ds = LogitCacheDataset(d)
    m = ds.manifest
    assert m.format_version.startswith("2.") and len(ds) == 3 and m.sample_count == 11 and m.codec == codec
    assert m.token_count == sum(len(i) for i in ids) and len(m.shards) == 2
    topk = TopkInfo(k, values, "uint16", 0.05 if values == "q8" else None)
    decode = lambda lp: decode_logprobs(encode_logprobs(lp, values, topk.q8_scale), topk)
    for b in range(len(ds)):
        got = ds.batch(b)
        chunk = samples[4 * b : 4 * b + 4]
        e_ids, e_mask, e_tk, e_lp = expected_batch(chunk, k, decode)
        assert torch.equal(got["input_ids"], e_ids)
        assert torch.equal(got["attention_mask"], e_mask)
        assert torch.equal(got["topk_ids"], e_tk)
        assert torch.equal(got["topk_logprobs"], e_lp), values
        assert torch.equal(got["sample_id"], torch.arange(4 * b, 4 * b + len(chunk)))
        assert got["topk_logprobs"].dtype == torch.float32


@pytest.mark.parametrize("f16_ranks,grid_step", [(6, None), (2, 0.25)])
def test_rank_delta_round_trip(tmp_path, f16_ranks, grid_step):
    """`--preset compact/small` datasets: f16 ranks decode to exactly the f16 value, grid ranks
    within half a step of the true log-probability, both through the real writer."""
    need_writer()
    ids, logits = make_teacher(n=9, vocab=300, seed=5)
    k = 6
    samples = samples_from_logits(ids, logits, k)
    d = write_dataset(tmp_path, "rd", samples, k=k, values="rank-delta", codec="zstd", batch_size=4,
                      batches_per_shard=2, f16_ranks=f16_ranks, grid_step=grid_step, vocab_size=300)
    ds = LogitCacheDataset(d)
    assert ds.manifest.topk.values == "rank-delta" and len(ds) == 3
    f16 = TopkInfo(k, "f16", "uint16")
    for b in range(len(ds)):
        got = ds.batch(b)
        chunk = samples[4 * b : 4 * b + 4]
        e_ids, e_mask, e_tk, exact = expected_batch(chunk, k, lambda lp: lp)
        assert torch.equal(got["topk_ids"], e_tk) and torch.equal(got["attention_mask"], e_mask)
        m = e_mask.bool()
        lp, ex = got["topk_logprobs"][m], exact[m]
        _, _, _, as_f16 = expected_batch(chunk, k, lambda v: decode_logprobs(encode_logprobs(v, "f16"), f16))
        assert torch.equal(lp[:, :f16_ranks], as_f16[m][:, :f16_ranks])
        if grid_step is not None:
            assert float((lp[:, f16_ranks:] - ex[:, f16_ranks:]).abs().max()) <= grid_step / 2 + 1e-3
        assert torch.isneginf(got["topk_logprobs"][~m]).all()


@pytest.mark.parametrize("vocab", [300, 70000])
def test_ctx_table_ids_round_trip(tmp_path, vocab):
    """`--ids ctx-table` (format 2.4): the checked reader returns exactly the stored ids, through the
    real writer, with several shards (one table each) and uint16 or uint32 literals."""
    need_writer()
    ids, logits = make_teacher(n=9, vocab=vocab, seed=7)
    k = 5
    samples = samples_from_logits(ids, logits, k)
    d = write_dataset(tmp_path, "ct", samples, k=k, values="f16", codec="zstd", batch_size=4,
                      batches_per_shard=2, ids="ctx-table", vocab_size=vocab)
    ds = LogitCacheDataset(d)
    assert ds.manifest.format_version == "2.4" and ds.manifest.raw["topk"]["ids"] == "ctx-table"
    for b in range(len(ds)):
        got = ds.batch(b)
        _, e_mask, e_tk, _ = expected_batch(samples[4 * b : 4 * b + 4], k, lambda lp: lp)
        assert torch.equal(got["topk_ids"], e_tk) and torch.equal(got["attention_mask"], e_mask)


def test_rank_delta_parameters_must_agree_with_the_manifest(tmp_path):
    need_writer()
    ids, logits = make_teacher(n=4, vocab=300, seed=6)
    d = write_dataset(tmp_path, "rd", samples_from_logits(ids, logits, 4), k=4, values="rank-delta",
                      batch_size=4, f16_ranks=2, grid_step=0.25, vocab_size=300)
    edit_manifest(d, lambda m: m["topk"].update(gridStep=0.5))
    with pytest.raises(FormatError, match="grid_step"):
        LogitCacheDataset(d).batch(0)


@pytest.mark.parametrize("values,tol", [("f32", 0.0), ("f16", 2e-3), ("bf16", 2e-2), ("q8", 0.025)])
def test_value_encodings_are_close(values, tol):
    lp = topk_from_logits(np.random.default_rng(3).standard_normal((50, 40)) * 2, 8)[1]
    topk = TopkInfo(8, values, "uint16", 0.05 if values == "q8" else None)
    back = decode_logprobs(encode_logprobs(lp, values, topk.q8_scale), topk)
    rel = np.abs(back - lp) / np.maximum(np.abs(lp), 1.0)
    assert rel.max() <= tol


def test_uint32_ids_and_pad_to(tmp_path):
    need_writer()
    ids, logits = make_teacher(n=5, vocab=70000, seed=2, max_len=4, scale=1.0)
    samples = samples_from_logits(ids, logits, 4)
    d = write_dataset(tmp_path, "big", samples, k=4, batch_size=5, vocab_size=70000)
    assert load_manifest(d).topk.index_type == "uint32"
    got = LogitCacheDataset(d, pad_to=9).batch(0)
    assert got["topk_ids"].shape == (5, 9, 4)
    assert int(got["topk_ids"].max()) == max(int(np.max(s["topk_ids"])) for s in samples) > 65535
    with pytest.raises(ValueError, match="pad_to=2"):
        LogitCacheDataset(d, pad_to=2).batch(0)


def test_padding_and_mask(any_dataset):
    got = LogitCacheDataset(any_dataset).batch(0)
    mask = got["attention_mask"].bool()
    lengths = mask.sum(1)
    # right padding: mask is a prefix of ones of each sample's length
    assert torch.equal(mask, torch.arange(mask.shape[1])[None, :] < lengths[:, None])
    assert (got["input_ids"][~mask] == 0).all() and (got["topk_ids"][~mask] == 0).all()
    assert torch.isneginf(got["topk_logprobs"][~mask]).all()
    assert torch.isfinite(got["topk_logprobs"][mask]).all()
    lp = got["topk_logprobs"][mask]
    assert (lp[:, 1:] <= lp[:, :-1]).all()  # rows of real positions are descending, as the format promises


def test_pyarrow_alone_reads_shards_and_indexes(dataset):
    """No logit-cache code needed: shards and index files are plain Arrow IPC files."""
    ds = LogitCacheDataset(dataset)
    b = 0
    for shard in ds.manifest.shards:
        with pa.memory_map(str(dataset / shard.file)) as mm:
            r = ipc.open_file(mm)
            for i in range(r.num_record_batches):
                assert r.get_batch(i).equals(ds.record_batch(b))
                b += 1
        index = ipc.open_file(str(dataset / shard.index.file)).read_all()
        assert index.num_rows == shard.batch_count
        assert sum(index.column("samples").to_pylist()) == shard.sample_count
    assert b == len(ds)
    assert all(ok for _, ok in ds.verify_shards())


@pytest.mark.parametrize("shard_format", ["arrow", "parquet"])
def test_bounded_pool_and_cache_keep_batches_valid(tmp_path, shard_format):
    need_writer()
    ids, logits = make_teacher(n=20, vocab=50, seed=4, max_len=6)
    d = write_dataset(tmp_path, "many", samples_from_logits(ids, logits, 4), k=4, batch_size=2, batches_per_shard=1,
                      vocab_size=50, codec="none", shard_format=shard_format)
    wide = LogitCacheDataset(d)
    narrow = LogitCacheDataset(d, max_open_files=1, max_cached_shards=2)
    held = [narrow.record_batch(b) for b in range(len(narrow))]  # zero-copy slices of maps later closed
    assert len(narrow.reader._open) == 1 and len(narrow.reader._checked) == 2
    for b in reversed(range(len(narrow))):
        assert held[b].equals(wide.record_batch(b))
        assert torch.equal(narrow.batch(b)["topk_ids"], wide.batch(b)["topk_ids"])
    with pytest.raises(ValueError):
        LogitCacheDataset(d, max_open_files=0)


def test_pickles_without_open_files(any_dataset):
    ds = LogitCacheDataset(any_dataset)
    first = ds.batch(1)
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone.reader._open) == 0
    assert torch.equal(clone.batch(1)["topk_logprobs"], first["topk_logprobs"])


def test_version_policy(dataset):
    assert check_format_version("2.7") == (2, 7)  # minors only add fields
    edit_manifest(dataset, lambda m: m.update(formatVersion="2.7", futureField={"x": 1}))
    assert len(LogitCacheDataset(dataset)) == 4
    edit_manifest(dataset, lambda m: m.update(formatVersion="1.0"))
    with pytest.raises(FormatMigrateError) as e:
        LogitCacheDataset(dataset)
    assert e.value.code == FORMAT_MIGRATE and "logit-cache migrate" in str(e.value)
    edit_manifest(dataset, lambda m: m.update(formatVersion="3.0"))
    with pytest.raises(FormatVersionError) as e:
        LogitCacheDataset(dataset)
    assert e.value.code == FORMAT_VERSION and "3.0" in str(e.value) and "2.x" in str(e.value)
    with pytest.raises(FormatError) as e:
        check_format_version("abc")
    assert e.value.code == MANIFEST_INVALID


def test_missing_manifest_is_not_a_dataset(dataset):
    (dataset / "manifest.json").unlink()
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(dataset)
    assert e.value.code == DATASET_NOT_FOUND
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(dataset / "nope")
    assert e.value.code == DATASET_NOT_FOUND


@pytest.mark.parametrize("edit,field", [
    (lambda m: m["topk"].update(values="f8"), ".topk.values"),
    (lambda m: m["shards"][1].pop("schemaSha256"), ".shards[1]"),
    (lambda m: m["shards"][0]["index"].update(sha256="XYZ"), ".shards[0].index.sha256"),
    (lambda m: m["shards"][0].update(file="../../etc/shard-000000.arrow"), ".shards[0].file"),
])
def test_manifest_validated_by_the_json_schema(dataset, edit, field):
    edit_manifest(dataset, edit)
    with pytest.raises(FormatError) as e:
        LogitCacheDataset(dataset)
    assert e.value.code == MANIFEST_INVALID and field in str(e.value)


def test_manifest_cross_field_invariants(dataset):
    edit_manifest(dataset, lambda m: m.update(tokenCount=m["tokenCount"] + 1))
    with pytest.raises(FormatError, match="tokenCount") as e:
        LogitCacheDataset(dataset)
    assert e.value.code == MANIFEST_INVALID


def test_manifest_schema_disagreement_detected(dataset):
    edit_manifest(dataset, lambda m: m["topk"].update(values="f16"))  # shards hold float32
    with pytest.raises(FormatError, match="values='f32'.*'f16'"):
        LogitCacheDataset(dataset).batch(0)


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


def test_empty_samples_read_as_all_padding(tmp_path):
    """Samples of length 0 (allowed by the format) have no positions: an all-zero mask row,
    and a batch of only empty samples has S = 0."""
    need_writer()
    ids, logits = make_teacher(n=6, vocab=40, seed=8)
    for i in (1, 4, 5):
        ids[i], logits[i] = [], logits[i][:0]
    d = write_dataset(tmp_path, "empty", samples_from_logits(ids, logits, 4), k=4, batch_size=2, vocab_size=40)
    ds = LogitCacheDataset(d)
    assert ds.batch(0)["attention_mask"].sum(1).tolist() == [len(ids[0]), 0]
    last = ds.batch(2)
    assert last["input_ids"].shape == (2, 0) and last["topk_logprobs"].shape == (2, 0, 4)
    assert last["sample_id"].tolist() == [4, 5]


def test_generation_folder_names_are_read(any_dataset):
    """--overwrite writes a version into shards/g<N>/: index beside shard, same checks."""
    m = load_manifest(any_dataset)
    (any_dataset / "shards" / "g3").mkdir()
    for s in m.shards:
        for name in (s.file, s.index.file):
            (any_dataset / name).rename(any_dataset / name.replace("shards/", "shards/g3/"))
    want = [s.file for s in m.shards]

    def move(raw):
        for s in raw["shards"]:
            s["file"] = s["file"].replace("shards/", "shards/g3/")
            s["index"]["file"] = s["index"]["file"].replace("shards/", "shards/g3/")
    edit_manifest(any_dataset, move)
    ds = LogitCacheDataset(any_dataset)
    assert [s.file for s in ds.manifest.shards] == [f.replace("shards/", "shards/g3/") for f in want]
    assert ds.batch(3)["sample_id"].tolist() == [9]
    edit_manifest(any_dataset, lambda raw: raw["shards"][0]["index"].update(file="shards/shard-000000.idx.arrow"))
    with pytest.raises(FormatError, match="same folder, same stem"):
        LogitCacheDataset(any_dataset)
