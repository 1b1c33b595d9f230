"""Parquet shards (format 2.2, ``--shard-format parquet``) from the real TypeScript writer, read
by the checked reader: the same batches as Arrow shards of the same samples, locally, over HTTP
Range and from ``logit-cache serve``; every corruption refused with its code before parsing."""
import hashlib
import urllib.request

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from logit_cache import HttpLogitCache, LogitCacheDataset, LogitCacheError, load_manifest
from logit_cache.errors import FORMAT_VERSION, MANIFEST_INVALID, SHARD_CORRUPT
from logit_cache.losses import bild_loss, topk_kl_loss
from logit_cache.parquet_shard import VerifiedRanges, check_row_groups, decode_row_group, parse_tail, row_group_ranges
from logit_cache.reader_http import STREAM_SHA_HEADER
from logit_cache.testing import samples_from_logits, write_dataset
from logit_cache.torch_data import CacheBatches

from conftest import (
    assert_same_batches, edit_manifest, flip_byte, make_teacher, need_writer, rewrite_index, small_dataset,
)


def _code(fn):
    with pytest.raises(LogitCacheError) as e:
        fn()
    return e.value


def _pair(tmp_path, samples, **kw):
    """The same samples written by the real writer as Arrow shards and as Parquet shards."""
    need_writer()
    arrow = write_dataset(tmp_path / "a", "ds", samples, **kw)
    parquet = write_dataset(tmp_path / "p", "ds", samples, shard_format="parquet", **kw)
    return LogitCacheDataset(arrow), LogitCacheDataset(parquet)


@pytest.mark.parametrize("values,codec", [("f32", "lz4"), ("f16", "zstd"), ("bf16", "none"), ("q8", "lz4"), ("rank-delta", "zstd")])
def test_parquet_batches_equal_arrow_batches(tmp_path, values, codec):
    ids, logits = make_teacher(n=11, vocab=300, seed=1)
    samples = samples_from_logits(ids, logits, 6)
    arrow, parquet = _pair(tmp_path, samples, k=6, values=values, codec=codec, batch_size=4, batches_per_shard=2,
                           q8_scale=0.05, f16_ranks=3, grid_step=0.25, vocab_size=300)
    m = parquet.manifest
    assert m.shard_format == "parquet" and m.format_version == "2.2" and arrow.manifest.shard_format == "arrow"
    assert [s.file for s in m.shards] == ["shards/shard-000000.parquet", "shards/shard-000001.parquet"]
    assert [s.index.file for s in m.shards] == [s.index.file for s in arrow.manifest.shards]
    assert len(parquet) == len(arrow) == 3 and m.codec == codec and m.topk == arrow.manifest.topk
    for b in range(len(arrow)):
        assert_same_batches(parquet.batch(b), arrow.batch(b))
        assert parquet.record_batch(b).equals(arrow.record_batch(b)), b
    assert parquet.batch(2)["sample_id"].tolist() == [8, 9, 10]
    assert all(ok for _, ok in parquet.verify_shards())


def test_uint32_ids_and_pad_to_in_parquet(tmp_path):
    ids, logits = make_teacher(n=5, vocab=70000, seed=2, max_len=4, scale=1.0)
    samples = samples_from_logits(ids, logits, 4)
    arrow, parquet = _pair(tmp_path, samples, k=4, batch_size=5, vocab_size=70000)
    assert parquet.manifest.topk.index_type == "uint32"
    got = LogitCacheDataset(parquet.path, pad_to=9).batch(0)
    assert got["topk_ids"].shape == (5, 9, 4)
    assert int(got["topk_ids"].max()) == max(int(np.max(s["topk_ids"])) for s in samples) > 65535
    assert_same_batches(got, LogitCacheDataset(arrow.path, pad_to=9).batch(0))


def test_ragged_top_p_in_parquet(tmp_path):
    """Ragged top-p lists (format 2.3, list<list<T>>) in Parquet shards: the same padded tensors
    and per-position counts as the Arrow shards of the same samples."""
    ids, logits = make_teacher(n=8, vocab=80, seed=12)
    arrow, parquet = _pair(tmp_path, samples_from_logits(ids, logits, 6), k=6, values="f16", batch_size=3,
                           vocab_size=80, top_p=0.6, min_k=2)
    assert parquet.manifest.topk.ragged and parquet.manifest.shard_format == "parquet"
    counts = []
    for b in range(len(arrow)):
        got = parquet.batch(b)
        assert_same_batches(got, arrow.batch(b))
        counts.append(got["topk_counts"][got["attention_mask"].bool()])
    counts = torch.cat(counts)
    assert int(counts.min()) >= 2 and int(counts.max()) <= 6 and len(set(counts.tolist())) > 1  # really ragged


