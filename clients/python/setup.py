"""Build hook: ship the repository's manifest JSON Schema inside the package.

The schema lives once, in ``<repo>/schemas/manifest.schema.json`` (shared with the TypeScript
side).  A checkout finds it there; an installed wheel has no repository, so the build copies
it to ``logit_cache/schemas/`` in the build tree (never into the source tree).
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "manifest.schema.json"


class BuildPyWithSchema(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "logit_cache" / "schemas" / SCHEMA.name
        if SCHEMA.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SCHEMA, target)
        elif not target.is_file():
            raise SystemExit(f"cannot build logit-cache: {SCHEMA} not found (build from the repository checkout)")


setup(cmdclass={"build_py": BuildPyWithSchema})
