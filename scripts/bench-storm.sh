#!/usr/bin/env bash
# Key traffic during a sign-in storm: p99 of key-authenticated auth/me while idle, and while
# 250 client addresses (2 connections each) post wrong passwords (scripts/bench/storm.py), on
# SQLite and PostgreSQL. Issue 12's goal: the ratio stays at or below 2. Run through
# `make bench-storm` (it builds the release binary first).
set -euo pipefail
cd "$(dirname "$0")/.."
port=3196

# shellcheck source=scripts/bench/server.sh
. scripts/bench/server.sh

p99() { awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }

measure() {
  local engine=$1 data pid url database jar signed_up key
  BENCH_LOG=error start_server "$engine"
  key=$(curl -sf -b "$jar" -H 'content-type: application/json' "$url/api/v1/keys/create" -d '{"name":"bench"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  BODY='{}' KEY=$key wrk -t2 -c8 -d3s -s scripts/bench/post.lua "$url/api/v1/auth/me" >/dev/null
  say "$engine: auth/me with a key, idle (wrk -t2 -c8 -d10s --latency)"
  local idle storm
  BODY='{}' KEY=$key wrk -t2 -c8 -d10s --latency -s scripts/bench/post.lua "$url/api/v1/auth/me" >"$data/idle.txt"
  grep -E "Requests/sec|^ +(50|99)%" "$data/idle.txt"
  idle=$(p99 <"$data/idle.txt")
  say "$engine: the same during a sign-in storm from 250 addresses"
  python3 scripts/bench/storm.py 127.0.0.1 "$port" 250 2 &
  local storm_pid=$!
  sleep 3
  BODY='{}' KEY=$key wrk -t2 -c8 -d10s --latency -s scripts/bench/post.lua "$url/api/v1/auth/me" >"$data/storm.txt"
  grep -E "Requests/sec|^ +(50|99)%" "$data/storm.txt"
  storm=$(p99 <"$data/storm.txt")
  kill -TERM "$storm_pid"; wait "$storm_pid" || true
  python3 -c "print(f'$engine: p99 idle {float(\"$idle\"):.2f} ms, during the storm {float(\"$storm\"):.2f} ms: ratio {float(\"$storm\") / float(\"$idle\"):.2f} (goal: at most 2)')"
  stop_server
}

measure sqlite
measure postgres
