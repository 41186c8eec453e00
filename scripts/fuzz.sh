#!/usr/bin/env bash
# Fuzzes the API from its own OpenAPI document with schemathesis: starts the server built by
# `cargo leptos build` on a fresh SQLite database, signs up, creates a key, and lets schemathesis
# call every operation with that key. Fails on any 5xx or any response that does not match the
# documented status codes and schemas. Bounded: at most KEYWARD_FUZZ_EXAMPLES examples per operation.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${KEYWARD_FUZZ_PORT:-3107}
base="http://127.0.0.1:$port"
data_dir=target/fuzz-data
rm -rf "$data_dir"
mkdir -p "$data_dir"

LEPTOS_SITE_ADDR=127.0.0.1:$port LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=keyward \
  KEYWARD_DATA_DIR=$data_dir KEYWARD_SIGNUPS_PER_HOUR=100000 RUST_LOG=warn ./target/debug/keyward > "$data_dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  curl -sf "$base/healthz" >/dev/null && break
  sleep 0.5
done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
jar="$data_dir/cookies"
curl -sf -c "$jar" -X POST "$base/api/v1/auth/signup" -H 'Content-Type: application/json' \
  -d '{"email":"fuzz@example.com","password":"fuzzing password 1","account_name":"Fuzz"}' >/dev/null
key=$(curl -sf -b "$jar" -X POST "$base/api/v1/keys/create" -H 'Content-Type: application/json' \
  -d '{"name":"schemathesis"}' | json '["secret"]')

report="$data_dir/report"
# Sign-in attempts are throttled (429, documented); the fuzzer is told to respect Retry-After.
.tools/venv/bin/st run "$base/api/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${KEYWARD_FUZZ_EXAMPLES:-100}" \
  --workers 2 \
  --report ndjson --report-dir "$report" \
  --warnings off

requests=$(cat "$report"/*.ndjson 2>/dev/null | grep -o '"request"' | wc -l || true)
echo "schemathesis: $requests requests recorded in $report"
if grep -q "ERROR" "$data_dir/server.log"; then
  echo "the server logged an error during fuzzing:" >&2
  grep "ERROR" "$data_dir/server.log" | head -20 >&2
  exit 1
fi
