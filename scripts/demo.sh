#!/usr/bin/env bash
# The main job on the embedded default: builds a synthetic 32k-vocabulary teacher and dataset,
# precomputes top-8 log-probabilities into out/demo, then inspects and verifies the result.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund
npm run --silent build
node dist/cli/precompute-logits.js --demo --out out "$@"
node dist/cli/logit-cache.js inspect out/demo
node dist/cli/logit-cache.js verify out/demo