def test_tail_mass_column_in_parquet(tmp_path):
    """A tail-mass dataset (format 2.1's column) with Parquet shards: the column survives as float32
    per position and decodes to the same tensor as from Arrow shards."""
    ids, logits = make_teacher(n=7, vocab=50, seed=9)
    samples = samples_from_logits(ids, logits, 4, tail_mass=True)
    arrow, parquet = _pair(tmp_path, samples, k=4, values="f16", batch_size=3, vocab_size=50)
    assert parquet.manifest.topk.tail_mass and parquet.manifest.format_version == "2.2"
    for b in range(len(arrow)):
        got = parquet.batch(b)
        assert_same_batches(got, arrow.batch(b))
        mask = got["attention_mask"].bool()
        want = np.concatenate([s["topk_tail_logprob"] for s in samples[3 * b : 3 * b + 3]])
        assert np.array_equal(got["topk_tail_logprob"][mask].numpy(), want)


def test_empty_samples_in_parquet(tmp_path):
    """Samples of length 0 (empty lists at every nesting level) read back as all-padding rows."""
    ids, logits = make_teacher(n=6, vocab=40, seed=8)
    for i in (1, 4, 5):
        ids[i], logits[i] = [], logits[i][:0]
    arrow, parquet = _pair(tmp_path, samples_from_logits(ids, logits, 4), k=4, batch_size=2, vocab_size=40)
    for b in range(len(arrow)):
        assert_same_batches(parquet.batch(b), arrow.batch(b))
    assert parquet.batch(2)["input_ids"].shape == (2, 0) and parquet.batch(0)["attention_mask"].sum(1).tolist() == [len(ids[0]), 0]


def test_footer_rows_and_ranges_are_the_index(parquet_dataset):
    """What the reader relies on, read back from the real writer's file: one row group per stored
    batch, at exactly the index's byte range, whose bytes hash to the index's message_sha256."""
    ds = LogitCacheDataset(parquet_dataset)
    for s, entry in enumerate(ds.manifest.shards):
        shard = ds.reader.shard(s)
        data = (parquet_dataset / entry.file).read_bytes()
        assert data[:4] == b"PAR1" and data[-4:] == b"PAR1" and len(data) == entry.bytes
        assert hashlib.sha256(data[-entry.schema_length:]).hexdigest() == entry.schema_sha256
        assert int.from_bytes(data[-8:-4], "little") == entry.schema_length - 8
        ranges = row_group_ranges(shard.parquet)
        assert len(ranges) == entry.batch_count
        for i, (a, b) in enumerate(ranges):
            assert (a, b - a) == (int(shard.index.offset[i]), int(shard.index.length[i]))
            assert hashlib.sha256(data[a:b]).digest() == shard.index.digest(i)
            assert shard.parquet.row_group(i).num_rows == int(shard.index.samples[i])


