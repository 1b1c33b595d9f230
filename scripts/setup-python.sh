#!/usr/bin/env bash
# Creates .venv with the Python client and its test tools (pyarrow, torch CPU, onnxruntime,
# pytest) and the other Parquet readers the interop tests open shards with (polars, duckdb,
# Hugging Face datasets; ~20-30 s more on a fresh venv). Idempotent: a venv whose client
# install is current is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_RETRIES=0 PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.logit-cache-installed
want=$(sha256sum clients/python/pyproject.toml | cut -c1-64)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
echo "setup-python: installing clients/python[test,interop] into .venv" >&2
.venv/bin/pip install --retries 0 -q -e "clients/python[test,interop]"
echo "$want" > "$stamp"
