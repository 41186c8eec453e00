#!/usr/bin/env bash
# Three keyward instances on one PostgreSQL database, sharing limits through Redis, behind
# haproxy (round-robin), as README "Running several instances" describes; then
# scripts/cluster/check.py drives them through the balancer and kills one under write load.
#
# Needs PostgreSQL (KEYWARD_TEST_POSTGRES_URL, default the one on 127.0.0.1:5432), Redis
# (KEYWARD_TEST_REDIS_URL, default 127.0.0.1:6379) and haproxy (installed from Debian when
# missing). BINARY names the server to run; by default the debug build is made.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

postgres_admin=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis_url=${KEYWARD_TEST_REDIS_URL:-redis://127.0.0.1:6379}

if ! command -v haproxy >/dev/null; then
  say "Installing haproxy from Debian"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q haproxy >/dev/null || { apt-get update -q && apt-get install -y -q haproxy; }
  else sudo apt-get install -y -q haproxy || { sudo apt-get update -q && sudo apt-get install -y -q haproxy; }; fi
fi
psql -q "$postgres_admin" -c 'SELECT 1' >/dev/null
redis_host_port=${redis_url#redis://}
(exec 3<>"/dev/tcp/${redis_host_port%:*}/${redis_host_port##*:}") 2>/dev/null \
  || { echo "Redis does not answer at $redis_url" >&2; exit 1; }

if [ -z "${BINARY:-}" ]; then
  say "Building the server"
  LEPTOS_OUTPUT_NAME=keyward cargo build --quiet --features ssr --bin keyward
  BINARY=${CARGO_TARGET_DIR:-target}/debug/keyward
fi

work=$(mktemp -d)
database=keyward_cluster_$(date +%s)_$$
psql -q "$postgres_admin" -c "CREATE DATABASE $database"
balancer_port=${CLUSTER_PORT:-3400}
ports=($((balancer_port + 1)) $((balancer_port + 2)) $((balancer_port + 3)))
pids=()
haproxy_pid=""

cleanup() {
  [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}" $haproxy_pid; do wait "$pid" 2>/dev/null || true; done
  psql -q "$postgres_admin" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "logs in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# start_instance N: instance N (0, 1, 2) on ports[N]; its pid goes to pids[N].
start_instance() {
  local n=$1
  mkdir -p "$work/instance$n"
  DATABASE_URL=${postgres_admin%/*}/$database \
    KEYWARD_REDIS_URL=$redis_url KEYWARD_REDIS_PREFIX="keyward-cluster-$$:" \
    KEYWARD_PEPPER=cluster-test-pepper-shared-by-every-instance-0123456789 \
    KEYWARD_TRUSTED_PROXIES=127.0.0.1 KEYWARD_SIGNUPS_PER_HOUR=1000 \
    KEYWARD_DATA_DIR="$work/instance$n" LEPTOS_SITE_ADDR=127.0.0.1:${ports[$n]} \
    LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=keyward LEPTOS_HASH_FILES=false \
    RUST_LOG=${CLUSTER_LOG:-warn} "$BINARY" >>"$work/instance$n.log" 2>&1 &
  pids[n]=$!
}

say "Starting three instances on database $database"
# The first one runs the migrations alone; then the other two.
start_instance 0
for _ in $(seq 200); do curl -sf "http://127.0.0.1:${ports[0]}/healthz" >/dev/null && break; sleep 0.1; done
start_instance 1
start_instance 2
for port in "${ports[@]}"; do
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work"/instance*.log; exit 1; }
done

sed -e "s/@BALANCER@/$balancer_port/" -e "s/@A@/${ports[0]}/" -e "s/@B@/${ports[1]}/" \
  -e "s/@C@/${ports[2]}/" scripts/cluster/haproxy.cfg >"$work/haproxy.cfg"
haproxy -q -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$balancer_port/healthz" >/dev/null && break; sleep 0.1; done

say "Checking the cluster through haproxy at 127.0.0.1:$balancer_port"
python3 -u scripts/cluster/check.py "http://127.0.0.1:$balancer_port" "${pids[1]}" \
  "${pids[2]}" "${ports[2]}" "${ports[0]}"
