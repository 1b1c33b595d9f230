"""Shared prefixes (format 2.5) through every Python read path, on datasets the real writer wrote.

Each dataset is written twice from the same samples, with and without ``share_prefixes``; the
teacher here is causal by construction (a position's log-probs are a function of its context
only), so the resolved 2.5 batches must equal the 2.4 ones exactly: local Arrow and Parquet shards,
plain and ctx-table ids, every value encoding family, tail mass, ragged top-p, the Range reader
(static server and nginx), the torch datasets and the real server's ``GET /logits``.
Corruptions are written into the shard bytes with every hash fixed up, so only the §4.3 rules can
refuse them.  The real CLI on stories260k: test_shared_prefix_cli.py.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import torch

from logit_cache import HttpLogitCache, LogitCacheDataset
from logit_cache.errors import SHARD_CORRUPT, FormatError, LogitCacheError, ShardCorruptError
from logit_cache.manifest import load_manifest
from logit_cache.testing import samples_from_logits, write_dataset
from logit_cache.torch_data import CacheBatches, CacheIterable

from conftest import assert_same_batches, edit_manifest, need_writer, rewrite_index

VOCAB = 64
K = 8
N = 6  # --share-prefixes: least shared length worth referencing


def causal_logits(seq, vocab=VOCAB):
    """[len, vocab] logits where row t depends only on seq[0..t] (a hash of the context seeds it),
    so equal contexts in different samples get bit-identical rows, as from a causal teacher."""
    out = np.empty((len(seq), vocab), np.float32)
    for t in range(len(seq)):
        seed = zlib.crc32(np.asarray(seq[: t + 1], np.int32).tobytes())
        out[t] = np.random.default_rng(seed).standard_normal(vocab).astype(np.float32) * 3
    return out


def shared_sequences(seed=0):
    """Samples with repeated prefixes in every way §4.3 distinguishes: exact duplicates, a long
    shared start with different tails (same batch and across batches), a shared start shorter than
    N (stays a root), a sample shorter than N, a sample that is a prefix of an earlier one,
    repeats whose only earlier copy is in another shard (must stay roots there) and an empty sample."""
    rng = np.random.default_rng(seed)
    doc = lambda n: rng.integers(0, VOCAB, n).tolist()  # noqa: E731
    a, b, c = doc(20), doc(14), doc(9)
    seqs = [
        a + doc(5),        # 0 root
        a + doc(3),        # 1 shares 20 with 0 (same batch)
        b,                 # 2 root
        a[:N - 2] + doc(8),  # 3 shares N-2 < N with 0: root
        a + doc(6),        # 4 shares 20 with 0 (earlier batch)
        doc(N - 1),        # 5 shorter than N: root
        list(b),           # 6 exact duplicate of 2
        a[:12],            # 7 a prefix of 0: shares all 12 positions, stores none
        c + doc(4),        # 8 root
        # shard 1 (batches_per_shard=3, batch_size=3 → samples 9..17)
        a + doc(2),        # 9 0's copy is in shard 0: root here
        a + doc(7),        # 10 shares with 9
        c + doc(1),        # 11 shares 9 with nothing earlier in this shard: root
        list(b),           # 12 root (2 and 6 are in shard 0)
        b + doc(3),        # 13 shares 14 with 12
        c + doc(2),        # 14 shares >= 9 with 11
        [],                # 15 empty (no positions), alone in the dataset's short last batch
    ]
    return seqs


def spec_references(seqs, per_shard, n):
    """(prefix_sample, prefix_len) per sample by §4.3's writer rule, the slow obvious way: per shard,
    in order, the earlier root with the longest common prefix (ties: lowest id), if that is >= n."""
    out = []
    for s, x in enumerate(seqs):
        best, owner = 0, s
        if len(x) >= n:
            for o in range(s - s % per_shard, s):
                y = seqs[o]
                if out[o][1]:
                    continue  # not a root
                lcp = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                if lcp > best:
                    best, owner = lcp, o
        out.append((owner, best) if best >= n else (s, 0))
    return out


@pytest.fixture(scope="module")
def samples():
    need_writer()
    seqs = shared_sequences()
    return samples_from_logits(seqs, [causal_logits(s) for s in seqs], K, tail_mass=True)


def _write(root: Path, name: str, samples, share: bool, **kw):
    return write_dataset(root, name, samples, k=K, batch_size=3, batches_per_shard=3, vocab_size=VOCAB,
                         share_prefixes=N if share else None, **kw)


def _pair(tmp_path, samples, **kw):
    """(2.5 dataset, the same samples written without sharing)."""
    return _write(tmp_path / "a", "shared", samples, True, **kw), _write(tmp_path / "b", "plain", samples, False, **kw)


def _stored_refs(dataset: Path):
    """(sample ids, prefix_sample, prefix_len) straight from the stored shards (pyarrow alone)."""
    m = load_manifest(dataset)
    cols = {"sample_id": [], "prefix_sample": [], "prefix_len": []}
    for s in m.shards:
        table = pq.read_table(dataset / s.file) if s.format == "parquet" else ipc.open_file(str(dataset / s.file)).read_all()
        for name in cols:
            cols[name] += table.column(name).to_pylist()
    return cols["sample_id"], cols["prefix_sample"], cols["prefix_len"]


def _assert_same_datasets(a, b) -> None:
    assert len(a) == len(b)
    for i in range(len(a)):
        assert_same_batches(a.batch(i), b.batch(i))


ENCODINGS = {
    "f32-plain": dict(values="f32"),
    "f16-ctx": dict(values="f16", ids="ctx-table", codec="zstd"),
    "compact": dict(values="rank-delta", f16_ranks=4, grid_step=0.099, ids="ctx-table", codec="zstd"),
    "q8-ctx": dict(values="q8", q8_scale=0.1, ids="ctx-table"),
    "small": dict(values="rank-delta", f16_ranks=0, grid_step=0.3, ids="ctx-table", codec="zstd"),
    "bf16-plain": dict(values="bf16", codec="zstd"),
}


@pytest.mark.parametrize("shard_format", ["arrow", "parquet"])
@pytest.mark.parametrize("enc", list(ENCODINGS))
def test_resolved_batches_equal_the_unshared_dataset(tmp_path, samples, enc, shard_format):
    shared, plain = _pair(tmp_path, samples, shard_format=shard_format, **ENCODINGS[enc])
    m = load_manifest(shared)
    assert m.format_version == "2.5" and m.topk.shared_prefixes and m.raw["topk"]["sharedPrefixes"] is True
    assert not load_manifest(plain).topk.shared_prefixes
    # The writer did share: the references §4.3's rule gives for these samples.
    sid, owner, plen = _stored_refs(shared)
    assert sid == list(range(len(samples)))
    want = spec_references([s["input_ids"] for s in samples], 9, N)
    assert list(zip(owner, plen)) == want
    assert sum(1 for _, n in want if n) >= 6  # the fixture exercises sharing in both shards
    a, b = LogitCacheDataset(shared), LogitCacheDataset(plain)
    _assert_same_datasets(a, b)
    _assert_same_datasets(LogitCacheDataset(shared, verify=False), b)  # owners read without the hash too
    # Token counts are all positions (index and manifest), so the decoded masks agree with them.
    assert m.token_count == sum(len(s["input_ids"]) for s in samples)


def test_tail_mass_and_record_batches_resolve_to_the_unshared_columns(tmp_path, samples):
    shared, plain = _pair(tmp_path, samples, values="f16")
    a, b = LogitCacheDataset(shared), LogitCacheDataset(plain)
    assert a.manifest.topk.tail_mass
    for i in range(len(a)):
        ra, rb = a.record_batch(i), b.record_batch(i)
        assert ra.schema.names == rb.schema.names  # prefix columns gone
        for name in rb.schema.names:
            assert ra.column(name).equals(rb.column(name)), (i, name)
        assert "topk_tail_logprob" in a.batch(i)


@pytest.mark.parametrize("shard_format", ["arrow", "parquet"])
def test_ragged_top_p_lists_resolve(tmp_path, samples, shard_format):
    shared, plain = _pair(tmp_path, samples, values="rank-delta", f16_ranks=K, top_p=0.9, min_k=2, shard_format=shard_format)
    a, b = LogitCacheDataset(shared), LogitCacheDataset(plain)
    assert a.manifest.topk.ragged and a.manifest.topk.shared_prefixes
    _assert_same_datasets(a, b)
    assert (a.batch(1)["topk_counts"] < K).any()  # really ragged


def test_sequential_reads_do_not_reread_owners(tmp_path, samples):
    shared, plain = _pair(tmp_path, samples, values="f16", ids="ctx-table")
    ds = LogitCacheDataset(shared)
    for i in range(len(ds)):
        ds.batch(i)
    assert ds.reader.batch_reads == len(ds)  # each stored batch read once: owners came from the cache
    cold = LogitCacheDataset(shared)
    cold.batch(1)  # samples 3..5: sample 4's owner is sample 0, in batch 0
    assert cold.reader.batch_reads == 2
    cold.batch(1)
    assert cold.reader.batch_reads == 3  # the asked-for batch is read and hashed again, its owner's is cached
    none = LogitCacheDataset(shared, owner_cache_bytes=0)
    none.batch(1)
    none.batch(2)  # batch 2 needs batch 0 again (sample 6 → 2, 7 → 0)
    assert none.reader.batch_reads == 4
    assert_same_batches(none.batch(2), LogitCacheDataset(plain).batch(2))
    # A budget below one batch keeps nothing; a budget of one batch keeps the last one read.
    one = LogitCacheDataset(shared, owner_cache_bytes=1)
    one.batch(1)
    one.batch(1)
    assert one.reader.batch_reads == 4
    small = LogitCacheDataset(shared)
    small.batch(0)
    reader = small.reader
    reader.owner_cache_bytes = reader._stored_bytes  # room for batch 0 only
    small.batch(1)  # its owner 0 from the cache, then batch 1 in its place if it fits
    assert reader.batch_reads == 2 and reader._stored_bytes <= reader.owner_cache_bytes and len(reader._stored) == 1


@pytest.mark.parametrize("shard_format", ["arrow", "parquet"])
def test_range_reader_over_http(tmp_path, samples, static_server, shard_format):
    shared, plain = _pair(tmp_path, samples, values="f16", ids="ctx-table", shard_format=shard_format)
    srv = static_server(shared.parent)
    remote = LogitCacheDataset(f"{srv.url}/{shared.name}")
    _assert_same_datasets(remote, LogitCacheDataset(plain))


def test_range_reader_over_nginx(tmp_path, samples, nginx):
    shared, plain = _pair(tmp_path, samples, values="rank-delta", f16_ranks=4, grid_step=0.099, ids="ctx-table", codec="zstd")
    url = nginx(shared.parent)
    _assert_same_datasets(LogitCacheDataset(f"{url}/{shared.name}"), LogitCacheDataset(plain))


@pytest.mark.parametrize("shard_format", ["arrow", "parquet"])
def test_http_client_against_the_real_server(tmp_path, samples, serve_root, shard_format):
    shared, plain = _pair(tmp_path, samples, values="f16", ids="ctx-table", codec="zstd", shard_format=shard_format)
    srv = serve_root(shared.parent)
    client = HttpLogitCache(srv.url, shared.name)
    assert client.manifest.topk.shared_prefixes
    _assert_same_datasets(client, LogitCacheDataset(plain))
    # The served record batch is the resolved one the local reader builds (ids as codes there,
    # decoded the same).
    local = LogitCacheDataset(shared)
    unverified = HttpLogitCache(srv.url, shared.name, verify=False)  # no stream hash; the schema metadata is still checked
    for i in range(len(client)):
        assert "prefix_len" not in client.record_batch(i).schema.names
        assert_same_batches(client.batch(i), local.batch(i))
        assert_same_batches(unverified.batch(i), local.batch(i))


def test_served_stream_of_a_shared_batch_is_verified_whole(tmp_path, samples, serve_root):
    """The served (resolved) stream hashes to the header and to the index's stream_sha256; its
    schema is the server's (no prefix columns), so it is covered by that hash, not by the stored
    schema's schemaSha256 (which the pre-2.5 check would wrongly demand); any flipped byte is refused."""
    import urllib.request

    from logit_cache.reader_http import STREAM_SHA_HEADER
    from logit_cache.shard_reader import split_verified_stream

    shared = _write(tmp_path, "srv", samples, True, values="f16", ids="ctx-table", codec="zstd")
    srv = serve_root(shared.parent)
    with urllib.request.urlopen(f"{srv.url}/logits/srv/1") as resp:
        body, sha = resp.read(), resp.headers[STREAM_SHA_HEADER]
    assert hashlib.sha256(body).hexdigest() == sha
    reader = LogitCacheDataset(shared).reader
    assert reader.shard(0).index.stream_digest(1).hex() == sha
    shard = reader.manifest.shards[0]
    schema_raw, _ = split_verified_stream(body, shard, sha, "test", shared_prefixes=True)
    assert "prefix_len" not in ipc.read_schema(pa.py_buffer(bytes(schema_raw))).names
    with pytest.raises(LogitCacheError, match="schema message"):
        split_verified_stream(body, shard, sha, "test")  # the stored schema's hash does not cover it
    for offset in (3, len(schema_raw) // 2, len(body) // 2, len(body) - 1):
        bad = bytearray(body)
        bad[offset] ^= 0x01
        with pytest.raises(LogitCacheError) as e:
            split_verified_stream(bytes(bad), shard, sha, "test", shared_prefixes=True)
        assert e.value.code == SHARD_CORRUPT, offset


def test_server_refuses_a_batch_whose_owner_batch_is_corrupt(tmp_path, samples, serve_root):
    shared = _write(tmp_path, "srv", samples, True, values="f16", codec="none")
    srv = serve_root(shared.parent)
    client = HttpLogitCache(srv.url, "srv", retries=3, backoff=5.0)  # a retry would take seconds
    _, _, at, _ = _column_span(shared, 0, "topk_logprobs", child=2)
    path = shared / "shards" / "shard-000000.arrow"
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40  # batch 0, which batch 1's sample 4 takes its first 20 positions from
    path.write_bytes(bytes(data))
    with pytest.raises(LogitCacheError) as e:
        client.batch(1)
    assert e.value.code == SHARD_CORRUPT and e.value.status == 500
    client.batch(3)  # another shard is still served


def test_torch_datasets_with_workers(tmp_path, samples):
    shared, plain = _pair(tmp_path, samples, values="f16", ids="ctx-table")
    ref = LogitCacheDataset(plain)
    want = [ref.batch(i) for i in range(len(ref))]
    loader = torch.utils.data.DataLoader(CacheBatches(LogitCacheDataset(shared)), batch_size=None, num_workers=2)
    got = list(loader)
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        assert_same_batches(g, w)
    it = CacheIterable(LogitCacheDataset(shared), shuffle=True, seed=3)
    for out in torch.utils.data.DataLoader(it, batch_size=None, num_workers=2):
        w = want[int(out["batch_index"])]
        assert_same_batches({k: v for k, v in out.items() if k in w}, w)


# ---- corruption: bytes edited in place, every hash fixed up, so only §4.3's rules can refuse ----

def _column_span(dataset: Path, b: int, name: str, child: int = 0):
    """(shard, index row, file offset, byte length) of column ``name``'s values buffer in stored
    batch ``b`` of an uncompressed Arrow shard (``child``: how many list levels down)."""
    m = load_manifest(dataset)
    s = m.shard_of(b)
    entry = m.shards[s]
    i = b - entry.first_batch
    index = ipc.open_file(str(dataset / entry.index.file)).get_batch(0)
    off, length = int(index.column("offset")[i].as_py()), int(index.column("length")[i].as_py())
    data = (dataset / entry.file).read_bytes()
    msg = ipc.read_message(pa.py_buffer(data[off:off + length]))
    schema = ipc.open_file(str(dataset / entry.file)).schema
    rb = ipc.read_record_batch(msg, schema)
    col = rb.column(name)
    for _ in range(child):
        col = col.flatten()
    buf = col.buffers()[1]
    # Uncompressed: the column's buffer is a zero-copy slice of the message body.
    at = buf.address - msg.body.address
    assert 0 <= at < msg.body.size
    body_start = off + length - msg.body.size
    return s, i, body_start + at, buf.size


def _patch(dataset: Path, b: int, name: str, row: int, value: int, dtype, child: int = 0):
    """Write ``value`` at ``row`` of ``name`` in stored batch ``b``, then fix the message hash in
    the index, the index hash and the shard hash in the manifest."""
    s, i, at, _ = _column_span(dataset, b, name, child)
    m = load_manifest(dataset)
    path = dataset / m.shards[s].file
    data = bytearray(path.read_bytes())
    item = np.dtype(dtype).itemsize
    data[at + row * item: at + (row + 1) * item] = np.array([value], dtype).tobytes()
    path.write_bytes(bytes(data))
    index = ipc.open_file(str(dataset / m.shards[s].index.file)).get_batch(0)
    off, length = int(index.column("offset")[i].as_py()), int(index.column("length")[i].as_py())
    digest = hashlib.sha256(data[off:off + length]).digest()

    def fix(cols, meta):
        cols["message_sha256"][i] = digest
    rewrite_index(dataset, s, fix)
    edit_manifest(dataset, lambda raw: raw["shards"][s].update(sha256=hashlib.sha256(bytes(data)).hexdigest()))


@pytest.fixture
def raw_shared(tmp_path, samples):
    """An uncompressed f32 2.5 dataset (codec none: column buffers can be edited in place)."""
    return _write(tmp_path, "raw", samples, True, values="f32", codec="none")


def _refusal(dataset: Path, b: int) -> LogitCacheError:
    ds = LogitCacheDataset(dataset)
    with pytest.raises(LogitCacheError) as e:
        ds.batch(b)
    return e.value


def test_refuses_an_owner_that_is_not_earlier(raw_shared):
    _patch(raw_shared, 0, "prefix_sample", 1, 2, np.uint64)  # sample 1 → sample 2
    err = _refusal(raw_shared, 0)
    assert isinstance(err, ShardCorruptError) and err.code == SHARD_CORRUPT
    assert "batch 0" in str(err) and "shards/shard-000000.arrow" in str(err)
    assert "sample 1: prefix_sample 2 is not an earlier sample" in str(err)


def test_refuses_an_owner_that_is_not_a_root(raw_shared):
    _patch(raw_shared, 1, "prefix_sample", 1, 1, np.uint64)  # sample 4 → sample 1, which shares with 0
    err = _refusal(raw_shared, 1)
    assert err.code == SHARD_CORRUPT and "batch 1" in str(err)
    assert "sample 4: prefix_sample 1 is not a root" in str(err)


def test_refuses_an_owner_in_another_shard(raw_shared):
    _patch(raw_shared, 3, "prefix_sample", 1, 0, np.uint64)  # sample 10 → sample 0 (shard 0)
    err = _refusal(raw_shared, 3)
    assert err.code == SHARD_CORRUPT and "shards/shard-000001.arrow" in str(err) and "batch 3" in str(err)
    assert "sample 10: prefix_sample 0 is not in this shard (it starts at sample 9)" in str(err)


def test_refuses_a_root_naming_another_sample(raw_shared):
    _patch(raw_shared, 0, "prefix_sample", 2, 0, np.uint64)  # sample 2 (a root) names 0
    assert "sample 2: prefix_len 0 with prefix_sample 0" in str(_refusal(raw_shared, 0))


def test_refuses_input_ids_that_differ_from_the_owners(raw_shared, samples):
    # Sample 4 (batch 1, row 1) shares 20 tokens with sample 0; change its token 3.
    tok = samples[4]["input_ids"][3]
    row = len(samples[3]["input_ids"]) + 3  # flat position in batch 1's input_ids
    _patch(raw_shared, 1, "input_ids", row, (tok + 1) % VOCAB, np.int32, child=1)
    err = _refusal(raw_shared, 1)
    assert err.code == SHARD_CORRUPT
    assert "sample 4: input_ids differ from prefix_sample 0 at position 3 within prefix_len 20" in str(err)


def test_refuses_a_prefix_longer_than_the_sample(raw_shared):
    _patch(raw_shared, 2, "prefix_len", 1, 13, np.uint32)  # sample 7 has 12 tokens
    assert "sample 7: prefix_len 13 exceeds its 12 tokens" in str(_refusal(raw_shared, 2))


def test_the_hash_still_comes_first(raw_shared):
    """An edit without the hash fix is refused as a checksum mismatch, before any §4.3 rule."""
    s, i, at, _ = _column_span(raw_shared, 0, "prefix_sample")
    path = raw_shared / "shards" / "shard-000000.arrow"
    data = bytearray(path.read_bytes())
    data[at + 8] ^= 1
    path.write_bytes(bytes(data))
    err = _refusal(raw_shared, 0)
    assert err.code == SHARD_CORRUPT and "sha256" in str(err)


def test_owner_batches_are_verified_too(raw_shared):
    """Batch 1 is intact but its owner batch 0 is not: reading batch 1 refuses batch 0's bytes."""
    s, i, at, _ = _column_span(raw_shared, 0, "topk_logprobs", child=2)
    path = raw_shared / "shards" / "shard-000000.arrow"
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    err = _refusal(raw_shared, 1)
    assert err.code == SHARD_CORRUPT and "batch 0" in str(err) and "sha256" in str(err)


def _edit_schema_value(dataset: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` (same length) in every shard's schema message; fix schemaSha256."""
    m = load_manifest(dataset)
    for s, entry in enumerate(m.shards):
        path = dataset / entry.file
        data = bytearray(path.read_bytes())
        a, b = entry.schema_range
        part = bytes(data[a:b])
        assert part.count(old) == 1
        data[a:b] = part.replace(old, new)
        path.write_bytes(bytes(data))
        sha = hashlib.sha256(bytes(data[a:b])).hexdigest()
        edit_manifest(dataset, lambda raw, s=s, sha=sha: raw["shards"][s].update(schemaSha256=sha))


def test_unknown_metadata_value_refused_by_name(raw_shared):
    # In the flatbuffer the value string "1" (int32 length 1, "1", padding) sits right before the
    # key string (int32 length, the key): change that one character.
    key = b"logit_cache.shared_prefixes"
    framed = len(key).to_bytes(4, "little") + key
    _edit_schema_value(raw_shared, b"\x01\x00\x00\x001\x00\x00\x00" + framed, b"\x01\x00\x00\x002\x00\x00\x00" + framed)
    err = _refusal(raw_shared, 0)
    assert isinstance(err, FormatError) and "unknown logit_cache.shared_prefixes value '2'" in str(err)
    assert "shards/shard-000000.arrow" in str(err)


def test_manifest_and_schema_must_agree(raw_shared):
    edit_manifest(raw_shared, lambda raw: raw["topk"].pop("sharedPrefixes"))
    err = _refusal(raw_shared, 0)
    assert isinstance(err, FormatError)
    assert "logit_cache.shared_prefixes=1, manifest topk.sharedPrefixes=absent" in str(err)


def test_manifest_value_must_be_boolean(raw_shared):
    edit_manifest(raw_shared, lambda raw: raw["topk"].update(sharedPrefixes="yes"))
    with pytest.raises(FormatError, match="sharedPrefixes"):
        LogitCacheDataset(raw_shared)


def test_a_served_stream_must_be_resolved(raw_shared):
    """The HTTP client refuses a stream whose schema still declares shared prefixes."""
    from logit_cache.manifest import check_schema_metadata

    m = load_manifest(raw_shared)
    schema = ipc.open_file(str(raw_shared / m.shards[0].file)).schema
    check_schema_metadata(schema.metadata, m, "stored shard")  # agrees with the manifest
    with pytest.raises(FormatError, match="served stream declares logit_cache.shared_prefixes"):
        check_schema_metadata(schema.metadata, m, "GET /logits/raw/0", resolved=True)
    plain = {k: v for k, v in schema.metadata.items() if k != b"logit_cache.shared_prefixes"}
    check_schema_metadata(plain, m, "GET /logits/raw/0", resolved=True)


def test_manifest_json_says_so(raw_shared):
    raw = json.loads((raw_shared / "manifest.json").read_text())
    assert raw["formatVersion"] == "2.5" and raw["topk"]["sharedPrefixes"] is True


# ---- Parquet: the shard rewritten by pyarrow (one row group per batch, as the writer lays it out),
# the index and manifest fixed up, so again only §4.3's rules can refuse ----

def _rewrite_parquet(dataset: Path, s: int, mutate) -> None:
    """Rewrite Parquet shard ``s`` with ``mutate(batch_index, table) -> table`` applied to each row
    group, then its index (offsets, lengths, hashes) and manifest entry to match."""
    from logit_cache.parquet_shard import row_group_ranges

    m = load_manifest(dataset)
    entry = m.shards[s]
    path = dataset / entry.file
    f = pq.ParquetFile(str(path))
    schema = f.schema_arrow
    groups = [mutate(i, f.read_row_group(i)) for i in range(f.num_row_groups)]
    with pq.ParquetWriter(str(path), schema, use_dictionary=False, compression="none", store_schema=True) as w:
        for t in groups:
            w.write_table(t.cast(schema), row_group_size=len(t) + 1)
    data = path.read_bytes()
    meta = pq.read_metadata(str(path))
    spans = row_group_ranges(meta)
    assert all(spans) and len(spans) == len(groups)
    tail = len(data) - spans[-1][1]

    def fix(cols, _meta):
        cols["offset"] = [a for a, _ in spans]
        cols["length"] = [b - a for a, b in spans]
        cols["message_sha256"] = [hashlib.sha256(data[a:b]).digest() for a, b in spans]
    rewrite_index(dataset, s, fix)
    edit_manifest(dataset, lambda raw: raw["shards"][s].update(
        bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), schemaLength=tail,
        schemaSha256=hashlib.sha256(data[-tail:]).hexdigest()))


def _set(table: pa.Table, name: str, row: int, value) -> pa.Table:
    values = table.column(name).to_pylist()
    values[row] = value
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


@pytest.fixture
def parquet_shared(tmp_path, samples):
    return _write(tmp_path, "pq", samples, True, values="f16", ids="ctx-table", shard_format="parquet")


def test_parquet_rewrite_alone_still_reads(parquet_shared, tmp_path, samples):
    """The rewrite helper itself keeps a valid dataset (so the refusals below are the edits')."""
    _rewrite_parquet(parquet_shared, 0, lambda i, t: t)
    plain = _write(tmp_path / "p", "plain", samples, False, values="f16", ids="ctx-table", shard_format="parquet")
    _assert_same_datasets(LogitCacheDataset(parquet_shared), LogitCacheDataset(plain))


@pytest.mark.parametrize("batch,row,column,value,what", [
    (1, 1, "prefix_sample", 1, "sample 4: prefix_sample 1 is not a root"),
    (0, 1, "prefix_sample", 2, "sample 1: prefix_sample 2 is not an earlier sample"),
    (2, 1, "prefix_len", 13, "sample 7: prefix_len 13 exceeds its 12 tokens"),
])
def test_parquet_references_refused(parquet_shared, batch, row, column, value, what):
    _rewrite_parquet(parquet_shared, 0, lambda i, t: _set(t, column, row, value) if i == batch else t)
    err = _refusal(parquet_shared, batch)
    assert err.code == SHARD_CORRUPT and what in str(err)
    assert f"batch {batch}" in str(err) and "shards/shard-000000.parquet" in str(err)


def test_parquet_manifest_and_footer_must_agree(parquet_shared):
    edit_manifest(parquet_shared, lambda raw: raw["topk"].pop("sharedPrefixes"))
    err = _refusal(parquet_shared, 0)
    assert isinstance(err, FormatError) and "Parquet footer" in str(err)
    assert "logit_cache.shared_prefixes=1, manifest topk.sharedPrefixes=absent" in str(err)
