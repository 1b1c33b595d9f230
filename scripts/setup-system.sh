#!/usr/bin/env bash
# Installs the Debian packages some tests drive for real, when missing and apt-get can run as
# root: chromium (the inspector's browser tests, test/ui) and nginx (HTTP Range reads of a
# dataset folder, test/shard/nginx-range and the Python client's source tests). Elsewhere it
# says why not and exits 0: those tests then skip with the reason printed.
set -euo pipefail
missing=()
if ! { [ -n "${LOGIT_CACHE_CHROMIUM:-}" ] && [ -x "$LOGIT_CACHE_CHROMIUM" ]; } && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: ${missing[*]} not installed and apt-get cannot run as root here; the tests that need them will skip" >&2
  exit 0
fi
echo "setup-system: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "setup-system: apt-get could not install ${missing[*]}; the tests that need them will skip" >&2
fi
# nginx's Debian package starts a server on port 80; the tests start their own.
if [[ " ${missing[*]} " == *" nginx "* ]]; then nginx -s stop >/dev/null 2>&1 || true; fi
exit 0
