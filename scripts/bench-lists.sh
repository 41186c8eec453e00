#!/usr/bin/env bash
# Lists at scale, on SQLite and PostgreSQL: keys/list p99 for a person with 10,000 keys,
# account-keys/list p99 for an account with 1,000,000 keys (first page, a page half-way down,
# a search), and what a key's guards (networks and a rate limit) add to a key-authenticated
# call. Run through `make bench-lists` (it builds the release binary first). KEYS=… changes the
# account's size; PARTS="guards" or PARTS="lists" runs one half.
set -euo pipefail
cd "$(dirname "$0")/.."
account_keys=${KEYS:-1000000}
parts=${PARTS:-guards lists}
own_keys=10000
port=3198

# shellcheck source=scripts/bench/server.sh
. scripts/bench/server.sh
# shellcheck source=scripts/bench/seed.sh
. scripts/bench/seed.sh


# wrk on one operation with a key for $SECONDS_EACH (10) seconds; prints requests/s, p50, p99.
load() {
  local url=$1 key=$2 operation=$3 body=$4 what=$5 duration=${SECONDS_EACH:-10}
  # Checked once by hand first: a failing request would be measured as a fast one.
  curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' \
    "$url/api/v1/$operation" -d "$body" >/dev/null || { echo "$operation $body fails" >&2; exit 1; }
  say "$what (wrk -t2 -c8 -d${duration}s --latency, $operation $body)"
  BODY=$body KEY=$key wrk -t2 -c8 -d"${duration}s" --latency -s scripts/bench/post.lua "$url/api/v1/$operation" \
    | grep -E "Requests/sec|^ +(50|99)%|Non-2xx" || true
}

measure() {
  local engine=$1 data pid url database jar signed_up me account user membership key
  start_server "$engine"
  me=$signed_up
  account=$(printf '%s' "$me" | field '["account"]["id"]')
  user=$(printf '%s' "$me" | field '["user"]["id"]')
  key=$(curl -sf -b "$jar" -H 'content-type: application/json' "$url/api/v1/keys/create" \
    -d '{"name":"bench"}' | field '["secret"]')
  membership=$(membership_of "$engine" "$data" "$user")

  if [[ " $parts " == *" guards "* ]]; then
    # 5 s runs, each guarded run with a fresh key: its limit (the highest allowed, 100,000 a
    # minute) must not be reached, or cheap 429s would be measured.
    say "$engine: the guards' cost on auth/me: a warm-up, then plain key / guarded key, interleaved (×3)"
    SECONDS_EACH=3 load "$url" "$key" auth/me '{}' "$engine: warm-up" >/dev/null
    for _ in 1 2 3; do
      local guarded
      guarded=$(curl -sf -b "$jar" -H 'content-type: application/json' "$url/api/v1/keys/create" \
        -d '{"name":"guarded","allowed_cidrs":["10.0.0.0/8","192.168.0.0/16","127.0.0.0/8","::1/128"],"rate_limit_per_minute":100000}' \
        | field '["secret"]')
      SECONDS_EACH=5 load "$url" "$key" auth/me '{}' "$engine: auth/me, a key without guards"
      SECONDS_EACH=5 load "$url" "$guarded" auth/me '{}' "$engine: auth/me, a key with 4 networks and a limit"
    done
  fi
  if [[ " $parts " != *" lists "* ]]; then
    stop_server
    return
  fi

  say "$engine: seeding $own_keys keys for the bench person"
  local started=$SECONDS
  seed "$engine" "$data" "$account" "$user" "$membership" 1 "$own_keys"
  echo "seeded in $((SECONDS - started)) s"
  load "$url" "$key" keys/list '{}' "$engine: keys/list, first page of $own_keys keys"

  # The rest of the account belongs to a second person, so it is in account-keys/list only.
  local invitation token other other_membership
  invitation=$(curl -sf -b "$jar" -H 'content-type: application/json' "$url/api/v1/members/invite" \
    -d '{"email":"other@example.com","role":"read_write"}' | field '["invite_url"]')
  token=${invitation##*/}
  other=$(curl -sf -H 'content-type: application/json' "$url/api/v1/invites/accept" \
    -d "{\"token\":\"$token\",\"password\":\"bench password 123\"}" | field '["user"]["id"]')
  other_membership=$(membership_of "$engine" "$data" "$other")
  say "$engine: seeding $((account_keys - own_keys)) more keys in the account"
  started=$SECONDS
  seed "$engine" "$data" "$account" "$other" "$other_membership" $((own_keys + 1)) "$account_keys"
  echo "seeded in $((SECONDS - started)) s"
  load "$url" "$key" keys/list '{}' "$engine: keys/list, first page of $own_keys own keys among $account_keys"
  load "$url" "$key" account-keys/list '{}' "$engine: account-keys/list, first page of $account_keys keys"
  local half=$((account_keys / 2)) deep
  deep=$(python3 -c "import base64,json; print(base64.urlsafe_b64encode(json.dumps([1700000000000 + $half, 'key_seed$half']).encode()).decode().rstrip('='))")
  load "$url" "$key" account-keys/list "{\"cursor\":\"$deep\"}" "$engine: account-keys/list, the page after key $half of $account_keys"
  load "$url" "$key" account-keys/list "{\"search\":\"seed key 99\"}" "$engine: account-keys/list, search matching 1 key in 10"
  load "$url" "$key" account-keys/list "{\"owner_user_id\":\"$user\"}" "$engine: account-keys/list, one owner's $own_keys keys"

  stop_server
}

measure sqlite
measure postgres
