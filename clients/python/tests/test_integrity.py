"""Every corruption of a real writer's dataset is refused with its code, before anything is parsed.

Index bytes, schema-message bytes, batch bytes, truncation, an index whose checksum is right but
whose content is wrong, and symlinks out of the dataset folder.  Tests assert codes, not prose.
"""
import os
import shutil

import pyarrow.ipc as ipc
import pytest

from logit_cache import LogitCacheDataset, LogitCacheError, load_manifest
from logit_cache.errors import PATH_OUTSIDE_ROOT, SHARD_CORRUPT

from conftest import edit_manifest, flip_byte, rewrite_index


def _code(fn):
    with pytest.raises(LogitCacheError) as e:
        fn()
    return e.value


def test_index_byte_flip_refused_before_parsing(dataset):
    m = load_manifest(dataset)
    size = m.shards[1].index.bytes
    for offset in (0, size // 3, size // 2, size - 1):  # magic, schema, data, footer
        flip_byte(dataset / m.shards[1].index.file, offset)
        ds = LogitCacheDataset(dataset)
        ds.batch(0)  # the other shard still reads
        err = _code(lambda: ds.batch(2))
        assert err.code == SHARD_CORRUPT and m.shards[1].index.file in str(err) and m.shards[1].index.sha256 in str(err)
        flip_byte(dataset / m.shards[1].index.file, offset)  # restore
    LogitCacheDataset(dataset).batch(2)


def test_every_schema_byte_flip_refused(dataset):
    """The issue's sweep: each byte of shard 0's schema message flipped in turn."""
    m = load_manifest(dataset)
    shard = dataset / m.shards[0].file
    pristine = shard.read_bytes()
    refused = 0
    for offset in range(8, 8 + m.shards[0].schema_length):
        data = bytearray(pristine)
        data[offset] ^= 0x2F
        shard.write_bytes(bytes(data))
        err = _code(lambda: LogitCacheDataset(dataset).batch(1))
        assert err.code == SHARD_CORRUPT and "schema message" in str(err), offset
        refused += 1
    shard.write_bytes(pristine)
    assert refused == m.shards[0].schema_length and LogitCacheDataset(dataset).batch(1)["input_ids"].shape[0] == 3


def test_batch_byte_flip_refused(dataset):
    m = load_manifest(dataset)
    shard = m.shards[0]
    index = ipc.open_file(str(dataset / shard.index.file)).read_all()
    off, length = index.column("offset")[1].as_py(), index.column("length")[1].as_py()
    flip_byte(dataset / shard.file, off + length - 3)
    ds = LogitCacheDataset(dataset)
    ds.batch(0)  # untouched neighbour still reads
    err = _code(lambda: ds.batch(1))
    assert err.code == SHARD_CORRUPT and "batch 1" in str(err) and index.column("message_sha256")[1].as_py().hex() in str(err)
    assert dict(ds.verify_shards())[shard.file] is False
    # with verification off the flipped batch goes unchecked, which is why it is on by default
    LogitCacheDataset(dataset, verify=False).record_batch(0)


def test_truncated_shard_refused(dataset):
    m = load_manifest(dataset)
    path = dataset / m.shards[1].file
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    err = _code(lambda: LogitCacheDataset(dataset).batch(2))
    assert err.code == SHARD_CORRUPT and "truncated" in str(err) and m.shards[1].file in str(err)
    # a manifest "fixed up" to the new size: the verified index places the last batch beyond the end
    index = ipc.open_file(str(dataset / m.shards[1].index.file)).read_all()
    last_end = index.column("offset")[-1].as_py() + index.column("length")[-1].as_py() - 8
    path.write_bytes(data[:last_end])
    edit_manifest(dataset, lambda raw: raw["shards"][1].update(bytes=last_end))
    err = _code(lambda: LogitCacheDataset(dataset).batch(2))
    assert err.code == SHARD_CORRUPT and "inside" in str(err)


@pytest.mark.parametrize("mutate,what", [
    (lambda c, m: c.update(offset=c["offset"][::-1]), "ascending"),
    (lambda c, m: c.update(offset=[7] + c["offset"][1:]), "ascending"),
    (lambda c, m: c.update(offset=[c["offset"][0] + 8] + c["offset"][1:]), "ascending"),
    (lambda c, m: c.update(length=[c["length"][0], 2**64 - 1]), "exceeds"),
    (lambda c, m: c.update(samples=[c["samples"][0] + 1, c["samples"][1]]), "batchSize"),
    (lambda c, m: c.update(samples=[c["samples"][0] - 1, c["samples"][1] + 1]), "batchSize"),
    (lambda c, m: c.update(tokens=[c["tokens"][0], c["tokens"][1] + 5]), "sums"),
    (lambda c, m: [c[k].pop() for k in c], "rows"),
    (lambda c, m: m.update({b"logit_cache.first_batch": b"7"}), "starts at batch"),
])
def test_index_invariants_checked_after_the_checksum(dataset, mutate, what):
    rewrite_index(dataset, 0, mutate)
    err = _code(lambda: LogitCacheDataset(dataset).batch(0))
    assert err.code == SHARD_CORRUPT and what in str(err)


def test_index_message_sha_is_what_is_checked(dataset):
    """A consistent index pointing batch 0 at another digest: the batch is refused, not decoded."""
    rewrite_index(dataset, 0, lambda c, m: c.update(message_sha256=[b"\x00" * 32, c["message_sha256"][1]]))
    ds = LogitCacheDataset(dataset)
    ds.batch(1)
    assert _code(lambda: ds.batch(0)).code == SHARD_CORRUPT


def _assert_escape_refused(dataset, name, outside):
    err = _code(lambda: LogitCacheDataset(dataset).batch(0))
    assert err.code == PATH_OUTSIDE_ROOT and name in str(err)
    assert str(outside) not in str(err)  # nothing about the target leaks


def test_shard_symlinked_outside_refused(any_dataset, tmp_path):
    m = load_manifest(any_dataset)
    outside = tmp_path / "elsewhere" / "copy.arrow"
    outside.parent.mkdir()
    shutil.copy(any_dataset / m.shards[0].file, outside)  # same bytes: only containment can refuse it
    (any_dataset / m.shards[0].file).unlink()
    os.symlink(outside, any_dataset / m.shards[0].file)
    _assert_escape_refused(any_dataset, m.shards[0].file, outside)


def test_index_symlinked_outside_refused(dataset, tmp_path):
    m = load_manifest(dataset)
    outside = tmp_path / "idx.arrow"
    shutil.copy(dataset / m.shards[0].index.file, outside)
    (dataset / m.shards[0].index.file).unlink()
    os.symlink(outside, dataset / m.shards[0].index.file)
    _assert_escape_refused(dataset, m.shards[0].index.file, outside)


def test_shards_folder_symlinked_outside_refused(dataset, tmp_path):
    outside = tmp_path / "moved-shards"
    shutil.move(str(dataset / "shards"), outside)
    os.symlink(outside, dataset / "shards")
    _assert_escape_refused(dataset, "shards/shard-000000", outside)


def test_manifest_symlinked_outside_refused(dataset, tmp_path):
    outside = tmp_path / "m.json"
    shutil.move(str(dataset / "manifest.json"), outside)
    os.symlink(outside, dataset / "manifest.json")
    err = _code(lambda: LogitCacheDataset(dataset))
    assert err.code == PATH_OUTSIDE_ROOT and str(outside) not in str(err)


def test_symlinks_inside_the_folder_and_a_symlinked_dataset_are_fine(dataset, tmp_path):
    m = load_manifest(dataset)
    real = dataset / m.shards[0].file
    moved = dataset / "shards" / "kept.bin"
    shutil.move(str(real), moved)
    os.symlink(moved, real)  # resolves inside the folder
    link = tmp_path / "link-to-ds"
    os.symlink(dataset, link)  # the user names the folder through a link: its realpath is the root
    assert LogitCacheDataset(link).batch(0)["sample_id"].tolist() == [0, 1, 2]


def test_missing_shard_refused(any_dataset):
    m = load_manifest(any_dataset)
    (any_dataset / m.shards[1].file).unlink()
    ds = LogitCacheDataset(any_dataset)
    ds.batch(1)
    err = _code(lambda: ds.batch(2))
    assert err.code == SHARD_CORRUPT and m.shards[1].file in str(err)


def test_decoded_sample_ids_must_be_the_expected_ones(dataset):
    """Defence in depth behind the hashes: a batch must hold exactly the samples its position implies."""
    from logit_cache.shard_reader import check_sample_ids

    rb = LogitCacheDataset(dataset).record_batch(1)  # samples 3, 4, 5
    check_sample_ids(rb, 3, 3, "batch 1")
    for first, n, what in ((4, 3, "row 0 has sample_id 3"), (3, 2, "3 samples, expected 2")):
        with pytest.raises(LogitCacheError) as e:
            check_sample_ids(rb, first, n, "batch 1")
        assert e.value.code == SHARD_CORRUPT and what in str(e.value)