def test_every_byte_of_the_footer_is_covered(parquet_dataset):
    """Bytes spread over shard 0's tail (footer, its length, the magic) flipped in turn: each is
    refused as a corrupt shard before the footer is parsed; shard 1 keeps reading."""
    m = load_manifest(parquet_dataset)
    entry = m.shards[0]
    path = parquet_dataset / entry.file
    pristine = path.read_bytes()
    start = entry.bytes - entry.schema_length
    offsets = sorted(set(range(start, entry.bytes, max(1, entry.schema_length // 60))) | set(range(entry.bytes - 8, entry.bytes)))
    for offset in offsets:
        data = bytearray(pristine)
        data[offset] ^= 0x2F
        path.write_bytes(bytes(data))
        ds = LogitCacheDataset(parquet_dataset)
        err = _code(lambda: ds.batch(1))
        assert err.code == SHARD_CORRUPT and "Parquet footer" in str(err) and entry.schema_sha256 in str(err), offset
        assert ds.batch(2)["sample_id"].tolist() == [6, 7, 8]
    path.write_bytes(pristine)
    assert len(offsets) > 60 and LogitCacheDataset(parquet_dataset).batch(1)["input_ids"].shape[0] == 3


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_row_group_byte_flip_refused(parquet_dataset, where):
    ds = LogitCacheDataset(parquet_dataset)
    entry = ds.manifest.shards[0]
    index = ds.reader.shard(0).index
    off, length = int(index.offset[1]), int(index.length[1])
    flip_byte(parquet_dataset / entry.file, {"first": off, "middle": off + length // 2, "last": off + length - 1}[where])
    ds = LogitCacheDataset(parquet_dataset)
    assert ds.batch(0)["sample_id"].tolist() == [0, 1, 2]  # the untouched row group still reads
    err = _code(lambda: ds.batch(1))
    assert err.code == SHARD_CORRUPT and "batch 1" in str(err) and index.digest(1).hex() in str(err)
    assert dict(ds.verify_shards())[entry.file] is False


def test_footer_and_index_must_agree(parquet_dataset):
    """An index with a correct checksum and valid invariants that moves the boundary between row
    groups 0 and 1 by one byte: refused when the footer is checked, before any row group is read."""
    def shift(cols, meta):
        cols["length"][0] += 1
        cols["offset"][1] += 1
        cols["length"][1] -= 1
    rewrite_index(parquet_dataset, 0, shift)
    err = _code(lambda: LogitCacheDataset(parquet_dataset).batch(1))
    assert err.code == SHARD_CORRUPT and "row group 0 spans" in str(err) and "footer" in str(err)


@pytest.mark.parametrize("mutate", [
    lambda c: c.update(offset=[5] + c["offset"][1:]),  # not right after the leading PAR1
    lambda c: c.update(length=[c["length"][0] - 1] + c["length"][1:]),  # a gap between row groups
    lambda c: c.update(length=c["length"][:-1] + [c["length"][-1] - 1]),  # stops short of the tail
])
def test_parquet_index_ranges_fill_the_file(parquet_dataset, mutate):
    rewrite_index(parquet_dataset, 0, lambda cols, meta: mutate(cols))
    err = _code(lambda: LogitCacheDataset(parquet_dataset).batch(0))
    assert err.code == SHARD_CORRUPT and "back to back" in str(err)


def test_footer_without_arrow_schema_refused(parquet_dataset):
    """A footer lacking ARROW:schema would decode to other types (list for fixed_size_list): refused."""
    ds = LogitCacheDataset(parquet_dataset)
    table = pa.Table.from_batches([ds.record_batch(0)])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, store_schema=False)
    data = sink.getvalue().to_pybytes()
    tail = data[-(int.from_bytes(data[-8:-4], "little") + 8):]
    err = _code(lambda: parse_tail(tail, ds.manifest, "t"))
    assert err.code == SHARD_CORRUPT and "ARROW:schema" in str(err)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)  # with it, the same tail parses and its metadata is checked
    data = sink.getvalue().to_pybytes()
    assert parse_tail(data[-(int.from_bytes(data[-8:-4], "little") + 8):], ds.manifest, "t")[1].equals(table.schema)


def test_footer_row_counts_and_group_count_checked(parquet_dataset):
    ds = LogitCacheDataset(parquet_dataset)
    shard = ds.reader.shard(0)
    ix, entry = shard.index, shard.entry
    check_row_groups(shard.parquet, ix.offset, ix.length, ix.samples, entry, "s0")  # the real pair agrees
    samples = ix.samples.copy()
    samples[0] -= 1
    err = _code(lambda: check_row_groups(shard.parquet, ix.offset, ix.length, samples, entry, "s0"))
    assert err.code == SHARD_CORRUPT and "row group 0 has 3 rows" in str(err)
    fewer = ds.manifest.shards[1]  # shard 1 holds 2 batches too, but other sample counts
    err = _code(lambda: check_row_groups(shard.parquet, ix.offset, ix.length, ix.samples, fewer, "s0"))
    assert err.code == SHARD_CORRUPT and "rows" in str(err)


def test_pyarrow_reads_only_verified_bytes(parquet_dataset):
    """The file-like pyarrow decodes through serves the verified row group and nothing else: a
    request for another row group (a footer pointing elsewhere) is refused, not answered."""
    ds = LogitCacheDataset(parquet_dataset)
    shard = ds.reader.shard(0)
    entry = shard.entry
    data = pa.py_buffer((parquet_dataset / entry.file).read_bytes())
    a, n = int(shard.index.offset[1]), int(shard.index.length[1])
    f = VerifiedRanges(entry.bytes, a, data.slice(a, n), "t")
    f.seek(a + 2)
    assert f.read(5).to_pybytes() == data.slice(a + 2, 5).to_pybytes()
    for start, count in ((a - 1, 2), (a + n - 1, 2), (0, 4), (entry.bytes - 8, 8)):
        f.seek(start)
        assert _code(lambda: f.read(count)).code == SHARD_CORRUPT
    rb = decode_row_group(shard.parquet, shard.schema, 1, entry, a, data.slice(a, n), "t")
    assert rb.equals(ds.record_batch(1))
    err = _code(lambda: decode_row_group(shard.parquet, shard.schema, 0, entry, a, data.slice(a, n), "row group 0"))
    assert err.code == SHARD_CORRUPT and "outside the verified row group" in str(err)


def test_truncated_or_missing_parquet_shard_refused(parquet_dataset):
    m = load_manifest(parquet_dataset)
    path = parquet_dataset / m.shards[1].file
    path.write_bytes(path.read_bytes()[:-1])
    err = _code(lambda: LogitCacheDataset(parquet_dataset).batch(2))
    assert err.code == SHARD_CORRUPT and "truncated" in str(err) and m.shards[1].file in str(err)
    path.unlink()
    err = _code(lambda: LogitCacheDataset(parquet_dataset).batch(3))
    assert err.code == SHARD_CORRUPT and m.shards[1].file in str(err)


def test_unknown_shard_format_refused_by_name(any_dataset):
    edit_manifest(any_dataset, lambda m: m.update(shardFormat="orc"))
    err = _code(lambda: LogitCacheDataset(any_dataset))
    assert err.code == FORMAT_VERSION and "'orc'" in str(err) and "arrow, parquet" in str(err)
    edit_manifest(any_dataset, lambda m: m.update(shardFormat=2))
    assert _code(lambda: LogitCacheDataset(any_dataset)).code == MANIFEST_INVALID


def test_shard_format_and_file_names_must_agree(any_dataset):
    fmt = load_manifest(any_dataset).shard_format
    edit_manifest(any_dataset, lambda m: m.update(shardFormat="arrow" if fmt == "parquet" else "parquet"))
    err = _code(lambda: LogitCacheDataset(any_dataset))
    assert err.code == MANIFEST_INVALID and "shards[0]" in str(err)


def test_parquet_over_http_range_equals_local(parquet_dataset, static_server):
    srv = static_server(parquet_dataset.parent)
    remote = LogitCacheDataset(f"{srv.url}/ds")
    local = LogitCacheDataset(parquet_dataset)
    assert remote.manifest == local.manifest
    for b in range(len(local)):
        assert_same_batches(remote.batch(b), local.batch(b))
    ranges = [r for p, r in srv.requests if p.endswith(".parquet")]
    assert ranges and all(r and r.startswith("bytes=") for r in ranges)  # never the whole file
    assert all(ok for _, ok in remote.verify_shards())
    flip_byte(parquet_dataset / local.manifest.shards[1].file, local.manifest.shards[1].bytes - 20)  # the footer
    err = _code(lambda: LogitCacheDataset(f"{srv.url}/ds").batch(2))
    assert err.code == SHARD_CORRUPT and "Parquet footer" in str(err)


def test_server_serves_parquet_batches(parquet_dataset, serve_root):
    """GET /logits over a Parquet dataset: the Arrow stream the client already reads, verified by
    the stream hash the index records; a corrupt row group is the server's 500 SHARD_CORRUPT."""
    srv = serve_root(parquet_dataset.parent)
    remote = HttpLogitCache(srv.url, "ds", retries=3, backoff=5.0)  # a retry would take seconds
    local = LogitCacheDataset(parquet_dataset)
    assert remote.manifest == local.manifest and remote.manifest.shard_format == "parquet"
    for b in range(len(local)):
        assert_same_batches(remote.batch(b), local.batch(b))
        assert remote.record_batch(b).equals(local.record_batch(b))
    unverified = HttpLogitCache(srv.url, "ds", verify=False)  # no stream hash: the schema metadata is still checked
    assert unverified.record_batch(3).equals(local.record_batch(3))
    with urllib.request.urlopen(f"{srv.url}/logits/ds/2") as resp:
        body, sha = resp.read(), resp.headers[STREAM_SHA_HEADER]
    assert hashlib.sha256(body).hexdigest() == sha == local.reader.shard(1).index.stream_digest(0).hex()
    index = local.reader.shard(0).index
    before = local.batch(0)
    flip_byte(parquet_dataset / local.manifest.shards[0].file, int(index.offset[0] + index.length[0]) - 3)
    # This server re-encoded batch 0 above and keeps the hash-checked stream in memory: it still
    # serves those (correct) bytes without reading the file (docs/HTTP.md, re-encoded batches).
    assert_same_batches(remote.batch(0), before)
    # A server that has to read the damaged row group refuses it.
    fresh = HttpLogitCache(serve_root(parquet_dataset.parent).url, "ds", retries=3, backoff=5.0)
    err = _code(lambda: fresh.batch(0))
    assert err.code == SHARD_CORRUPT and err.status == 500
    assert fresh.batch(2)["sample_id"].tolist() == [6, 7, 8]  # the other shard is still served


def test_served_parquet_stream_refused_when_altered(parquet_dataset, serve_root):
    from logit_cache.shard_reader import split_verified_stream

    srv = serve_root(parquet_dataset.parent)
    with urllib.request.urlopen(f"{srv.url}/logits/ds/1") as resp:
        body, sha = resp.read(), resp.headers[STREAM_SHA_HEADER]
    shard = load_manifest(parquet_dataset).shards[0]
    schema, message = split_verified_stream(body, shard, sha, "t")
    assert len(schema) + len(message) + 8 == len(body)
    for offset in (5, len(schema) // 2, len(schema) + 3, len(body) - 1):
        bad = bytearray(body)
        bad[offset] ^= 0x01
        assert _code(lambda: split_verified_stream(bytes(bad), shard, sha, "t")).code == SHARD_CORRUPT, offset


def _stream(rb: pa.RecordBatch, metadata) -> bytes:
    """A one-batch Arrow IPC stream of ``rb`` with schema metadata ``metadata``, by pyarrow's encoder."""
    sink = pa.BufferOutputStream()
    schema = rb.schema.with_metadata(metadata)
    with pa.ipc.new_stream(sink, schema) as w:
        w.write_batch(pa.record_batch(rb.columns, schema=schema))
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("shard_format", ["arrow", "parquet"])
def test_served_schema_message_checks_by_format(tmp_path, teacher, static_server, shard_format):
    """A stand-in server answers GET /logits with streams from another Arrow encoder, each with a
    matching stream hash.  For a Parquet dataset the schema message is the server's own, so a
    well-formed one is accepted and one whose metadata disagrees with the manifest is refused;
    for an Arrow dataset it must be the shard's own schema message bytes (the manifest's hash)."""
    d = small_dataset(tmp_path, teacher, shard_format)
    local = LogitCacheDataset(d)
    rb = local.record_batch(0)
    meta = dict(rb.schema.metadata)
    bad = {**meta, b"logit_cache.k": b"9"}
    site = tmp_path / "site"
    (site / "datasets").mkdir(parents=True)
    (site / "datasets" / "ds").write_bytes((d / "manifest.json").read_bytes())
    (site / "logits" / "ds").mkdir(parents=True)
    srv = static_server(site)
    for b, body in ((0, _stream(rb, meta)), (1, _stream(local.record_batch(1), bad))):
        (site / "logits" / "ds" / str(b)).write_bytes(body)
        srv.headers_for[f"/logits/ds/{b}"] = [("Content-Type", "application/vnd.apache.arrow.stream"),
                                               (STREAM_SHA_HEADER, hashlib.sha256(body).hexdigest())]
    client = HttpLogitCache(srv.url, "ds", retries=0)
    if shard_format == "parquet":
        assert client.record_batch(0).equals(rb)
        err = _code(lambda: client.batch(1))
        assert err.code == MANIFEST_INVALID and "k=9" in str(err)
    else:
        for b in (0, 1):
            err = _code(lambda: client.batch(b))
            assert err.code == SHARD_CORRUPT and "schema message" in str(err)


def test_torch_loader_and_losses_over_parquet(tmp_path):
    """DataLoader workers (fork, pickled reader) and both losses take Parquet batches unchanged."""
    ids, logits = make_teacher(n=9, vocab=32, seed=5, max_len=5)
    arrow, parquet = _pair(tmp_path, samples_from_logits(ids, logits, 4), k=4, batch_size=2, batches_per_shard=2,
                           vocab_size=32, values="f16")
    got = list(DataLoader(CacheBatches(parquet), batch_size=None, num_workers=2))
    assert len(got) == len(arrow) == 5
    gen = torch.Generator().manual_seed(0)
    for b, batch in enumerate(got):
        want = arrow.batch(b)
        assert_same_batches(batch, want)
        student = torch.randn(*batch["input_ids"].shape, 32, generator=gen)
        loss, info = bild_loss(student, batch, k=4)
        assert torch.isfinite(loss) and torch.equal(loss, bild_loss(student, want, k=4)[0])
        assert torch.equal(topk_kl_loss(student, batch), topk_kl_loss(student, want))
