#!/usr/bin/env bash
# Installs Debian's chromium for the inspector's browser tests (test/ui) when it is missing
# and apt-get can run as root. Elsewhere it says why not and exits 0: those tests then skip
# with the reason printed.
set -euo pipefail
if [ -n "${LOGIT_CACHE_CHROMIUM:-}" ] && [ -x "$LOGIT_CACHE_CHROMIUM" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: chromium is not installed and apt-get cannot run as root here; browser tests will skip" >&2
  exit 0
fi
echo "setup-browser: installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "setup-browser: apt-get could not install chromium; browser tests will skip" >&2
fi
