"""The real writer's Parquet shards open unchanged in the tools a training job already has:
pyarrow.parquet, polars, DuckDB and Hugging Face datasets; what each reads is checked against the
samples that were written and against the project's own checked reader.

Each library is optional: a test skips, printing why, when its library is not installed
(scripts/setup-python.sh installs them all).
"""
import importlib

import numpy as np
import pyarrow as pa
import pytest

from logit_cache import LogitCacheDataset
from logit_cache.batch import decode_logprobs, encode_logprobs
from logit_cache.manifest import TopkInfo
from logit_cache.testing import samples_from_logits, write_dataset

from conftest import make_teacher, need_writer

K = 8
COLUMNS = ["sample_id", "input_ids", "topk_ids", "topk_logprobs"]


def need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        why = f"{module} is not installed ({e}); scripts/setup-python.sh installs it"
        print(f"SKIP: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module", params=["lz4", "zstd"])
def written(request, tmp_path_factory):
    """A 3-shard f16 Parquet dataset by the real writer (LZ4, the default codec, and ZSTD), the
    samples it holds (log-probs as stored: f16-rounded, widened to float32), and its shard files in order."""
    need_writer()
    ids, logits = make_teacher(n=13, vocab=300, seed=11, max_len=9)
    samples = samples_from_logits(ids, logits, K)
    d = write_dataset(tmp_path_factory.mktemp("interop"), "ds", samples, k=K, values="f16", codec=request.param,
                      batch_size=3, batches_per_shard=2, vocab_size=300, shard_format="parquet")
    f16 = TopkInfo(K, "f16", "uint16")
    for s in samples:
        s["stored_logprobs"] = decode_logprobs(encode_logprobs(np.asarray(s["topk_logprobs"]), "f16"), f16)
    ds = LogitCacheDataset(d)
    files = [str(d / s.file) for s in ds.manifest.shards]
    assert len(files) == 3
    return ds, samples, files


def _check_rows(sample_ids, input_ids, topk_ids, topk_logprobs, samples):
    """Rows as plain Python/numpy values, in file order, against what was written."""
    assert list(sample_ids) == [s["sample_id"] for s in samples]
    for i, s in enumerate(samples):
        L = len(s["input_ids"])
        assert list(input_ids[i]) == list(s["input_ids"]), i
        assert np.array_equal(np.asarray(list(topk_ids[i]), dtype=np.int64).reshape(L, K), np.asarray(s["topk_ids"])), i
        got = np.asarray([list(row) for row in topk_logprobs[i]], dtype=np.float32).reshape(L, K)
        assert np.array_equal(got, s["stored_logprobs"]), i


def test_pyarrow_read_table(written):
    pq = need("pyarrow.parquet")
    ds, samples, files = written
    ours = pa.Table.from_batches([ds.record_batch(b) for b in range(len(ds))])
    tables = [pq.read_table(f) for f in files]
    for f, t, entry in zip(files, tables, ds.manifest.shards):
        assert t.column_names == COLUMNS and t.num_rows == entry.sample_count
        assert pq.ParquetFile(f).metadata.num_row_groups == entry.batch_count  # one row group per stored batch
        # ARROW:schema restores the exact types: fixed_size_list, uint16 ids, float16 values
        for name, leaf in (("topk_ids", pa.uint16()), ("topk_logprobs", pa.float16())):
            inner = t.schema.field(name).type.value_type
            assert pa.types.is_fixed_size_list(inner) and inner.list_size == K and inner.value_type == leaf, name
        assert t.schema.metadata[b"logit_cache.k"] == str(K).encode()
    whole = pa.concat_tables(tables)
    assert whole.equals(ours)
    rows = whole.to_pydict()
    _check_rows(rows["sample_id"], rows["input_ids"], rows["topk_ids"], rows["topk_logprobs"], samples)


def test_polars_read_parquet(written):
    pl = need("polars")
    ds, samples, files = written
    df = pl.read_parquet(files)
    assert df.columns == COLUMNS and df.height == ds.manifest.sample_count
    assert df["sample_id"].dtype == pl.UInt64
    _check_rows(df["sample_id"].to_list(), df["input_ids"].to_list(), df["topk_ids"].to_list(),
                df["topk_logprobs"].to_list(), samples)
    # a query a user would run: tokens per shard file equal the manifest's
    per_file = [pl.read_parquet(f)["input_ids"].list.len().sum() for f in files]
    assert per_file == [s.tokens for s in ds.manifest.shards]


def test_duckdb_read_parquet(written):
    duckdb = need("duckdb")
    ds, samples, files = written
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet({files!r}) ORDER BY sample_id")
    assert rel.columns == COLUMNS
    n, tokens, top1 = con.sql(
        f"SELECT count(*), sum(len(input_ids)), max(topk_ids[1][1]) FROM read_parquet({files!r})").fetchone()
    assert (n, tokens) == (ds.manifest.sample_count, ds.manifest.token_count)
    assert top1 == max(int(np.asarray(s["topk_ids"])[0, 0]) for s in samples if len(s["input_ids"]))
    rows = rel.fetchall()
    _check_rows(*zip(*rows), samples)
    con.close()


def test_hugging_face_datasets_load_parquet(written, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    datasets = need("datasets")
    ds, samples, files = written
    hf = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert hf.column_names == COLUMNS and hf.num_rows == ds.manifest.sample_count
    assert str(hf.features["topk_logprobs"].feature.feature.dtype) == "float16"
    _check_rows(hf["sample_id"], hf["input_ids"], hf["topk_ids"], hf["topk_logprobs"], samples)
    # and as torch tensors, one sample's top-k equals the project's reader's
    one = hf.with_format("torch")[4]
    ours = ds.batch(1)  # samples 3, 4, 5
    L = len(samples[4]["input_ids"])
    assert one["topk_ids"].shape == (L, K)
    assert np.array_equal(one["topk_ids"].numpy(), ours["topk_ids"][1, :L].numpy())
    assert np.array_equal(one["topk_logprobs"].float().numpy(), ours["topk_logprobs"][1, :L].numpy())
