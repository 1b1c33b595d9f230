#!/usr/bin/env bash
# The Python client's tests (pytest) on their own: `npm run test:py [-- pytest args]`.
# Builds the commands first (the tests run the real writer and server from dist/), creates
# .venv when needed, and runs this checkout's client (PYTHONPATH), not another editable install.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund
[ -n "${LOGIT_CACHE_SKIP_BUILD:-}" ] || npm run --silent build
bash scripts/setup-python.sh
export LOGIT_CACHE_PYTHON="$PWD/.venv/bin/python"
export PYTHONPATH="$PWD/clients/python${PYTHONPATH:+:$PYTHONPATH}"
cd clients/python
exec "$LOGIT_CACHE_PYTHON" -m pytest -q -p no:cacheprovider "$@"
