#!/usr/bin/env bash
# SCIM end to end with a real SCIM client library (scripts/scim/check.py): PyPI scim2-client
# discovers keyward's SCIM service, creates, finds, replaces, switches off and on and deletes
# people, validating every answer against RFC 7643/7644; a switched-off person's key is refused
# on the next request. BINARY names the server to run; by default the debug build is made. The
# library comes from scripts/bootstrap.sh --e2e (.tools/venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .tools/venv/bin/python -c 'import scim2_client, httpx2' 2>/dev/null; then
  echo "the SCIM client library is missing: run scripts/bootstrap.sh --e2e" >&2
  exit 1
fi
if [ -z "${BINARY:-}" ]; then
  LEPTOS_OUTPUT_NAME=keyward cargo build --quiet --features ssr --bin keyward
  BINARY=${CARGO_TARGET_DIR:-target}/debug/keyward
fi
.tools/venv/bin/python -u scripts/scim/check.py "$BINARY" "${SCIM_PORT:-3650}"
