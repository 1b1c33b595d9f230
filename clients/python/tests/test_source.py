"""Byte-range sources: a dataset folder read over HTTP Range requests goes through the same
checked reader as a local one (nginx when installed, and a small Range server defined in conftest)."""
import pytest

from logit_cache import FileSource, HttpRangeSource, LogitCacheDataset, LogitCacheError, load_manifest
from logit_cache.errors import DATASET_NOT_FOUND, SHARD_CORRUPT, SOURCE_READ, UNAUTHORIZED

from conftest import assert_same_batches, flip_byte


def test_dataset_over_nginx_equals_local(any_dataset, nginx):
    base = nginx(any_dataset.parent)
    remote = LogitCacheDataset(f"{base}/ds")
    local = LogitCacheDataset(any_dataset)
    assert remote.manifest == local.manifest and len(remote) == 4
    for b in range(len(local)):
        assert_same_batches(remote.batch(b), local.batch(b))
    assert all(ok for _, ok in remote.verify_shards())
    # the raw source: length and arbitrary ranges are the file's
    name = local.manifest.shards[1].file
    data = (any_dataset / name).read_bytes()
    src = HttpRangeSource(f"{base}/ds/{name}")
    assert src.byte_length == len(data)
    for a, b in ((0, 1), (8, 100), (len(data) - 7, len(data)), (5, 5)):
        assert src.read(a, b).to_pybytes() == data[a:b]


def test_corruption_over_http_refused_with_the_same_codes(dataset, nginx):
    m = load_manifest(dataset)
    base = nginx(dataset.parent)
    flip_byte(dataset / m.shards[0].index.file, 50)
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(f"{base}/ds").batch(0)
    assert e.value.code == SHARD_CORRUPT and m.shards[0].index.file in str(e.value)
    flip_byte(dataset / m.shards[0].index.file, 50)
    flip_byte(dataset / m.shards[0].file, 8 + m.shards[0].schema_length // 2)  # the schema message
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(f"{base}/ds").batch(1)
    assert e.value.code == SHARD_CORRUPT and "schema message" in str(e.value)
    LogitCacheDataset(f"{base}/ds").batch(2)  # the other shard is fine
    (dataset / m.shards[1].file).write_bytes((dataset / m.shards[1].file).read_bytes()[:-1])
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(f"{base}/ds").batch(2)
    assert e.value.code == SHARD_CORRUPT and "truncated" in str(e.value)


def test_range_source_with_bearer_token(dataset, static_server):
    srv = static_server(dataset.parent, token="s3cret")
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(f"{srv.url}/ds", retries=0)
    assert e.value.status == 401 and e.value.code == UNAUTHORIZED
    ds = LogitCacheDataset(f"{srv.url}/ds", token="s3cret")
    assert ds.batch(3)["sample_id"].tolist() == [9]
    assert all(r for _, r in srv.requests[-3:])  # batch bytes came by Range requests


def test_server_without_range_support_refused(dataset, static_server):
    srv = static_server(dataset.parent)
    srv.ignore_range = True
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(f"{srv.url}/ds").batch(0)
    assert e.value.code == SOURCE_READ and "Range" in str(e.value)
    # refused from the status line and headers: a big file is not downloaded first
    big = dataset.parent / "big.bin"
    big.write_bytes(b"\0" * (64 << 20))
    srv.whole_done.clear()
    with pytest.raises(LogitCacheError) as e:
        HttpRangeSource(f"{srv.url}/big.bin")
    assert e.value.code == SOURCE_READ
    assert srv.whole_done.wait(30) and srv.whole_sent < (32 << 20)


def test_file_replaced_between_reads_refused(dataset, static_server):
    srv = static_server(dataset.parent)
    m = load_manifest(dataset)
    src = HttpRangeSource(f"{srv.url}/ds/{m.shards[0].file}")
    path = dataset / m.shards[0].file
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    with pytest.raises(LogitCacheError) as e:
        src.read(0, 8)
    assert e.value.code == SHARD_CORRUPT


def test_missing_dataset_or_shard_over_http(dataset, static_server):
    srv = static_server(dataset.parent)
    with pytest.raises(LogitCacheError) as e:
        LogitCacheDataset(f"{srv.url}/nope", retries=0)
    assert e.value.code == DATASET_NOT_FOUND
    m = load_manifest(dataset)
    (dataset / m.shards[1].file).unlink()
    ds = LogitCacheDataset(f"{srv.url}/ds", retries=0)
    ds.batch(0)
    with pytest.raises(LogitCacheError) as e:
        ds.batch(2)
    assert e.value.code == SHARD_CORRUPT and m.shards[1].file in str(e.value)


def test_file_source_bounds_and_close(dataset):
    m = load_manifest(dataset)
    data = (dataset / m.shards[0].file).read_bytes()
    src = FileSource(dataset / m.shards[0].file)
    part = src.read(8, 64)
    src.close()
    assert part.to_pybytes() == data[8:64]  # a slice outlives its closed source
    src = FileSource(dataset / m.shards[0].file)
    with pytest.raises(LogitCacheError) as e:
        src.read(0, len(data) + 1)
    assert e.value.code == SOURCE_READ


def test_transient_5xx_retried_client_errors_not(dataset, static_server):
    srv = static_server(dataset.parent)
    ds = LogitCacheDataset(f"{srv.url}/ds", retries=2, backoff=0.01)
    srv.fail_next = [503, 502]
    n = len(srv.requests)
    assert ds.batch(2)["sample_id"].tolist() == [6, 7, 8]
    assert len(srv.requests) - n >= 3  # two failures, then the real reads
    srv.fail_next = [503] * 3
    with pytest.raises(LogitCacheError) as e:
        ds.reader.source(1).read(0, 8)
    assert e.value.status == 503
    srv.fail_next = [403]
    n = len(srv.requests)
    with pytest.raises(LogitCacheError) as e:
        ds.reader.source(1).read(0, 8)
    assert e.value.status == 403 and len(srv.requests) - n == 1
