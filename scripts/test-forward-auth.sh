#!/usr/bin/env bash
# The forward-auth recipes of README "Protect your own API", tested for real: keyward (SQLite)
# with a small service behind nginx's auth_request and behind Caddy's forward_auth; then
# scripts/forward-auth/check.py drives each proxy as a client would.
#
# nginx and Caddy come from Debian (installed when missing). BINARY names the server to run;
# by default the debug build is made.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install() {
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q "$@" >/dev/null || { apt-get update -q && apt-get install -y -q "$@"; }
  else sudo apt-get install -y -q "$@" || { sudo apt-get update -q && sudo apt-get install -y -q "$@"; }; fi
}
command -v nginx >/dev/null || { say "Installing nginx from Debian"; install nginx; }
command -v caddy >/dev/null || { say "Installing Caddy from Debian"; install caddy; }

if [ -z "${BINARY:-}" ]; then
  say "Building the server"
  LEPTOS_OUTPUT_NAME=keyward cargo build --quiet --features ssr --bin keyward
  BINARY=${CARGO_TARGET_DIR:-target}/debug/keyward
fi

base=${FORWARD_AUTH_PORT:-3500}
keyward_port=$base nginx_port=$((base + 1)) caddy_port=$((base + 2)) upstream_port=$((base + 3))
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 does not answer" >&2; cat "$work"/*.log >&2 || true; exit 1
}

say "Starting keyward, the service, nginx and Caddy"
KEYWARD_DATA_DIR="$work/data" KEYWARD_TRUSTED_PROXIES=127.0.0.1 KEYWARD_SIGNUPS_PER_HOUR=1000 \
  LEPTOS_SITE_ADDR=127.0.0.1:$keyward_port LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=keyward \
  LEPTOS_HASH_FILES=false RUST_LOG=warn "$BINARY" >"$work/keyward.log" 2>&1 &
pids+=($!)
python3 scripts/forward-auth/upstream.py "$upstream_port" >"$work/upstream.log" 2>&1 &
pids+=($!)
fill() {
  sed -e "s#@WORK@#$work#g" -e "s/@KEYWARD@/$keyward_port/g" -e "s/@UPSTREAM@/$upstream_port/g" \
    -e "s/@PROXY@/$1/g" "$2" >"$3"
}
fill "$nginx_port" scripts/forward-auth/nginx.conf "$work/nginx.conf"
fill "$caddy_port" scripts/forward-auth/Caddyfile "$work/Caddyfile"
wait_for "http://127.0.0.1:$keyward_port/healthz"
wait_for "http://127.0.0.1:$upstream_port/"
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
pids+=($!)
caddy run --adapter caddyfile --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$nginx_port/open/"
wait_for "http://127.0.0.1:$caddy_port/orders"

say "nginx auth_request in front of the service"
python3 -u scripts/forward-auth/check.py "http://127.0.0.1:$keyward_port" "http://127.0.0.1:$nginx_port" nginx
say "Caddy forward_auth in front of the service"
python3 -u scripts/forward-auth/check.py "http://127.0.0.1:$keyward_port" "http://127.0.0.1:$caddy_port" caddy
