"""HTTP reader against a stand-in v1 server (conftest.CacheServer)."""
import json

import pytest
import torch

from logit_cache import ChecksumError, FormatVersionError, HttpError, HttpLogitCache, LogitCacheDataset, LogitCacheError


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_http_matches_local(dataset, serve_root):
    srv = serve_root(dataset.parent)
    remote = HttpLogitCache(srv.url, "ds")
    local = LogitCacheDataset(dataset)
    assert len(remote) == len(local) == 4
    for b in range(len(local)):
        _same(remote.batch(b), local.batch(b))


def test_bearer_token(dataset, serve_root):
    srv = serve_root(dataset.parent, token="s3cret")
    with pytest.raises(HttpError) as e:
        HttpLogitCache(srv.url, "ds", retries=0)
    assert e.value.status == 401 and e.value.code == "LC_ERR_UNAUTHORIZED"
    assert "LC_ERR_UNAUTHORIZED" in str(e.value) and "bearer" in str(e.value)
    assert HttpLogitCache(srv.url, "ds", token="s3cret").batch(1)["input_ids"].shape[0] == 3


def test_not_found_codes(dataset, serve_root):
    srv = serve_root(dataset.parent)
    with pytest.raises(HttpError) as e:
        HttpLogitCache(srv.url, "nope")
    assert e.value.status == 404 and e.value.code == "LC_ERR_DATASET_NOT_FOUND"
    assert len(srv.requests) == 1  # a client error is not retried


def test_corrupt_body_rejected(dataset, serve_root):
    srv = serve_root(dataset.parent)
    cache = HttpLogitCache(srv.url, "ds")
    srv.corrupt_body = True
    with pytest.raises((ChecksumError,)):
        cache.batch(0)


def test_retries_5xx_but_not_shard_corrupt(dataset, serve_root):
    srv = serve_root(dataset.parent)
    cache = HttpLogitCache(srv.url, "ds", retries=2, backoff=0.01)
    srv.failures = [(503, "LC_ERR_UNAVAILABLE"), (502, "LC_ERR_UNAVAILABLE")]
    n = len(srv.requests)
    assert cache.batch(2)["sample_id"].tolist() == [6, 7, 8]
    assert len(srv.requests) - n == 3
    srv.failures = [(500, "LC_ERR_SHARD_CORRUPT")] * 3
    n = len(srv.requests)
    with pytest.raises(HttpError) as e:
        cache.batch(0)
    assert e.value.code == "LC_ERR_SHARD_CORRUPT" and len(srv.requests) - n == 1
    srv.failures = [(503, "LC_ERR_UNAVAILABLE")] * 3
    with pytest.raises(HttpError) as e:
        cache.batch(0)
    assert e.value.status == 503
    srv.failures = []


def test_connection_refused_is_a_client_error(dataset, serve_root):
    srv = serve_root(dataset.parent)
    url = srv.url
    srv.shutdown()
    srv.server_close()
    with pytest.raises(LogitCacheError, match="after 2 attempts"):
        HttpLogitCache(url, "ds", retries=1, backoff=0.01, timeout=2)


def test_newer_version_refused_over_http(dataset, serve_root):
    raw = json.loads((dataset / "manifest.json").read_text())
    raw["formatVersion"] = "3.1"
    (dataset / "manifest.json").write_text(json.dumps(raw))
    srv = serve_root(dataset.parent)
    with pytest.raises(FormatVersionError, match="3.1"):
        HttpLogitCache(srv.url, "ds")
