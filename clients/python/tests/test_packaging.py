"""An installed client (no repository around it) still finds the manifest JSON Schema: the
build copies the repository's schemas/manifest.schema.json into the package."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from logit_cache.manifest import SCHEMA_ENV, schema_path

CLIENT = Path(__file__).resolve().parents[1]


def test_checkout_uses_the_repository_schema():
    if os.environ.get(SCHEMA_ENV):
        pytest.skip(f"{SCHEMA_ENV} overrides the lookup")
    assert schema_path() == CLIENT.parents[1] / "schemas" / "manifest.schema.json"


def test_built_wheel_carries_the_schema(tmp_path):
    try:
        import setuptools  # noqa: F401
    except ImportError:
        pytest.skip("setuptools is not installed (needed to build the wheel without network)")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(CLIENT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "whl")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "whl").glob("*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {k: v for k, v in os.environ.items() if k not in (SCHEMA_ENV, "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run(
        [sys.executable, "-c", "import logit_cache.manifest as m; print(m.schema_path()); print(m.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found, module = out.stdout.split()
    assert Path(module).is_relative_to(site) and Path(found).is_relative_to(site)
    assert Path(found).read_bytes() == (CLIENT.parents[1] / "schemas" / "manifest.schema.json").read_bytes()
