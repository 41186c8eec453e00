# Sourced by every bench script once it has set $port: checks for the release binary
# ($KEYWARD_BINARY), installs wrk and sqlite3 when missing, and starts the server on a fresh
# database and signs up the bench person, and stops it again. BENCH_WRAP, when set, is the
# command the server runs under (valgrind, for the instruction counts).

binary=${KEYWARD_BINARY:-target/release/keyward}
[ -x "$binary" ] || { echo "build it first: make release" >&2; exit 1; }
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
postgres_admin=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# field '["key"]["id"]' < JSON: one value of a JSON answer.
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# start_server ENGINE: sets data (its directory), url, pid, database (PostgreSQL's name, else
# empty) and jar (the bench person's session cookie); exports DATABASE_URL for PostgreSQL.
start_server() {
  local engine=$1
  data=$(mktemp -d)
  url=http://127.0.0.1:$port
  database=""
  if [ "$engine" = postgres ]; then
    database=keyward_bench_$(date +%s)
    psql -q "$postgres_admin" -c "CREATE DATABASE $database"
    export DATABASE_URL=${postgres_admin%/*}/$database
  else
    unset DATABASE_URL
  fi
  LEPTOS_SITE_ADDR=127.0.0.1:$port LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=keyward LEPTOS_HASH_FILES=true \
    KEYWARD_DATA_DIR=$data RUST_LOG=${BENCH_LOG:-warn} ${BENCH_WRAP:-} "$binary" >"$data/server.log" 2>&1 &
  pid=$!
  # Up to a minute: under valgrind (BENCH_WRAP) the server starts slowly.
  for _ in $(seq 600); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
  jar=$data/cookies
  signed_up=$(curl -sf -c "$jar" -H 'content-type: application/json' "$url/api/v1/auth/signup" \
    -d '{"email":"bench@example.com","password":"bench password 123","account_name":"Bench"}')
}

stop_server() {
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  if [ -n "$database" ]; then
    unset DATABASE_URL
    psql -q "$postgres_admin" -c "DROP DATABASE $database WITH (FORCE)"
  fi
}
