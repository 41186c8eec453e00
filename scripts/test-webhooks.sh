#!/usr/bin/env bash
# Webhooks end to end (scripts/webhooks/check.py): keyward on SQLite sends to a receiver that
# verifies every delivery with the official Standard Webhooks library; a secret rotation; and
# kill -9 between a change and its delivery. BINARY names the server to run; by default the
# debug build is made. The library comes from scripts/bootstrap.sh --e2e (.tools/venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .tools/venv/bin/python -c 'import standardwebhooks' 2>/dev/null; then
  echo "the Standard Webhooks library is missing: run scripts/bootstrap.sh --e2e" >&2
  exit 1
fi
if [ -z "${BINARY:-}" ]; then
  LEPTOS_OUTPUT_NAME=keyward cargo build --quiet --features ssr --bin keyward
  BINARY=${CARGO_TARGET_DIR:-target}/debug/keyward
fi
.tools/venv/bin/python -u scripts/webhooks/check.py "$BINARY" "${WEBHOOKS_PORT:-3600}"
