# Sourced by the bench scripts: starts the release server on a fresh database and signs up the
# bench person, and stops it again. Needs $binary, $port and $postgres_admin.

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
    KEYWARD_DATA_DIR=$data RUST_LOG=${BENCH_LOG:-warn} "$binary" >"$data/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
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
