#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, builds, then runs the
# TypeScript tests (vitest) and the Python client's tests (pytest). Exit non-zero if any fail.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/vitest ] || npm ci --no-audit --no-fund
npm run --silent build
npm run --silent typecheck   # src, tests and benchmarks
bash scripts/setup-python.sh
bash scripts/setup-system.sh   # chromium and nginx for tests that drive them (they skip with a reason where these cannot be installed)
export LOGIT_CACHE_PYTHON="$PWD/.venv/bin/python"
status=0
npx vitest run || status=1
LOGIT_CACHE_SKIP_BUILD=1 bash scripts/test-python.sh || status=1
exit $status
