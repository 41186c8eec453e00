#!/usr/bin/env bash
# The audit trail at scale: p99 of audit/list (first page, and a page half-way down) with
# 1,000,000 events in one account, and the export's peak memory — on SQLite and PostgreSQL.
# Run through `make bench-audit` (it builds the release binary first). EVENTS=… changes the size.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-1000000}
port=3197

# shellcheck source=scripts/bench/server.sh
. scripts/bench/server.sh

# The seed: $events events in the account, spread over four actions and a thousand checks, one
# millisecond apart. Their chain links are not computed (verification would report them); what
# is measured is reading.
seed_sql() {
  local account=$1 user=$2 series=$3
  cat <<SQL
INSERT INTO audit_events (id, account_id, seq, time, action, outcome, actor_type, actor_user_id,
    actor_email, target_type, target_id, target_label, details, client_address, user_agent,
    prev_hash, hash)
SELECT 'evt_bench_' || i, '$account', i + 100, 1700000000000 + i,
       CASE i % 4 WHEN 0 THEN 'key.created' WHEN 1 THEN 'check.updated' WHEN 2 THEN 'key.revoked'
                  ELSE 'session.signed_in' END,
       'success', 'user', '$user', 'bench@example.com', 'check', 'chk_' || (i % 1000),
       'check ' || (i % 1000), '{}', '127.0.0.1', 'wrk', '', ''
FROM $series;
UPDATE audit_heads SET seq = $events + 100 WHERE account_id = '$account';
SQL
}

measure() {
  local engine=$1 data pid url database jar signed_up me
  start_server "$engine"
  me=$signed_up
  local account user
  account=$(field '["account"]["id"]' <<<"$me")
  user=$(field '["user"]["id"]' <<<"$me")
  local created key key_id
  created=$(curl -sf -b "$jar" -H 'content-type: application/json' "$url/api/v1/keys/create" -d '{"name":"bench"}')
  key=$(field '["secret"]' <<<"$created")
  key_id=$(field '["key"]["id"]' <<<"$created")

  say "$engine: seeding $events events"
  local started=$SECONDS
  if [ "$engine" = postgres ]; then
    seed_sql "$account" "$user" "generate_series(1, $events) AS s(i)" | psql -q "$DATABASE_URL"
    psql -q "$DATABASE_URL" -c "ANALYZE audit_events"
  else
    { echo "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $events)";
      seed_sql "$account" "$user" s; echo "ANALYZE;"; } | sqlite3 "$data/keyward.db"
  fi
  echo "seeded in $((SECONDS - started)) s"

  local deep=$((events / 2 + 100))
  for page in "first page|{\"limit\":50}" "page at event $deep|{\"limit\":50,\"cursor\":\"$deep\"}" \
              "filtered: action + person|{\"limit\":50,\"action\":\"key.revoked\",\"actor_user_id\":\"$user\"}" \
              "filtered: one key (1 event of $events)|{\"limit\":50,\"key_id\":\"$key_id\"}"; do
    local name=${page%%|*} body=${page#*|}
    # Checked once by hand first: a failing request would be measured as a fast one.
    curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' \
      "$url/api/v1/audit/list" -d "$body" | python3 -c 'import json,sys; assert json.load(sys.stdin)["events"]'
    say "$engine: audit/list, $name (wrk -t2 -c8 -d10s)"
    BODY=$body KEY=$key wrk -t2 -c8 -d10s --latency -s scripts/bench/post.lua "$url/api/v1/audit/list" \
      | grep -E "Requests/sec|^ +(50|99)%|Non-2xx" || true
  done

  say "$engine: export of every event"
  local before after lines
  before=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  lines=$(curl -sf -H "authorization: Bearer $key" "$url/api/v1/audit/export?format=jsonl" | wc -l)
  after=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  echo "exported $lines lines; server peak RSS before: $((before / 1024)) MiB, after: $((after / 1024)) MiB"

  stop_server
}

measure sqlite
measure postgres
