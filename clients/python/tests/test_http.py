"""HttpLogitCache against the real `logit-cache serve` (node dist/cli/logit-cache.js) over datasets
from the real writer: same batches as the local reader, the server's codes, and the client-side
verification of each one-batch stream."""
import hashlib
import urllib.request

import pytest

from logit_cache import HttpLogitCache, LogitCacheDataset, LogitCacheError, load_manifest
from logit_cache.errors import SHARD_CORRUPT
from logit_cache.reader_http import STREAM_SHA_HEADER
from logit_cache.shard_reader import split_verified_stream

from conftest import assert_same_batches, flip_byte


def test_http_matches_local(any_dataset, serve_root):
    srv = serve_root(any_dataset.parent)
    remote = HttpLogitCache(srv.url, "ds")
    local = LogitCacheDataset(any_dataset)
    assert remote.manifest == local.manifest and len(remote) == len(local) == 4
    for b in range(len(local)):
        assert_same_batches(remote.batch(b), local.batch(b))
        assert remote.record_batch(b).equals(local.record_batch(b))


def test_bearer_token(dataset, serve_root):
    srv = serve_root(dataset.parent, token="s3cret")
    with pytest.raises(LogitCacheError) as e:
        HttpLogitCache(srv.url, "ds", retries=0)
    assert e.value.status == 401 and e.value.code == "LC_ERR_UNAUTHORIZED"
    assert HttpLogitCache(srv.url, "ds", token="s3cret").batch(1)["input_ids"].shape[0] == 3


def test_not_found_codes(dataset, serve_root):
    srv = serve_root(dataset.parent)
    with pytest.raises(LogitCacheError) as e:
        HttpLogitCache(srv.url, "nope")
    assert e.value.status == 404 and e.value.code == "LC_ERR_DATASET_NOT_FOUND"
    with pytest.raises(IndexError):  # refused by the client from the manifest, before any request
        HttpLogitCache(srv.url, "ds").batch(4)


def test_corrupt_shard_is_refused_by_the_server_and_not_retried(dataset, serve_root):
    m = load_manifest(dataset)
    srv = serve_root(dataset.parent)
    cache = HttpLogitCache(srv.url, "ds", retries=3, backoff=5.0)  # a retry would take seconds
    cache.batch(1)
    index = LogitCacheDataset(dataset).reader.shard(0).index
    flip_byte(dataset / m.shards[0].file, int(index.offset[0] + index.length[0]) - 3)  # batch 0's body
    with pytest.raises(LogitCacheError) as e:
        cache.batch(0)
    assert e.value.code == SHARD_CORRUPT and e.value.status == 500
    cache.batch(2)  # the rest of the dataset is still served


def _served(url, b):
    with urllib.request.urlopen(f"{url}/logits/ds/{b}") as resp:
        return resp.read(), resp.headers


def test_served_stream_is_fully_verifiable(dataset, serve_root):
    """The whole body against the stream header, the schema part against the manifest; any
    byte changed in transit is refused before it is parsed."""
    m = load_manifest(dataset)
    srv = serve_root(dataset.parent)
    body, headers = _served(srv.url, 2)
    stream_sha = headers[STREAM_SHA_HEADER]
    assert hashlib.sha256(body).hexdigest() == stream_sha
    index = LogitCacheDataset(dataset).reader.shard(1).index
    assert index.stream_digest(0).hex() == stream_sha  # the index knows it too
    shard = m.shards[1]
    schema, message = split_verified_stream(body, shard, stream_sha, "test")
    assert hashlib.sha256(message).digest() == index.digest(0)
    for offset in (0, shard.schema_length // 2, shard.schema_length + 5, len(body) // 2, len(body) - 1):
        bad = bytearray(body)
        bad[offset] ^= 0x01
        with pytest.raises(LogitCacheError) as e:
            split_verified_stream(bytes(bad), shard, stream_sha, "test")
        assert e.value.code == SHARD_CORRUPT, offset
    # without the stream hash (verify=False) the schema part is still checked against the manifest
    bad = bytearray(body)
    bad[shard.schema_length // 2] ^= 0x01
    with pytest.raises(LogitCacheError) as e:
        split_verified_stream(bytes(bad), shard, None, "test")
    assert e.value.code == SHARD_CORRUPT and "schema message" in str(e.value)


def test_connection_refused_is_a_client_error(dataset, serve_root):
    srv = serve_root(dataset.parent)
    url = srv.url
    srv.stop()
    with pytest.raises(LogitCacheError, match="after 2 attempts"):
        HttpLogitCache(url, "ds", retries=1, backoff=0.01, timeout=2)
