"""A 1.0 dataset: refused with LC_ERR_FORMAT_MIGRATE, then converted in place by the real
`logit-cache migrate` and read with the same batches (shards keep their 1.0-stamped schemas)."""
import hashlib
import json
import subprocess

import pyarrow.ipc as ipc
import pytest

from logit_cache import FormatMigrateError, LogitCacheDataset
from logit_cache.errors import FORMAT_MIGRATE

from conftest import CLI, assert_same_batches

# The flatbuffer string of the schema's format_version value: uint32 length 3, "2.0", NUL.
V2, V1 = b"\x03\x00\x00\x002.0\x00", b"\x03\x00\x00\x001.0\x00"


def downgrade_to_v1(d):
    """What the 1.0 writer produced for the same batches: shards stamped "1.0" (same length, so
    every offset holds), per-batch entries back in the manifest, no index files."""
    m = json.loads((d / "manifest.json").read_text())
    for s in m["shards"]:
        index = ipc.open_file(str(d / s["index"]["file"])).read_all().to_pydict()
        data = (d / s["file"]).read_bytes()
        assert data.count(V2) == 2, "the version string sits in the schema message and the footer"
        data = data.replace(V2, V1)
        (d / s["file"]).write_bytes(data)
        (d / s["index"]["file"]).unlink()
        s["batches"] = [{"offset": o, "length": n, "sha256": h.hex(), "samples": c, "tokens": t}
                        for o, n, h, c, t in zip(index["offset"], index["length"], index["message_sha256"],
                                                 index["samples"], index["tokens"])]
        s["sha256"] = hashlib.sha256(data).hexdigest()
        del s["schemaSha256"], s["index"]
    m["formatVersion"] = "1.0"
    (d / "manifest.json").write_text(json.dumps(m, indent=2))


def test_v1_refused_then_migrated_and_read(dataset):
    before = LogitCacheDataset(dataset)
    want = [before.batch(b) for b in range(len(before))]
    before.close()
    downgrade_to_v1(dataset)
    with pytest.raises(FormatMigrateError) as e:
        LogitCacheDataset(dataset)
    assert e.value.code == FORMAT_MIGRATE and "logit-cache migrate" in str(e.value)
    if not CLI.is_file():
        pytest.skip(f"{CLI} is missing; run `npm run build`")
    proc = subprocess.run(["node", str(CLI), "migrate", str(dataset)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    after = LogitCacheDataset(dataset)
    assert after.manifest.format_version == "2.0"
    for b, w in enumerate(want):
        assert_same_batches(after.batch(b), w)
    assert all(ok for _, ok in after.verify_shards())
