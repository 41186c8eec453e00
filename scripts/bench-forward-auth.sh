#!/usr/bin/env bash
# `make bench-forward-auth` (also part of `make bench`): your own API behind keyward, release
# build, both engines, wrk -t2 -c8 on loopback, three interleaved 5-s pairs (medians):
#   - requests/s through nginx with auth_request to keyward ÷ through the same nginx straight
#     to the same upstream (an nginx answering at once), and the p99 the check adds
#   - the same with auth_request to keyward ÷ to a stub that says yes at once (an nginx
#     answering 200): what keyward costs beyond the proxy's own subrequest
#   - keys/verify throughput ÷ /healthz
# The proxy is the configuration `make test-forward-auth` runs (scripts/forward-auth/nginx.conf).
# BENCH_RESULTS, when set, is where the rows go for `make bench`'s table.
set -euo pipefail
cd "$(dirname "$0")/.."
port=3297
# shellcheck source=scripts/bench/server.sh
. scripts/bench/server.sh
# shellcheck source=scripts/bench/wrk.sh
. scripts/bench/wrk.sh
command -v nginx >/dev/null || apt-get install -y -q nginx >/dev/null

proxy_port=$((port + 1)) upstream_port=$((port + 2))
stub_port=$((port + 3)) stub_proxy_port=$((port + 4))
work=$(mktemp -d)
proxies=()
cleanup() {
  for pid_file in "$work"/*/nginx.pid "$work"/*/upstream.pid; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# start_nginx NAME TEMPLATE PORT AUTH-PORT: one nginx of its own (its files under $work/NAME).
start_nginx() {
  mkdir -p "$work/$1"
  sed -e "s#@WORK@#$work/$1#g" -e "s/@KEYWARD@/$4/g" -e "s/@UPSTREAM@/$upstream_port/g" \
    -e "s/@PROXY@/$3/g" "scripts/forward-auth/$2" >"$work/$1/nginx.conf"
  nginx -p "$work/$1" -c "$work/$1/nginx.conf" -g 'daemon on;'
}
start_nginx upstream static-upstream.conf "$upstream_port" ""
start_nginx proxy nginx.conf "$proxy_port" "$port"
start_nginx stub static-upstream.conf "$stub_port" ""
start_nginx stub-proxy nginx.conf "$stub_proxy_port" "$stub_port"

# wrk for 5 s on $1 (a URL): a GET with the key $2 (or none), or with "post:<key>:<body>" a POST;
# prints "requests/s p99-ms".
measure_wrk() {
  local target=$1 key=$2 post_key post_body
  case $key in
    post:*) IFS=: read -r _ post_key post_body <<<"$key"
            BODY=$post_body KEY=$post_key wrk -t2 -c8 -d5s --latency -s scripts/bench/post.lua "$target" | wrk_result "$target" ;;
    "") wrk -t2 -c8 -d5s --latency "$target" | wrk_result "$target" ;;
    *) wrk -t2 -c8 -d5s --latency -H "Authorization: Bearer $key" "$target" | wrk_result "$target" ;;
  esac
}

# Three interleaved pairs: $1 URL and key of the baseline, $3 and $4 of the measured; prints
# "baseline-rps baseline-p99 measured-rps measured-p99" (medians).
pairs() {
  local base_rps=() base_p99=() rps=() p99=() r p
  for _ in 1 2 3; do
    read -r r p < <(measure_wrk "$1" "$2"); base_rps+=("$r"); base_p99+=("$p")
    read -r r p < <(measure_wrk "$3" "$4"); rps+=("$r"); p99+=("$p")
  done
  echo "$(echo "${base_rps[*]}" | median) $(echo "${base_p99[*]}" | median) $(echo "${rps[*]}" | median) $(echo "${p99[*]}" | median)"
}

record() {
  echo "    $1 $2: $3" >&2
  [ -n "${BENCH_RESULTS:-}" ] && printf '%s|%s|%s\n' "$1" "$2" "$3" >>"$BENCH_RESULTS"
  return 0
}

# nginx's X-Forwarded-For is believed, as the recipe says to configure it.
export KEYWARD_TRUSTED_PROXIES=127.0.0.1
for engine in ${ENGINES:-sqlite postgres}; do
  BENCH_LOG=error start_server "$engine"
  post() { curl -sf -b "$jar" -H 'content-type: application/json' "$url/api/v1/$1" -d "$2"; }
  post permissions/define '{"name":"orders:read","least_role":"read_only"}' >/dev/null
  key=$(post keys/create '{"name":"shop client"}' | field '["secret"]')
  sa=$(post service-accounts/create '{"name":"orders-api","role":"read_only"}' | field '["service_account"]["id"]')
  verifier=$(post keys/create "{\"name\":\"verifier\",\"service_account_id\":\"$sa\",\"permissions\":[\"keys:verify\"]}" | field '["secret"]')

  say "$engine: warm-up"
  measure_wrk "http://127.0.0.1:$proxy_port/orders" "$key" >/dev/null
  measure_wrk "http://127.0.0.1:$proxy_port/open/orders" "" >/dev/null

  say "$engine: GET /orders through nginx with auth_request ÷ straight through nginx (3 interleaved 5-s pairs)"
  read -r open_rps open_p99 auth_rps auth_p99 < <(pairs "http://127.0.0.1:$proxy_port/open/orders" "" \
    "http://127.0.0.1:$proxy_port/orders" "$key")
  record "$engine" forward_auth "$(python3 -c "print(f'{$auth_rps / $open_rps:.2f} ({$auth_rps:,.0f} / {$open_rps:,.0f} rps), p99 +{$auth_p99 - $open_p99:.2f} ms ({$auth_p99:.2f} / {$open_p99:.2f})')")"

  say "$engine: GET /orders through nginx with auth_request to keyward ÷ to a stub that says yes at once"
  read -r stub_rps _ auth_rps _ < <(pairs "http://127.0.0.1:$stub_proxy_port/orders" "$key" \
    "http://127.0.0.1:$proxy_port/orders" "$key")
  record "$engine" forward_auth_vs_stub "$(python3 -c "print(f'{$auth_rps / $stub_rps:.2f} ({$auth_rps:,.0f} / {$stub_rps:,.0f} rps)')")"

  say "$engine: keys/verify ÷ /healthz (3 interleaved 5-s pairs)"
  read -r health_rps _ verify_rps _ < <(pairs "$url/healthz" "" "$url/api/v1/keys/verify" \
    "post:$verifier:{\"secret\":\"$key\",\"permission\":\"orders:read\"}")
  record "$engine" verify_vs_health "$(python3 -c "print(f'{$verify_rps / $health_rps:.2f} ({$verify_rps:,.0f} / {$health_rps:,.0f} rps)')")"
  stop_server
done
