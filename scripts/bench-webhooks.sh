#!/usr/bin/env bash
# Webhook delivery delay under load, on SQLite and on PostgreSQL (the release binary):
# scripts/webhooks/delay.py updates a check from CLIENTS connections for SECONDS while a
# receiver notes when each event arrives. Prints p50/p99 of event → received per engine.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${BENCH_PORT:-3700}
source scripts/bench/server.sh
seconds=${SECONDS_OF_LOAD:-20}
clients=${CLIENTS:-8}
export KEYWARD_WEBHOOKS_ALLOW_PRIVATE=1
# A failed run must not leave its server holding the port for the next one.
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
for engine in sqlite postgres; do
  start_server "$engine"
  cookie=$(awk '$6 ~ /^keyward/ { print $6 "=" $7 }' "$jar" | head -1)
  say "$engine: $clients clients updating a check for $seconds s, one endpoint receiving check.*"
  .tools/venv/bin/python -u scripts/webhooks/delay.py "$url" "$cookie" "$seconds" "$clients" $((port + 1))
  stop_server
done
